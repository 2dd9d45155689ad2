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

Text is never handed to tmux's command parser: pastes go through a buffer
loaded from a file (``load-buffer``), so nothing in a message is read as a tmux
command, and there is no limit on its size.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from imessenger.errors import (
    NoSuchSession,
    NoTmuxServer,
    TmuxCommandFailed,
    TmuxNotInstalled,
)

if TYPE_CHECKING:
    from libtmux.common import tmux_cmd

logger = logging.getLogger(__name__)

#: The environment variable that names the tmux socket (like ``tmux -L``).
SOCKET_ENV = "IMESSENGER_TMUX_SOCKET"

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
    ]
)
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")


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

    @classmethod
    def parse(cls, line: str) -> PaneInfo:
        """Build a PaneInfo from one line printed with ``_PANE_FORMAT``."""
        fields = line.split("\t")
        (name, pane_id, dead, status, width, height, pid, command, created, history, cursor) = (
            fields + [""] * 11
        )[:11]
        return cls(
            session=name,
            pane_id=pane_id,
            dead=dead == "1",
            dead_status=int(status) if status.lstrip("-").isdigit() else None,
            width=int(width or 0),
            height=int(height or 0),
            pid=int(pid) if pid.isdigit() else None,
            current_command=command,
            session_created=float(created or 0),
            history_size=int(history or 0),
            cursor_y=int(cursor or 0),
        )


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


class Tmux:
    """One tmux server, named by its socket (``None``: the user's default server)."""

    def __init__(self, socket_name: str | None = None) -> None:
        self.socket_name = socket_name or None
        self._flags = [f"-L{self.socket_name}"] if self.socket_name else []

    @classmethod
    def from_environment(cls, socket_name: str | None = None) -> Tmux:
        """Use ``socket_name`` when given, else ``$IMESSENGER_TMUX_SOCKET``, else the default."""
        return cls(socket_name or os.environ.get(SOCKET_ENV) or None)

    @property
    def label(self) -> str:
        """A name for this server in records and messages ("default" or the socket name)."""
        return self.socket_name or "default"

    # -- the one way to run a tmux command ---------------------------------

    def run(self, *args: str, session: str | None = None) -> list[str]:
        """Run one tmux command line (several commands joined by ``";"``) and return stdout.

        ``session`` names the session the command is about, so that "can't find
        session" becomes :class:`NoSuchSession` listing the sessions that exist.
        """
        runner, not_found = _libtmux()
        try:
            proc = runner(*self._flags, *args)
        except not_found:
            raise TmuxNotInstalled() from None
        stderr = " ".join(proc.stderr).strip()
        if proc.returncode == 0 and not stderr:
            return list(proc.stdout)
        logger.debug("tmux %s -> %s %s", args, proc.returncode, stderr)
        if any(text in stderr for text in _NO_SERVER):
            raise NoTmuxServer(self.socket_name)
        if session is not None and (
            "can't find session" in stderr
            or "can't find pane" in stderr
            or "can't find window" in stderr
        ):
            raise NoSuchSession(session, self.session_names())
        if proc.returncode == 0:
            # tmux printed a warning but did the work; keep it in the log.
            logger.info("tmux %s: %s", args[0], stderr)
            return list(proc.stdout)
        raise TmuxCommandFailed(args[0], stderr or f"exit status {proc.returncode}")

    # -- server and sessions ------------------------------------------------

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
    ) -> PaneInfo:
        """Start a detached session running ``command`` (argv, run without a shell).

        The window keeps its pane after the program exits (``remain-on-exit``),
        so that an exited agent shows as exited and its last screen stays
        readable until the session is stopped.
        """
        args = ["new-session", "-d", "-s", name, "-c", str(directory)]
        args += ["-x", str(width), "-y", str(height)]
        for key, value in environment.items():
            args += ["-e", f"{key}={value}"]
        args += ["--", *command]
        # One tmux invocation: the option is set before the program can exit.
        self.run(*args, ";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on")
        return self.pane(name)

    def kill_session(self, name: str) -> None:
        """Kill the session; NoSuchSession when it is not there."""
        self.run("kill-session", "-t", f"={name}", session=name)

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
        try:
            lines = self.run("show-environment", "-t", f"={session}", key, session=session)
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

        The text goes through a file and a buffer whose name is unique to this
        call (buffers are server-wide), deleted by the paste itself. Text and
        keys travel in one tmux invocation, so no other client can come between.
        """
        buffer = f"imessenger-{os.getpid()}-{secrets.token_hex(4)}"
        fd, name = tempfile.mkstemp(prefix="imessenger-paste-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
            args = ["load-buffer", "-b", buffer, name, ";"]
            args += ["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane.pane_id]
            if then_keys:
                args += [";", "send-keys", "-t", pane.pane_id, *then_keys]
            try:
                self.run(*args, session=pane.session)
            except Exception:
                self._drop_buffer(buffer)
                raise
        finally:
            os.unlink(name)

    def _drop_buffer(self, buffer: str) -> None:
        with contextlib.suppress(TmuxCommandFailed, NoTmuxServer):
            self.run("delete-buffer", "-b", buffer)

    def send_keys(self, pane: PaneInfo, keys: Sequence[str]) -> None:
        """Press tmux keys (``Enter``, ``Escape``, ``1``, ``C-c``) in a pane."""
        self.run("send-keys", "-t", pane.pane_id, *keys, session=pane.session)

    def type_text(self, pane: PaneInfo, text: str) -> None:
        """Type short literal text (a few characters, for example ``/exit``) into a pane."""
        self.run("send-keys", "-l", "-t", pane.pane_id, "--", text, session=pane.session)

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
        if not tmux_env or not pane:
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
        if not self.has_session(session):
            raise NoSuchSession(session, self.session_names())
        if os.environ.get("TMUX") and self.current_session() is not None:
            self.run("switch-client", "-t", f"={session}", session=session)
            return
        argv = ["tmux"]
        if self.socket_name:
            argv += ["-L", self.socket_name]
        argv += ["attach-session", "-t", f"={session}"]
        os.execvp("tmux", argv)
