"""The watcher: follows every session isesh started and acts when one changes.

How it learns of changes, without polling panes:

* one tmux control-mode client per followed session
  (:class:`imessenger.adapters.tmux.ControlClient`)
  reports a pane's first output after each read within about a millisecond, and
  nothing while the pane is quiet; the pane's death comes through a subscription;
* tmux's ``%sessions-changed`` (and a client's end) triggers a rescan of the sessions;
* every ``watch.interval_ms`` the watcher looks at two files, nothing more: the
  database (a changed size or time means another process wrote: a new session record,
  a pending message, an inbox read) and the tmux server's socket (a new socket means
  the server restarted);
* each other host of the config comes through one ssh stream of what its own watcher
  publishes (:mod:`imessenger.watcher.host_streams`), whose counts the status line adds up.

A pane that printed something new (not a redraw of a frame it showed already, a
spinner's next frame: :mod:`imessenger.core.redraws`) is read at once, through its
control client (a capture, no new process), and classified with its session's profile;
news that keeps coming is read at most once per ``watch.debounce_ms``, the last time
after it stopped (:meth:`Following.news`). Then, on a change of state:

* a prompt appears: an inbox notice for "user" and for the session, a message on every
  attached tmux client, the status line, and the ``watch.notify_command``; one notice
  per appearance of a prompt, not per redraw (the prompt must be gone for two reads
  in a row to count as closed, like :mod:`imessenger.actions.approval` does);
* the session is idle with an empty input box and has pending messages: they are
  delivered (:meth:`Courier.deliver_pending`, oldest first, each once: the store's
  claims and the per-target lock see to that, whoever else delivers);
* the session turned idle, or shows the end line of a reply that nobody waits for:
  late replies go to their senders' inboxes (:meth:`Replies.collect_late_replies`);
* the agent exited: a notice for "user" (not when ``isesh stop`` ended it: the
  notice waits a second and is dropped when the session's record is gone by then);
* a turn ended with nobody waiting for its reply, ended on an error, or a busy session
  made no progress for long: a notice, once (:mod:`imessenger.watcher.attention`).

Deliveries, reply collection and tmux messages run on worker threads, each with its
own store, so that one slow target never delays the others. What was notified is
kept in ``watch-<server>.json`` in the data directory, so a restarted watcher does
not repeat a notice; pending messages live in the store and survive anything.

Faults outside the watcher do not end it: each kind of work that fails is logged once
and tried again later, while the watcher carries on with the rest
(:mod:`imessenger.watcher.retry` says how each one is tried again). A round that
failed half way is tried again the same way, and looks at the sessions and the store
anew. A watcher that cannot start exits instead (:mod:`imessenger.watcher.daemon`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from imessenger.actions.sessions import Sessions
from imessenger.adapters.tmux import ControlEvent
from imessenger.core.config import Config
from imessenger.core.envelope import delimiters
from imessenger.core.errors import ImessengerError
from imessenger.core.hook_events import ASKING
from imessenger.core.screen import State
from imessenger.core.values import HookEventRecord
from imessenger.watcher.attention import Attention
from imessenger.watcher.display import Display
from imessenger.watcher.following import Followed, Following
from imessenger.watcher.hook_checks import HOOK_WAIT_S, HookWatch
from imessenger.watcher.host_streams import HostStreams
from imessenger.watcher.jobs import Done, Jobs
from imessenger.watcher.lifeline import Lifeline
from imessenger.watcher.memory import Memory, memory_path
from imessenger.watcher.notices import Notices
from imessenger.watcher.publishing import Publisher
from imessenger.watcher.retry import Retry
from imessenger.watcher.store_view import News, StoreView

logger = logging.getLogger(__name__)


class Nudge:
    """Another process changed the store (the command server ran a command): look now."""


_Event = ControlEvent | Done | Nudge | None
#: How often the store is looked at while a prompt waits for its hook's event, in seconds.
_HOOK_POLL_S = 0.02


class Watcher:
    """Follows the managed sessions of one tmux server until :meth:`stop`.

    Run it with :meth:`run` in the thread that made it (its store belongs to that
    thread); :meth:`stop` may be called from anywhere (a signal handler). With
    ``ends_with_server`` it also ends by itself once its tmux server is gone.
    """

    def __init__(self, sessions: Sessions, *, ends_with_server: bool = False) -> None:
        tmux = sessions.tmux
        self.config: Config = sessions.config
        self.server = tmux.label
        settings = self.config.settings
        self.debounce = settings.watch.debounce_s
        self.interval = max(settings.watch.interval_ms, 10) / 1000
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self.view = StoreView(sessions.store)
        self.following = Following(sessions, self._events.put, self.debounce)
        self.jobs = Jobs(tmux, self.config, self.view, self._events.put)
        self.display = Display(tmux)
        self.hooks = HookWatch(sessions.store)
        self.notices = Notices(
            self.view, Memory.load(memory_path(self.server)), self.display, settings.watch
        )
        self.attention = Attention(
            self.following,
            self.view,
            self.notices,
            settings.watch.stuck_after_s,
            budget_tokens=settings.watch.budget_tokens,
            hooks=self.hooks,
        )
        self.hosts = HostStreams(settings.hosts, lambda: self._events.put(None))
        self.publisher = Publisher(
            self.following,
            self.view,
            self.display,
            settings.status,
            self.hosts,
        )
        self._next_tick = 0.0
        self._round_retry = Retry("finish a round of watching")
        #: called at each look at the store and the server (the command server's check)
        self.checks: list[Callable[[], None]] = []
        self.lifeline = Lifeline(tmux) if ends_with_server else None

    # -- running ----------------------------------------------------------------------

    def nudge(self) -> None:
        """Have the loop look at the store now (safe from any thread)."""
        self._events.put(Nudge())

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()
        self._events.put(None)

    def run(self) -> None:
        """Follow the sessions until :meth:`stop`; close every control client at the end."""
        logger.info("watching tmux server %s", self.server)
        try:
            self.hosts.start()
            self._store_changed(self.view.refresh())
            self.jobs.collect()  # replies printed while no watcher ran
            while not self._stop.is_set():
                self._step_safely()
        finally:
            self.hosts.close()
            self.following.close()
            self.jobs.close()
            self.display.close()
            self.notices.close()
            logger.info("stopped watching tmux server %s", self.server)

    def _step_safely(self) -> None:
        """One round; a fault that nothing else caught is logged once and the round retried.

        A round that failed half way may have lost an event: the next one looks at the
        sessions and the store again instead of trusting what it knew.
        """
        try:
            self._step()
        except (ImessengerError, OSError) as error:
            self._round_retry.failed(error)
            self.following.rescan_wanted = True
            self.view.look_again()
            self._stop.wait(max(0.0, self._round_retry.due - time.monotonic()))
        else:
            if self._round_retry.failing:
                self._round_retry.succeeded()

    def _step(self) -> None:
        following = self.following
        now = time.monotonic()
        if following.rescan_wanted or (
            following.server_retry.failing and following.server_retry.ready(now)
        ):
            following.rescan_wanted = False
            following.rescan(self.view.records)
        now = time.monotonic()
        if self._awaiting_hooks():
            # a prompt waits for its hook's event: look at the store between ticks too
            self._store_changed(self.view.poll(now))
        timeout = max(0.0, min(self._next_due(), self._next_tick) - now)
        try:
            self._handle(self._events.get(timeout=timeout))
            while True:
                self._handle(self._events.get_nowait())
        except queue.Empty:
            pass
        now = time.monotonic()
        for followed in list(following.followed.values()):
            self._check(followed, now)
        for name, followed in list(following.gone.items()):
            if followed.exit_due is not None and now >= followed.exit_due:
                del following.gone[name]
                if not self._end(followed, closed=True):
                    following.gone[name] = followed  # cannot tell now: look again later
        if now >= self._next_tick:
            self._next_tick = now + self.interval
            self._tick(now)
        self.attention.tick()
        self._try_again(now)
        self.publisher.publish()

    def _retries(self) -> list[Retry]:
        """Every kind of work the loop tries again by itself once its delay is over."""
        fixed = [self.publisher.retry, *self.notices.retries(), self.following.server_retry]
        return [*fixed, *self.jobs.retries()]

    def _try_again(self, now: float) -> None:
        """Try again the work that failed and whose delay is over."""
        for name in self.jobs.retrying(now):
            self._deliver_if_ready(name)
        if self.jobs.collect_retry.failing and self.jobs.collect_retry.ready(now):
            self.jobs.collect()
        self.notices.try_again()

    def _next_due(self) -> float:
        """When the loop must wake up next: a read, a notice, or a retry whose delay ends."""
        now = time.monotonic()
        waits = [retry.due for retry in self._retries() if retry.failing and retry.due > now]
        due = min(waits, default=float("inf"))
        if self._awaiting_hooks():
            due = min(due, now + _HOOK_POLL_S)
        for followed in self.following.followed.values():
            if followed.read_due is not None:
                due = min(due, followed.read_due)
            if followed.exit_due is not None:
                due = min(due, followed.exit_due)
            if followed.hook_due is not None:
                due = min(due, followed.hook_due)
        for followed in self.following.gone.values():
            if followed.exit_due is not None:
                due = min(due, followed.exit_due)
        return min(due, self.attention.next_due())

    def _handle(self, event: _Event) -> None:
        if event is None:
            return
        if isinstance(event, Nudge):
            self.view.look_again()
            self._store_changed(self.view.poll(time.monotonic()))
            return
        if isinstance(event, Done):
            self.jobs.finished(event)
            self.view.look_again()  # the worker wrote to the store: read it at the next tick
            return
        self.following.handle(event)

    def _check(self, followed: Followed, now: float) -> None:
        if followed.read_due is not None and now >= followed.read_due:
            followed.read_due = None
            self._read(followed)
        if followed.exit_due is not None and now >= followed.exit_due:
            followed.exit_due = None
            self._end(followed, closed=False)
        if followed.hook_due is not None and now >= followed.hook_due:
            followed.hook_due = None
            self._read(followed)

    def _awaiting_hooks(self) -> bool:
        return any(f.prompt_waits_since is not None for f in self.following.followed.values())

    # -- on a change of state ---------------------------------------------------------------

    def _read(self, followed: Followed) -> None:
        """Read the session's screen and act on its state."""
        before = followed.state
        text = self.following.read(followed)
        if text is None:
            return
        screen = followed.screen
        self.attention.read(followed, text)
        self.hooks.read(followed)
        hook = self.hooks.asking(followed.name)
        again = self.notices.follow_prompt(
            followed, screen, hook, HookWatch.waits_for_hook(followed)
        )
        if again is not None:
            # Gone in one read (maybe a screen caught mid-redraw), or waiting for its hook:
            # read once more then.
            followed.read_by(time.monotonic() + again)
        if hook is not None and followed.prompt is not None:
            self.hooks.answered(followed.name)  # its prompt is on screen, followed from now
        elif hook is not None and time.time() >= hook.at + HOOK_WAIT_S:
            unseen = self.hooks.unseen_asking(followed.name)
            if unseen is not None:
                self.notices.hook_says_asking(followed, unseen)
        if (
            screen.state is State.EXITED
            and followed.exit_due is None
            and not self.notices.told_end(followed)
        ):
            followed.end_later()
        if self.view.deliverable(followed.name, followed.screen):
            self.jobs.deliver(followed.name)
        waiting_ids = self.view.outstanding.get(followed.name)
        if waiting_ids and (
            (followed.ready and before is not State.IDLE)
            or self._shows_reply_end(text, waiting_ids)
        ):
            self.jobs.collect()

    def _shows_reply_end(self, text: str, ids: list[str]) -> bool:
        protocol = self.config.settings.protocol
        return any(
            delimiters(mid, protocol.reply_start, protocol.reply_end).end in text for mid in ids
        )

    def _hook_event(self, event: HookEventRecord) -> None:
        """A session's hook reported an event: when it says asking, read the pane now, and
        once more when the wait for the screen's prompt is over."""
        self.hooks.arrived(event)  # a session not followed yet is checked once it is
        followed = self.following.followed.get(event.session)
        if followed is not None and event.state == ASKING:
            now = time.monotonic()
            followed.read_by(now)
            followed.hook_due = now + HOOK_WAIT_S

    def _deliver_if_ready(self, name: str) -> None:
        """Deliver to ``name`` when a delivery has work to do (:meth:`StoreView.deliverable`)."""
        followed = self.following.followed.get(name)
        if followed is not None and self.view.deliverable(name, followed.screen):
            self.jobs.deliver(name)

    def _end(self, followed: Followed, *, closed: bool) -> bool:
        """Give the notice that a session ended, unless ``isesh stop`` ended or forgot it.

        ``closed``: its tmux session vanished from a running server (else its agent
        exited). False when the store or tmux cannot tell now: the notice is due again
        later.
        """
        recorded = self.view.still_recorded(followed)
        if recorded is False:
            return True  # isesh stop ended it, or forgot it
        running = self.following.running(followed.name) if closed else False
        if recorded is None or running is None:  # cannot tell now: look again later
            followed.end_later()
            return False
        if not running:
            self.notices.ended(followed, closed=closed)
        return True

    # -- the database and the server, looked at every interval ------------------------------

    def _tick(self, now: float) -> None:
        if self.lifeline is not None and self.lifeline.gone(now):
            logger.info("tmux server %s is gone: the watcher started for it ends", self.server)
            self._stop.set()
            return
        self.following.look_at_socket()
        self.following.read_redrawn(now)
        self.notices.reap()
        for check in self.checks:
            check()
        self._store_changed(self.view.poll(now))
        self.hooks.settle()

    def _store_changed(self, news: News | None) -> None:
        """Act on what other processes changed in the store (None: nothing was read)."""
        if news is None:
            return
        if news.records:
            self.following.rescan_wanted = True
        self.notices.forget_unrecorded()
        self.hooks.forget(set(self.view.records))
        for event in news.earlier_hook_events:
            self.hooks.arrived(event, current=False)
        for event in news.hook_events:
            self._hook_event(event)
        self.attention.store_changed()
        if news.stopped_waiting:
            self.jobs.collect()
        for name in sorted(self.view.pending_targets):
            self._deliver_if_ready(name)
