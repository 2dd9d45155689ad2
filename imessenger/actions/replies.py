"""Collecting replies: the reply to a message, found between its delimiters.

The envelope asks the agent to write its reply between two lines that name the
message (:meth:`Replies.delimiters`). A reply is taken from, first found first:

1. the store: recorded by ``imessenger reply`` (:func:`reply_to`);
2. the record the agent keeps of its answers, byte for byte, for a session whose agent
   keeps one (pinned by isesh, see imessenger.adapters.records.pinning);
3. the screen (scrollback included), below the message's envelope: its reply is taken
   when the record still lacks it a while after the screen showed it, or when the
   session has no record.

:meth:`Replies.wait_for_reply` waits for it (``send`` after its delivery, or a wait of
its own) up to a timeout, reading the store and the record every ``send.poll_ms`` and the
screen when the target's pane prints: a control client of the wait's own tells it
(:class:`imessenger.adapters.tmux.OutputWatch`; without one, the screen is read every
poll too). On timeout, Ctrl-C or a stop from another thread the message is marked timed
out and no longer waited for, and that client is detached. A reply that comes after is late:
:meth:`Replies.collect_late_replies` finds it and puts it in the sender's inbox (the
person's, once the session that sent it has ended), reading for a message only the run
of its target session it was for. A reply given with ``imessenger reply`` to a message
nobody waits for goes to that inbox too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from imessenger.actions.sessions import Sessions
from imessenger.adapters.records.pinning import PinnedRecord
from imessenger.adapters.store import AlreadyReplied
from imessenger.adapters.tmux import AgentPane, OutputWatch
from imessenger.core.envelope import Delimiters, delimiters, envelope_anchor, find_reply
from imessenger.core.errors import (
    ImessengerError,
    NoSuchSession,
    NoTmuxServer,
    StoreError,
    TmuxCommandFailed,
)
from imessenger.core.values import (
    InboxKind,
    MessageRecord,
    MessageState,
    SendResult,
    instance_of,
)

logger = logging.getLogger(__name__)

#: How long the agent's record may lag behind its screen before the screen's reply is taken.
_RECORD_GRACE_S = 3.0
#: How often a waiting ``send`` reads the screen though its pane printed nothing (an
#: :class:`OutputWatch` wakes it when the pane prints: this is the net for a wake missed).
#: How long a wait polls before it is woken by the pane's output instead, in seconds.
_WATCH_AFTER_S = 0.05
_SCREEN_SAFETY_S = 0.25

#: States of a message whose reply may still come (and then goes to the sender's inbox).
_ANSWERABLE = (
    MessageState.TIMED_OUT,
    MessageState.DELIVERED,
    MessageState.QUEUED,
    MessageState.UNCONFIRMED,
)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


class Replies:
    """Collects the replies to the messages sent to the sessions of one tmux server."""

    def __init__(self, sessions: Sessions) -> None:
        self.tmux = sessions.tmux
        self.store = sessions.store
        self.settings = sessions.config.settings
        self.poll = self.settings.send.poll_s
        self.template = self.settings.protocol.envelope

    def delimiters(self, message_id: str) -> Delimiters:
        """The lines the reply to ``message_id`` is written between (its envelope asks for them)."""
        protocol = self.settings.protocol
        return delimiters(message_id, protocol.reply_start, protocol.reply_end)

    def wait_for_reply(
        self,
        sent: SendResult,
        timeout_ms: int,
        started: float,
        *,
        stop: threading.Event | None = None,
    ) -> SendResult:
        """Wait for the reply on screen or through ``imessenger reply``, up to the timeout.

        On timeout (or Ctrl-C, or ``stop`` set by another thread) the message is
        marked timed out and no longer waited for, so that a later reply goes to
        the sender's inbox. A store that fails meanwhile ends the wait as NOT_RECORDED
        (the message was delivered; a reply found is still given).
        """
        message = sent.message
        deadline = time.monotonic() + timeout_ms / 1000
        delims = self.delimiters(message.id)
        reply: str | None = None
        ended = ""
        try:
            try:
                for found in self._reply_polls(message, delims, deadline, stop):
                    if found is not None:
                        reply = found[0]  # given even when the store cannot record it
                        reply = self._record_found_reply(message.id, *found)
                        break
                    if stop is not None and stop.is_set():
                        break
            except (NoSuchSession, NoTmuxServer) as gone:
                ended = f"it was delivered, then its session ended before it replied ({gone})"
            finally:
                self.store.messages.set_waiting(message.id, False)
                record = self.store.messages.get(message.id) or message
                if reply is None and record.reply is not None:
                    reply = record.reply  # answered with `imessenger reply` in the last instant
                if reply is None:
                    record = self.store.messages.set_state(message.id, MessageState.TIMED_OUT)
        except StoreError as error:
            logger.warning("waiting for the reply to %s: %s", message.id, error)
            why = (
                f"it was delivered, but the store failed while its reply was awaited ({error})"
                + ("" if reply is None else "; the reply is given, but not recorded")
            )
            timings = {**sent.timings, "total_ms": _ms(started)}
            return SendResult(message, MessageState.NOT_RECORDED, why, reply, timings)
        timings = {**sent.timings, "total_ms": _ms(started)}
        if reply is None and ended:
            return SendResult(record, MessageState.ENDED, ended, timings=timings)
        if reply is None:
            return SendResult(record, MessageState.TIMED_OUT, timings=timings)
        return SendResult(record, MessageState.REPLIED, reply=reply, timings=timings)

    def _reply_polls(
        self,
        message: MessageRecord,
        delims: Delimiters,
        deadline: float,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[str, str] | None]:
        """Look for the reply until the deadline, first found first: the store, the agent's
        record, the screen.

        Yields None after each look that found nothing, then the reply and where it was
        read ("command", "record" or "screen"). The store and the record are read every
        poll. The screen is read from a little above where it was at delivery, down to
        its bottom, whatever it printed meanwhile, when it may show something new: once
        the wait has lasted ``_WATCH_AFTER_S``, an :class:`OutputWatch` begins to attach
        to the session (a control client of its own, detached when the wait ends, however
        it ends); once attached, it
        wakes the wait as soon as the pane prints, and the pane is read through it, without
        a new process. The screen is read though nothing printed every
        ``_SCREEN_SAFETY_S`` (a wake missed), every poll while its reply waits for the
        record, and at the deadline. Without the watch (still attaching, unable to, or its
        client ended), the screen is read every poll with one tmux call, as the store and
        the record are. Between looks it waits one poll, or until the pane prints or the
        watch attaches, or (without the watch) until ``stop`` is set.
        """
        pane = AgentPane.of(self.tmux, message.target)
        agent_record = self.pinned_record(message.target)
        start = pane.info.history_size
        history = pane.info.height
        on_screen_since: float | None = None
        watch: OutputWatch | None = None
        screen_due = 0.0  # when the screen is read again though nothing printed
        # A reply printed at once is read by the next poll or two: a client of its own
        # would only cost it the client's start and end.
        watch_from = time.monotonic() + _WATCH_AFTER_S
        safety = max(self.poll, _SCREEN_SAFETY_S)
        try:
            while True:
                record = self.store.messages.get(message.id)
                if record is not None and record.reply is not None:
                    self._let_go(watch)
                    yield record.reply, "command"
                    return
                if agent_record is not None:
                    exact = agent_record.reply(delims)
                    if exact is not None:
                        self._let_go(watch)
                        yield exact, "record"
                        return
                now = time.monotonic()
                reply = None  # a look skipped: nothing printed since one that found none
                if (
                    watch is None
                    or not watch.alive
                    or watch.printed
                    or on_screen_since is not None
                    or now >= screen_due
                    or now >= deadline
                ):
                    text, size = self._look(pane, watch, history)
                    reply = find_reply(text, delims, envelope_anchor(self.template, message.id))
                    # Everything printed since delivery, plus a screen's worth above it.
                    history = max(0, size - start) + 2 * pane.info.height
                    screen_due = now + safety
                    now = time.monotonic()
                if reply is not None:
                    on_screen_since = now if on_screen_since is None else on_screen_since
                    if agent_record is None or now - on_screen_since >= _RECORD_GRACE_S:
                        if agent_record is not None:
                            logger.warning(
                                "the reply to %s is on the screen of %s but not in its record "
                                "(%s); taking the screen's",
                                message.id,
                                message.target,
                                agent_record.path or "not found",
                            )
                        self._let_go(watch)
                        yield reply, "screen"
                        return
                if now >= deadline:
                    if reply is not None:  # better the screen's than none
                        self._let_go(watch)
                        yield reply, "screen"
                    return
                yield None
                pause = self.poll
                if watch is None:
                    left = watch_from - time.monotonic()
                    if left <= 0:
                        # a reply that did not come at once: be woken for it
                        watch = OutputWatch.open(self.tmux, message.target)
                    else:
                        pause = min(pause, left)
                if watch is not None and (watch.alive or watch.starting):
                    watch.wait(self.poll)  # at once when the pane printed, or it attached
                elif stop is None:
                    time.sleep(pause)
                else:
                    stop.wait(pause)
        finally:
            if watch is not None:
                watch.close()

    @staticmethod
    def _let_go(watch: OutputWatch | None) -> None:
        """A reply was found: the watch's client detaches while the reply is recorded (the
        wait's end waits for it)."""
        if watch is not None:
            watch.let_go()

    @staticmethod
    def _look(pane: AgentPane, watch: OutputWatch | None, history: int) -> tuple[str, int]:
        """The pane with ``history`` lines of scrollback, and its scrollback's length:
        through the watch's client while it works, else with one tmux call."""
        if watch is not None and watch.alive:
            try:
                return watch.look_growing(pane.info.pane_id, history)
            except TmuxCommandFailed as error:
                # the session, its client or the server went: the usual look says which
                logger.debug("reading %s through its control client: %s", pane.info.session, error)
                watch.close()
        return pane.look_growing(history)

    def pinned_record(self, target: str) -> PinnedRecord | None:
        """The record the agent of ``target`` keeps of its answers, when isesh pinned one."""
        session = self.store.sessions.get(target)
        if session is None or not session.record_kind:
            return None

        def current_ref() -> str:
            now = self.store.sessions.get(target)
            return now.record_ref if now is not None else ""

        def relocate() -> str | None:
            return self.relocate_record(target)

        return PinnedRecord(session.record_kind, current_ref, relocate)

    def relocate_record(self, target: str) -> str | None:
        """Where the agent of ``target`` really writes its record, from the environment its
        own process runs with (imessenger.adapters.records.pinning.relocated): recorded as
        the session's record when it is elsewhere than isesh thought; the new ref, or None."""
        from imessenger.adapters import agent_process
        from imessenger.adapters.records.pinning import marker, relocated

        session = self.store.sessions.get(target)
        if session is None or not session.record_kind:
            return None
        try:
            pane_pid = self.tmux.pane(target).pid
        except ImessengerError:
            return None
        found = agent_process.find(pane_pid, marker(session.record_kind, session.record_ref))
        if found is None:
            return None
        ref = relocated(
            session.record_kind, session.record_ref, Path(session.directory), found.environment
        )
        if ref is None:
            return None
        logger.info("%s writes its record elsewhere than isesh thought: %s", target, ref)
        self.store.sessions.set_record_ref(target, ref, was=session.record_ref)
        return ref

    def _record_found_reply(self, message_id: str, reply: str, via: str) -> str:
        if via == "command":
            return reply  # recorded by `imessenger reply` itself
        try:
            return self.store.messages.record_reply(message_id, reply, via).reply or reply
        except AlreadyReplied:
            record = self.store.messages.get(message_id)
            return record.reply if record is not None and record.reply is not None else reply

    def collect_late_replies(self) -> list[MessageRecord]:
        """Find replies printed after their sender stopped waiting; put them in its inbox
        (the person's, once the session that sent it has ended).

        Only the run of the target session a message was for may answer it: a session
        started again under its name (another instance) is not read for it.
        """
        found: list[MessageRecord] = []
        late = [
            m
            for m in self.store.messages.latest(limit=500)
            if m.reply is None and not m.raw and not m.waiting and m.state in _ANSWERABLE
        ]
        if any(m.target_instance for m in late):
            running = {
                p.session: instance_of(p.server_pid, p.session_id, p.session_created)
                for p in self.tmux.panes()
            }
            late = [m for m in late if m.target_instance in ("", running.get(m.target))]
        screens: dict[str, str] = {}
        records: dict[str, PinnedRecord | None] = {}
        for message in late:
            delims = self.delimiters(message.id)
            if message.target not in records:
                records[message.target] = self.pinned_record(message.target)
            agent_record = records[message.target]
            reply = agent_record.reply(delims) if agent_record is not None else None
            via = "record"
            if reply is None:
                if message.target not in screens:
                    try:
                        pane = AgentPane.of(self.tmux, message.target)
                    except NoSuchSession:
                        continue
                    screens[message.target] = pane.look(pane.info.history_size)
                reply = find_reply(
                    screens[message.target], delims, envelope_anchor(self.template, message.id)
                )
                via = "screen"
            if reply is None:
                continue
            try:
                record = self.store.messages.record_reply(message.id, reply, via)
            except AlreadyReplied:
                continue
            self.store.inbox.add_for_sender(
                record,
                InboxKind.REPLY,
                f'reply from "{record.target}" to message {record.id}',
                reply,
            )
            found.append(record)
        return found


def reply_to(replies: Replies, message: MessageRecord, text: str) -> MessageRecord:
    """Record a reply given with ``imessenger reply`` to ``message`` (the API's door let
    only its target's running session, or the person speaking for it, through). A sender
    that is no longer waiting finds the reply in its inbox (the person does, once the
    session that sent it has ended). Raises AlreadyReplied.
    """
    record = replies.store.messages.record_reply(message.id, text, "command")
    if not record.waiting:
        replies.store.inbox.add_for_sender(
            record, InboxKind.REPLY, f'reply from "{record.target}" to message {record.id}', text
        )
    return record
