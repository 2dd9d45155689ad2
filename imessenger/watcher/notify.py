"""The programs the watcher runs for a notice, never waited for: the ``watch.notify_command``
and, with ``watch.desktop``, a desktop notification.

The notify command runs with ``/bin/sh -c`` in a session of its own, without input or
output, and learns what happened from its environment: ``IMESSENGER_EVENT`` (asking,
exited, done, stuck or error: :class:`imessenger.core.attention.Event`),
``IMESSENGER_EVENT_SESSION`` and ``IMESSENGER_EVENT_TEXT`` (the notice's title).

The desktop notification is ``notify-send`` run with an argument list (no shell: the
text is never run or expanded), its title and body made visible and cut short, and the
body's ``&``, ``<`` and ``>`` escaped (a notification server may read the body as
markup); where ``notify-send`` is not installed it is skipped, and the log says so once.

The watcher reaps the finished ones at each tick and gives the others a second at the end.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import shutil
import subprocess

from imessenger.core.attention import fit

logger = logging.getLogger(__name__)

#: The most characters of a desktop notification's title, and of its body.
DESKTOP_TITLE_MAX = 120
DESKTOP_BODY_MAX = 400


class _Runs:
    """Programs started for notices and not reaped yet."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> bool:
        """Start ``argv`` without input or output, in a session of its own; False (logged)
        when it cannot be started."""
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            logger.warning("cannot run %s: %s", argv[0], error)
            return False
        self._running.append(proc)
        return True

    def reap(self) -> None:
        """Forget the runs that ended."""
        self._running = [proc for proc in self._running if proc.poll() is None]

    def close(self) -> None:
        """Give each run that is left a second to end."""
        for proc in self._running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)


class NotifyCommand(_Runs):
    """The notify command of the configuration (empty: none), and the runs not reaped yet."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def run(self, event: str, session: str, text: str) -> None:
        """Start the command for one notice (a failure to start it is logged)."""
        if not self.command.strip():
            return
        env = dict(os.environ)
        env.update(IMESSENGER_EVENT=event, IMESSENGER_EVENT_SESSION=session)
        env["IMESSENGER_EVENT_TEXT"] = text
        self.start(["/bin/sh", "-c", self.command], env)


class Desktop(_Runs):
    """Desktop notifications through ``notify-send`` (``enabled`` false: none)."""

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        self._missing_said = False

    def run(self, event: str, title: str, body: str) -> None:
        """Show one notice on the desktop, when enabled and ``notify-send`` is installed."""
        if not self.enabled:
            return
        program = shutil.which("notify-send")
        if program is None:
            if not self._missing_said:
                self._missing_said = True
                logger.info("watch.desktop is on, but notify-send is not installed: skipped")
            return
        urgency = "critical" if event in ("asking", "error") else "normal"
        argv = [
            program,
            "--app-name=imessenger",
            f"--urgency={urgency}",
            "--",
            fit(title, DESKTOP_TITLE_MAX),
            html.escape(fit(" ".join(body.split()), DESKTOP_BODY_MAX), quote=False),
        ]
        self.start(argv)
