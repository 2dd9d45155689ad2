"""The ``watch.notify_command``: a shell command run for each notice, never waited for.

It runs with ``/bin/sh -c`` in a session of its own, without input or output, and
learns what happened from its environment: ``IMESSENGER_EVENT`` ("asking" or "exited"),
``IMESSENGER_EVENT_SESSION`` and ``IMESSENGER_EVENT_TEXT`` (the notice's title). The
watcher reaps the finished ones at each tick and gives the others a second at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess

logger = logging.getLogger(__name__)


class NotifyCommand:
    """The notify command of the configuration (empty: none), and the runs not reaped yet."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._running: list[subprocess.Popen[bytes]] = []

    def run(self, event: str, session: str, text: str) -> None:
        """Start the command for one notice (a failure to start it is logged)."""
        if not self.command.strip():
            return
        env = dict(os.environ)
        env.update(IMESSENGER_EVENT=event, IMESSENGER_EVENT_SESSION=session)
        env["IMESSENGER_EVENT_TEXT"] = text
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", self.command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            logger.warning("cannot run the notify command: %s", error)
            return
        self._running.append(proc)

    def reap(self) -> None:
        """Forget the runs that ended."""
        self._running = [proc for proc in self._running if proc.poll() is None]

    def close(self) -> None:
        """Give each run that is left a second to end."""
        for proc in self._running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
