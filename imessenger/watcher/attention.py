"""When an agent needs its person: a turn done, a session stuck, a turn failed; each told
once per occurrence (:meth:`imessenger.watcher.notices.Notices.tell` says where).

A **turn** is what a session does between two idle screens: it begins at the first read
that shows it busy (or asking) while it is in no turn, and ends at an idle screen that
is still idle ``TURN_SETTLE_S`` later (an idle frame between two steps of a turn, or an
error line drawn a moment after the idle screen, is not its end), or that a message
claimed for delivery since the turn was last seen busy follows (that message begins a
turn of its own, however soon). Where the agent's hooks report the end of every turn
and the error of one that failed (``HookWatch.reports_failures``: OpenCode, whose
errors look like its messages on screen), that idle screen ends the turn once the hooks
said it ended (an ``idle`` or ``error`` event since it began), or ``HOOK_END_WAIT_S``
after it settled without one (a hook that never comes delays no notice for long): a
hook's event comes from a process of its own, often after the screen. At its end:

* **error**: the screen shows an error that ends the transcript
  (:attr:`imessenger.core.screen.Screen.error`, the profile's ``error_patterns``), or
  the agent's own hooks said the turn ended on an error (an ``error`` event at the
  turn's end, :class:`imessenger.watcher.hook_checks.HookWatch`): one notice, with the
  error's text;
* else **done**, unless the turn was **collected**: a ``send`` waited for the reply of a
  message delivered in it. The messages to the session whose senders wait are noted
  when the turn begins (read from the store then) and whenever the store changes while
  it goes on (not while its idle screen settles: a message delivered then begins the
  next turn); a noted message counts at the end when its sender still waits, or its
  reply is recorded (that sender took it). A sender that gave up before any reply came
  (``--timeout``) is let go of: its late reply goes to its inbox, and done comes. So a
  turn of a ``--no-reply`` message, or of work a person typed into the pane, ends with
  done; a turn whose reply a waiting ``send`` took, with none.

A session is **stuck** when it has been busy for ``watch.stuck_after_ms`` without
progress. Progress is a read whose screen differs from the last one once timers, digits
and spinner glyphs are set aside (:func:`imessenger.core.attention.progress_digest`: a
spinner's frame or a timer's next second, or minute, is no progress, new text is), or
the agent's record growing
(its file's modification time, looked at when the time is up and at every round while it
is stuck). One notice per stall; the status it publishes reads ``stuck`` (since its last
progress) until it makes progress again (``busy``), or turns idle.

What a restarted watcher needs is kept in its :class:`Memory`: the turn a session is in
(when it began, the messages noted), so that a turn that ended while no watcher ran is
told once by the next one, and none twice; and the screen a session was told stuck on,
so that the next watcher, finding the same screen, reads it stuck at once and says
nothing. A watcher that finds a session idle and no turn remembered says nothing: no
storm of notices when it starts.

A session whose tokens pass ``watch.budget_tokens`` (its agent's own record, read by
:func:`imessenger.adapters.records.usage.usage_of`; looked at when each of its turns
ends) gets one **budget** notice for its run, kept in the :class:`Memory` too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from imessenger.adapters.records.pinning import locate
from imessenger.adapters.records.usage import usage_of
from imessenger.core.attention import Event, duration, fit, progress_digest
from imessenger.core.errors import StoreError
from imessenger.core.screen import State
from imessenger.core.usage import short_count
from imessenger.core.values import MessageState
from imessenger.watcher.following import Followed, Following
from imessenger.watcher.hook_checks import HookWatch
from imessenger.watcher.memory import Remembered
from imessenger.watcher.notices import Notices
from imessenger.watcher.store_view import StoreView

logger = logging.getLogger(__name__)

#: How long an idle screen must stay idle to end a turn, in seconds.
TURN_SETTLE_S = 0.3
#: The most characters of an error's text in a notice's title.
ERROR_TITLE_MAX = 120
#: How often the record of a stuck session is looked at, in seconds.
RECORD_LOOK_S = 1.0
#: How long a settled idle screen waits for the hooks that report every turn's end to say
#: its turn ended, in seconds (their process may start late on a busy machine).
HOOK_END_WAIT_S = 5.0
#: How often a turn that waits for its hooks is looked at again, in seconds.
_HOOK_END_POLL_S = 0.1
#: How much earlier than the first read that saw a turn under way a hook's event of that
#: turn may be dated (its process's start, read to the clock tick), in seconds.
_HOOK_SLACK_S = 0.1


class Attention:
    """Follows the turns and the progress of the followed sessions, and tells of their
    ends, stalls and failures through ``notices``."""

    def __init__(
        self,
        following: Following,
        view: StoreView,
        notices: Notices,
        stuck_after: float,
        *,
        budget_tokens: int = 0,
        hooks: HookWatch | None = None,
    ) -> None:
        self.following = following
        #: the hook events of the sessions: turns that their hooks say failed
        self.hooks = hooks
        self.view = view
        self.notices = notices
        self.stuck_after = stuck_after
        #: the tokens past which a session is told of once (0: none)
        self.budget_tokens = budget_tokens

    # -- a read -------------------------------------------------------------------------------

    def read(self, followed: Followed, text: str) -> None:
        """Note what a read of the session's screen (``text``) shows: a turn begins, goes
        on or may end; it made progress, or not."""
        now = time.time()
        remembered = self._remembered(followed)
        digest = progress_digest(text)
        first, followed.attended = not followed.attended, True
        if first:  # what came before this watcher's first read is not for it to count
            followed.busy_seen_at = followed.ready_seen_at = now
        progressed, followed.digest = digest != followed.digest, digest
        changed = self._follow_turn(followed, remembered, now, first, progressed)
        changed |= self._follow_progress(followed, remembered, now, first, progressed)
        if changed:
            self.notices.save_memory()

    def _follow_turn(
        self, followed: Followed, remembered: Remembered, now: float, first: bool, progressed: bool
    ) -> bool:
        """A turn begins (busy, asking), may end (idle) or ends with the agent (exited);
        True when the memory changed."""
        state = followed.state
        if state in (State.BUSY, State.ASKING):
            followed.hook_end_wait = None
            if followed.turn_end_due is not None:
                followed.turn_end_due = None
                if self._delivered_since(followed.name, followed.busy_seen_at):
                    self._end_turn(followed)  # that idle screen ended it: a new one begins
            followed.busy_seen_at = now
            if remembered.turn is not None:
                return False
            waiting = self.view.waiting_now(followed.name) or set()
            remembered.turn = now
            remembered.waited = sorted(waiting - followed.last_waited)
            logger.debug('"%s": a turn begins', followed.name)
            return True
        if state is State.EXITED and remembered.turn is not None:
            remembered.turn, remembered.waited = None, []  # its exit is told instead
            return True
        if state is not State.IDLE:
            return False
        changed = False
        followed.idle_error = followed.screen.error
        if (
            remembered.turn is None
            and not first
            and progressed
            and followed.ready
            and self._delivered_since(followed.name, followed.ready_seen_at, delivered=True)
        ):
            # a turn too short for a read to see it busy: a message delivered since the
            # last ready screen, and a new one
            remembered.turn = followed.ready_seen_at
            remembered.waited = sorted(self._waiting_for_unseen(followed))
            changed = True
            logger.debug('"%s": a turn began and ended between two reads', followed.name)
        if remembered.turn is not None and followed.turn_end_due is None:
            followed.turn_end_due = time.monotonic() + TURN_SETTLE_S
        if followed.ready:
            followed.ready_seen_at = now
        return changed

    def _follow_progress(
        self, followed: Followed, remembered: Remembered, now: float, first: bool, progressed: bool
    ) -> bool:
        """A busy screen that changed is progress, and so is any other state; a stall told
        by the watcher before this one, found on the same screen, is the same stall. True
        when the memory changed."""
        busy = followed.state is State.BUSY
        if busy and first and remembered.stuck is not None:
            since = remembered.stuck_since
            if remembered.stuck == followed.digest and not self._record_since(followed, since):
                followed.progress_at = followed.stuck_since = since
                logger.info('"%s" is still stuck (since %s)', followed.name, time.ctime(since))
                return False
        elif busy and not first and not progressed:
            return False  # the same screen: no progress
        followed.progress_at = now
        return self._unstuck(followed, remembered, now)

    # -- the store changed ----------------------------------------------------------------------

    def store_changed(self) -> None:
        """Note the senders that wait for the turns under way, and those that gave up."""
        changed = False
        for followed in self.following.followed.values():
            remembered = self._remembered(followed)
            if remembered.turn is None or followed.turn_end_due is not None:
                continue  # no turn, or one ending: a message delivered now is the next's
            noted = set(remembered.waited)
            waiting = self.view.waiters.get(followed.name, set()) - followed.last_waited
            waited = (noted | waiting) - self.view.gave_up
            if waited != noted:
                remembered.waited = sorted(waited)
                changed = True
        if changed:
            self.notices.save_memory()

    # -- time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """End the turns whose idle screen settled; tell of the sessions that stalled."""
        now = time.monotonic()
        for followed in list(self.following.followed.values()):
            if followed.turn_end_due is not None and now >= followed.turn_end_due:
                followed.turn_end_due = None
                if followed.state is State.IDLE and self._hook_end_owed(followed, now):
                    followed.turn_end_due = now + _HOOK_END_POLL_S
                elif followed.state is State.IDLE:
                    self._end_turn(followed)
            if followed.state is State.BUSY:
                self._look_for_a_stall(followed)

    def next_due(self) -> float:
        """When :meth:`tick` has work next (monotonic; infinity: nothing to wait for)."""
        due = float("inf")
        now, wall = time.monotonic(), time.time()
        for followed in self.following.followed.values():
            if followed.turn_end_due is not None:
                due = min(due, followed.turn_end_due)
            if followed.state is State.BUSY and followed.stuck_since is None:
                due = min(due, now + followed.progress_at + self.stuck_after - wall)
        return due

    # -- a turn ends ----------------------------------------------------------------------------

    def _hook_end_owed(self, followed: Followed, now: float) -> bool:
        """Whether the settled idle screen of a session whose hooks report every turn's end
        waits for them still: they have not said that its turn ended, and
        ``HOOK_END_WAIT_S`` is not over."""
        remembered = self._remembered(followed)
        if (
            self.hooks is None
            or remembered.turn is None
            or not HookWatch.reports_failures(followed)
        ):
            return False
        if self.hooks.turn_ended(followed.name, remembered.turn - _HOOK_SLACK_S):
            followed.hook_end_wait = None
            return False
        if followed.hook_end_wait is None:
            followed.hook_end_wait = now + HOOK_END_WAIT_S
            logger.debug('"%s": its screen is idle, its hooks say nothing yet', followed.name)
            return True
        if now < followed.hook_end_wait:
            return True
        followed.hook_end_wait = None
        logger.info(
            '"%s": its hooks did not say its turn ended within %.0f s: its idle screen ends it',
            followed.name,
            HOOK_END_WAIT_S,
        )
        return False

    def _end_turn(self, followed: Followed) -> None:
        """Its idle screen ended its turn (it stayed idle TURN_SETTLE_S, or a message
        delivered since begins the next one): tell of the turn's error, or that it is done
        unless a waiting ``send`` took its reply."""
        remembered = self._remembered(followed)
        if remembered.turn is None:
            return
        began, waited = remembered.turn, remembered.waited
        remembered.turn, remembered.waited = None, []
        followed.last_waited = frozenset(waited)
        name = followed.name
        took = duration(time.time() - began)
        error = followed.idle_error
        failed = self.hooks.failed(name, began - _HOOK_SLACK_S) if self.hooks else None
        if error is None and failed is not None:
            error = failed.detail  # the error its hooks reported, its screen shows none
        pane = followed.pane.pane_id if followed.pane is not None else None
        agent = followed.record.agent
        if error is not None:
            logger.info('"%s": its turn failed: %s', name, error)
            title = f'"{name}" failed: {fit(error, ERROR_TITLE_MAX)}'
            body = (
                f"Its agent ({agent}) ended a turn of {took} on an error:\n\n{error}\n\n"
                f"Look at it with `isesh attach {name}`; `isesh explain {name}` shows the "
                "line read as the error."
            )
            self.notices.tell(
                name, Event.ERROR, title, body, f"{title}  (isesh attach {name})", pane=pane
            )
        elif self._collected(waited):
            logger.info('"%s" is done: its reply went to the send that waited for it', name)
        else:
            logger.info('"%s" is done, and nobody waited for its reply', name)
            title = f'"{name}" is done and waits for you'
            body = (
                f"Its agent ({agent}) finished a turn of {took} and is idle; no `send` "
                f"waited for its reply. Look at it with `isesh attach {name}` (or `isesh "
                f"logs {name}`)."
            )
            self.notices.tell(
                name, Event.DONE, title, body, f"{title}  (isesh attach {name})", pane=pane
            )
        self._look_at_the_budget(followed, remembered, pane)
        self.notices.save_memory()

    def _look_at_the_budget(
        self, followed: Followed, remembered: Remembered, pane: str | None
    ) -> None:
        """Tell once when the session's tokens passed ``watch.budget_tokens``."""
        budget = self.budget_tokens
        if budget <= 0 or remembered.budget:
            return
        used = usage_of(followed.record)
        if used is None or used.total_tokens <= budget:
            return
        remembered.budget = True
        name = followed.name
        spent, allowed = short_count(used.total_tokens), short_count(budget)
        logger.info('"%s" passed its token budget: %s of %s', name, spent, allowed)
        title = f'"{name}" passed its token budget: {spent} tokens of {allowed}'
        body = (
            f"Its agent ({followed.record.agent}) has used {used.total_tokens} tokens "
            f"(input {used.input_tokens}, output {used.output_tokens}, cache reads "
            f"{used.cache_read_tokens}, cache writes {used.cache_write_tokens}), past "
            f"watch.budget_tokens = {budget}. `isesh list --usage` shows every session's."
        )
        self.notices.tell(name, Event.BUDGET, title, body, title, pane=pane)

    def _delivered_since(self, name: str, since: float, *, delivered: bool = False) -> bool:
        """Whether a message to ``name`` was claimed for delivery (with ``delivered``: was
        delivered) after ``since`` (epoch seconds): a turn of its own."""
        try:
            messages = self.view.store.messages.latest(name, limit=10)
        except StoreError as error:
            logger.debug("reading the messages to %s: %s", name, error)
            return False
        for m in messages:
            when = m.delivered_at if delivered else m.claimed_at
            if m.target == name and when is not None and when > since:
                return True
        return False

    def _waiting_for_unseen(self, followed: Followed) -> set[str]:
        """The messages of a turn no read saw whose senders wait or took the reply: those
        delivered since the last ready screen."""
        try:
            messages = self.view.store.messages.latest(followed.name, limit=10)
        except StoreError as error:
            logger.debug("reading the messages to %s: %s", followed.name, error)
            return set()
        since = followed.ready_seen_at
        return {
            m.id
            for m in messages
            if m.target == followed.name
            and m.delivered_at is not None
            and m.delivered_at > since
            and (m.waiting or (m.state is MessageState.REPLIED and m.id not in self.view.gave_up))
        }

    def _collected(self, waited: Iterable[str]) -> bool:
        """Whether a noted sender still waits for its reply, or took it. A store that cannot
        say counts as no: better a notice than none."""
        for message_id in waited:
            try:
                message = self.view.store.messages.get(message_id)
            except StoreError as error:
                logger.warning("reading message %s: %s", message_id, error)
                continue
            if message is not None and (message.waiting or message.state is MessageState.REPLIED):
                return True
        return False

    # -- a stall --------------------------------------------------------------------------------

    def _look_for_a_stall(self, followed: Followed) -> None:
        """Tell once that a busy session made no progress for ``stuck_after``; a stuck one
        whose record grows made progress."""
        now = time.time()
        if followed.stuck_since is not None:
            looking = time.monotonic()
            if looking - followed.record_looked < RECORD_LOOK_S:
                return
            followed.record_looked = looking
            grown = self._record_since(followed, followed.progress_at)
            if grown is not None:
                followed.progress_at = grown
                if self._unstuck(followed, self._remembered(followed), now):
                    self.notices.save_memory()
            return
        if now - followed.progress_at < self.stuck_after:
            return
        grown = self._record_since(followed, followed.progress_at)
        if grown is not None:
            followed.progress_at = grown
            if now - grown < self.stuck_after:
                return
        since = followed.progress_at
        followed.stuck_since = since
        remembered = self._remembered(followed)
        remembered.stuck, remembered.stuck_since = followed.digest, since
        name = followed.name
        quiet = duration(now - since)
        logger.info('"%s" is stuck: busy for %s without progress', name, quiet)
        title = f'"{name}" looks stuck: busy for {quiet} without progress'
        body = (
            f"Its agent ({followed.record.agent}) has been busy for {quiet} with nothing new "
            "on its screen but a spinner or a timer, and nothing new in its record. It is "
            f"left running: look at it with `isesh attach {name}`. `isesh list` reads it as "
            "stuck until it makes progress."
        )
        pane = followed.pane.pane_id if followed.pane is not None else None
        self.notices.tell(
            name, Event.STUCK, title, body, f"{title}  (isesh attach {name})", pane=pane
        )
        self.notices.save_memory()

    def _unstuck(self, followed: Followed, remembered: Remembered, now: float) -> bool:
        """It made progress (or is no longer busy): no longer stuck. True when the memory
        changed."""
        if followed.stuck_since is not None:
            followed.stuck_since = None
            logger.info('"%s" makes progress again (%s)', followed.name, followed.state)
            if followed.state is State.BUSY:
                followed.since = now  # busy again from now on
        if remembered.stuck is None:
            return False
        remembered.stuck = None
        return True

    def _record_since(self, followed: Followed, since: float) -> float | None:
        """When the agent's record was last written, if after ``since`` (epoch seconds);
        None when it was not, or the session keeps none that can be found."""
        record = self.view.records.get(followed.name, followed.record)
        if not record.record_kind:
            return None
        path = followed.record_path
        try:
            if path is None:
                path = followed.record_path = locate(record.record_kind, record.record_ref)
                if path is None:
                    return None
            written = Path(path).stat().st_mtime
        except (OSError, ValueError) as error:
            logger.debug("the record of %s: %s", followed.name, error)
            return None
        return written if written > since else None

    def _remembered(self, followed: Followed) -> Remembered:
        return self.notices.memory.of(followed.name, followed.record.started_at)
