"""ControlClient: a control-mode client per followed session (used by the watcher).

Why control mode, and how it is used:

* ``tmux -C attach-session -t $ID -f ignore-size`` is an ordinary client of the server
  that speaks a line protocol on its stdin/stdout: no visible session is created, and
  ``ignore-size`` keeps the client from resizing the session's window. tmux tells a
  control client about the output (``%output``) of the panes of the one session it is
  attached to, within about a millisecond, and nothing at all while they are quiet; so
  the watcher runs one such client per session it follows.
* The watcher needs to know that a pane printed something that may change what a read
  of its screen finds, not every frame a busy agent's spinner redraws. The output
  flows to the client, and the bytes decide (:class:`imessenger.core.redraws.Redraws`,
  whose docstring says how): a redraw of a frame printed since the screen last changed
  is set aside on the client's thread (:meth:`ControlClient.unread_redraws` says since
  when), and the first news after each read is reported (``OUTPUT``) at once. What was
  printed before tmux answers a read's capture is in that capture: news after it is
  reported again.
* A pane that prints a lot (more than ``FLOOD_BYTES`` within ``FLOOD_WINDOW_S``: ``seq``,
  a build log) is paused (``refresh-client -A %P:pause``, tmux 3.2+) and reported, at
  each output until it has not flooded for ``FLOOD_HOLD_S``;
  :meth:`ControlClient.read_pane` continues it right before it captures the screen. tmux
  runs one client's commands in order, so whatever the pane prints after the capture
  starts a new round, and a pane printing fast for minutes costs a capture and
  ``FLOOD_BYTES`` per round instead of a copy of everything it prints.
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
import selectors
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from imessenger.adapters.tmux.info import PANE_FORMAT, PaneInfo
from imessenger.adapters.tmux.quoting import control_quote
from imessenger.core.errors import NoSuchSession, NoTmuxServer, TmuxCommandFailed
from imessenger.core.redraws import FLOOD, SEEN, Redraws

if TYPE_CHECKING:
    from imessenger.adapters.tmux.runner import Tmux

logger = logging.getLogger(__name__)

#: The kinds of :class:`ControlEvent`.
OUTPUT = "output"  # a pane printed news (reported once until the next read_pane)
FLOODED = "flooded"  # the value of an OUTPUT event whose pane was paused for a flood
PANE_DEAD = "pane-dead"  # the sessions whose pane is dead changed (value: their ids)
SESSIONS_CHANGED = "sessions-changed"  # a session was created or destroyed on the server
CLIENT_EXIT = "exit"  # the client ended: its session, or the server, went away

_SUBSCRIPTION = "imessenger-dead"

#: A pane that prints more than this many bytes (as tmux sends them) within
#: ``FLOOD_WINDOW_S`` is paused until the next read (a spinner's frame is a few hundred).
FLOOD_BYTES = 16 * 1024
FLOOD_WINDOW_S = 0.1
#: ... and all it prints is paused so until it has not flooded for this long, in seconds.
FLOOD_HOLD_S = 1.0


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


class ControlReader:
    """One thread that reads what many control clients print (a selector over their
    stdouts): the watcher's clients cost one thread, woken once for whatever is ready.

    :meth:`add` hands it a client's stdout and the function that takes each chunk read
    (``b""`` at its end, after which the stream is closed); that function runs on this
    thread and must be quick. :meth:`close` ends the thread (the streams still read
    end then).
    """

    def __init__(self, name: str = "tmux-control") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._changes: list[tuple[IO[bytes], Callable[[bytes], bool] | None]] = []
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    def add(self, stream: IO[bytes], feed: Callable[[bytes], bool]) -> None:
        """Read ``stream`` until its end, or until ``feed`` returns False."""
        self._change(stream, feed)

    def drop(self, stream: IO[bytes]) -> None:
        """Stop reading ``stream`` (its feed gets ``b""``) and close it."""
        self._change(stream, None)

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._poke()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _change(self, stream: IO[bytes], feed: Callable[[bytes], bool] | None) -> None:
        with self._lock:
            if self._closing:
                raise ValueError("the control reader is closed")
            self._changes.append((stream, feed))
            if self._thread is None:
                self._selector = selectors.DefaultSelector()
                self._wake = os.pipe()
                os.set_blocking(self._wake[0], False)
                os.set_blocking(self._wake[1], False)
                self._selector.register(self._wake[0], selectors.EVENT_READ, None)
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._poke()

    def _poke(self) -> None:
        with self._lock:
            if self._wake is not None:
                with contextlib.suppress(OSError):  # full: it wakes up anyway
                    os.write(self._wake[1], b"x")

    def _run(self) -> None:
        selector, wake = self._selector, self._wake
        assert selector is not None
        assert wake is not None
        streams: dict[int, IO[bytes]] = {}
        try:
            while True:
                with self._lock:
                    changes, self._changes = self._changes, []
                    closing = self._closing
                if closing:
                    break
                for stream, feed in changes:
                    fd = stream.fileno() if not stream.closed else -1
                    if feed is not None and fd not in streams:
                        try:
                            os.set_blocking(fd, False)
                            selector.register(fd, selectors.EVENT_READ, feed)
                        except (OSError, ValueError, KeyError):
                            self._feed(feed, b"")  # nothing to read: its end at once
                            continue
                        streams[fd] = stream
                    elif feed is None and fd in streams:
                        self._finish(selector, streams, fd)
                for key, _ in selector.select():
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            os.read(wake[0], 4096)
                        continue
                    try:
                        data = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data or not self._feed(key.data, data):
                        self._finish(selector, streams, key.fd)
        except Exception:
            logger.exception("reading the tmux control clients")
            raise
        finally:
            for fd in list(streams):  # closed with clients still read: they end here
                self._finish(selector, streams, fd)
            selector.close()
            with self._lock:
                self._wake = None
                self._closing = True  # nothing is read any more: say so to add()
            for end in wake:
                os.close(end)

    def _finish(
        self, selector: selectors.BaseSelector, streams: dict[int, IO[bytes]], fd: int
    ) -> None:
        """A stream ended (or is dropped): its feed gets ``b""``, and it is closed."""
        feed = selector.unregister(fd).data
        streams.pop(fd).close()
        self._feed(feed, b"")

    @staticmethod
    def _feed(feed: Callable[[bytes], bool], data: bytes) -> bool:
        try:
            return feed(data)
        except Exception:  # one client's fault must not leave every other one deaf
            logger.exception("reading a tmux control client")
            return False


class ControlClient:
    """A control-mode client attached to one session, reporting its panes' changes.

    ``on_event`` is called from the reader's thread with each :class:`ControlEvent`; it
    should only hand the event on (to a queue). ``reader`` is the
    :class:`ControlReader` shared by a process's clients (without it the client has one
    of its own). Use :meth:`start` before anything else and :meth:`close` at the end.
    """

    def __init__(
        self,
        tmux: Tmux,
        session: str,
        on_event: Callable[[ControlEvent], None],
        reader: ControlReader | None = None,
    ) -> None:
        self.tmux = tmux
        self.session = session
        self._on_event = on_event
        self._proc: subprocess.Popen[bytes] | None = None
        self._own_reader = reader is None
        self._reader = reader if reader is not None else ControlReader(f"tmux-control-{session}")
        self._partial = b""  # the start of a line not read whole yet
        self._block: list[str] | None = None  # the lines of a command's answer so far
        self._block_key = b""
        self._lock = threading.Lock()  # guards writes, _pending, _paused and _redraws
        #: the commands sent, in order: name, who waits for the answer, whether it is a
        #: read's capture (what was printed before its answer is in it)
        self._pending: deque[tuple[str, Future[list[str]] | None, bool]] = deque()
        self._paused: set[str] = set()  # panes paused for printing too much
        self._redraws = Redraws(
            flood_bytes=FLOOD_BYTES, flood_window_s=FLOOD_WINDOW_S, flood_hold_s=FLOOD_HOLD_S
        )
        self._told = False  # OUTPUT was reported since the last read's capture
        self._taken: frozenset[int] = frozenset()  # the news the answered captures cover
        self._attached = threading.Event()
        self._ended = threading.Event()
        self._gone = threading.Event()  # its output was read to the end
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
        assert self._proc.stdout is not None
        self._reader.add(self._proc.stdout, self._feed)
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
        if not self._gone.wait(timeout) and proc.stdout is not None:
            self._reader.drop(proc.stdout)  # the end never came: stop reading it anyway
            self._gone.wait(timeout)
        if self._own_reader:
            self._reader.close(timeout)
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
                self._redraws.resumed(pane, now=time.monotonic())
            self._paused.clear()
            if info:
                self._write(("display-message", "-p", "-t", target, PANE_FORMAT), described)
            self._write(("capture-pane", "-p", "-t", target), text, capture=True)
        screen = "\n".join(self._wait("capture-pane", text, timeout))
        with self._lock:
            taken, self._taken = self._taken, frozenset()
            self._redraws.settle(taken, screen)
        if not info:
            return None, screen
        lines = self._wait("display-message", described, timeout)
        if not lines:
            raise NoSuchSession(self.session, [])
        return PaneInfo.parse(lines[0]), screen

    def unread_redraws(self) -> tuple[float, float] | None:
        """When the first redraw set aside since the last read came, and the last output
        (monotonic); None when every output since was read."""
        with self._lock:
            return self._redraws.unread

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

    def _write(
        self, args: Sequence[str], future: Future[list[str]] | None, *, capture: bool = False
    ) -> None:
        """Write one command line (``capture``: a read's); the caller holds the lock."""
        proc = self._proc
        if proc is None or proc.stdin is None or self._ended.is_set():
            raise ControlClientClosed(args[0], self.session)
        line = " ".join(control_quote(arg) for arg in args) + "\n"
        try:
            proc.stdin.write(line.encode("utf-8"))
            proc.stdin.flush()
        except (OSError, ValueError):
            raise ControlClientClosed(args[0], self.session) from None
        self._pending.append((args[0], future, capture))

    # -- on the reader's thread ------------------------------------------------------

    def _feed(self, data: bytes) -> bool:
        """Take what the client printed (``b""``: its end); False once it ended."""
        if not data:
            self._end()
            self._gone.set()
            return False
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._line(line)
            if self._ended.is_set():
                self._end()
                return False
        return True

    def _line(self, line: bytes) -> None:
        block = self._block
        if block is not None:
            key = self._block_key
            if line.startswith((b"%end ", b"%error ")) and line.split(b" ", 1)[1] == key:
                self._block = None
                self._finish(key, block, failed=line.startswith(b"%error"))
            else:
                block.append(line.decode("utf-8", "replace"))
        elif line.startswith(b"%output "):
            end = line.find(b" ", 8)
            if end < 0:
                end = len(line)
            self._output(line[8:end].decode("ascii", "replace"), line[end + 1 :])
        elif line.startswith(b"%begin "):
            self._block_key, self._block = line.split(b" ", 1)[1], []
        else:
            self._notification(line.decode("utf-8", "replace"))

    def _finish(self, key: bytes, lines: list[str], *, failed: bool) -> None:
        """A command's output block ended: hand it to the caller that sent the command."""
        flags = key.rsplit(b" ", 1)[-1]
        if not flags.isdigit() or not int(flags) & 1:
            return  # not sent by this client (its own attach, for example)
        paused = ""
        with self._lock:
            if not self._pending:
                return
            name, future, capture = self._pending.popleft()
            if capture:
                # everything printed before this answer is in the capture, but what a pane
                # paused meanwhile prints after it is not seen: another read is due
                self._taken |= self._redraws.taken()
                paused = min(self._paused, default="")
                self._told = bool(paused)
        if paused:
            self._on_event(ControlEvent(OUTPUT, self.session, paused, FLOODED))
        if future is None:
            if failed:
                logger.debug("tmux %s (control, %s): %s", name, self.session, " ".join(lines))
            return
        if failed:
            future.set_exception(TmuxCommandFailed(name, " ".join(lines).strip()))
        else:
            future.set_result(lines)

    def _output(self, pane: str, payload: bytes) -> None:
        """A pane printed ``payload``: report it when it is news, pause a flood."""
        now = time.monotonic()
        with self._lock:
            if pane in self._paused:
                return  # sent before tmux paused it
            verdict = self._redraws.printed(pane, payload, now=now)
            if verdict == SEEN:
                return
            if verdict == FLOOD:
                self._paused.add(pane)
                with contextlib.suppress(ControlClientClosed):
                    self._write(("refresh-client", "-A", f"{pane}:pause"), None)
            if self._told:
                return
            self._told = True
        self._on_event(
            ControlEvent(OUTPUT, self.session, pane, FLOODED if verdict == FLOOD else "")
        )

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
        for name, future, _ in pending:
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
