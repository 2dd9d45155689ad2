"""ControlClient: a control-mode client per followed session (used by the watcher).

Why control mode, and how it is used:

* ``tmux -C attach-session -t $ID -f ignore-size`` is an ordinary client of the server
  that speaks a line protocol on its stdin/stdout: no visible session is created, and
  ``ignore-size`` keeps the client from resizing the session's window. tmux tells a
  control client about the output (``%output``) of the panes of the one session it is
  attached to, within about a millisecond, and nothing at all while they are quiet; so
  the watcher runs one such client per session it follows.
* The watcher needs to know *that* a pane changed, not what it printed: on the first
  ``%output`` of a pane the client pauses that pane's output to itself (``refresh-client
  -A %P:pause``, tmux 3.2+), and :meth:`ControlClient.read_pane` continues it right
  before it captures the screen. tmux runs one client's commands in order, so whatever
  the pane prints after the capture starts a new round, and a pane printing fast for
  minutes costs a capture per round instead of a copy of everything it prints.
* A pane whose program exits prints nothing tmux would report. One client (any) is
  subscribed (``refresh-client -B``, checked by tmux once a second) to the list of
  sessions whose active pane is dead, for the whole server: one check a second in all,
  where a subscription per client would cost the server 50 checks a second.
* Commands sent through the client (``capture-pane`` and friends) need no new process.

A caution: tmux picks "the current client" for commands given without ``-c``/``-t``
from outside any client, and that can be one of these control clients. Commands meant
for the user's terminal must name the client (see :meth:`Tmux.clients`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imessenger.adapters.tmux.info import PANE_FORMAT, PaneInfo
from imessenger.adapters.tmux.quoting import control_quote
from imessenger.core.errors import NoSuchSession, NoTmuxServer, TmuxCommandFailed

if TYPE_CHECKING:
    from imessenger.adapters.tmux.runner import Tmux

logger = logging.getLogger(__name__)

#: The kinds of :class:`ControlEvent`.
OUTPUT = "output"  # a pane printed (reported once until the next read_pane)
PANE_DEAD = "pane-dead"  # the sessions whose pane is dead changed (value: their ids)
SESSIONS_CHANGED = "sessions-changed"  # a session was created or destroyed on the server
CLIENT_EXIT = "exit"  # the client ended: its session, or the server, went away

_SUBSCRIPTION = "imessenger-dead"


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
                self._write(("display-message", "-p", "-t", target, PANE_FORMAT), described)
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
