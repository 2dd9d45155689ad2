"""The tmux adapter: the only module that talks to tmux.

Every command goes through :meth:`Tmux.run`, which adds the socket flag, runs
tmux through libtmux's command runner (``libtmux.common.tmux_cmd``, what
``Server.cmd`` uses), checks the return code and stderr itself (libtmux does
not raise when, for example, a pane is gone) and turns tmux's complaints into
:mod:`imessenger.errors` with messages that say what to do.

Only the command runner is loaded, not libtmux's package ``__init__``, which
builds its whole object model at import (about 55 ms on a 2-core machine,
a third of what a command like ``imessenger send`` may cost in all); see
:func:`_libtmux`.

Text is never handed to tmux's command parser: pastes go through a buffer that
``load-buffer -`` fills from the tmux client's stdin, so nothing in a message is
read as a tmux command or written to a file, and there is no limit on its size.

What tmux reads into the other strings imessenger hands it (checked on tmux 3.3a),
and how each is kept literal; a string from a person or an agent reaches tmux only
in one of these ways:

* Every argv word ending in ``;`` ends a tmux command, and the words after it form
  the next command: :func:`whole_word` writes a final ``;`` as ``\\;``.
* ``new-session -c`` expands formats (``#(...)`` runs a shell command):
  :func:`format_literal` doubles ``#`` (but right before ``[``). ``-e`` values and
  the program's argv after ``--`` are taken as they are, but a one-word argv would
  be run by the default shell, so :meth:`Tmux.new_session` runs it through ``env``.
  ``set-option`` takes values as they are.
* ``display-message`` and menu labels and titles are expanded as formats (the
  message with ``strftime`` too) and then drawn, where ``#[...]`` is a style:
  :func:`drawn_literal`.
* A target is an id tmux gave (``%3`` pane, ``$3`` session), looked up by exact name
  in Python, or ``=NAME`` with a name :func:`imessenger.names.check_name` passed: as
  a target, a name can be read as an id (``$0``), a client, a prefix or a pattern.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import functools
import importlib
import importlib.util
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from imessenger.errors import (
    NoSuchSession,
    NoTmuxServer,
    PaneInMode,
    TmuxCommandFailed,
    TmuxNotInstalled,
    UsageError,
)
from imessenger.names import check_name

if TYPE_CHECKING:
    from libtmux.common import tmux_cmd

logger = logging.getLogger(__name__)

#: The environment variable that names the tmux socket (like ``tmux -L``).
SOCKET_ENV = "IMESSENGER_TMUX_SOCKET"

#: Session options isesh sets on the sessions it starts (see imessenger.caller): the
#: agent's session name, and the data folder and config file it was started with.
AGENT_OPTION = "@imessenger-agent"
HOME_OPTION = "@imessenger-home"
CONFIG_OPTION = "@imessenger-config"
_OWNER_FORMAT = "\t".join(
    [
        "#{pane_pid}",
        "#{pane_tty}",
        "#{session_id}",
        "#{session_name}",
        "#{" + AGENT_OPTION + "}",
        "#{" + HOME_OPTION + "}",
        "#{" + CONFIG_OPTION + "}",
    ]
)

_PANE_FORMAT = "\t".join(
    [
        "#{session_name}",
        "#{pane_id}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{pane_width}",
        "#{pane_height}",
        "#{pane_pid}",
        "#{pane_current_command}",
        "#{session_created}",
        "#{history_size}",
        "#{cursor_y}",
        "#{window_activity}",
        "#{pane_tty}",
        "#{pane_in_mode}",
    ]
)
#: What a paste prints when tmux found the pane in a mode and pasted nothing.
_IN_MODE = "imessenger-pane-in-mode"
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")


def whole_word(arg: str) -> str:
    """Return ``arg`` as an argv word that tmux keeps whole.

    tmux splits its argv into commands at every word that *ends* in ``;``
    (``cmd_parse_from_arguments``): ``x;`` becomes ``x`` and the words after it are
    run as the next command. A word ending in ``\\;`` keeps a literal ``;``.
    """
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


_HASH_RUN = re.compile(r"#+(\[?)")


def format_literal(text: str) -> str:
    """Return ``text`` escaped for one round of format expansion, which then gives it back.

    Expansion turns ``##`` into ``#``, but copies a run of ``#`` right before ``[``
    as it is (a style, left for drawing): such runs stay, every other ``#`` is
    doubled. For arguments tmux expands but does not draw (``new-session -c``).
    """
    return _HASH_RUN.sub(lambda run: run.group(0) if run.group(1) else run.group(0) * 2, text)


def drawn_literal(text: str) -> str:
    """Return ``text`` escaped so that tmux shows it as it is in a message or a menu.

    tmux expands the text as a format, then draws it, where ``#[...]`` is a style and
    ``##`` one ``#``: drawing needs every ``#`` doubled, and expansion needs that
    escaped in turn. (Control characters are not drawn.)
    """
    return format_literal(text.replace("#", "##"))


#: Runs a one-word argv without a shell (see Tmux.new_session).
_ENV = "/usr/bin/env" if os.path.exists("/usr/bin/env") else "env"


def _lines(output: str) -> list[str]:
    """Split tmux's output into lines, without the empty ones at its end (as libtmux does)."""
    lines = output.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return lines


@dataclass(frozen=True)
class PaneOwner:
    """Which session a pane's program belongs to, and whether isesh started it as an agent."""

    pid: int
    tty: str
    session_id: str
    session: str
    #: the agent session's name ("" for a session isesh did not start)
    agent: str
    home: str
    config: str
    #: the label of the server ("default" or its socket name or path)
    server: str = ""


@dataclass(frozen=True)
class PaneInfo:
    """What tmux says about the active pane of a session."""

    session: str
    pane_id: str
    dead: bool
    dead_status: int | None
    width: int
    height: int
    pid: int | None
    current_command: str
    session_created: float
    history_size: int
    cursor_y: int
    #: when the pane's window last printed anything (whole seconds since the epoch)
    window_activity: float
    #: the terminal device the pane's program reads its keys from
    tty: str
    #: a person is in a tmux mode in the pane (copy mode: scrolled back), where a paste
    #: would not be bracketed and each line break would submit
    in_mode: bool = False

    @classmethod
    def parse(cls, line: str) -> PaneInfo:
        """Build a PaneInfo from one line printed with ``_PANE_FORMAT``."""
        fields = line.split("\t")
        (
            name,
            pane_id,
            dead,
            status,
            width,
            height,
            pid,
            command,
            created,
            history,
            cursor,
            active,
            tty,
            in_mode,
        ) = (fields + [""] * 14)[:14]
        exit_status = int(status) if status.lstrip("-").isdigit() else None
        if exit_status is None and dead == "1":
            exit_status = _unreaped_exit_status(pid)
        return cls(
            session=name,
            pane_id=pane_id,
            dead=dead == "1",
            dead_status=exit_status,
            width=int(width or 0),
            height=int(height or 0),
            pid=int(pid) if pid.isdigit() else None,
            current_command=command,
            session_created=float(created or 0),
            history_size=int(history or 0),
            cursor_y=int(cursor or 0),
            window_activity=float(active or 0),
            tty=tty,
            in_mode=in_mode == "1",
        )


def session_options(name: str, options: Mapping[str, str]) -> list[str]:
    """The ``; set-option`` commands that give session ``name`` these user options.

    Option values are never format-expanded by ``set-option`` (without ``-F``), so
    they are passed as they are, but for a final ``;`` (see :func:`whole_word`).
    """
    args: list[str] = []
    for key, value in options.items():
        args += [";", "set-option", "-t", f"={name}:", whole_word(key), whole_word(value)]
    return args


def _unreaped_exit_status(pid: str) -> int | None:
    """The exit status of a pane's program that tmux has not reaped, read from /proc.

    tmux 3.3a can miss the SIGCHLD of a program that exits while the server is busy:
    the pane reads dead but without a status, and the program stays a zombie, whose
    status Linux keeps (the 52nd field of /proc/PID/stat). None elsewhere.
    """
    if not pid.isdigit():
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 50 or fields[0] != "Z" or not fields[49].isdigit():
        return None
    wait_status = int(fields[49])
    return os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None


@functools.cache
def _libtmux() -> tuple[type[tmux_cmd], type[Exception]]:
    """Return libtmux's ``tmux_cmd`` and ``TmuxCommandNotFound``, loading no more of libtmux.

    ``libtmux.common`` needs only its package's ``exc`` and ``_compat``
    modules. The package is put in ``sys.modules`` unexecuted while they
    load, then taken out again, so that a later ``import libtmux`` (the
    tests do) runs the package as usual and shares these same modules.
    """
    if "libtmux" not in sys.modules:
        spec = importlib.util.find_spec("libtmux")
        if spec is not None:
            sys.modules["libtmux"] = importlib.util.module_from_spec(spec)
            try:
                importlib.import_module("libtmux.common")
            finally:
                del sys.modules["libtmux"]
    common = importlib.import_module("libtmux.common")
    exc = importlib.import_module("libtmux.exc")
    return cast("type[tmux_cmd]", common.tmux_cmd), cast("type[Exception]", exc.TmuxCommandNotFound)


#: The oldest tmux imessenger works with (display-popup, bracketed paste by paste-buffer -p).
MINIMUM_VERSION = (3, 2)


def parse_version(text: str) -> tuple[int, int] | None:
    """Return (major, minor) from ``tmux -V`` output ("tmux 3.3a", "tmux next-3.4"), or None."""
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


class Tmux:
    """One tmux server, named by its socket (``None``: the user's default server)."""

    def __init__(self, socket_name: str | None = None, *, socket_path: str | None = None) -> None:
        self.socket_name = socket_name or None
        self.socket_path_given = socket_path or None
        if self.socket_path_given:
            self._flags = ["-S", self.socket_path_given]
        else:
            self._flags = [f"-L{self.socket_name}"] if self.socket_name else []

    @classmethod
    def from_environment(cls, socket_name: str | None = None) -> Tmux:
        """Use ``socket_name`` when given, else ``$IMESSENGER_TMUX_SOCKET``, else the default."""
        return cls(socket_name or os.environ.get(SOCKET_ENV) or None)

    @property
    def label(self) -> str:
        """A name for this server in records and messages ("default" or the socket name).

        A server given by its socket path is labelled like ``-L``: by the file's name.
        """
        if self.socket_path_given:
            return os.path.basename(self.socket_path_given)
        return self.socket_name or "default"

    def pane_owners(self) -> list[PaneOwner]:
        """Every pane of the server with its program, terminal and session (one tmux call)."""
        owners = []
        for line in self.run("list-panes", "-a", "-F", _OWNER_FORMAT):
            pid, tty, session_id, session, agent, home, config = (line.split("\t") + [""] * 7)[:7]
            if pid.isdigit():
                owners.append(
                    PaneOwner(int(pid), tty, session_id, session, agent, home, config, self.label)
                )
        return owners

    # -- the one way to run a tmux command ---------------------------------

    def run(self, *args: str, session: str | None = None, input: bytes | None = None) -> list[str]:
        """Run one tmux command line (several commands joined by ``";"``) and return stdout.

        ``session`` names the session the command is about, so that "can't find
        session" becomes :class:`NoSuchSession` listing the sessions that exist.
        ``input`` is fed to tmux's stdin (what ``load-buffer -`` reads); libtmux's
        runner cannot pass stdin, so that one command runs through ``subprocess``.
        """
        if input is None:
            runner, not_found = _libtmux()
            try:
                proc = runner(*self._flags, *args)
            except not_found:
                raise TmuxNotInstalled() from None
            return self._checked(args, proc.returncode, proc.stdout, proc.stderr, session)
        done = subprocess.run(self.argv(*args), input=input, capture_output=True, check=False)
        stdout = done.stdout.decode("utf-8", "backslashreplace")
        stderr = done.stderr.decode("utf-8", "backslashreplace")
        return self._checked(args, done.returncode, _lines(stdout), _lines(stderr), session)

    def _checked(
        self,
        args: Sequence[str],
        returncode: int,
        stdout: list[str],
        stderr_lines: list[str],
        session: str | None,
    ) -> list[str]:
        """Return a finished command's stdout lines, or raise what its stderr means."""
        stderr = " ".join(line for line in stderr_lines if line).strip()
        if returncode == 0 and not stderr:
            return list(stdout)
        logger.debug("tmux %s -> %s %s", args, returncode, stderr)
        if any(text in stderr for text in _NO_SERVER):
            raise NoTmuxServer(self.socket_name)
        if session is not None and (
            "can't find session" in stderr
            or "can't find pane" in stderr
            or "can't find window" in stderr
        ):
            raise NoSuchSession(session, self.session_names())
        if returncode == 0:
            # tmux printed a warning but did the work; keep it in the log.
            logger.info("tmux %s: %s", args[0], stderr)
            return list(stdout)
        raise TmuxCommandFailed(args[0], stderr or f"exit status {returncode}")

    # -- server and sessions ------------------------------------------------

    def check_version(self) -> None:
        """Raise UsageError when the installed tmux is older than :data:`MINIMUM_VERSION`."""
        lines = self.run("-V")
        version = parse_version(" ".join(lines))
        if version is not None and version < MINIMUM_VERSION:
            wanted = ".".join(map(str, MINIMUM_VERSION))
            raise UsageError(
                f"{' '.join(lines)} is too old: imessenger needs tmux >= {wanted}; "
                "install a newer tmux"
            )

    def is_running(self) -> bool:
        """Return True when the tmux server answers."""
        try:
            self.run("list-sessions", "-F", "#{session_name}")
        except NoTmuxServer:
            return False
        return True

    def session_names(self) -> list[str]:
        """Return the names of the sessions on this server ([] when no server runs)."""
        try:
            return self.run("list-sessions", "-F", "#{session_name}")
        except NoTmuxServer:
            return []

    def has_session(self, name: str) -> bool:
        """Return True when a session with exactly this name exists."""
        return name in self.session_names()

    def new_session(
        self,
        name: str,
        directory: Path,
        command: Sequence[str],
        *,
        environment: Mapping[str, str],
        width: int,
        height: int,
        options: Mapping[str, str] | None = None,
        history: int | None = None,
    ) -> PaneInfo:
        """Start a detached session running ``command`` (argv, run without a shell).

        ``name`` must pass :func:`check_name` (``-s`` is expanded as a format, and the
        name is a target below). The window keeps its pane after the program exits
        (``remain-on-exit``), so that an exited agent shows as exited and its last
        screen stays readable until the session is stopped. ``history`` is how many
        lines of scrollback the pane keeps (tmux's ``history-limit``; None: tmux's).
        """
        check_name(name)
        # tmux 3.3a expands formats in -c (twice over, for the session and for its
        # pane, each from the word as given: one escape is enough). It takes -e values
        # and the argv after "--" as they are, except that tmux runs an argv of one
        # word with `default-shell -c WORD`: env makes it two words, run directly.
        folder = whole_word(format_literal(str(directory)))
        variables = [arg for k, v in environment.items() for arg in ("-e", whole_word(f"{k}={v}"))]
        args = ["new-session", "-d", "-s", name, "-c", folder]
        args += ["-x", str(width), "-y", str(height), *variables]
        if history is not None:
            # history-limit applies to panes created after it is set: the session starts
            # with a stand-in window, gets the option, then the agent's window, and the
            # stand-in goes. All in this one invocation.
            args += ["--", _ENV, "--", "sleep", "30", ";"]
            args += ["set-option", "-t", f"={name}:", "history-limit", str(history), ";"]
            args += ["new-window", "-t", f"={name}:", "-c", folder, *variables]
        argv = [_ENV, "--", *command] if len(command) == 1 else list(command)
        args += ["--", *map(whole_word, argv)]
        if history is not None:
            args += [";", "kill-window", "-t", f"={name}:{{start}}"]
        # One tmux invocation: the options are set before the program can exit. An
        # agent session must outlive its clients (the watcher's control clients
        # come and go), whatever the user's destroy-unattached says.
        self.run(
            *args, ";",
            "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on", ";",
            "set-option", "-t", f"={name}:", "destroy-unattached", "off",
            *session_options(name, options or {}),
        )  # fmt: skip
        return self.pane(name)

    def session_id(self, name: str) -> str:
        """Return tmux's id (``$3``) of the session named exactly ``name``.

        Matched in Python: a name given as a target could be read as an id, a
        client, a prefix or a pattern. NoSuchSession when there is none.
        """
        names = []
        for line in self.run("list-sessions", "-F", "#{session_id}\t#{session_name}"):
            session_id, _, found = line.partition("\t")
            if found == name:
                return session_id
            names.append(found)
        raise NoSuchSession(name, sorted(names))

    def kill_session(self, name: str) -> None:
        """Kill the session; NoSuchSession when it is not there."""
        self.run("kill-session", "-t", self.session_id(name), session=name)

    def panes(self) -> list[PaneInfo]:
        """Return the active pane of every session (one line each, one tmux call)."""
        try:
            lines = self.run(
                "list-panes", "-a", "-F", "#{pane_active}#{window_active}" + _PANE_FORMAT
            )
        except NoTmuxServer:
            return []
        return [PaneInfo.parse(line[2:]) for line in lines if line.startswith("11")]

    def pane(self, session: str) -> PaneInfo:
        """Return the active pane of a session; NoSuchSession when there is none.

        The name is matched exactly, in Python: tmux's own lookup of a target
        that does not exist can fall back to another session.
        """
        panes = self.panes()
        for pane in panes:
            if pane.session == session:
                return pane
        if not panes and not self.is_running():
            raise NoTmuxServer(self.socket_name)
        raise NoSuchSession(session, sorted(p.session for p in panes))

    def environment(self, session: str, key: str) -> str | None:
        """Return a variable of the session's environment, or None when unset."""
        target = self.session_id(session)
        try:
            lines = self.run("show-environment", "-t", target, whole_word(key), session=session)
        except TmuxCommandFailed:
            return None
        if not lines or "=" not in lines[0]:
            return None
        return lines[0].split("=", 1)[1]

    # -- reading panes --------------------------------------------------------

    def capture(self, pane: PaneInfo, *, history: int = 0) -> str:
        """Return the text of a pane: the visible screen plus ``history`` lines of scrollback."""
        args = ["capture-pane", "-p", "-t", pane.pane_id]
        if history:
            args += ["-S", str(-history)]
        return "\n".join(self.run(*args, session=pane.session))

    def capture_growing(self, pane: PaneInfo, *, history: int) -> tuple[str, int]:
        """Capture like :meth:`capture` and return the pane's scrollback length too.

        One tmux call: a caller following a pane that prints can size its next
        capture to what was added since the last one.
        """
        lines = self.run(
            "capture-pane", "-p", "-t", pane.pane_id, "-S", str(-max(history, 0)), ";",
            "display-message", "-p", "-t", pane.pane_id, "#{history_size}",
            session=pane.session,
        )  # fmt: skip
        if not lines or not lines[-1].isdigit():
            raise NoSuchSession(pane.session, self.session_names())
        return "\n".join(lines[:-1]), int(lines[-1])

    # -- writing to panes -------------------------------------------------------

    def paste(self, pane: PaneInfo, text: str, *, then_keys: Sequence[str] = ()) -> None:
        """Paste ``text`` into a pane as a bracketed paste, then press ``then_keys``.

        The text reaches tmux on its stdin (``load-buffer -``, never a file a killed
        process could leave behind) into a buffer whose name is unique to this call
        (buffers are server-wide), deleted by the paste itself. Text and keys travel
        in one tmux invocation, so no other client can come between.

        Nothing is pasted or pressed while the pane is in a mode (a person scrolled
        back in copy mode): tmux would paste without the bracket codes, and each line
        break would submit a piece of the text. tmux checks that itself, in the same
        invocation (``if-shell -F``), and PaneInMode is raised.
        """
        buffer = f"imessenger-{os.getpid()}-{secrets.token_hex(4)}"
        target = control_quote(pane.pane_id)
        act: list[str] = []
        if text:
            act.append(f"paste-buffer -p -d -b {buffer} -t {target}")
        if then_keys:
            act.append(" ".join(["send-keys", "-t", target, *map(control_quote, then_keys)]))
        if not act:
            return
        refuse = f"display-message -p {_IN_MODE}"
        if text:
            refuse = f"delete-buffer -b {buffer} ; {refuse}"
        args = ["load-buffer", "-b", buffer, "-", ";"] if text else []
        args += ["if-shell", "-F", "-t", pane.pane_id, "#{pane_in_mode}", refuse, " ; ".join(act)]
        try:
            out = self.run(
                *args, session=pane.session, input=text.encode("utf-8") if text else None
            )
        except Exception:
            if text:
                self._drop_buffer(buffer)
            raise
        if _IN_MODE in out:
            raise PaneInMode(pane.session)

    def _drop_buffer(self, buffer: str) -> None:
        with contextlib.suppress(TmuxCommandFailed, NoTmuxServer):
            self.run("delete-buffer", "-b", buffer)

    def send_keys(self, pane: PaneInfo, keys: Sequence[str]) -> None:
        """Press tmux keys (``Enter``, ``Escape``, ``1``, ``C-c``) in a pane."""
        self.run("send-keys", "-t", pane.pane_id, *map(whole_word, keys), session=pane.session)

    @staticmethod
    def unread_input(pane: PaneInfo) -> int | None:
        """How many bytes of pasted text and keys the pane's program has not read yet.

        Read from the terminal's input queue, without taking anything from it. None
        when it cannot be told (no terminal, or one this user may not open). An agent
        that has not read a key has neither taken nor dropped it: it is only slow.
        """
        if not pane.tty or pane.dead:
            return None
        try:
            fd = os.open(pane.tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            count = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, count, True)
            return count[0]
        except OSError:
            return None
        finally:
            os.close(fd)

    def type_text(self, pane: PaneInfo, text: str) -> None:
        """Type short literal text (a few characters, for example ``/exit``) into a pane."""
        literal = whole_word(text)
        self.run("send-keys", "-l", "-t", pane.pane_id, "--", literal, session=pane.session)

    # -- the current client -----------------------------------------------------

    def socket_path(self) -> str | None:
        """Return the path of this server's socket, or None when no server runs."""
        try:
            lines = self.run("display-message", "-p", "#{socket_path}")
        except (NoTmuxServer, TmuxCommandFailed):
            return None
        return lines[0] if lines else None

    def current_session(self) -> str | None:
        """Return the session of the pane this process runs in, when it is on this server."""
        tmux_env = os.environ.get("TMUX")
        pane = os.environ.get("TMUX_PANE")
        if not tmux_env or not pane or not re.fullmatch(r"%[0-9]+", pane):
            return None
        if tmux_env.split(",", 1)[0] != self.socket_path():
            return None
        try:
            lines = self.run("display-message", "-p", "-t", pane, "#{session_name}")
        except (NoTmuxServer, TmuxCommandFailed):
            return None
        return lines[0] if lines else None

    def attach(self, session: str) -> None:
        """Attach the terminal to a session, or switch the client when already inside tmux.

        Outside tmux this replaces the current process with ``tmux attach``.
        """
        try:
            target = self.session_id(session)
        except NoTmuxServer:
            raise NoSuchSession(session, []) from None
        if os.environ.get("TMUX") and self.current_session() is not None:
            self.run("switch-client", "-t", target, session=session)
            return
        argv = self.argv("attach-session", "-t", target)
        os.execv(argv[0], argv)

    # -- appended for the watcher and the tmux plugin ---------------------------------

    def argv(self, *args: str) -> list[str]:
        """Return the argv that runs ``tmux`` on this server with ``args`` (socket flag added).

        For a long-lived tmux process (a control-mode client); every other command goes
        through :meth:`run`.
        """
        program = shutil.which("tmux")
        if program is None:
            raise TmuxNotInstalled()
        return [program, *self._flags, *args]

    def socket_file(self) -> Path:
        """Return where this server's socket is, whether or not the server runs."""
        if self.socket_path_given:
            return Path(self.socket_path_given)
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return Path(base) / f"tmux-{os.getuid()}" / (self.socket_name or "default")

    def clients(self) -> list[ClientInfo]:
        """Return the clients attached to the server ([] when no server runs)."""
        try:
            lines = self.run(
                "list-clients",
                "-F",
                "#{client_name}\t#{session_name}\t#{client_control_mode}\t#{client_activity}",
            )
        except NoTmuxServer:
            return []
        found = []
        for line in lines:
            name, session, control, activity = [*line.split("\t"), "", "", ""][:4]
            seen = int(activity) if activity.isdigit() else 0
            found.append(ClientInfo(name, session, control == "1", seen))
        return found

    def display_message(self, client: str, text: str) -> None:
        """Show ``text`` (taken literally, never as a format) in a client's status line.

        display-message runs ``strftime`` on its text before expanding it as a format,
        so ``%`` is doubled too.
        """
        shown = drawn_literal(text).replace("%", "%%")
        self.run("display-message", "-c", whole_word(client), "--", whole_word(shown))

    def refresh_status(self, client: str) -> None:
        """Redraw a client's status line now (which re-runs its ``#()`` commands)."""
        self.run("refresh-client", "-S", "-t", whole_word(client))

    def switch_client(self, client: str, session: str) -> None:
        """Show ``session`` in the named client."""
        target = self.session_id(session)
        self.run("switch-client", "-c", whole_word(client), "-t", target, session=session)

    def display_menu(self, client: str, title: str, items: Sequence[MenuItem]) -> None:
        """Show a menu on a (terminal) client; labels and the title are shown literally.

        An item's command is passed as it is: it is a tmux command, which tmux expands
        as a format once when it builds the menu (the caller escapes it for that, see
        imessenger.menu). Returns when the menu closes (run it in the background from a
        key binding). Never aim it at a control-mode client: seen on tmux 3.3a, that
        can end the server.
        """
        shown = whole_word(drawn_literal(title))
        args = ["display-menu", "-c", whole_word(client), "-T", shown, "--"]
        for item in items:
            if item.separator:
                args.append("")
            else:
                label = whole_word(drawn_literal(item.label))
                args += [label, whole_word(item.key), whole_word(item.command)]
        self.run(*args)


# -- following sessions: a control-mode client per session (used by the watcher) ------------
#
# Appended for the watcher. Why control mode, and how it is used:
#
# * ``tmux -C attach-session -t $ID -f ignore-size`` is an ordinary client of the server
#   that speaks a line protocol on its stdin/stdout: no visible session is created, and
#   ``ignore-size`` keeps the client from resizing the session's window. tmux tells a
#   control client about the output (``%output``) of the panes of the one session it is
#   attached to, within about a millisecond, and nothing at all while they are quiet; so
#   the watcher runs one such client per session it follows.
# * The watcher needs to know *that* a pane changed, not what it printed: on the first
#   ``%output`` of a pane the client pauses that pane's output to itself (``refresh-client
#   -A %P:pause``, tmux 3.2+), and :meth:`ControlClient.read_pane` continues it right
#   before it captures the screen. tmux runs one client's commands in order, so whatever
#   the pane prints after the capture starts a new round, and a pane printing fast for
#   minutes costs a capture per round instead of a copy of everything it prints.
# * A pane whose program exits prints nothing tmux would report. One client (any) is
#   subscribed (``refresh-client -B``, checked by tmux once a second) to the list of
#   sessions whose active pane is dead, for the whole server: one check a second in all,
#   where a subscription per client would cost the server 50 checks a second.
# * Commands sent through the client (``capture-pane`` and friends) need no new process.
#
# A caution: tmux picks "the current client" for commands given without ``-c``/``-t``
# from outside any client, and that can be one of these control clients. Commands meant
# for the user's terminal must name the client (see :meth:`Tmux.clients`).

#: The kinds of :class:`ControlEvent`.
OUTPUT = "output"  # a pane printed (reported once until the next read_pane)
PANE_DEAD = "pane-dead"  # the sessions whose pane is dead changed (value: their ids)
SESSIONS_CHANGED = "sessions-changed"  # a session was created or destroyed on the server
CLIENT_EXIT = "exit"  # the client ended: its session, or the server, went away

_SUBSCRIPTION = "imessenger-dead"
#: Arguments made only of these need no quotes (a leading "%" or "=" could, for example).
_CONTROL_SAFE = re.compile(r"[A-Za-z0-9_./,:@+-]+")


def control_quote(arg: str) -> str:
    """Quote one argument for tmux's command parser (single quotes, as in sh)."""
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"a tmux command argument cannot hold a line break: {arg!r}")
    if _CONTROL_SAFE.fullmatch(arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


class ControlClientClosed(TmuxCommandFailed):
    """The control client ended before tmux answered a command."""

    def __init__(self, command: str, session: str) -> None:
        super().__init__(
            command, f'the control client of session "{session}" has ended (session or server gone)'
        )


@dataclass(frozen=True)
class ControlEvent:
    """A notification from a :class:`ControlClient`: ``kind`` is one of the constants above."""

    kind: str
    session: str
    pane_id: str = ""
    value: str = ""


@dataclass(frozen=True)
class ClientInfo:
    """A client attached to the server (a terminal, or a control-mode client)."""

    name: str
    session: str
    control: bool
    activity: int  # when it last had input (unix seconds)


class ControlClient:
    """A control-mode client attached to one session, reporting its panes' changes.

    ``on_event`` is called from the client's reader thread with each
    :class:`ControlEvent`; it should only hand the event on (to a queue). Use
    :meth:`start` before anything else and :meth:`close` at the end.
    """

    def __init__(self, tmux: Tmux, session: str, on_event: Callable[[ControlEvent], None]) -> None:
        self.tmux = tmux
        self.session = session
        self._on_event = on_event
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()  # guards writes, _pending and _paused together
        self._pending: deque[tuple[str, Future[list[str]] | None]] = deque()
        self._paused: set[str] = set()
        self._attached = threading.Event()
        self._ended = threading.Event()
        self._session_id = ""
        self._exit_reported = False

    @property
    def alive(self) -> bool:
        """True while the client is attached to its session."""
        return self._attached.is_set() and not self._ended.is_set()

    @property
    def session_id(self) -> str:
        """tmux's id of the session (``$3``), looked up by :meth:`start`."""
        return self._session_id

    @property
    def pid(self) -> int | None:
        """The process id of the tmux client process (None before start)."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 5.0) -> None:
        """Attach to the session; NoSuchSession / NoTmuxServer when it cannot.

        The client attaches to the session's id, looked up by its exact name: any
        name can be followed, including one tmux would read as a target of its own
        (``$0``, ``=x``, a prefix of another name), and what it follows stays that
        session (tmux never gives an id twice).
        """
        self._session_id = self.tmux.session_id(self.session)
        argv = self.tmux.argv("-C", "attach-session", "-t", self._session_id, "-f", "ignore-size")
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C meant for the watcher does not reach it
        )
        self._reader = threading.Thread(
            target=self._read, name=f"tmux-control-{self.session}", daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._attached.is_set() and not self._ended.is_set():
            if time.monotonic() >= deadline:
                break
            self._attached.wait(0.01)
        if not self.alive:
            self.close()
            if not self.tmux.is_running():
                raise NoTmuxServer(self.tmux.socket_name)
            raise NoSuchSession(self.session, self.tmux.session_names())

    def close(self, timeout: float = 2.0) -> None:
        """Detach (close stdin), then end the client process if it lingers."""
        proc = self._proc
        if proc is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        self._ended.set()

    # -- commands ---------------------------------------------------------------

    def command(self, *args: str, timeout: float = 5.0) -> list[str]:
        """Run one tmux command through the client and return its output lines."""
        future: Future[list[str]] = Future()
        self._send(args, future)
        return self._wait(args[0], future, timeout)

    def read_pane(self, *, info: bool = True, timeout: float = 5.0) -> tuple[PaneInfo | None, str]:
        """Resume the session's paused panes, then return its active pane and visible text.

        The resume goes first, so any output after the capture is reported again.
        With ``info`` False the pane is not described (None): one command less, for a
        caller that knows the pane already (its death comes as a PANE_DEAD event).
        """
        target = f"{self._session_id}:"
        described: Future[list[str]] = Future()
        text: Future[list[str]] = Future()
        with self._lock:
            for pane in sorted(self._paused):
                self._write(("refresh-client", "-A", f"{pane}:continue"), None)
            self._paused.clear()
            if info:
                self._write(("display-message", "-p", "-t", target, _PANE_FORMAT), described)
            self._write(("capture-pane", "-p", "-t", target), text)
        screen = "\n".join(self._wait("capture-pane", text, timeout))
        if not info:
            return None, screen
        lines = self._wait("display-message", described, timeout)
        if not lines:
            raise NoSuchSession(self.session, [])
        return PaneInfo.parse(lines[0]), screen

    def watch_dead_panes(self) -> None:
        """Report (as PANE_DEAD, value: ids like "$1 $4 ") the sessions of the whole server
        whose active pane is dead, whenever that list changes. One client is enough."""
        dead = "#{S:#{?pane_dead,#{session_id} ,}}"
        self._send(("refresh-client", "-B", f"{_SUBSCRIPTION}::{dead}"), None)

    def _wait(self, name: str, future: Future[list[str]], timeout: float) -> list[str]:
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise TmuxCommandFailed(name, f"no answer within {timeout:g}s") from None

    def _send(self, args: Sequence[str], future: Future[list[str]] | None) -> None:
        with self._lock:
            self._write(args, future)

    def _write(self, args: Sequence[str], future: Future[list[str]] | None) -> None:
        """Write one command line; the caller holds the lock."""
        proc = self._proc
        if proc is None or proc.stdin is None or self._ended.is_set():
            raise ControlClientClosed(args[0], self.session)
        line = " ".join(control_quote(arg) for arg in args) + "\n"
        try:
            proc.stdin.write(line.encode("utf-8"))
            proc.stdin.flush()
        except (OSError, ValueError):
            raise ControlClientClosed(args[0], self.session) from None
        self._pending.append((args[0], future))

    # -- the reader thread --------------------------------------------------------

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        block: list[str] | None = None
        key = b""
        try:
            for raw in self._proc.stdout:
                line = raw.rstrip(b"\n")
                if block is not None:
                    if line.startswith((b"%end ", b"%error ")) and line.split(b" ", 1)[1] == key:
                        self._finish(key, block, failed=line.startswith(b"%error"))
                        block = None
                    else:
                        block.append(line.decode("utf-8", "replace"))
                elif line.startswith(b"%output "):
                    end = line.find(b" ", 8)
                    self._output(line[8 : end if end > 0 else len(line)].decode("ascii", "replace"))
                elif line.startswith(b"%begin "):
                    key, block = line.split(b" ", 1)[1], []
                else:
                    self._notification(line.decode("utf-8", "replace"))
                if self._ended.is_set():
                    break
        except (OSError, ValueError):
            pass
        finally:
            self._end()

    def _finish(self, key: bytes, lines: list[str], *, failed: bool) -> None:
        """A command's output block ended: hand it to the caller that sent the command."""
        flags = key.rsplit(b" ", 1)[-1]
        if not flags.isdigit() or not int(flags) & 1:
            return  # not sent by this client (its own attach, for example)
        with self._lock:
            if not self._pending:
                return
            name, future = self._pending.popleft()
        if future is None:
            if failed:
                logger.debug("tmux %s (control, %s): %s", name, self.session, " ".join(lines))
            return
        if failed:
            future.set_exception(TmuxCommandFailed(name, " ".join(lines).strip()))
        else:
            future.set_result(lines)

    def _output(self, pane: str) -> None:
        with self._lock:
            if pane in self._paused:
                return
            self._paused.add(pane)
            with contextlib.suppress(ControlClientClosed):
                self._write(("refresh-client", "-A", f"{pane}:pause"), None)
        self._on_event(ControlEvent(OUTPUT, self.session, pane))

    def _notification(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == "%session-changed":
            if rest.split(" ", 1)[0] == self._session_id and not self._ended.is_set():
                self._attached.set()
            else:
                # the session was destroyed and tmux moved this client to another one
                # (detach-on-destroy off): this client has nothing left to follow.
                self._ended.set()
        elif word == "%subscription-changed":
            name, _, value = rest.partition(" : ")
            if name.split(" ", 1)[0] == _SUBSCRIPTION:
                self._on_event(ControlEvent(PANE_DEAD, self.session, value=value.strip()))
        elif word in ("%window-pane-changed", "%session-window-changed", "%layout-change"):
            # another pane may be the active one now, or its size changed
            self._on_event(ControlEvent(OUTPUT, self.session, "", "moved"))
        elif word == "%sessions-changed":
            self._on_event(ControlEvent(SESSIONS_CHANGED, self.session))
        elif word == "%exit":
            self._ended.set()

    def _end(self) -> None:
        self._ended.set()
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        for name, future in pending:
            if future is not None and not future.done():
                future.set_exception(ControlClientClosed(name, self.session))
        if self._attached.is_set() and not self._exit_reported:
            self._exit_reported = True
            self._on_event(ControlEvent(CLIENT_EXIT, self.session))
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                if proc.stdin is not None:
                    proc.stdin.close()


@dataclass(frozen=True)
class MenuItem:
    """One line of a ``display-menu``: a label, its key ("" for none) and a tmux command.

    A separator line has an empty label.
    """

    label: str
    key: str = ""
    command: str = ""

    @property
    def separator(self) -> bool:
        return not self.label
