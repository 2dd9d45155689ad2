"""Answering agents' permission prompts: choose by meaning, press, confirm, record.

Each prompt is known by its occurrence (:class:`~imessenger.core.values.PromptRecord`): every
reader of a screen (approve, the inbox, the menu, the dashboard, the watcher) that sees
a prompt finds the open occurrence of that session with the same
:meth:`Prompt.fingerprint`, or records a new one with a new id (:func:`observe`). It is
closed when it is seen gone (two reads, as below), so a later prompt that reads the
same gets another id. An answer is for one occurrence: the one whose id the approver
was shown (``approve --prompt ID``, the menu, the dashboard, the MCP tools), else the
one on screen when the command started.

The rules, in the order :func:`answer` applies them:

1. The option is chosen by the meaning of its label on the screen (yes once, yes
   and don't ask again, no), never by its digit: "2" is "Yes, and don't ask
   again" in a three-option prompt but "No" in a two-option one.
2. Nothing is pressed unless the session is there, is asking, shows the prompt the
   answer is for, not answered yet (else :class:`PromptAnswered`, exit 6, or
   :class:`OtherPrompt`, :class:`PromptClosed`), its screen reads with certainty (two
   reads, the second right before the key, show the same prompt: the same
   :meth:`Prompt.fingerprint`) and the prompt has exactly one option with the wanted
   meaning.
   A prompt that opens right after the answer only to confirm it (OpenCode's "Always
   allow" after "Allow always": its question pattern's group "confirm") is answered in
   the same go, with the option of the same meaning and the same care (:func:`_confirm`).
3. The occurrence is claimed in the store (:meth:`PromptTable.claim
   <imessenger.adapters.store.prompts.PromptTable.claim>`), then the key is pressed: of
   two approvers, one claims it, the other is told who answered it and how.
4. The key is the profile's (:meth:`Drive.keys_for`), pressed once, and not at all
   while the pane is in a tmux mode (copy mode, a command's output shown over it),
   where it would go to the mode (tmux checks that in the same invocation). A key sent
   in the instant a prompt appears can be dropped, so the prompt must have been
   on the screen for a moment first (``SETTLE_S`` since this process first saw
   it, or no output at all from the pane for a second or more). It is never
   pressed a second time: from the screen, a key that was dropped looks the same
   as one a busy agent has not acted on yet, and a second key taken after the
   first would land in the input box. Afterwards the screen is read until the
   prompt has closed; the occurrence is then closed.
5. Every answer is recorded in the store, whether the prompt closed or not.
6. Once the prompt closed, messages that waited for the session are delivered,
   and what became of each one is reported (it may still wait, if the agent asks
   again before it is submitted).

One approver at a time per session (the lock that senders take too), so two
users answering one prompt at once press one key, not two.

An occurrence seen by nobody between two prompts that read the same (no watcher runs,
the first was answered in the pane and nothing read the screen before the second came)
cannot be told from one prompt: both have one id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from imessenger.actions.delivery import Courier
from imessenger.actions.sessions import Sessions, SessionView
from imessenger.adapters.locks import target_lock
from imessenger.adapters.tmux import Patience
from imessenger.core.answers import (
    MEANINGS,
    command_for,
    describe,
)
from imessenger.core.errors import ImessengerError, NoSuchSession, PaneInMode
from imessenger.core.names import is_valid_name
from imessenger.core.screen import Option, Prompt, Screen, State
from imessenger.core.values import Approval, Choice, PromptRecord

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


def when(at: float) -> str:
    """A local date and time, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


# --- errors ----------------------------------------------------------------------------


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
    def __init__(
        self, session: str, choice: Choice, prompt: Prompt, prompt_id: str | None = None
    ) -> None:
        listing = "; ".join(f"{o.key}. {o.label}" for o in prompt.options)
        others = [
            command_for(session, other, prompt_id)
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


class UnknownPrompt(ApprovalRefused):
    def __init__(self, session: str, prompt: str) -> None:
        super().__init__(
            session,
            f'no prompt "{prompt}" was seen in "{session}"; nothing was pressed. '
            "`imessenger inbox --waiting` (the sessions tool, for an agent) shows every open "
            "prompt with its id",
        )
        self.prompt = prompt


class PromptAnswered(ApprovalRefused):
    """The prompt was answered already (by another approver, or by this one): exit 6."""

    exit_code = 6

    def __init__(self, session: str, record: PromptRecord) -> None:
        choice = describe(record.choice) if record.choice is not None else "an answer"
        at = when(record.answered_at) if record.answered_at is not None else "earlier"
        super().__init__(
            session,
            f'the prompt {record.id} of "{session}" ({record.about}) was already answered by '
            f'{record.answered_by} ("{choice}") at {at}; nothing was pressed. If it still '
            f"asks, look at it with `isesh attach {session}`",
        )
        self.record = record


class PromptClosed(ApprovalRefused):
    """The prompt the answer is for closed, and no other is open."""

    def __init__(self, session: str, record: PromptRecord, state: State) -> None:
        super().__init__(
            session,
            f'the prompt {record.id} of "{session}" ({record.about}) is no longer open (the '
            f"screen reads {state}); nothing was pressed",
        )
        self.record = record
        self.state = state


class OtherPrompt(ApprovalRefused):
    """The prompt the answer is for closed, and another is open."""

    def __init__(self, session: str, record: PromptRecord, other: PromptRecord) -> None:
        super().__init__(
            session,
            f'the prompt {record.id} of "{session}" ({record.about}) is no longer open: the '
            f"open prompt is another ({other.id}: {other.about}); nothing was pressed. Look "
            "at it before you answer it: `imessenger inbox --waiting` (the sessions tool, "
            "for an agent) shows it with its id",
        )
        self.record = record
        self.other = other


class InAMode(ApprovalRefused):
    """The pane is in a tmux mode: a key would go to the mode, not to the agent."""

    def __init__(self, session: str) -> None:
        super().__init__(
            session,
            f'the pane of "{session}" is in a tmux mode (copy mode, or a command\'s output '
            "shown over it): nothing was pressed. Leave the mode (press q in that pane) and "
            "answer again",
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


def choose_option(
    prompt: Prompt, choice: Choice, *, session: str = "", prompt_id: str | None = None
) -> Option:
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
        raise NoSuchOption(session, choice, prompt, prompt_id)
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


def asking(sessions: Sessions, views: list[SessionView] | None = None) -> list[SessionView]:
    """Return every session of the server (started by isesh or not) that shows a prompt
    (of ``views``, when given).

    Sessions whose names are outside the alphabet are left out: they cannot be
    targeted safely (see imessenger.core.names).
    """
    if views is None:
        views = sessions.views(include_all=True)
    return [view for view in views if view.state is State.ASKING and is_valid_name(view.name)]


def observe(sessions: Sessions, view: SessionView) -> PromptRecord | None:
    """The occurrence of the prompt ``view`` shows, recorded when it is new; None when it
    shows none."""
    prompt = view.screen.prompt
    if view.state is not State.ASKING or prompt is None:
        return None
    return _occurrence(sessions, view, prompt)


def _occurrence(sessions: Sessions, view: SessionView, prompt: Prompt) -> PromptRecord:
    """The occurrence of ``prompt``, which ``view`` shows."""
    return sessions.store.prompts.observe(
        view.name, view.instance, prompt.fingerprint(), prompt.about()
    )


def _shows(view: SessionView, record: PromptRecord) -> bool:
    prompt = view.screen.prompt
    return (
        view.state is State.ASKING
        and prompt is not None
        and prompt.fingerprint() == record.fingerprint
        and view.instance == record.instance
    )


def note_closed(sessions: Sessions, views: list[SessionView]) -> None:
    """Close the open prompt occurrence of each session in ``views`` that no longer shows
    it, seen so on two reads (a screen caught mid-redraw does not count)."""
    open_now = sessions.store.prompts.unclosed()
    for view in views:
        record = open_now.get(view.name)
        if record is None or _shows(view, record):
            continue
        time.sleep(POLL_S)
        try:
            again = sessions.view(view.name)
        except NoSuchSession:
            again = None
        if again is None or not _shows(again, record):
            sessions.store.prompts.mark_closed(record.id)


def _meant(sessions: Sessions, session: str, prompt: str) -> PromptRecord:
    """The occurrence an answer is for: UnknownPrompt when ``session`` had none with that
    id, PromptAnswered when it was answered already."""
    record = sessions.store.prompts.get(prompt)
    if record is None or (record.server, record.session) != (sessions.tmux.label, session):
        raise UnknownPrompt(session, prompt)
    if record.answered:
        raise PromptAnswered(session, record)
    return record


def answer(
    sessions: Sessions,
    session: str,
    choice: Choice,
    *,
    who: str,
    deliver: bool = True,
    prompt: str | None = None,
) -> Approval:
    """Answer the prompt of ``session`` with the option that means ``choice``, as ``who``
    (the API's door has let them).

    ``prompt`` is the id of the prompt occurrence the answer is for (the one the approver
    was shown); None: the one on screen now. With ``deliver``, the session's pending
    messages are delivered once the prompt closed; an error there is reported in
    ``delivery_error``, not raised.

    Raises NoSuchSession and the :class:`ApprovalRefused`
    errors (nothing was pressed), and PromptStillOpen when the key was pressed but
    the prompt did not close (the answer is recorded either way).
    """
    tmux = sessions.tmux
    # NoSuchSession before taking a lock for a name that is not there; and without an
    # id, the prompt on screen now is the one this answer is for
    shown = sessions.view(session)
    if prompt is None:
        seen = observe(sessions, shown)
        prompt = seen.id if seen is not None else None
    with target_lock(sessions.store.path.parent, tmux.label, session, timeout=LOCK_TIMEOUT_S):
        meant = _meant(sessions, session, prompt) if prompt is not None else None
        view = sessions.view(session)
        first_seen = time.monotonic()
        try:
            asked = asked_prompt(session, view.screen)
        except NothingAsking as error:
            if meant is None:
                raise
            raise PromptClosed(session, meant, error.state) from None
        occurrence = _occurrence(sessions, view, asked)
        if occurrence.answered:  # answered, and still on screen
            raise PromptAnswered(session, occurrence)
        if meant is not None and occurrence.id != meant.id:
            raise OtherPrompt(session, meant, occurrence)
        profile = sessions.view_profile(view)
        option = choose_option(asked, choice, session=session, prompt_id=occurrence.id)
        keys = tuple(profile.drive.keys_for(option, asked.options))
        last_output = view.pane.info.window_activity
        if not last_output or time.time() - last_output < QUIET_S:
            time.sleep(max(0.0, first_seen + SETTLE_S - time.monotonic()))
        view = sessions.view(session)  # right before the key: never act on a stale read
        try:
            again = asked_prompt(session, view.screen)
        except ApprovalRefused:
            raise PromptChanged(session) from None
        if asked.fingerprint() != again.fingerprint() or view.instance != occurrence.instance:
            raise PromptChanged(session)
        if sessions.store.prompts.claim(occurrence.id, who, choice) is None:
            answered = sessions.store.prompts.get(occurrence.id)
            raise PromptAnswered(session, answered or occurrence)
        logger.info("answering %s in %s: option %s (%s)", asked.question, session, keys, choice)
        try:
            # the keys alone, unless the pane is in a mode (tmux checks, in one invocation)
            view.pane.paste("", keys)
        except PaneInMode:
            sessions.store.prompts.release_claim(occurrence.id)
            raise InAMode(session) from None
        except ImessengerError:  # tmux took no key: the prompt is not answered
            sessions.store.prompts.release_claim(occurrence.id)
            raise
        closed = _closed(sessions, view, again)
        if closed:
            sessions.store.prompts.mark_closed(occurrence.id)
            confirmed = _confirm(sessions, session, choice, who)
            if confirmed is not None:
                keys, closed = (*keys, *confirmed[0]), confirmed[1]
        record = sessions.store.approvals.add(
            actor=who,
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
        prompt_id=occurrence.id,
    )
    if not closed:
        raise PromptStillOpen(approval)
    if deliver:
        approval = _deliver_waiting(sessions, approval)
    return approval


def _confirm(
    sessions: Sessions, session: str, choice: Choice, who: str
) -> tuple[tuple[str, ...], bool] | None:
    """Answer the prompt that confirms the answer just given, if one opened (OpenCode asks
    "Always allow" after "Allow always"), with the option of the same meaning: the keys
    pressed and whether it closed. None when no confirming prompt shows (nothing pressed).

    The same care as for the first prompt: it must have been on screen for SETTLE_S and
    read the same twice, its occurrence is claimed, and its key is pressed once. What stops
    that is logged, and leaves the confirming prompt open for a person: the first answer
    stands and is recorded either way.
    """
    try:
        view = sessions.view(session)
    except NoSuchSession:
        return None
    prompt = view.screen.prompt
    if view.state is not State.ASKING or prompt is None or not prompt.confirms:
        return None
    occurrence = _occurrence(sessions, view, prompt)
    try:
        option = choose_option(prompt, choice, session=session, prompt_id=occurrence.id)
    except ApprovalRefused as refused:
        logger.warning("not confirming in %s: %s", session, refused)
        return None
    keys = tuple(sessions.view_profile(view).drive.keys_for(option, prompt.options))
    time.sleep(SETTLE_S)
    view = sessions.view(session)
    again = view.screen.prompt
    if view.state is not State.ASKING or again is None:
        return None
    if again.fingerprint() != prompt.fingerprint():
        logger.warning("not confirming in %s: its screen changed", session)
        return None
    if sessions.store.prompts.claim(occurrence.id, who, choice) is None:
        return None  # another approver answers it
    logger.info("confirming %s in %s: option %s (%s)", prompt.question, session, keys, choice)
    try:
        view.pane.paste("", keys)
    except ImessengerError as error:  # a mode, or tmux took no key: not answered
        sessions.store.prompts.release_claim(occurrence.id)
        logger.warning("not confirming in %s: %s", session, error)
        return None
    closed = _closed(sessions, view, again)
    if closed:
        sessions.store.prompts.mark_closed(occurrence.id)
    return keys, closed


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
    if not sessions.store.messages.pending(approval.session):
        return approval
    try:
        # An agent that goes on with its turn is not waited for: the watcher delivers
        # once the turn ends, and `approve` returns at once.
        done = Courier(sessions).deliver_pending(approval.session, busy_wait_s=0)
    except ImessengerError as error:
        logger.warning("delivering to %s after an approval: %s", approval.session, error)
        return replace(approval, delivery_error=str(error))
    return replace(approval, delivered=tuple(done))
