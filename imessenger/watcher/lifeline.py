"""Whether the tmux server of a watcher is still there: a watcher started for it ends with it.

A watcher that a command started by itself (``[watch] autostart``, see
:func:`imessenger.watcher.daemon.spawn_watcher`) belongs to its tmux server, as the
server's own processes do: once no server has answered for ``GONE_GRACE_S`` in a row, it
ends. (A watcher started by hand, ``imessenger watch``, waits for the server to come back
instead.)

It is looked at every ``watch.interval_ms``, at little cost:

* while the server process seen last runs, one read of /proc, no tmux command (tmux
  leaves its socket file behind when it ends, so the file says nothing);
* once that process has ended, tmux is asked for its server's pid, one command a look:
  a new server (``kill-server`` and a new session at once) is followed on, and no
  server for ``GONE_GRACE_S`` in a row means that it is gone.
"""

from __future__ import annotations

import logging

from imessenger.adapters.procfs import is_alive, start_time
from imessenger.adapters.tmux import Tmux
from imessenger.core.errors import TmuxCommandFailed

logger = logging.getLogger(__name__)

#: How long a watcher started for a tmux server outlives it, in seconds: a server killed
#: and started again at once is followed on.
GONE_GRACE_S = 2.0


class Lifeline:
    """The tmux server of a watcher, looked at: :meth:`gone` once it has been gone a while."""

    def __init__(self, tmux: Tmux, grace_s: float = GONE_GRACE_S) -> None:
        self.tmux = tmux
        self.grace_s = grace_s
        self._pid: int | None = None  # the server process seen last
        self._started: int | None = None  # and when it started (a pid is reused)
        self._missing_since: float | None = None  # no server answered since (monotonic)

    def gone(self, now: float) -> bool:
        """Whether no tmux server has answered for ``grace_s`` up to ``now`` (monotonic)."""
        if self._pid is not None and is_alive(self._pid, self._started):
            return False
        try:
            pid = self.tmux.server_pid()
        except TmuxCommandFailed as error:  # a server answered, oddly: it is there
            logger.debug("asking for the server's pid: %s", error)
            self._missing_since = None
            return False
        if pid is not None:
            if self._pid is not None and pid != self._pid:
                logger.info("tmux server %s started again (pid %d)", self.tmux.label, pid)
            self._pid, self._started = pid, start_time(pid)
            self._missing_since = None
            return False
        self._pid = None
        if self._missing_since is None:
            self._missing_since = now
            logger.info("tmux server %s is not running", self.tmux.label)
        return now - self._missing_since >= self.grace_s
