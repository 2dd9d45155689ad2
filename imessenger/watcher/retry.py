"""Work that failed for a reason outside the watcher: logged once, tried again later.

Faults outside the watcher do not end it: a full disk or a data folder it cannot write
(the status cache, the memory file, the store), a store it cannot read, a tmux server
that is gone. Each kind of work that fails (:class:`Retry`) is logged once as a warning,
tried again after a delay that doubles from ``RETRY_FIRST_S`` up to ``RETRY_MAX_S``, and
logged once more when it works again; meanwhile the watcher carries on with the rest:

* an inbox notice that could not be written is kept and written, once, when the store
  takes it. The memory file is saved only after the notices it records are written, so
  a watcher restarted in between gives such a notice again rather than never
  (:mod:`imessenger.watcher.notices`);
* a failed delivery or collection of replies is tried again; the store's claims see to
  it that no message is pasted twice (:mod:`imessenger.watcher.jobs`);
* the status cache is written again, with what the watcher sees by then
  (:mod:`imessenger.watcher.publishing`);
* without a tmux server (killed, or not started again yet) while sessions are recorded,
  the watcher looks for one with the same backoff, and follows its sessions again once
  one runs on the socket (it also looks at once when the socket file changes)
  (:mod:`imessenger.watcher.following`).
"""

from __future__ import annotations

import logging
import time

from imessenger.adapters.paths import data_dir, fault_advice

logger = logging.getLogger(__name__)

#: The delay before work that failed is tried again, doubled after each failure up to
#: the second value.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0


def _why(error: BaseException | str) -> str:
    """The words for a failure; for a file-system error, with what to do about it."""
    if isinstance(error, OSError):
        advice = fault_advice(data_dir(), error)
        return f"{error}; {advice}" if advice else str(error)
    return str(error)


class Retry:
    """One kind of work that can fail for a reason outside the watcher, and when to try it again.

    The first failure of a streak is logged as a warning, the next ones at debug level,
    and the first success after it once more: a fault that lasts shows up once in the log,
    not once a round. After each failure the work waits longer before it is tried again.
    A streak shorter than ``patience`` seconds is logged at debug level only: for a state
    that can be passing, such as no tmux server while ``isesh stop`` ends the last session.
    """

    def __init__(self, what: str, *, patience: float = 0.0) -> None:
        self.what = what  # "write the status file": what could not be done
        self.patience = patience
        self.failures = 0
        self.due = 0.0  # monotonic time from which it may be tried again
        self._since = 0.0
        self._warned = False

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def ready(self, now: float) -> bool:
        """True when the work may be tried (it has not failed, or its delay is over)."""
        return now >= self.due

    def failed(self, error: BaseException | str) -> None:
        """Count a failure, log it if it is news, and put the next try off."""
        now = time.monotonic()
        self.failures += 1
        if self.failures == 1:
            self._since = now
        self.due = now + min(RETRY_FIRST_S * 2 ** min(self.failures - 1, 10), RETRY_MAX_S)
        if not self._warned and now - self._since >= self.patience:
            self._warned = True
            logger.warning(
                "cannot %s: %s; the watcher carries on and tries again", self.what, _why(error)
            )
        else:
            logger.debug("still cannot %s (try %d): %s", self.what, self.failures, _why(error))

    def succeeded(self) -> None:
        """The work was done: end the streak of failures (and say so if it was logged)."""
        if self._warned:
            logger.info("could %s again, after %d failed tries", self.what, self.failures)
        self.failures = 0
        self.due = 0.0
        self._warned = False

    def drop(self) -> None:
        """The work is not needed any more: end the streak without a word."""
        self._warned = False
        self.succeeded()
