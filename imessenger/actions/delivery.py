"""Delivering messages into agent panes: the paste, the guarded submit key, pending messages.

The rules, in the order :meth:`Courier.send` applies them:

1. One sender at a time per target, across processes (:func:`target_lock`);
   older pending messages for the target go first, each once. ``--timeout``
   bounds the whole call: the wait for the lock, for the agent to be ready, to
   show and take the paste, and for the reply.
2. Never paste into a pane that shows a permission prompt (the paste would be
   dropped and the submit key would answer the prompt), nor into an input
   box that holds someone's half-typed text, nor into an agent in the middle of
   a turn: it may open a prompt at any moment, also between the last look and
   the key, which nothing outside it can see (``send.queue_while_busy`` lets an
   agent that queues messages take them while busy, and accepts that window).
   The message stays *pending* and is delivered when the target is ready again.
3. Paste as a bracketed paste through a tmux buffer, the store told first that
   the paste begins. Then press the submit key only once the input box shows
   the text, and only while tmux still shows that box as it was read, in the
   same tmux command (:meth:`AgentPane.press_if_showing`): a prompt that opened
   between the paste and the key is left untouched, and the message stays
   pending in the box, to be submitted from there (or pasted again once the box
   shows it gone and nothing shows it taken). Then confirm from the screen that
   the agent took it (:class:`Submission`): it went busy or asked for
   permission, or it queued the message, or its input box shows empty with the
   message's id above it on two looks in a row. If the input box still holds
   the text a while after the key (agents drop an Enter in their first moments,
   and Gemini CLI takes one that comes right after a paste for a new line),
   press the key once more, guarded the same way: never more than once.
4. A message whose sender died while delivering it is settled from what lasts
   (:meth:`Courier._recover_claims`): the store says whether its paste began,
   the agent's own record or hook whether it took it; the screen can only add
   that it did. What cannot be known is marked unconfirmed, never pasted again.
   A store that fails after the paste is never "nothing was sent": the result
   is NOT_RECORDED, the message was pasted.
5. Wait for the reply, through the courier's :class:`Replies` (its rules are in
   imessenger.actions.replies): recorded by ``imessenger reply``, or written between
   the delimiters, read from the agent's record or its screen.

A message that could not be delivered when it was sent waits as *pending*:
:meth:`Courier.deliver_pending` delivers it under the same rules (the watcher calls it
once its target is ready, and so do ``imessenger deliver`` and an answered prompt).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable

from imessenger.actions.replies import Replies
from imessenger.actions.sessions import Sessions, SessionView
from imessenger.adapters.locks import target_lock
from imessenger.adapters.tmux import Patience
from imessenger.core.agent_setup import reply_command
from imessenger.core.envelope import (
    envelope_anchor,
    neutralise,
    neutralise_shapes,
    new_message_id,
    render_envelope,
    shapes,
)
from imessenger.core.errors import (
    ImessengerError,
    NoSuchSession,
    NoTmuxServer,
    PaneInMode,
    StoreError,
    TargetExited,
    UsageError,
)
from imessenger.core.profiles import Profile
from imessenger.core.screen import Screen, State
from imessenger.core.values import (
    InboxKind,
    MessageRecord,
    MessageState,
    NotDelivered,
    SendResult,
)

logger = logging.getLogger(__name__)

#: How long to wait for the per-target lock held by other senders.
_LOCK_TIMEOUT_S = 120.0
#: The pause after the first look of the submit loop, growing by as much at each look
#: up to ``send.poll_ms``, in seconds.
_FIRST_LOOKS_S = 0.002
#: How long after a first look that shows text in the input box to look again.
_SECOND_LOOK_S = 0.1
#: An agent seen busy is taken to be idle when two reads this far apart (seconds) say so.
_TURN_OVER_S = 0.15
#: How old a claim whose sender stopped must be before a screen without its message
#: counts as "never pasted": an agent may have read the paste and not drawn it yet
#: (running a hook of its own first, or short of CPU).
_CLAIM_SETTLE_S = 3.0
#: How often the record and hooks are read for a message hidden behind a prompt.
_EVIDENCE_EVERY_S = 0.2


#: What :meth:`Courier._pasted_before` says of a message that its agent took already.
_TAKEN = "taken"


class _Unsubmitted(enum.Enum):
    """Why :meth:`Courier._submit` ended without a sure outcome."""

    PROMPT = "a permission prompt opened before the key"  # nothing pressed
    UNREAD = "the agent has not read the paste yet"  # nothing pressed
    NOT_SHOWN = "the input box never showed the paste"  # nothing pressed
    UNCONFIRMED = "the key went in, nothing showed that it was taken"


def _left(deadline: float) -> float:
    """Seconds left until ``deadline`` (monotonic), never below zero."""
    return max(0.0, deadline - time.monotonic())


def _ms_left(deadline: float) -> int:
    return int(_left(deadline) * 1000)


def _lock_wait(deadline: float) -> float:
    """How long to wait for the target's lock: as usual, but never past the deadline."""
    return min(_LOCK_TIMEOUT_S, _left(deadline))


def _above_input(text: str, screen: Screen, height: int) -> str:
    """``text`` (a look with scrollback) without the input box and what is below it.

    The screen was read from the last ``height`` lines of ``text``; its input box rows
    count from there.
    """
    if screen.input_rows is None:
        return text
    lines = text.split("\n")
    top = max(0, len(lines) - height)
    return "\n".join(lines[: top + screen.input_rows[0]])


def _rows(screen: Screen) -> range:
    """The rows of the input box a screen shows (none when it shows no box)."""
    if screen.input_rows is None:
        return range(0)
    first, last = screen.input_rows
    return range(first, last + 1)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


class Submission:
    """What the looks after the submit key say about whether the agent took the message.

    ``before`` is the screen the key was pressed on (its input box holding the text).
    Evidence, strongest first: the agent shows a longer queue than before; it went busy or
    started asking for permission (it was idle before the key); or its input box is
    on screen and empty while the message's id shows above it, on two looks in a row.
    A single look can catch the agent halfway through redrawing (the box not drawn
    yet, the pasted text drawn), so a screen without a readable input box is never
    taken for an emptied one. A raw message has no id to look for: its box must have
    been seen holding text.
    """

    def __init__(self, before: Screen, marker: str | None) -> None:
        self.before = before
        self.marker = marker
        self.typed_seen = bool(before.input_text)
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
    """Delivers messages to the sessions of one tmux server; its :class:`Replies` waits
    for their replies."""

    def __init__(
        self, sessions: Sessions, shows_prompt: Callable[[str], bool] | None = None
    ) -> None:
        """``shows_prompt`` says whether the sender may see what a session asks (the
        readers grant): why a message waits names the prompt's subject only then."""
        self.sessions = sessions
        #: what waits for a reply once a message is delivered, and reads the agents' records
        self.replies = Replies(sessions)
        self.shows_prompt = shows_prompt or (lambda _: True)
        self.tmux = sessions.tmux
        self.store = sessions.store
        self.settings = sessions.config.settings
        self.poll = self.settings.send.poll_s
        self.template = self.settings.protocol.envelope
        self._shapes = shapes(
            self.settings.protocol.reply_start, self.settings.protocol.reply_end, self.template
        )
        #: the messages this process began to paste: a store failure after that is no
        #: "nothing was sent"
        self._pasted: set[str] = set()

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
        ``timeout_ms`` (default: the ``send.timeout_ms`` setting) bounds the whole call:
        waiting for other senders, for the agent to become ready, to show the paste and
        to take it, and for the reply. ``stop``, set from another thread, ends the wait
        for the reply as Ctrl-C does (see :meth:`Replies.wait_for_reply`); a delivery
        under way is finished first. Raises NoSuchSession / TargetExited when the target
        is not there to take it.
        """
        if sender == target:
            raise UsageError(
                f'"{target}" cannot send a message to itself: it would wait for its own reply'
            )
        started = time.monotonic()
        timeout = timeout_ms if timeout_ms is not None else self.settings.send.timeout_ms
        deadline = started + timeout / 1000
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
                deadline=deadline,
                stop=stop,
                started=started,
            )
        except KeyboardInterrupt:
            if wait and not raw:
                self._no_longer_waited(message_id)
            raise
        except StoreError as error:
            if message_id not in self._pasted:
                raise  # nothing of it reached the pane: exit 1 says so
            # It reached the pane: say so, never "nothing was sent" (exit 4).
            logger.warning("message %s was pasted, but: %s", message_id, error)
            return self._unrecorded(message_id, body, target, sender, raw, error, started)

    def _unrecorded(
        self,
        message_id: str,
        body: str,
        target: str,
        sender: str,
        raw: bool,
        error: StoreError,
        started: float,
    ) -> SendResult:
        """What is known of a message pasted before the store failed: its id and text."""
        message = MessageRecord.unrecorded(
            id=message_id,
            server=self.tmux.label,
            sender=sender,
            target=target,
            body=body,
            raw=raw,
            state=MessageState.DELIVERING,
            created_at=time.time(),
            error=str(error),
        )
        why = (
            f'it was pasted into "{target}", but the store failed ({error}); it is not '
            f"pasted again: look at the pane (`isesh attach {target}`)"
        )
        timings = {"total_ms": _ms(started)}
        return SendResult(message, MessageState.NOT_RECORDED, why, timings=timings)

    def _no_longer_waited(self, message_id: str) -> None:
        """After Ctrl-C: a message already delivered is no longer waited for (timed out).

        The wait's own guard covers most of it; this covers an interruption that
        comes between the delivery and the wait, which would leave "delivered"
        with nobody waiting. A message not yet pasted, or pasted in part, is left
        for the claim recovery to settle.
        """
        with contextlib.suppress(ImessengerError):  # the store may be what failed
            record = self.store.messages.get(message_id)
            if record is not None and record.state in (MessageState.DELIVERED, MessageState.QUEUED):
                self.store.messages.set_waiting(message_id, False)
                self.store.messages.set_state(message_id, MessageState.TIMED_OUT)

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
        deadline: float,
        stop: threading.Event | None,
        started: float,
    ) -> SendResult:
        target, instance = view.name, view.instance
        with target_lock(
            self.store.path.parent, self.tmux.label, target, timeout=_lock_wait(deadline)
        ):
            # Recorded under the lock: every pending message older than this one was
            # left by a sender that has finished, so it is ours to deliver first.
            message = self.store.messages.add(
                message_id,
                sender,
                target,
                neutralise(body) if raw else self.clean_body(body),
                raw=raw,
                waiting=wait and not raw,
                target_instance=instance,
                sender_instance=sender_instance,
            )
            self._forget_ended(target, instance)
            self._recover_claims(target, deadline)
            sent = SendResult(
                message, MessageState.PENDING, "older messages to this session wait first"
            )
            while True:
                claimed = self.store.messages.claim_pending(target)
                if claimed is None:
                    break
                done = self._attempt(claimed, view, deadline)
                if claimed.id == message.id:
                    sent = done
                    break
                if done.outcome is MessageState.PENDING:
                    sent.why = f"{done.why}; older messages wait first"
                    break
        sent.timings["deliver_ms"] = _ms(started)
        if sent.outcome is MessageState.NOT_RECORDED:
            return sent
        sent.message = self.store.messages.get(message.id) or sent.message
        if sent.outcome is MessageState.PENDING:
            self.store.messages.set_waiting(message.id, False)
            self._note_pending(sent.message, sent.why)
            return sent
        if sent.outcome is MessageState.FAILED:
            self.store.messages.set_waiting(message.id, False)
            raise NotDelivered(
                f'message {message.id} was not delivered to "{target}": {sent.why}', sent
            )
        if sent.outcome is MessageState.UNCONFIRMED:
            self.store.messages.set_waiting(message.id, False)
            return sent
        if not wait or raw:
            return sent
        return self.replies.wait_for_reply(sent, _ms_left(deadline), started, stop=stop)

    def _live_view(self, target: str) -> SessionView:
        view = self.sessions.view(target, capture=False)
        if view.state is State.EXITED:
            raise TargetExited(target, [v for v in self.tmux.session_names() if v != target])
        return view

    def _note_pending(self, message: MessageRecord, why: str) -> None:
        self.store.inbox.add_for_sender(
            message,
            InboxKind.PENDING,
            f'message {message.id} to "{message.target}" is pending',
            f"{why}. It will be delivered when the session is ready "
            f"(`imessenger deliver {message.target}`).",
        )

    def _forget_ended(self, target: str, instance: str) -> None:
        """Cancel what waits for an earlier session of this name: it is not this one's."""
        self.store.messages.cancel_undelivered(
            target,
            f'the session "{target}" it was for has ended; the one running now is another',
            keep_instance=instance,
        )

    # -- evidence that lasts --------------------------------------------------------------

    def _taken(self, message: MessageRecord, shown: str) -> str:
        """Where there is evidence that the agent took ``message`` ("" when none).

        Strongest first: the agent's own record holds it (it writes each message it
        takes), its hook reported taking it (the head of the message is kept with the
        event), or its screen shows the message's id above the input box (``shown``:
        the screen and its scrollback, the input box's text left out).
        """
        anchor = envelope_anchor(self.template, message.id)
        if not anchor or message.raw:
            return ""
        record = self.replies.pinned_record(message.target)
        if record is not None and record.mentions(anchor):
            return "its record"
        since = message.claimed_at or message.created_at
        for event in self.store.hook_events.recent(message.target, limit=50):
            if event.at >= since - 1 and anchor in event.detail:
                return "its hook"
        if message.id in shown:
            return "its screen"
        return ""

    def _recover_claims(self, target: str, deadline: float) -> None:
        """Settle the messages whose sender stopped while it delivered them.

        Under the target's lock, a message still "delivering" has no sender any more.
        The store says whether its paste ever began: one whose paste never began goes
        back to pending. For one that may have been pasted, evidence that lasts
        decides (:meth:`_taken`): taken is delivered; its id in the input box means
        pasted and not submitted, and it is submitted from there (:meth:`_attempt`);
        an empty box and no key ever pressed for it (the store says so) mean it was
        not taken, and it goes back to pending; with no evidence either way it is
        marked unconfirmed and never pasted again on its own. A raw message has no
        id to find: it is marked unconfirmed too.
        The screen is read once the youngest claim is ``_CLAIM_SETTLE_S`` old and the
        agent has read all its input: an agent that read a paste may take a while to
        show it. When the deadline leaves no time for that, the claims wait for the
        next delivery.
        """
        stuck = self.store.messages.in_state(target, MessageState.DELIVERING)
        if not stuck:
            return
        unpasted = [message for message in stuck if message.pasted_at is None]
        for message in unpasted:
            self.store.messages.release_claim(message.id)  # never pasted: nothing to settle
        stuck = [message for message in stuck if message.pasted_at is not None]
        if not stuck:
            return
        youngest = max(message.pasted_at or 0.0 for message in stuck)
        settle = max(0.0, min(youngest + _CLAIM_SETTLE_S - time.time(), _CLAIM_SETTLE_S))
        if time.monotonic() + settle >= deadline:
            logger.info("claims on %s left for the next delivery: no time to settle them", target)
            return
        time.sleep(settle)
        view = self.sessions.view(target, capture=False)
        if view.pane.unread_input():
            # it has not read everything yet: settle it at the next delivery
            logger.info("claims on %s left for the next delivery: input unread", target)
            return
        view, shown = self.sessions.look(view, history=5000)
        typed = view.screen.input_text or ""
        above = _above_input(shown, view.screen, view.pane.info.height)
        for message in stuck:
            where = self._taken(message, above)
            if where:
                logger.info("message %s was taken, says %s", message.id, where)
                self.store.messages.mark_delivered(message.id)
            elif not message.raw and message.id in typed:
                self.store.messages.release_claim(message.id)  # in the box: submitted from there
            elif message.submitted_at is None and not typed and not message.raw:
                # No key was ever pressed for it, and the box is empty: its paste never
                # arrived (the sender died first) or a prompt dropped it. It was not taken.
                self.store.messages.release_claim(message.id)
            else:
                self.store.messages.set_state(
                    message.id,
                    MessageState.UNCONFIRMED,
                    error=(
                        "its sender stopped while delivering it, and nothing shows whether "
                        f'"{target}" took it; it is not pasted again: look at the pane '
                        f"(`isesh attach {target}`) and send it again if it is missing"
                    ),
                )

    # -- one attempt, under the target's lock ---------------------------------------

    def _attempt(
        self,
        message: MessageRecord,
        view: SessionView,
        deadline: float,
        busy_wait_s: float | None = None,
    ) -> SendResult:
        """Deliver one claimed message now, or put it back as pending; record the outcome.

        A message pasted before (a prompt opened before it was submitted) is not pasted
        again while its input box may still hold it: it is submitted from the box that
        shows its id, and pasted again only into an empty box of an agent that has read
        all its input and shows no sign of having taken it.
        """
        profile = self.sessions.view_profile(view)
        try:
            view, shown = self.sessions.look(view, history=5000 if message.pasted_at else 0)
            view = self._wait_until_ready(view, profile, deadline, busy_wait_s)
            held = self._held(message, view)
            refusal = "" if held else self._refusal(view, profile)
            if refusal and view.screen.input_text:
                # Text in the input box must still be there a moment later: while an
                # agent redraws its spinner, its echo of the last message can pass
                # for typed text (seen with Aider).
                time.sleep(_SECOND_LOOK_S)
                view, shown = self.sessions.look(view, history=5000 if message.pasted_at else 0)
                view = self._wait_until_ready(view, profile, deadline, busy_wait_s)
                held = self._held(message, view)
                refusal = "" if held else self._refusal(view, profile)
            if not refusal and not held and message.pasted_at is not None:
                refusal = self._pasted_before(message, view, shown)
        except NoSuchSession:
            self.store.messages.mark_failed(message.id, "the session went away")
            raise
        except BaseException:
            self.store.messages.release_claim(message.id)  # nothing was pasted
            raise
        if refusal:
            if refusal == _TAKEN:
                record = self.store.messages.mark_delivered(message.id)
                return SendResult(record, MessageState.DELIVERED, "taken before")
            self.store.messages.release_claim(message.id)
            return SendResult(message, MessageState.PENDING, refusal)
        began = time.monotonic()
        if not held:
            message = self.store.messages.mark_pasting(message.id)
            self._pasted.add(message.id)
            guarded = bool(profile.grammar.input_patterns)
            if not guarded:
                self.store.messages.mark_submitting(message.id)  # the key goes with the paste
            try:
                view.pane.paste(
                    self._text(message),
                    () if guarded else profile.drive.submit_keys,
                    brackets=profile.drive.bracket_pastes,
                )
            except PaneInMode:
                # tmux itself found the pane in copy mode and pasted nothing
                self._pasted.discard(message.id)
                self.store.messages.release_claim(message.id)
                return SendResult(
                    message,
                    MessageState.PENDING,
                    f'"{view.name}" is in copy mode (someone scrolled back)',
                )
            except (NoSuchSession, NoTmuxServer):
                self.store.messages.mark_failed(
                    message.id, "the session went away before the paste"
                )
                raise
            if not guarded:
                # A plain program: no input box to watch; the paste and the key went in.
                return self._record(SendResult(message, MessageState.DELIVERED))
        # Pasted. From here on nothing pastes it again on a guess: any interruption
        # (Ctrl-C, a killed process) leaves it "delivering", for the next delivery to
        # settle from what lasts, and every other outcome is recorded as what is known.
        self._pasted.add(message.id)
        timings = {"paste_ms": _ms(began)}
        try:
            outcome = self._submit(message, view, profile, deadline)
        except (NoSuchSession, NoTmuxServer) as gone:
            why = f"pasted, then the session went away before it showed it took it ({gone})"
            return self._record(SendResult(message, MessageState.UNCONFIRMED, why, timings=timings))
        timings["confirm_ms"] = _ms(began)
        if isinstance(outcome, MessageState):
            return self._record(SendResult(message, outcome, timings=timings))
        if outcome is _Unsubmitted.PROMPT or outcome is _Unsubmitted.UNREAD:
            why = (
                f'a permission prompt opened in "{view.name}" before the message was '
                "submitted; nothing was pressed, and the prompt was left as it was"
                if outcome is _Unsubmitted.PROMPT
                else f'"{view.name}" has not read the paste yet (it is slow or hung); it is '
                "submitted once its input box shows it"
            )
            try:
                self.store.messages.release_claim(message.id)
            except StoreError as error:
                return self._not_recorded(message, error, timings)
            return SendResult(message, MessageState.PENDING, why, timings=timings)
        why = (
            "pasted, but the agent never showed it in its input box, so it was not submitted"
            if outcome is _Unsubmitted.NOT_SHOWN
            else "pasted and submitted, but the agent never showed that it took it"
        )
        why += f"; it is not pasted again: look at the pane (`isesh attach {view.name}`)"
        return self._record(SendResult(message, MessageState.UNCONFIRMED, why, timings=timings))

    def _text(self, message: MessageRecord) -> str:
        return message.body if message.raw else self._envelope(message)

    @staticmethod
    def _held(message: MessageRecord, view: SessionView) -> bool:
        """The input box holds this message, pasted before and never submitted."""
        typed = view.screen.input_text or ""
        return (
            message.pasted_at is not None
            and not message.raw
            and message.id in typed
            and view.screen.state in (State.IDLE, State.BUSY)
            and not view.pane.in_mode
        )

    def _pasted_before(self, message: MessageRecord, view: SessionView, shown: str) -> str:
        """Whether a message pasted before, not in the input box now, may be pasted again.

        "" when it may: the box is empty, the agent has read all its input and nothing
        shows that it took the message. _TAKEN when something does; else why not yet.
        """
        if self._taken(message, _above_input(shown, view.screen, view.pane.info.height)):
            return _TAKEN
        if view.pane.unread_input():
            return f'"{view.name}" has not read its input yet (it is slow or hung)'
        return ""

    def _not_recorded(
        self, message: MessageRecord, error: StoreError, timings: dict[str, float]
    ) -> SendResult:
        logger.warning("message %s was pasted, but: %s", message.id, error)
        why = f"pasted, but the store could not record what became of it ({error})"
        return SendResult(message, MessageState.NOT_RECORDED, why, timings=timings)

    def _record(self, sent: SendResult) -> SendResult:
        """Record what became of a pasted message; NOT_RECORDED when the store cannot."""
        message_id = sent.message.id
        try:
            if sent.outcome in (MessageState.DELIVERED, MessageState.QUEUED):
                sent.message = self.store.messages.mark_delivered(message_id, sent.outcome)
            else:
                sent.message = self.store.messages.set_state(
                    message_id, MessageState.UNCONFIRMED, error=sent.why
                )
        except StoreError as error:
            logger.warning("message %s was pasted, but: %s", message_id, error)
            seen = "and the agent took it" if sent.outcome is not MessageState.UNCONFIRMED else ""
            why = f"pasted {seen}, but the store could not record it ({error})".replace("  ", " ")
            return SendResult(sent.message, MessageState.NOT_RECORDED, why, timings=sent.timings)
        return sent

    def _takes_while_busy(self, profile: Profile) -> bool:
        """Whether a message goes to this agent while it is busy (see rule 2 above)."""
        return self.settings.send.queue_while_busy and profile.drive.queues_when_busy

    def _wait_until_ready(
        self, view: SessionView, profile: Profile, deadline: float, busy_wait_s: float | None
    ) -> SessionView:
        """Wait while a just-started agent draws its first screen, up to ``ready_timeout``
        or the deadline, and while it is busy, up to ``busy_wait_s`` (None: as long)."""
        now = time.monotonic()
        until = min(now + self.settings.send.ready_timeout_s, deadline)
        busy_until = until if busy_wait_s is None else min(until, now + busy_wait_s)
        seen_busy = False
        while True:
            state = view.state
            if state is State.EXITED:
                raise TargetExited(view.name, self.tmux.session_names())
            busy = state is State.BUSY and not self._takes_while_busy(profile)
            seen_busy |= busy
            if not busy and state not in (State.STARTING, State.UNKNOWN):
                if not seen_busy:
                    return view
                # Its turn seems over: an agent redrawing mid-turn can show an idle frame
                # for a moment, so the idle screen must still be there a moment later.
                time.sleep(_TURN_OVER_S)
                again = self.sessions.view(view.name)
                if again.state is state or time.monotonic() >= until:
                    return again
                view = again
                continue
            if time.monotonic() >= (busy_until if busy else until):
                return view
            time.sleep(self.poll)
            view = self.sessions.view(view.name)  # also notices a pane that died meanwhile

    def _refusal(self, view: SessionView, profile: Profile) -> str:
        """Why the message must not be pasted now ("" when it may be)."""
        if view.pane.in_mode:
            return f'"{view.name}" is in copy mode (someone scrolled back in its pane)'
        screen = view.screen
        if screen.state is State.ASKING:
            subject = screen.prompt.subject if screen.prompt else ""
            about = f" ({subject})" if subject and self.shows_prompt(view.name) else ""
            return f'"{view.name}" is waiting at a permission prompt{about}'
        if screen.state is State.BUSY and not self._takes_while_busy(profile):
            return f'"{view.name}" is busy (in the middle of a turn)'
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
            delims=self.replies.delimiters(message.id),
            reply=reply_command(),
        )

    def _submit(
        self, message: MessageRecord, view: SessionView, profile: Profile, deadline: float
    ) -> MessageState | _Unsubmitted:
        """Press the submit key once the input box holds the message; watch until it is taken.

        Before the key: each look reads the visible screen; once the input box holds
        text and no prompt shows, the key is pressed only while tmux still shows that
        box as it was read (:meth:`AgentPane.press_if_showing`); a prompt that opened
        meanwhile is left untouched (PROMPT). After it, :class:`Submission` reads the
        evidence. The wait counts from when the agent read its input (Patience); past
        the deadline, an agent that has not read its input is waited for no longer.
        NOT_SHOWN or UNREAD when the box never showed the text (UNREAD: the agent has
        not read it yet), UNCONFIRMED when the key went in but nothing showed that the
        message was taken.
        """
        confirm_s = self.settings.send.submit_confirm_s
        retry_after = self.settings.send.submit_retry_s
        # confirm_s counts from when the agent read the paste (see adapters.tmux.patience)
        patience = Patience(
            view.pane, confirm_s, max(confirm_s, self.settings.send.ready_timeout_s)
        )
        history = min(5000, message.body.count("\n") + 2 * view.pane.info.height + 10)
        watch: Submission | None = None
        pressed_again = False
        #: when the box was seen holding the text after the key: the agent had the paste
        shown_at: float | None = None
        next_evidence = 0.0
        looks = 0
        while True:
            if watch is None:
                view, text = self.sessions.look(view)  # the visible screen: rows as tmux's
                screen = view.screen
                if screen.state is State.ASKING:
                    return _Unsubmitted.PROMPT
                if self._ready_to_submit(screen) and self._press(message, view, text, screen):
                    watch = Submission(screen, None if message.raw else message.id)
                    patience = Patience(view.pane, confirm_s, max(confirm_s, _left(deadline)))
                    continue
            else:
                view, text = self.sessions.look(view, history=history)
                screen = view.screen
                outcome = watch.look(screen, text)
                if outcome is not None:
                    return outcome
                if screen.state is State.ASKING and time.monotonic() >= next_evidence:
                    # A prompt of the turn that was running covers the queue: what lasts
                    # may still say that the message was taken.
                    next_evidence = time.monotonic() + _EVIDENCE_EVERY_S
                    if self._taken(message, text):
                        return MessageState.QUEUED
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
                    pressed_again = self._press_again(message, view)
            # Past the deadline, an agent that has not read its input is not waited for
            # (it is hung); one that has is given its usual moment to show what it did.
            expired = patience.expired() or (time.monotonic() >= deadline and bool(patience.unread))
            if expired:
                if watch is not None:
                    return _Unsubmitted.UNCONFIRMED
                return _Unsubmitted.UNREAD if patience.unread else _Unsubmitted.NOT_SHOWN
            # An agent shows a paste or a key within milliseconds: look again soon,
            # then every poll (a look is one tmux call).
            looks += 1
            time.sleep(min(self.poll, _FIRST_LOOKS_S * looks))

    @staticmethod
    def _ready_to_submit(screen: Screen) -> bool:
        """The input box holds text (the paste: it was empty before) and no prompt shows."""
        return (
            bool(screen.input_text)
            and screen.input_rows is not None
            and screen.state in (State.IDLE, State.BUSY)
        )

    def _press(self, message: MessageRecord, view: SessionView, text: str, screen: Screen) -> bool:
        """Press the submit key while tmux still shows the box ``screen`` read; True if done.

        The store hears of the key before it is pressed (and again if the screen refused
        it), so that a sender killed in between is settled without pasting it again.
        """
        self.store.messages.mark_submitting(message.id)
        keys = self.sessions.view_profile(view).drive.submit_keys
        if view.pane.press_if_showing(keys, text.split("\n"), _rows(screen)):
            return True
        self.store.messages.mark_submitting(message.id, pressing=False)
        return False

    def _press_again(self, message: MessageRecord, view: SessionView) -> bool:
        """Press the submit key a second time, if the box still shows the text; True if done."""
        view, text = self.sessions.look(view)
        if not self._ready_to_submit(view.screen):
            return False
        return self._press(message, view, text, view.screen)

    # -- pending messages ---------------------------------------------------------------

    def deliver_pending(
        self, target: str, *, timeout_ms: int | None = None, busy_wait_s: float | None = None
    ) -> list[SendResult]:
        """Deliver the target's pending messages, oldest first, while it is ready.

        Each result says what became of one message: delivered, queued, unconfirmed, or
        still pending and why (a delivery stops at the first one that must wait).
        ``busy_wait_s`` bounds the wait for a busy agent to end its turn (None: as long
        as for one that starts; 0: leave the messages of a busy agent to the watcher).
        """
        done: list[SendResult] = []
        timeout = timeout_ms if timeout_ms is not None else self.settings.send.timeout_ms
        deadline = time.monotonic() + timeout / 1000
        view = self._live_view(target)
        with target_lock(
            self.store.path.parent, self.tmux.label, target, timeout=_lock_wait(deadline)
        ):
            self._forget_ended(target, view.instance)
            self._recover_claims(target, deadline)
            while True:
                claimed = self.store.messages.claim_pending(target)
                if claimed is None:
                    break
                attempt = self._attempt(claimed, view, deadline, busy_wait_s)
                if attempt.outcome is not MessageState.NOT_RECORDED:
                    attempt.message = self.store.messages.get(claimed.id) or attempt.message
                done.append(attempt)
                if attempt.outcome is MessageState.PENDING:
                    break
        return done

    def targets_with_pending(self) -> list[str]:
        """Sessions of this server that have pending messages, in name order."""
        messages = self.store.messages.latest(limit=None)
        return sorted({m.target for m in messages if m.state is MessageState.PENDING})
