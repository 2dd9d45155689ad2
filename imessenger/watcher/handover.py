"""The watcher's side of handing commands over: the command server it runs beside itself.

While the watcher of a tmux server runs, so does its command server
(:mod:`imessenger.interfaces.cli.command_server`, a process of its own: it forks for
each command, and a process with threads, as the watcher is, must not), to which the
commands run most hand their work (:mod:`imessenger.interfaces.cli.thin`).

* The server holds the read end of a pipe whose write end only the watcher holds: when
  the watcher ends, however it ends, the server sees the pipe close and ends too.
* After each command it writes a byte on a second pipe; the watcher then looks at the
  store at once (a hook's event, a pending message, a reply), instead of at its next
  look.
* A server that ended by itself is started again at the watcher's next look, at most
  once every ``RESTART_S``; until then commands run in their own processes, as they do
  without a watcher.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from imessenger.adapters.command_socket import socket_path

logger = logging.getLogger(__name__)

#: How long a stopping server is waited for before it is killed, in seconds.
STOP_S = 2.0
#: The least time between two starts of a server that keeps ending, in seconds.
RESTART_S = 5.0
_MODULE = "imessenger.interfaces.cli.command_server"


class CommandServer:
    """The command server of tmux server ``server``; ``nudge`` is called after each command."""

    def __init__(self, server: str, nudge: Callable[[], None]) -> None:
        self.path = socket_path(server)
        self.nudge = nudge
        self.process: subprocess.Popen[bytes] | None = None
        self._life: int | None = None  # the write end the server watches
        self._started = 0.0

    def start(self) -> None:
        """Start the server (a failure is logged: commands then run in their own processes)."""
        life_read, life_write = os.pipe()
        nudge_read, nudge_write = os.pipe()
        verbose = ["-v"] if logger.isEnabledFor(logging.DEBUG) else []
        argv = [
            sys.executable,
            "-m",
            _MODULE,
            *verbose,
            self.path,
            str(life_read),
            str(nudge_write),
        ]
        self._started = time.monotonic()
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, pass_fds=(life_read, nudge_write)
            )
        except OSError as error:
            logger.warning("cannot start the command server: %s", error)
            for fd in (life_read, life_write, nudge_read, nudge_write):
                os.close(fd)
            return
        finally:
            with contextlib.suppress(OSError):
                os.close(life_read)
            with contextlib.suppress(OSError):
                os.close(nudge_write)
        os.set_inheritable(life_write, False)
        self._life = life_write
        threading.Thread(
            target=self._hear, args=(nudge_read,), name="command-server-nudges", daemon=True
        ).start()

    def _hear(self, fd: int) -> None:
        """Call ``nudge`` for each byte the server writes, until it closes the pipe."""
        try:
            while os.read(fd, 512):
                self.nudge()
        except OSError:
            pass
        finally:
            os.close(fd)

    def check(self) -> None:
        """Start the server again if it ended by itself (not more often than RESTART_S)."""
        process = self.process
        if process is None or process.poll() is None:
            return
        if time.monotonic() < self._started + RESTART_S:
            return
        logger.warning(
            "the command server ended (status %s): starting it again", process.returncode
        )
        self._close_life()
        self.start()

    def close(self) -> None:
        """End the server and wait for it (killed after STOP_S)."""
        self._close_life()
        process = self.process
        if process is None:
            return
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _close_life(self) -> None:
        if self._life is not None:
            with contextlib.suppress(OSError):
                os.close(self._life)
            self._life = None
