"""The watcher's life as a process: run under its pid file, started in the background, stopped.

One watcher runs per tmux server: it holds the server's pid file
(:class:`imessenger.adapters.status_cache.PidFile`) for as long as it runs, and a second one says so
and does nothing (:class:`imessenger.adapters.status_cache.WatcherRunning`).

* :func:`run_watcher` takes the pid file, starts the command server beside it
  (:mod:`imessenger.watcher.handover`), then follows the sessions in this process until
  SIGTERM, SIGINT or SIGHUP, and ends the server and gives the pid file up at the end;
* :func:`start_daemon` starts ``python -m imessenger watch`` in a session of its own,
  logging to ``watch-<server>.log`` in the data directory (files of 0600, rotated at a
  megabyte: the log holds message text), and waits up to ``START_S`` for it to hold the
  pid file;
* :func:`spawn_watcher` starts one the same way for a command that needs it
  (``[watch] autostart``), without waiting for it: it checks the pid file, starts the
  watcher and returns. The watcher leaves the command's process tree and terminal (its
  first parent, a small Python, exits at once), so it runs as the user whoever started
  it (imessenger.adapters.caller): the watcher of the whole server, not of one agent.
  It ends by itself once its tmux server is gone (imessenger.watcher.lifeline). Two
  commands may start one each at the same moment: the second finds the pid file held
  and exits at once, saying nothing;
* :func:`stop_watcher` sends the watcher SIGTERM and waits up to ``START_S`` for it to
  give the pid file up.

A watcher that cannot start exits instead, with status 1 and a message that says why and
what to do: that is the case when it cannot open the store or write its pid file, as in a
data folder that is read-only, not its own or on a full disk (it could record nothing,
and without its pid file a second watcher could start beside it). ``imessenger watch``
reports it like every command does, without a traceback.

This module loads the watcher itself only to run it, so that starting and stopping one
stay quick.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imessenger.adapters.paths import ensure_data_dir, touch_private_file
from imessenger.adapters.status_cache import PidFile, data_file_error, log_path, running_pid
from imessenger.core.errors import ImessengerError
from imessenger.core.visible import for_terminal

if TYPE_CHECKING:
    from imessenger.actions.sessions import Sessions
    from imessenger.watcher.loop import Watcher

#: How long :func:`start_daemon` and :func:`stop_watcher` wait for the watcher to start or end.
START_S = 15.0
#: What a watcher :func:`spawn_watcher` starts is not given of its starter's environment:
#: the session it says it runs for (imessenger.adapters.caller), the pane it runs in.
_NOT_PASSED_ON = ("IMESSENGER_SESSION", "TMUX", "TMUX_PANE")
#: The tmux server of a command without ``-L`` (imessenger.adapters.tmux.runner.SOCKET_ENV).
_SOCKET_ENV = "IMESSENGER_TMUX_SOCKET"
#: Where a watcher :func:`spawn_watcher` starts finds its data folder and config file.
_HOME_ENV, _CONFIG_ENV = "IMESSENGER_HOME", "IMESSENGER_CONFIG"
#: How long :func:`spawn_watcher` waits for the watcher's first parent to exit (it forks
#: and exits at once; should it not, it is reaped whenever it does).
_DETACHING_S = 1.0


class WatcherNotStarted(ImessengerError):
    """The watcher started in the background exited at once, or did not start in time."""

    def __init__(self, log: Path, status: int | None) -> None:
        if status is None:
            why = f"did not start within {START_S:g}s"
        else:
            why = f"exited at once (status {status})"
        super().__init__(f"the watcher {why}; see {log}")
        self.log = log
        self.status = status


class WatcherNotStopped(ImessengerError):
    """The watcher was asked to stop and still runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"the watcher (pid {pid}) did not stop; look at it with ps")
        self.pid = pid


@dataclass(frozen=True)
class Daemon:
    """The watcher of a tmux server in the background, as :func:`start_daemon` left it."""

    server: str
    pid: int
    log: Path | None = None  # the log of the watcher it started (None: one ran already)
    raced: bool = False  # it started one, but another one that started meanwhile won

    @property
    def message(self) -> str:
        if self.log is not None:
            return (
                f'imessenger watch started for tmux server "{self.server}" (pid {self.pid}); '
                f"log: {self.log}"
            )
        where = f'"{self.server}"' if self.raced else f'tmux server "{self.server}"'
        return f"imessenger watch is already running for {where} (pid {self.pid})"


@dataclass(frozen=True)
class Stopped:
    """What :func:`stop_watcher` did: stopped the watcher ``pid``, or found none (None)."""

    server: str
    pid: int | None

    @property
    def message(self) -> str:
        if self.pid is None:
            return f'no watcher runs for tmux server "{self.server}"'
        return f'stopped the watcher of tmux server "{self.server}" (pid {self.pid})'


# --- running ---------------------------------------------------------------------------------


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are 0600 whatever the umask (it holds message text)."""

    def _open(self) -> Any:
        touch_private_file(self.baseFilename)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop a line that cannot be written (a full disk): no traceback, the watcher goes on.

        logging's default prints a traceback to stderr, which for the daemon is this same
        log: it would turn up there once the disk has room again.
        """


class _ShownLog(logging.Formatter):
    """Log lines for a terminal: the text of agents (a prompt's subject) and of other hosts
    in them has its control characters shown as stand-ins (imessenger.core.visible)."""

    def format(self, record: logging.LogRecord) -> str:
        return for_terminal(super().format(record))


def log_to(path: Path | None, *, verbose: bool) -> None:
    """Send imessenger's log to ``path`` (a private rotating file), or to stderr when None.

    ``verbose`` logs every state change too. StoreError when the file cannot be opened.
    """
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = _PrivateLog(path, maxBytes=1_000_000, backupCount=1, encoding="utf-8")
        except OSError as error:
            raise data_file_error("open the log", path, error) from error
    shown = _ShownLog if path is None and sys.stderr.isatty() else logging.Formatter
    handler.setFormatter(shown("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("imessenger")
    root.addHandler(handler)
    root.setLevel(level)


def run_watcher(server: str, sessions: Sessions, *, autostarted: bool = False) -> None:
    """Watch the sessions of tmux server ``server`` in this process until a signal stops it
    (``autostarted``: or until the server is gone a while, imessenger.watcher.lifeline).

    Raises WatcherRunning, having done nothing, when another watcher runs for the
    server; StoreError when the pid file cannot be written or the store opened.
    """
    pid_file = PidFile(server)
    pid_file.acquire()  # first: a second watcher ends here, before loading the loop
    from imessenger.watcher.handover import CommandServer
    from imessenger.watcher.loop import Watcher

    try:
        watcher = Watcher(sessions, ends_with_server=autostarted)
        _stop_on_signals(watcher)
        commands = CommandServer(server, watcher.nudge)
        commands.start()
        watcher.checks.append(commands.check)
        try:
            watcher.run()
        finally:
            commands.close()
    finally:
        pid_file.release()


def _stop_on_signals(watcher: Watcher) -> None:
    def stop(signum: int, frame: object) -> None:
        watcher.stop()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)


# --- in the background -------------------------------------------------------------------------


def start_daemon(server: str, socket_name: str | None, *, verbose: bool) -> Daemon:
    """Start the watcher of tmux server ``server`` in the background, unless one runs.

    ``socket_name`` is the ``-L`` it is started with (None: none). Returns it once it holds
    its pid file. StoreError when its log cannot be written; WatcherNotStarted when it
    exited at once or did not start within ``START_S``.
    """
    pid = running_pid(server)
    if pid is not None:
        return Daemon(server, pid)
    log = log_path(server)
    argv = _watch_argv(socket_name, log) + (["--verbose"] if verbose else [])
    child = _popen(argv, log)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        pid = running_pid(server)
        if pid == child.pid:
            return Daemon(server, pid, log)
        status = child.poll()
        if status is not None:
            if pid is not None:  # another one won the race
                return Daemon(server, pid, raced=True)
            raise WatcherNotStarted(log, status)
        time.sleep(0.02)
    raise WatcherNotStarted(log, None)


def spawn_watcher(
    server: str, socket_name: str | None, *, home: str = "", config: str = ""
) -> bool:
    """Start the watcher of tmux server ``server`` in the background unless one runs, and
    return at once: True when one was started (it may still find another one won).

    ``socket_name`` is the ``-L`` it is started with (None: none); ``home`` and ``config``
    the data folder and config file it uses ("": this environment's). It runs out of this
    process's tree and terminal, as the user, and ends once its server is gone (see the
    module docstring). StoreError when its log cannot be written.
    """
    if running_pid(server, home or None) is not None:
        return False
    log = log_path(server, home or None)
    argv = [*_watch_argv(socket_name, log), "--autostarted"]
    # Its first parent forks it and exits: the watcher leaves this process's tree, and
    # with it the pane of the agent that may run this. It is the user's, not the agent's:
    # the session and pane the agent is in do not pass on either.
    environment = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED_ON}
    if not socket_name:  # the default server, as its pid file says: not the one this names
        environment.pop(_SOCKET_ENV, None)
    for key, value in ((_HOME_ENV, home), (_CONFIG_ENV, config)):
        if value:
            environment[key] = value
    child = _popen([sys.executable, "-I", "-S", "-c", _DETACHED, *argv], log, environment)
    try:
        child.wait(_DETACHING_S)  # it forks and exits: a few milliseconds
    except subprocess.TimeoutExpired:
        threading.Thread(target=child.wait, daemon=True).start()  # reaped when it ends
    return True


#: The first parent of a watcher :func:`spawn_watcher` starts (``python -c``, its argv
#: after it): it forks the watcher and exits; the watcher waits until it has a new parent
#: (no process of the caller's tree above it), then runs.
_DETACHED = """\
import os, sys, time
parent = os.getpid()
if os.fork() == 0:
    while os.getppid() == parent:
        time.sleep(0.001)
    os.execv(sys.argv[1], sys.argv[1:])
"""


def _watch_argv(socket_name: str | None, log: Path) -> list[str]:
    """The command that runs the watcher of tmux server ``socket_name``, logging to ``log``."""
    argv = [sys.executable, "-m", "imessenger"]
    if socket_name:
        argv += ["-L", socket_name]
    return [*argv, "watch", "--log-file", str(log)]


def _popen(
    argv: list[str], log: Path, environment: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its output appended to ``log`` (0600).

    StoreError, saying what to do, when the log cannot be written or ``argv`` started.
    """
    try:
        ensure_data_dir()
        touch_private_file(log)
        with open(log, "ab") as output:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                env=environment,
            )
    except OSError as error:
        raise data_file_error("start the watcher with its log", log, error) from error


def stop_watcher(server: str) -> Stopped:
    """Stop the watcher of tmux server ``server`` (SIGTERM) and wait for it to end.

    WatcherNotStopped when it still runs after ``START_S``.
    """
    pid = running_pid(server)
    if pid is None:
        return Stopped(server, None)
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + START_S
    while running_pid(server) is not None:
        if time.monotonic() >= deadline:
            raise WatcherNotStopped(pid)
        time.sleep(0.02)
    return Stopped(server, pid)
