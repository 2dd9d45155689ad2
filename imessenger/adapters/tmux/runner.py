"""Tmux: one tmux server, and the one way to run a tmux command on it.

Every command goes through :meth:`Tmux.run`, which adds the socket flag, runs
tmux through libtmux's command runner (``libtmux.common.tmux_cmd``, what
``Server.cmd`` uses), checks the return code and stderr itself (libtmux does
not raise when, for example, a pane is gone) and turns tmux's complaints into
:mod:`imessenger.core.errors` with messages that say what to do.

Only the command runner is loaded, not libtmux's package ``__init__``, which
builds its whole object model at import (about 55 ms on a 2-core machine,
a third of what a command like ``imessenger send`` may cost in all); see
:func:`_libtmux`.

Beside running commands, a Tmux finds the server's sessions (by exact name, see
the package docstring on targets), starts and ends them, and speaks to its
clients (status line, menus). What is done to one pane is
:class:`imessenger.adapters.tmux.pane.AgentPane`'s work, and the only way to it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from imessenger.adapters.tmux.info import (
    CLIENT_FORMAT,
    OWNER_FORMAT,
    PANE_FORMAT,
    ClientInfo,
    PaneInfo,
    PaneOwner,
)
from imessenger.adapters.tmux.options import session_options
from imessenger.adapters.tmux.quoting import drawn_literal, format_literal, whole_word
from imessenger.core.errors import (
    NoSuchSession,
    NoTmuxServer,
    TmuxCommandFailed,
    TmuxNotInstalled,
    UsageError,
)
from imessenger.core.names import check_name

if TYPE_CHECKING:
    from libtmux.common import tmux_cmd

logger = logging.getLogger(__name__)

#: The environment variable that names the tmux socket (like ``tmux -L``).
SOCKET_ENV = "IMESSENGER_TMUX_SOCKET"

_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")
#: What ``list-panes -a`` says on a server without sessions (one about to exit).
_NO_PANES = "no current target"
#: How long a tmux server on its way out may take to end, in seconds.
_SERVER_END_S = 2.0

#: Runs a one-word argv without a shell (see Tmux.new_session).
_ENV = "/usr/bin/env" if os.path.exists("/usr/bin/env") else "env"


def _lines(output: str) -> list[str]:
    """Split tmux's output into lines, without the empty ones at its end (as libtmux does)."""
    lines = output.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return lines


#: Held while libtmux's modules load (the package is in sys.modules only for that moment).
_LIBTMUX_LOADING = threading.Lock()


def load_libtmux() -> None:
    """Load the part of libtmux the runner uses (a server that forks loads it first)."""
    _libtmux()


@functools.cache
def _libtmux() -> tuple[type[tmux_cmd], type[Exception]]:
    """Return libtmux's ``tmux_cmd`` and ``TmuxCommandNotFound``, loading no more of libtmux.

    ``libtmux.common`` needs only its package's ``exc`` and ``_compat``
    modules. The package is put in ``sys.modules`` unexecuted while they
    load, then taken out again, so that a later ``import libtmux`` (the
    tests do) runs the package as usual and shares these same modules.
    """
    with _LIBTMUX_LOADING:  # two threads of the watcher may come here at once
        if "libtmux.common" not in sys.modules and "libtmux" not in sys.modules:
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
        lines = self._every_pane(OWNER_FORMAT)
        return [owner for line in lines if (owner := PaneOwner.parse(line, self.label))]

    def _every_pane(self, line_format: str) -> list[str]:
        """``list-panes -a``: one line per pane of the server. A server whose last session
        just ended, on its way out, answers "no current target": it has no pane."""
        try:
            return self.run("list-panes", "-a", "-F", line_format)
        except TmuxCommandFailed as error:
            if _NO_PANES in error.stderr:
                return []
            raise

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
        args += [
            ";",
            "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on", ";",
            "set-option", "-t", f"={name}:", "destroy-unattached", "off",
            *session_options(name, options or {}),
        ]  # fmt: skip
        try:
            self.run(*args)
        except NoTmuxServer:
            # A server whose last session just ended goes a moment later: a new session
            # that reached it on its way out ("server exited unexpectedly") was never
            # made. Once it is gone, the new session starts a server of its own.
            deadline = time.monotonic() + _SERVER_END_S
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.run(*args)
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
            lines = self._every_pane("#{pane_active}#{window_active}" + PANE_FORMAT)
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

    # -- the current client -----------------------------------------------------

    def socket_path(self) -> str | None:
        """Return the path of this server's socket, or None when no server runs."""
        try:
            lines = self.run("display-message", "-p", "#{socket_path}")
        except (NoTmuxServer, TmuxCommandFailed):
            return None
        return lines[0] if lines else None

    def server_pid(self) -> int | None:
        """Return the pid of this server's process, or None when no server runs."""
        try:
            lines = self.run("display-message", "-p", "#{pid}")
        except NoTmuxServer:
            return None
        text = lines[0].strip() if lines else ""
        if not text.isdigit():
            raise TmuxCommandFailed("display-message", f"no pid in {text!r}")
        return int(text)

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
            lines = self.run("list-clients", "-F", CLIENT_FORMAT)
        except NoTmuxServer:
            return []
        return [ClientInfo.parse(line) for line in lines]

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
        imessenger.interfaces.menu). Returns when the menu closes (run it in the background from a
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
