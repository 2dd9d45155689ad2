"""Answering agents' permission prompts: choose by meaning, press, confirm, record.

The rules, in the order :func:`answer` applies them:

1. The option is chosen by the meaning of its label on the screen (yes once, yes
   and don't ask again, no), never by its digit: "2" is "Yes, and don't ask
   again" in a three-option prompt but "No" in a two-option one.
2. Nothing is pressed unless the session is there, is asking, its screen reads
   with certainty (two reads, the second right before the key, show the same
   prompt: the same :meth:`Prompt.fingerprint`) and the prompt has exactly one
   option with the wanted meaning.
3. The key is the profile's (:meth:`Drive.keys_for`), pressed once. A key sent
   in the instant a prompt appears can be dropped, so the prompt must have been
   on the screen for a moment first (``SETTLE_S`` since this process first saw
   it, or no output at all from the pane for a second or more). It is never
   pressed a second time: from the screen, a key that was dropped looks the same
   as one a busy agent has not acted on yet, and a second key taken after the
   first would land in the input box. Afterwards the screen is read until the
   prompt has closed.
4. Every answer is recorded in the store, whether the prompt closed or not.
5. Once the prompt closed, messages that waited for the session are delivered,
   and what became of each one is reported (it may still wait, if the agent asks
   again before it is submitted).

One approver at a time per session (the lock that senders take too), so two
users answering one prompt at once press one key, not two.
"""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass, replace

from imessenger.access import Access, access_for
from imessenger.delivery import Courier, SendResult
from imessenger.errors import ImessengerError, NoSuchSession
from imessenger.locks import target_lock
from imessenger.names import is_valid_name
from imessenger.policy import Action
from imessenger.screen import Meaning, Option, Prompt, Screen, State
from imessenger.sessions import Sessions, SessionView
from imessenger.store import ApprovalRecord, Choice
from imessenger.tmux import Patience

logger = logging.getLogger(__name__)

#: How long to watch the screen for the prompt to close after the key, in seconds.
CONFIRM_S = 5.0
#: How long to keep watching while the agent has not even read the key (it is slow).
SLOW_S = 30.0
#: How long a prompt must have been on screen before its key is pressed, in seconds.
SETTLE_S = 0.25
#: A pane that printed nothing for this long (tmux counts whole seconds) shows an old
#: prompt, which needs no settling.
QUIET_S = 2.0
#: How often the screen is read while confirming, in seconds.
POLL_S = 0.015
#: How long to wait for another process that is sending to or answering the session.
LOCK_TIMEOUT_S = 30.0

#: The answer behind each CHOICE of ``imessenger approve``.
CHOICES: dict[str, Choice] = {"1": Choice.YES_ONCE, "2": Choice.YES_ALWAYS}

#: The meaning an option's label must have for each answer.
MEANINGS: dict[Choice, Meaning] = {
    Choice.YES_ONCE: Meaning.YES_ONCE,
    Choice.YES_ALWAYS: Meaning.YES_ALWAYS,
    Choice.NO: Meaning.NO,
}

_SAID = {
    Choice.YES_ONCE: "yes, this once",
    Choice.YES_ALWAYS: "yes, and don't ask again",
    Choice.NO: "no",
}


def describe(choice: Choice) -> str:
    """Return the answer in words ("yes, this once")."""
    return _SAID[choice]


def command_for(session: str, choice: Choice) -> str:
    """Return the imessenger command that gives this answer to a session (shell-quoted)."""
    if choice is Choice.NO:
        return shlex.join(["imessenger", "deny", session])
    digit = next(text for text, known in CHOICES.items() if known is choice)
    return shlex.join(["imessenger", "approve", session, digit])


# --- errors ----------------------------------------------------------------------------


class BadChoice(ImessengerError):
    """CHOICE is neither 1 nor 2 (a usage error)."""

    exit_code = 2

    def __init__(self, text: str) -> None:
        super().__init__(
            f'CHOICE must be 1 (yes, this once) or 2 (yes, and don\'t ask again), not "{text}"; '
            "to answer no, use `imessenger deny SESSION`"
        )


class ApprovalRefused(ImessengerError):
    """Nothing was pressed: the prompt could not be answered as asked."""

    def __init__(self, session: str, message: str) -> None:
        super().__init__(message)
        self.session = session


class NothingAsking(ApprovalRefused):
    def __init__(self, session: str, state: State) -> None:
        super().__init__(
            session,
            f'"{session}" is not asking for permission (its screen reads {state}); '
            "nothing was pressed. `imessenger inbox --waiting` lists the sessions that are asking",
        )
        self.state = state


class HookSaysAsking(ApprovalRefused):
    """The agent's own hook says it asks; its screen shows no prompt its profile can read.

    The screen wins for keys: nothing is pressed into a prompt that cannot be read.
    """

    def __init__(self, session: str, screen: str, hook: str) -> None:
        super().__init__(
            session,
            f'"{session}" shows no prompt that its profile can read ({screen}), though its '
            f"agent's hook says it asks about: {hook}. Nothing was pressed: look at it "
            f"(`isesh attach {session}`), and see `isesh explain {session}` to fix the profile",
        )


class SessionExited(ApprovalRefused):
    def __init__(self, session: str) -> None:
        super().__init__(
            session,
            f'session "{session}" has exited: nothing to answer, nothing was pressed. '
            f"Remove it with `isesh stop {session}`",
        )


class UnreadableScreen(ApprovalRefused):
    def __init__(self, session: str, why: str) -> None:
        super().__init__(
            session,
            f'cannot read the screen of "{session}" with certainty ({why}); nothing was pressed. '
            f"Look at it with `isesh attach {session}` and answer there",
        )


class NoSuchOption(ApprovalRefused):
    def __init__(self, session: str, choice: Choice, prompt: Prompt) -> None:
        listing = "; ".join(f"{o.key}. {o.label}" for o in prompt.options)
        others = [
            command_for(session, other)
            for other in (Choice.YES_ONCE, Choice.YES_ALWAYS, Choice.NO)
            if other is not choice and prompt.options_meaning(MEANINGS[other])
        ]
        hint = f"; you can use {' or '.join(f'`{c}`' for c in others)}" if others else ""
        super().__init__(
            session,
            f'the prompt in "{session}" has no option meaning "{describe(choice)}" '
            f"(its options: {listing}); nothing was pressed{hint}",
        )
        self.choice = choice


class PromptChanged(ApprovalRefused):
    def __init__(self, session: str) -> None:
        super().__init__(
            session,
            f'the screen of "{session}" changed while it was being read; nothing was pressed. '
            f"Look again with `imessenger inbox {session}`",
        )


class PromptStillOpen(ImessengerError):
    """The key was pressed but the prompt did not close; the answer is recorded as such."""

    def __init__(self, approval: Approval) -> None:
        keys = " ".join(approval.keys)
        super().__init__(
            f'pressed {keys} in "{approval.session}" but its prompt is still open after '
            f"{CONFIRM_S:g}s (recorded as not closed). Look at it with "
            f"`isesh attach {approval.session}`"
        )
        self.approval = approval


# --- pure choice ---------------------------------------------------------------------------


def parse_choice(text: str | None) -> Choice:
    """Return the answer that CHOICE ("1", "2" or None for "1") stands for; BadChoice else."""
    if text is None:
        return Choice.YES_ONCE
    choice = CHOICES.get(text.strip())
    if choice is None:
        raise BadChoice(text)
    return choice


def asked_prompt(session: str, screen: Screen) -> Prompt:
    """Return the prompt a session's screen is asking.

    Raises SessionExited, UnreadableScreen (state unknown) or NothingAsking.
    """
    if screen.state is State.EXITED:
        raise SessionExited(session)
    if screen.state is State.ASKING and screen.prompt is not None:
        return screen.prompt
    if screen.state is State.UNKNOWN:
        raise UnreadableScreen(session, "it shows none of its agent's markers")
    raise NothingAsking(session, screen.state)


def choose_option(prompt: Prompt, choice: Choice, *, session: str = "") -> Option:
    """Return the option of ``prompt`` whose label means ``choice``.

    Pure: reads the labels' meanings only, never the digits. Raises NoSuchOption
    when no option has that meaning and UnreadableScreen when more than one has
    it or two options share a key.
    """
    keys = [option.key for option in prompt.options]
    if len(set(keys)) != len(keys):
        raise UnreadableScreen(session, f"two options share a key: {', '.join(keys)}")
    found = prompt.options_meaning(MEANINGS[choice])
    if not found:
        raise NoSuchOption(session, choice, prompt)
    if len(found) > 1:
        listing = ", ".join(f'{o.key}. "{o.label}"' for o in found)
        raise UnreadableScreen(session, f'several options mean "{describe(choice)}": {listing}')
    return found[0]


def answers(session: str, prompt: Prompt) -> dict[str, Choice]:
    """Return, by option key, the answer ``approve``/``deny`` would give with that option."""
    found: dict[str, Choice] = {}
    for choice in (Choice.YES_ONCE, Choice.YES_ALWAYS, Choice.NO):
        try:
            found[choose_option(prompt, choice, session=session).key] = choice
        except ApprovalRefused:
            continue
    return found


# --- answering a live session -------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """One answer given to a session's prompt, and what came of it."""

    session: str
    agent: str
    choice: Choice
    prompt: Prompt
    option: Option
    keys: tuple[str, ...]
    closed: bool
    record: ApprovalRecord
    #: what became of each message that waited for the session: delivered, queued,
    #: unconfirmed, or still pending and why (see imessenger.delivery)
    delivered: tuple[SendResult, ...] = ()
    delivery_error: str | None = None


def asking(sessions: Sessions) -> list[SessionView]:
    """Return every session of the server (started by isesh or not) that shows a prompt.

    Sessions whose names are outside the alphabet are left out: they cannot be
    targeted safely (see imessenger.names).
    """
    return [
        view
        for view in sessions.views(include_all=True)
        if view.state is State.ASKING and is_valid_name(view.name)
    ]


def answer(
    sessions: Sessions,
    session: str,
    choice: Choice,
    *,
    access: Access | None = None,
    deliver: bool = True,
) -> Approval:
    """Answer the prompt of ``session`` with the option that means ``choice``.

    ``access`` is who answers and what the policy lets them do (default: whoever
    runs this process, found from its process tree). With ``deliver``, the
    session's pending messages are delivered once the prompt closed; an error
    there is reported in ``delivery_error``, not raised.

    Raises Refused (the policy), NoSuchSession and the :class:`ApprovalRefused`
    errors (nothing was pressed), and PromptStillOpen when the key was pressed but
    the prompt did not close (the answer is recorded either way).
    """
    tmux = sessions.tmux
    if access is None:
        access = access_for(tmux, sessions.store, sessions.config)
    access.require(Action.APPROVE, session)
    who = access.caller.name
    sessions.view(session)  # NoSuchSession before taking a lock for a name that is not there
    with target_lock(tmux.label, session, timeout=LOCK_TIMEOUT_S):
        view = sessions.view(session)
        first_seen = time.monotonic()
        prompt = asked_prompt(session, view.screen)
        profile = sessions.view_profile(view)
        option = choose_option(prompt, choice, session=session)
        keys = tuple(profile.drive.keys_for(option))
        last_output = view.pane.info.window_activity
        if not last_output or time.time() - last_output < QUIET_S:
            time.sleep(max(0.0, first_seen + SETTLE_S - time.monotonic()))
        view = sessions.view(session)  # right before the key: never act on a stale read
        try:
            again = asked_prompt(session, view.screen)
        except ApprovalRefused:
            raise PromptChanged(session) from None
        if prompt.fingerprint() != again.fingerprint():
            raise PromptChanged(session)
        logger.info("answering %s in %s: option %s (%s)", prompt.question, session, keys, choice)
        view.pane.press(keys)
        closed = _closed(sessions, view, again)
        record = sessions.store.add_approval(
            actor=who,
            server=tmux.label,
            session=session,
            prompt=again.text,
            subject=again.subject,
            choice=choice,
            option_label=option.label,
            key=" ".join(keys),
            closed=closed,
        )
    approval = Approval(
        session=session,
        agent=view.agent,
        choice=choice,
        prompt=again,
        option=option,
        keys=keys,
        closed=closed,
        record=record,
    )
    if not closed:
        raise PromptStillOpen(approval)
    if deliver:
        approval = _deliver_waiting(sessions, approval)
    return approval


def _closed(sessions: Sessions, view: SessionView, prompt: Prompt) -> bool:
    """Watch the screen until the prompt closed (True), or CONFIRM_S passed (False).

    CONFIRM_S counts from when the agent read the key: while the key waits unread
    in its terminal (the agent is busy or short of CPU), approve keeps watching, up to
    SLOW_S in all.
    """
    patience = Patience(view.pane, CONFIRM_S, SLOW_S)  # the pane the key went to
    gone = 0  # reads in a row without the prompt
    while not patience.expired():
        time.sleep(POLL_S)
        try:
            view = sessions.view(view.name)
        except NoSuchSession:
            return True
        screen = view.screen
        if screen.state is State.EXITED:
            return True
        showing = (
            screen.state is State.ASKING
            and screen.prompt is not None
            and screen.prompt.fingerprint() == prompt.fingerprint()
        )
        gone = 0 if showing else gone + 1
        if gone >= 2:  # two reads, so a screen caught mid-redraw does not count
            return True
    return False


def _deliver_waiting(sessions: Sessions, approval: Approval) -> Approval:
    """Deliver the session's pending messages, now that its prompt closed."""
    if not sessions.store.pending_messages(sessions.tmux.label, approval.session):
        return approval
    try:
        done = Courier(sessions).deliver_pending(approval.session)
    except ImessengerError as error:
        logger.warning("delivering to %s after an approval: %s", approval.session, error)
        return replace(approval, delivery_error=str(error))
    return replace(approval, delivered=tuple(done))
