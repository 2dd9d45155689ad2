"""The work the watcher hands to worker threads: deliveries and the collection of replies.

Each job opens a store of its own, so that one slow target never delays the others nor
the loop; when it ends, a :class:`Done` event goes back to the loop.

* pending messages are delivered by :meth:`Courier.deliver_pending` (oldest first, each
  once: the store's claims and the per-target lock see to that, whoever else delivers),
  one job per target at a time;
* late replies go to their senders' inboxes (:meth:`Replies.collect_late_replies`), one
  job at a time; asked for again while one runs, it runs once more after it;
* a job that failed is tried again after its :class:`Retry`'s delay; the store's claims
  see to it that no message is pasted twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from imessenger.actions.delivery import Courier
from imessenger.actions.replies import Replies
from imessenger.actions.sessions import Sessions
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux
from imessenger.core.config import Config
from imessenger.watcher.retry import Retry
from imessenger.watcher.store_view import StoreView

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    """A worker finished a job of this kind for this session (``error``: it failed)."""

    kind: str
    session: str = ""
    error: BaseException | None = field(default=None, compare=False)


class Jobs:
    """Deliveries and reply collection on a pool of worker threads.

    ``report`` gets a :class:`Done` at the end of each job, from the worker's thread.
    """

    def __init__(
        self, tmux: Tmux, config: Config, view: StoreView, report: Callable[[Done], None]
    ) -> None:
        self.tmux = tmux
        self.config = config
        self.view = view
        self.report = report
        self.collect_retry = Retry("collect late replies")
        self.delivery_retries: dict[str, Retry] = {}  # by target
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="imessenger-work")
        self._delivering: set[str] = set()
        self._collecting = False
        self._collect_again = False

    def deliver(self, name: str) -> None:
        """Deliver the pending messages of ``name`` (unless a delivery runs or must wait)."""
        retry = self.delivery_retries.get(name)
        if name in self._delivering or (retry is not None and not retry.ready(time.monotonic())):
            return
        self._delivering.add(name)
        future = self._pool.submit(self._deliver_in_worker, name)
        self._when_done(future, Done("deliver", name))

    def collect(self) -> None:
        """Collect the late replies (once more after the collection that runs, if one does)."""
        if self._collecting:
            self._collect_again = True
            return
        if not self.view.outstanding or not self.collect_retry.ready(time.monotonic()):
            return
        self._collecting = True
        future = self._pool.submit(self._collect_in_worker)
        self._when_done(future, Done("collect"))

    def retrying(self, now: float) -> list[str]:
        """The targets whose delivery failed and may be tried again now."""
        return [name for name, retry in self.delivery_retries.items() if retry.ready(now)]

    def retries(self) -> list[Retry]:
        return [self.collect_retry, *self.delivery_retries.values()]

    def finished(self, done: Done) -> None:
        """A worker's job ended: note how (its failures are tried again later)."""
        if done.kind == "deliver":
            name = done.session
            self._delivering.discard(name)
            retry = self.delivery_retries.pop(name, None) or Retry(f'deliver to "{name}"')
            if done.error is None:
                retry.succeeded()
            else:
                retry.failed(done.error)
                self.delivery_retries[name] = retry
        elif done.kind == "collect":
            self._collecting = False
            if done.error is None:
                self.collect_retry.succeeded()
            else:
                self.collect_retry.failed(done.error)
            if self._collect_again:
                self._collect_again = False
                self.collect()

    def close(self) -> None:
        """Wait for the jobs that run; drop the others."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    @contextlib.contextmanager
    def _sessions(self) -> Iterator[Sessions]:
        """The sessions of this job's own: its own tmux adapter, and a store on the
        watcher's file, opened for the same server, closed at the end."""
        tmux = Tmux(self.tmux.socket_name)
        with Store.open(self.view.store.path, server=tmux.label) as store:
            yield Sessions(tmux, store, self.config)

    def _deliver_in_worker(self, name: str) -> None:
        with self._sessions() as sessions:
            for sent in Courier(sessions).deliver_pending(name):
                logger.info("message %s -> %s: %s", sent.message.id, name, sent.outcome.value)

    def _collect_in_worker(self) -> None:
        with self._sessions() as sessions:
            for record in Replies(sessions).collect_late_replies():
                logger.info(
                    "late reply from %s to %s (%s)", record.target, record.sender, record.id
                )

    def _when_done(self, future: Future[None], done: Done) -> None:
        def report(finished: Future[None]) -> None:
            error = finished.exception() if not finished.cancelled() else None
            self.report(Done(done.kind, done.session, error))

        future.add_done_callback(report)
