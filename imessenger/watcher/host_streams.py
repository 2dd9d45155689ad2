"""The other hosts of the config, followed through one long-lived ssh stream each.

Each host's own watcher follows its panes; this one reads what that watcher publishes,
as ``imessenger status --json --follow`` prints it there (a line each time it changes),
over one ssh connection per host that stays open. Nothing polls a remote pane, and a
quiet host costs nothing but ssh's keep-alive.

A host whose watcher does not run gets one started (``imessenger watch --daemon``
there) once per connection. A stream that ends (the host went down, ssh was killed,
the link died: ssh's keep-alive notices within 15 s) marks the host unreachable, and
is opened again after a pause that grows from 1 s to 30 s while it keeps failing.
Each line that comes in wakes the watcher's loop, which publishes the counts of every
host in the status cache (:mod:`imessenger.watcher.publishing`).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imessenger import __version__
from imessenger.adapters import ssh
from imessenger.core import wire
from imessenger.core.errors import ImessengerError
from imessenger.core.published import HostStatus, Observed
from imessenger.core.targets import Host

logger = logging.getLogger(__name__)

#: The pause before a stream is opened again, first and at most, in seconds.
_FIRST_PAUSE_S = 1.0
_LONGEST_PAUSE_S = 30.0


@dataclass
class HostView:
    """What the watcher knows of one host: its last published status, or why none."""

    name: str
    reachable: bool = False
    error: str = "not reached yet"
    status: Observed | None = None

    def host_status(self) -> HostStatus:
        """What this host publishes of that one: its own counts, not its hosts'."""
        seen = self.status if self.reachable and self.status is not None else Observed()
        return HostStatus(
            reachable=self.reachable,
            error="" if self.reachable else self.error,
            watching=seen.watching,
            asking=seen.published.asking_here,
            unread=seen.published.unread_here,
            sessions=seen.published.sessions,
        )


class HostStreams:
    """One reading thread per host; :meth:`views` is what they last read."""

    def __init__(self, hosts: dict[str, Host], wake: Callable[[], None]) -> None:
        self.hosts = hosts
        self._wake = wake
        self._lock = threading.Lock()
        self._views = {name: HostView(name) for name in hosts}
        self._stop = threading.Event()
        self._processes: dict[str, subprocess.Popen[str]] = {}
        self._threads = [
            threading.Thread(target=self._follow, args=(host,), name=f"host-{name}", daemon=True)
            for name, host in sorted(hosts.items())
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def views(self) -> dict[str, HostView]:
        with self._lock:
            return {
                n: HostView(v.name, v.reachable, v.error, v.status) for n, v in self._views.items()
            }

    def close(self) -> None:
        """End every stream and wait for its thread."""
        self._stop.set()
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            with _quietly():
                process.terminate()
        for thread in self._threads:
            thread.join(timeout=5)
        for host in self.hosts.values():
            with _quietly():
                ssh.close(host)

    # -- one host -------------------------------------------------------------------------

    def _follow(self, host: Host) -> None:
        pause = _FIRST_PAUSE_S
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                error = self._read_stream(host)
            except Exception as unexpected:  # a thread that died would follow it no more
                logger.exception('host "%s": following it failed', host.name)
                error = f"following it failed: {unexpected}"
            self._set(host.name, reachable=False, error=error)
            logger.warning('host "%s": %s; following it again in %.0f s', host.name, error, pause)
            if time.monotonic() - began > _LONGEST_PAUSE_S:
                pause = _FIRST_PAUSE_S  # it had worked for a while
            if self._stop.wait(pause):
                return
            pause = min(pause * 2, _LONGEST_PAUSE_S)

    def _read_stream(self, host: Host) -> str:
        """Read the host's stream until it ends; return why it ended."""
        try:
            process = ssh.connect(host, wire.PROTOCOL)
        except (OSError, ImessengerError) as error:
            return f"cannot run ssh: {error}"
        with self._lock:
            self._processes[host.name] = process
        started_watcher = False
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            with contextlib.suppress(OSError):
                process.stdin.write(wire.call_line("follow_status", {}, __version__))
                process.stdin.close()
            for line in process.stdout:
                try:
                    status = wire.read_answer(line, Observed)
                except wire.RemoteError as error:
                    return str(error)
                except wire.WireError:
                    continue
                self._set(host.name, reachable=True, error="", status=status)
                if not status.watching and not started_watcher:
                    started_watcher = True
                    self._start_watcher(host)
        finally:
            with _quietly():
                process.terminate()
            err = process.stderr.read() if process.stderr is not None else ""
            process.wait()
            with self._lock:
                self._processes.pop(host.name, None)
        said = err.strip().splitlines()[-1] if err.strip() else ""
        return said or f"its stream ended (ssh exit status {process.returncode})"

    def _start_watcher(self, host: Host) -> None:
        line = wire.call_line("start_watcher", {}, __version__)
        try:
            done = ssh.call(host, wire.PROTOCOL, line, timeout=30)
            said = done.stdout.strip().splitlines()
            if not said:
                raise ImessengerError(done.stderr.strip() or f"exit status {done.code}")
            wire.read_answer(said[-1], Any)
        except wire.RemoteError as error:
            if error.kind != "WatcherRunning":
                logger.warning('host "%s": its watcher did not start: %s', host.name, error)
            return
        except ImessengerError as error:
            logger.warning('host "%s": could not start its watcher: %s', host.name, error)
            return
        logger.info('host "%s": started its watcher', host.name)

    def _set(
        self, name: str, *, reachable: bool, error: str, status: Observed | None = None
    ) -> None:
        with self._lock:
            view = self._views[name]
            changed = view.reachable != reachable or (status is not None and view.status != status)
            view.reachable, view.error = reachable, error
            if status is not None:
                view.status = status
        if changed:
            self._wake()


def _quietly() -> contextlib.suppress:
    """Ignore the faults of cleaning up (a process already gone, ssh missing or slow)."""
    return contextlib.suppress(OSError, ImessengerError, subprocess.SubprocessError)
