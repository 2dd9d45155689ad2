"""Delivering messages into agent panes and collecting their replies.

The rules, in the order :meth:`Courier.send` applies them:

1. One sender at a time per target, across processes (:func:`target_lock`);
   older pending messages for the target go first, each once.
2. Never paste into a pane that shows a permission prompt (the paste would be
   dropped and the submit key would answer the prompt), nor into an input
   box that holds someone's half-typed text. The message stays *pending* and
   is delivered when the target is ready again.
3. Paste as a bracketed paste through a tmux buffer, press the profile's
   submit key in the same tmux call, then confirm from the screen that the
   agent took it (:class:`Submission`): it went busy or asked for permission,
   or it queued the message, or its input box shows empty with the message's
   id above it on two looks in a row. If the input box still holds the text a while
   after it first showed it (agents drop an Enter in their first moments, and
   Gemini CLI takes one that comes right after a paste for a new line), press the
   submit key once more: never more than once.
4. Wait for the reply: recorded by ``imessenger reply``, or written between the
   delimiters. For a session whose agent keeps a record of its answers (pinned by
   isesh, see imessenger.records.pinning), the reply is read from that record,
   byte for byte; the screen (scrollback included) is the fallback: its reply is
   taken when the record still lacks it a while after the screen showed it, or
   when the session has no record.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from imessenger.access import Access
from imessenger.agent_setup import reply_command
from imessenger.agents import Profile
from imessenger.errors import (
    ImessengerError,
    NoSuchSession,
    NoTmuxServer,
    PaneInMode,
    StoreError,
    UsageError,
)
from imessenger.locks import target_lock
from imessenger.policy import Action, Refusal
from imessenger.protocol import (
    Delimiters,
    delimiters,
    envelope_anchor,
    find_reply,
    neutralise,
    neutralise_shapes,
    new_message_id,
    render_envelope,
    shapes,
)
from imessenger.records.pinning import PinnedRecord
from imessenger.screen import Screen, State
from imessenger.sessions import Sessions, SessionView
from imessenger.store import (
    AlreadyReplied,
    InboxKind,
    MessageRecord,
    MessageState,
    UnknownMessage,
    instance_of,
)
from imessenger.tmux import AgentPane, Patience

logger = logging.getLogger(__name__)

#: How long to wait for the per-target lock held by other senders.
_LOCK_TIMEOUT_S = 120.0
#: How long after a first look that shows text in the input box to look again.
_SECOND_LOOK_S = 0.1
#: How old a claim whose sender stopped must be before a screen without its message
#: counts as "never pasted": an agent may have read the paste and not drawn it yet
#: (running a hook of its own first, or short of CPU).
_CLAIM_SETTLE_S = 3.0
#: How long the agent's record may lag behind its screen before the screen's reply is taken.
_RECORD_GRACE_S = 3.0


#: States of a message whose reply may still come (and then goes to the sender's inbox).
_ANSWERABLE = (
    MessageState.TIMED_OUT,
    MessageState.DELIVERED,
    MessageState.QUEUED,
    MessageState.UNCONFIRMED,
)


class TargetExited(ImessengerError):
    def __init__(self, name: str, existing: list[str]) -> None:
        listing = ", ".join(existing) if existing else "(none)"
        super().__init__(
            f'session "{name}" has exited: restart it with `isesh stop {name}` and '
            f"`isesh start {name} ...`; running sessions: {listing}"
        )


class NotDelivered(ImessengerError):
    """Nothing was pasted, and nothing will be; ``result`` says what is recorded."""

    def __init__(self, message: str, result: SendResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class SendResult:
    """What became of a message: its record, the state it reached, why, its reply and
    timings (ms). ``send`` returns one, and so does each delivery attempt."""

    message: MessageRecord
    outcome: MessageState
    why: str = ""
    reply: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


class Submission:
    """What the looks after a paste say about whether the agent took the message.

    Evidence, strongest first: the agent shows a longer queue than before; it went busy or
    started asking for permission (it was idle before the paste); or its input box is
    on screen and empty while the message's id shows above it, on two looks in a row.
    A single look can catch the agent halfway through redrawing (the box not drawn
    yet, the pasted text drawn), so a screen without a readable input box is never
    taken for an emptied one. A raw message has no id to look for: its box must first
    be seen holding text.
    """

    def __init__(self, before: Screen, marker: str | None) -> None:
        self.before = before
        self.marker = marker
        self.typed_seen = False
        self.emptied_looks = 0

    def look(self, screen: Screen, text: str) -> MessageState | None:
        """Take one more look; the outcome once the evidence is sure, else None."""
        if screen.queued > self.before.queued:
            return MessageState.QUEUED  # a queue appeared, or grew by this message
        was_busy = self.before.state is State.BUSY
        if screen.state is State.BUSY and not was_busy:
            return MessageState.DELIVERED  # it went to work on it
        if screen.state is State.ASKING and not was_busy:
            # it went to work on it and asks to run something (a prompt after a busy
            # look may belong to the turn that was running before the paste)
            return MessageState.DELIVERED
        if screen.input_text:
            self.typed_seen = True
        shown = self.typed_seen if self.marker is None else self.marker in text
        if screen.input_text == "" and shown:
            self.emptied_looks += 1
        else:
            self.emptied_looks = 0
        if self.emptied_looks < 2:
            return None
        return (
            MessageState.QUEUED
            if was_busy and screen.state is State.BUSY
            else MessageState.DELIVERED
        )


class Courier:
    """Delivers messages to the sessions of one tmux server and collects replies."""

    def __init__(
        self, sessions: Sessions, shows_prompt: Callable[[str], bool] | None = None
    ) -> None:
        """``shows_prompt`` says whether the sender may see what a session asks (the
        readers grant): why a message waits names the prompt's subject only then."""
        self.sessions = sessions
        self.shows_prompt = shows_prompt or (lambda _: True)
        self.tmux = sessions.tmux
        self.store = sessions.store
        self.settings = sessions.config.settings
        self.poll = self.settings.send.poll_s
        self.template = self.settings.protocol.envelope
        self._shapes = shapes(
            self.settings.protocol.reply_start, self.settings.protocol.reply_end, self.template
        )

    def clean_body(self, body: str) -> str:
        """An enveloped body as it is recorded and pasted: no control bytes, no delimiter shapes.

        A raw message keeps its shapes (only control bytes go): it is the user's own
        text, or that of a session the policy trusts with raw pastes.
        """
        return neutralise_shapes(neutralise(body), self._shapes)

    # -- sending ----------------------------------------------------------------

    def send(
        self,
        target: str,
        body: str,
        *,
        sender: str,
        sender_instance: str = "",
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
        stop: threading.Event | None = None,
    ) -> SendResult:
        """Send ``body`` to session ``target``; wait for the reply unless ``wait`` is False.

        ``sender_instance`` is the run of the agent session that sends it ("" for the
        person): once it has ended, what comes for the message goes to the person.
        ``stop``, set from another thread, ends the wait for the reply as Ctrl-C does
        (see :meth:`wait_for_reply`); a delivery under way is finished first.
        Raises NoSuchSession / TargetExited when the target is not there to take it.
        """
        if sender == target:
            raise UsageError(
                f'"{target}" cannot send a message to itself: it would wait for its own reply'
            )
        started = time.monotonic()
        view = self._live_view(target)
        message_id = new_message_id()
        try:
            return self._send(
                message_id,
                body,
                view,
                sender=sender,
                sender_instance=sender_instance,
                raw=raw,
                wait=wait,
                timeout_ms=timeout_ms,
                stop=stop,
                started=started,
            )
        except KeyboardInterrupt:
            if wait and not raw:
                self._no_longer_waited(message_id)
            raise

    def _no_longer_waited(self, message_id: str) -> None:
        """After Ctrl-C: a message already delivered is no longer waited for (timed out).

        The wait's own guard covers most of it; this covers an interruption that
        comes between the delivery and the wait, which would leave "delivered"
        with nobody waiting. A message not yet pasted, or pasted in part, is left
        for the claim recovery to settle from the screen.
        """
        with contextlib.suppress(ImessengerError):  # the store may be what failed
            record = self.store.get_message(message_id)
            if record is not None and record.state in (MessageState.DELIVERED, MessageState.QUEUED):
                self.store.set_waiting(message_id, False)
                self.store.set_state(message_id, MessageState.TIMED_OUT)

    def _send(
        self,
        message_id: str,
        body: str,
        view: SessionView,
        *,
        sender: str,
        sender_instance: str,
        raw: bool,
        wait: bool,
        timeout_ms: int | None,
        stop: threading.Event | None,
        started: float,
    ) -> SendResult:
        target, instance = view.name, view.instance
        with target_lock(self.tmux.label, target, timeout=_LOCK_TIMEOUT_S):
            # Recorded under the lock: every pending message older than this one was
            # left by a sender that has finished, so it is ours to deliver first.
            message = self.store.add_message(
                message_id,
                self.tmux.label,
                sender,
                target,
                neutralise(body) if raw else self.clean_body(body),
                raw=raw,
                waiting=wait and not raw,
                target_instance=instance,
                sender_instance=sender_instance,
            )
            self._forget_ended(target, instance)
            self._recover_claims(target)
            sent = SendResult(
                message, MessageState.PENDING, "older messages to this session wait first"
            )
            while True:
                claimed = self.store.claim_pending(self.tmux.label, target)
                if claimed is None:
                    break
                done = self._attempt(claimed, view)
                if claimed.id == message.id:
                    sent = done
                    break
                if done.outcome is MessageState.PENDING:
                    sent.why = f"{done.why}; older messages wait first"
                    break
        sent.timings["deliver_ms"] = _ms(started)
        sent.message = self.store.get_message(message.id) or sent.message
        if sent.outcome is MessageState.PENDING:
            self.store.set_waiting(message.id, False)
            self._note_pending(sent.message, sent.why)
            return sent
        if sent.outcome is MessageState.FAILED:
            self.store.set_waiting(message.id, False)
            raise NotDelivered(
                f'message {message.id} was not delivered to "{target}": {sent.why}', sent
            )
        if sent.outcome in (MessageState.UNCONFIRMED, MessageState.NOT_RECORDED):
            with contextlib.suppress(ImessengerError):  # the store may be what failed
                self.store.set_waiting(message.id, False)
            return sent
        if not wait or raw:
            return sent
        timeout = timeout_ms if timeout_ms is not None else self.settings.send.timeout_ms
        return self.wait_for_reply(sent, timeout, started, stop=stop)

    def _live_view(self, target: str) -> SessionView:
        view = self.sessions.view(target, capture=False)
        if view.state is State.EXITED:
            raise TargetExited(target, [v for v in self.tmux.session_names() if v != target])
        return view

    def _note_pending(self, message: MessageRecord, why: str) -> None:
        self.store.add_for_sender(
            message,
            InboxKind.PENDING,
            f'message {message.id} to "{message.target}" is pending',
            f"{why}. It will be delivered when the session is ready "
            f"(`imessenger deliver {message.target}`).",
        )

    def _forget_ended(self, target: str, instance: str) -> None:
        """Cancel what waits for an earlier session of this name: it is not this one's."""
        self.store.cancel_undelivered(
            self.tmux.label,
            target,
            f'the session "{target}" it was for has ended; the one running now is another',
            keep_instance=instance,
        )

    def _recover_claims(self, target: str) -> None:
        """Settle messages whose sender stopped in the middle of pasting them.

        A message whose id is on the screen above the input box was delivered; one
        whose id is in the input box was pasted but never submitted, and is marked
        failed with a word on what to do (pasting it again would show it twice); one
        that is not on the screen goes back to pending. A raw message has no id to
        look for: it is marked failed rather than risk pasting it twice. The screen is
        read once the youngest claim is ``_CLAIM_SETTLE_S`` old: an agent that read a
        paste may take a while to show it.
        """
        stuck = self.store.messages_in_state(self.tmux.label, target, MessageState.DELIVERING)
        if not stuck:
            return
        youngest = max(message.claimed_at or 0.0 for message in stuck)
        time.sleep(max(0.0, min(youngest + _CLAIM_SETTLE_S - time.time(), _CLAIM_SETTLE_S)))
        view, shown = self.sessions.look(self.sessions.view(target, capture=False), history=5000)
        typed = view.screen.input_text or ""
        for message in stuck:
            if message.raw:
                self.store.mark_failed(
                    message.id, "its sender stopped while pasting it; not pasted again"
                )
            elif message.id in typed:
                why = (
                    "its sender stopped before submitting it: it waits in the input box of "
                    f'"{target}"; press Enter there to submit it, or clear it'
                )
                self.store.mark_failed(message.id, why)
            elif message.id in shown:
                self.store.mark_delivered(message.id)
            else:
                self.store.release_claim(message.id)

    # -- one attempt, under the target's lock ---------------------------------------

    def _attempt(self, message: MessageRecord, view: SessionView) -> SendResult:
        """Deliver one claimed message now, or put it back as pending; record the outcome."""
        profile = self.sessions.view_profile(view)
        try:
            view, _ = self.sessions.look(view)  # decide on what the pane shows now
            view = self._wait_until_ready(view, profile)
            refusal = self._refusal(view, profile)
            if refusal and view.screen.input_text:
                # Text in the input box must still be there a moment later: while an
                # agent redraws its spinner, its echo of the last message can pass
                # for typed text (seen with Aider).
                time.sleep(_SECOND_LOOK_S)
                view, _ = self.sessions.look(view)
                view = self._wait_until_ready(view, profile)
                refusal = self._refusal(view, profile)
        except NoSuchSession:
            self.store.mark_failed(message.id, "the session went away")
            raise
        except BaseException:
            self.store.release_claim(message.id)  # nothing was pasted
            raise
        if refusal:
            self.store.release_claim(message.id)
            return SendResult(message, MessageState.PENDING, refusal)
        text = message.body if message.raw else self._envelope(message)
        began = time.monotonic()
        try:
            view.pane.paste(text, profile.drive.submit_keys, brackets=profile.drive.bracket_pastes)
        except PaneInMode:
            # tmux itself found the pane in copy mode and pasted nothing
            self.store.release_claim(message.id)
            return SendResult(
                message,
                MessageState.PENDING,
                f'"{view.name}" is in copy mode (someone scrolled back)',
            )
        except (NoSuchSession, NoTmuxServer):
            self.store.mark_failed(message.id, "the session went away before the paste")
            raise
        # Pasted. From here on nothing may paste it again: any interruption (Ctrl-C, a
        # killed process) leaves it "delivering", for the next delivery to settle from
        # the screen, and every other outcome is recorded as what is known.
        timings = {"paste_ms": _ms(began)}
        try:
            outcome = self._confirm(message, view, profile, view.screen)
        except (NoSuchSession, NoTmuxServer) as gone:
            why = f"pasted, then the session went away before it showed it took it ({gone})"
            return self._record(SendResult(message, MessageState.UNCONFIRMED, why, timings=timings))
        timings["confirm_ms"] = _ms(began)
        if outcome is None:
            why = (
                "pasted, but the agent never showed that it took it; it is not pasted again: "
                f"look at the pane (`isesh attach {view.name}`)"
            )
            return self._record(SendResult(message, MessageState.UNCONFIRMED, why, timings=timings))
        return self._record(SendResult(message, outcome, timings=timings))

    def _record(self, sent: SendResult) -> SendResult:
        """Record what became of a pasted message; NOT_RECORDED when the store cannot."""
        message_id = sent.message.id
        try:
            if sent.outcome in (MessageState.DELIVERED, MessageState.QUEUED):
                sent.message = self.store.mark_delivered(message_id, sent.outcome)
            else:
                sent.message = self.store.set_state(
                    message_id, MessageState.UNCONFIRMED, error=sent.why
                )
        except StoreError as error:
            logger.warning("message %s was pasted, but: %s", message_id, error)
            seen = "and the agent took it" if sent.outcome is not MessageState.UNCONFIRMED else ""
            why = f"pasted {seen}, but the store could not record it ({error})".replace("  ", " ")
            return SendResult(sent.message, MessageState.NOT_RECORDED, why, timings=sent.timings)
        return sent

    def _wait_until_ready(self, view: SessionView, profile: Profile) -> SessionView:
        """Wait while a just-started agent draws its first screen (or while it is busy,
        for agents that cannot queue a message)."""
        deadline = time.monotonic() + self.settings.send.ready_timeout_s
        while time.monotonic() < deadline:
            state = view.state
            if state is State.EXITED:
                raise TargetExited(view.name, self.tmux.session_names())
            waiting = state in (State.STARTING, State.UNKNOWN) or (
                state is State.BUSY and not profile.drive.queues_when_busy
            )
            if not waiting:
                return view
            time.sleep(self.poll)
            view = self.sessions.view(view.name)  # also notices a pane that died meanwhile
        return view

    def _refusal(self, view: SessionView, profile: Profile) -> str:
        """Why the message must not be pasted now ("" when it may be)."""
        if view.pane.in_mode:
            return f'"{view.name}" is in copy mode (someone scrolled back in its pane)'
        screen = view.screen
        if screen.state is State.ASKING:
            subject = screen.prompt.subject if screen.prompt else ""
            about = f" ({subject})" if subject and self.shows_prompt(view.name) else ""
            return f'"{view.name}" is waiting at a permission prompt{about}'
        if screen.state is State.BUSY and not profile.drive.queues_when_busy:
            return f'"{view.name}" is busy and its agent cannot queue messages'
        if screen.state in (State.STARTING, State.UNKNOWN):
            return f'"{view.name}" is not ready (its screen reads {screen.state})'
        if screen.input_text:
            return f'"{view.name}" has half-typed text in its input box'
        return ""

    def _envelope(self, message: MessageRecord) -> str:
        return render_envelope(
            self.template,
            body=message.body,
            message_id=message.id,
            sender=message.sender,
            delims=self.delimiters(message.id),
            reply=reply_command(),
        )

    def delimiters(self, message_id: str) -> Delimiters:
        protocol = self.settings.protocol
        return delimiters(message_id, protocol.reply_start, protocol.reply_end)

    def _confirm(
        self, message: MessageRecord, view: SessionView, profile: Profile, before: Screen
    ) -> MessageState | None:
        """Watch the screen until the agent took the message; None when it never did.

        Each look is one capture with enough scrollback to find the message's id
        even when a long message pushed its first line off the screen.
        """
        confirm_s = self.settings.send.submit_confirm_s
        retry_after = self.settings.send.submit_retry_s
        # confirm_s counts from when the agent read the paste (see imessenger.tmux.patience)
        patience = Patience(
            view.pane, confirm_s, max(confirm_s, self.settings.send.ready_timeout_s)
        )
        history = min(5000, message.body.count("\n") + 2 * view.pane.info.height + 10)
        pressed_again = False
        #: when the box was first seen holding the text: the agent had taken the paste in
        shown_at: float | None = None
        watch = Submission(before, None if message.raw else message.id)
        while True:
            view, text = self.sessions.look(view, history=history)
            screen = view.screen
            if screen.input_text is None and not profile.grammar.input_patterns:
                # A plain program: no input box to watch; the paste and the key went in.
                return MessageState.DELIVERED
            outcome = watch.look(screen, text)
            if outcome is not None:
                return outcome
            expired = patience.expired()
            typed = bool(screen.input_text) and screen.state is State.IDLE
            if typed and shown_at is None:
                shown_at = time.monotonic()
            if (
                profile.drive.submit_retry
                and not pressed_again
                and typed
                # counted from when it showed the paste, not from the paste: an agent
                # short of CPU takes a paste in late, and Gemini CLI makes an Enter that
                # comes soon after it took one in a new line
                and shown_at is not None
                and time.monotonic() - shown_at >= retry_after
                and not patience.unread  # it read the key and kept the text
            ):
                logger.info("submit key seemingly lost in %s; pressing it once more", view.name)
                view.pane.press(profile.drive.submit_keys)
                pressed_again = True
            if expired:
                return None
            time.sleep(self.poll)

    # -- pending messages ---------------------------------------------------------------

    def deliver_pending(self, target: str) -> list[SendResult]:
        """Deliver the target's pending messages, oldest first, while it is ready."""
        done: list[SendResult] = []
        view = self._live_view(target)
        with target_lock(self.tmux.label, target, timeout=_LOCK_TIMEOUT_S):
            self._forget_ended(target, view.instance)
            self._recover_claims(target)
            while True:
                claimed = self.store.claim_pending(self.tmux.label, target)
                if claimed is None:
                    break
                attempt = self._attempt(claimed, view)
                attempt.message = self.store.get_message(claimed.id) or attempt.message
                done.append(attempt)
                if attempt.outcome is MessageState.PENDING:
                    break
        return done

    def targets_with_pending(self) -> list[str]:
        """Sessions of this server that have pending messages, in name order."""
        messages = self.store.list_messages(self.tmux.label, limit=None)
        return sorted({m.target for m in messages if m.state is MessageState.PENDING})

    # -- replies --------------------------------------------------------------------------

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
        the sender's inbox.
        """
        message = sent.message
        deadline = time.monotonic() + timeout_ms / 1000
        delims = self.delimiters(message.id)
        reply: str | None = None
        ended = ""
        try:
            for found in self._reply_polls(message, delims, deadline, stop):
                if found is not None:
                    reply = found
                    break
                if stop is not None and stop.is_set():
                    break
        except (NoSuchSession, NoTmuxServer) as gone:
            ended = f"it was delivered, then its session ended before it replied ({gone})"
        finally:
            self.store.set_waiting(message.id, False)
            record = self.store.get_message(message.id) or message
            if reply is None and record.reply is not None:
                reply = record.reply  # answered with `imessenger reply` in the last instant
            if reply is None:
                record = self.store.set_state(message.id, MessageState.TIMED_OUT)
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
    ) -> Iterator[str | None]:
        """Look for the reply until the deadline: one store read and one tmux call a look.

        The pane is read from a little above where it was at delivery, down to
        its bottom, whatever it printed meanwhile. Between looks it sleeps one
        poll, or until ``stop`` is set.
        """
        pane = AgentPane.of(self.tmux, message.target)
        agent_record = self.pinned_record(message.target)
        start = pane.info.history_size
        history = pane.info.height
        on_screen_since: float | None = None
        while True:
            record = self.store.get_message(message.id)
            if record is not None and record.reply is not None:
                yield record.reply
                return
            if agent_record is not None:
                exact = agent_record.reply(delims)
                if exact is not None:
                    yield self._record_found_reply(message.id, exact, "record")
                    return
            text, size = pane.look_growing(history)
            reply = find_reply(text, delims, envelope_anchor(self.template, message.id))
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
                    yield self._record_found_reply(message.id, reply, "screen")
                    return
            if now >= deadline:
                if reply is not None:  # better the screen's than none
                    yield self._record_found_reply(message.id, reply, "screen")
                return
            yield None
            # Everything printed since delivery, plus a screen's worth above it.
            history = max(0, size - start) + 2 * pane.info.height
            if stop is None:
                time.sleep(self.poll)
            else:
                stop.wait(self.poll)

    def pinned_record(self, target: str) -> PinnedRecord | None:
        """The record the agent of ``target`` keeps of its answers, when isesh pinned one."""
        session = self.store.get_session(self.tmux.label, target)
        if session is None or not session.record_kind:
            return None

        def current_ref() -> str:
            now = self.store.get_session(self.tmux.label, target)
            return now.record_ref if now is not None else ""

        return PinnedRecord(session.record_kind, current_ref)

    def _record_found_reply(self, message_id: str, reply: str, via: str) -> str:
        try:
            return self.store.record_reply(message_id, reply, via).reply or reply
        except AlreadyReplied:
            record = self.store.get_message(message_id)
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
            for m in self.store.list_messages(self.tmux.label, limit=500)
            if m.reply is None and not m.raw and not m.waiting and m.state in _ANSWERABLE
        ]
        if any(m.target_instance for m in late):
            running = {
                p.session: instance_of(p.session_id, p.session_created) for p in self.tmux.panes()
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
                record = self.store.record_reply(message.id, reply, via)
            except AlreadyReplied:
                continue
            self.store.add_for_sender(
                record,
                InboxKind.REPLY,
                f'reply from "{record.target}" to message {record.id}',
                reply,
            )
            found.append(record)
        return found


def reply_to(courier: Courier, message_id: str, text: str, access: Access) -> MessageRecord:
    """Record a reply given with ``imessenger reply``, by the session the message went to.

    Anyone else (another session, or the user unless it names itself as the target)
    is refused: a reply speaks in the target's name. So is a session started again
    under the target's name: the message was for the run that has ended. A sender that
    is no longer waiting finds the reply in its inbox (the person does, once the
    session that sent it has ended).
    """
    found = courier.store.get_message(message_id)
    if found is None:
        raise UnknownMessage(message_id, courier.store.path)
    access.require(Action.REPLY, found.target, always=True)
    caller = access.caller
    if caller.agent and caller.instance and found.target_instance not in ("", caller.instance):
        access.refuse(
            Action.REPLY,
            found.target,
            Refusal(
                "reply-to-own",
                f'this message was sent to an earlier session "{found.target}", which has '
                "ended; the one running now is another",
            ),
        )
    record = courier.store.record_reply(message_id, text, "command")
    if not record.waiting:
        courier.store.add_for_sender(
            record, InboxKind.REPLY, f'reply from "{record.target}" to message {record.id}', text
        )
    return record
