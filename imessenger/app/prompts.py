"""Permission prompts here: show them (each with its id), answer them.

The door (imessenger.app.api) has checked the names and the policy before any of this
runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from imessenger.app.services import Services
from imessenger.app.values import AnsweredAll, OptionView, PromptView
from imessenger.core.errors import ImessengerError, StoreError

if TYPE_CHECKING:
    from imessenger.actions.sessions import Sessions, SessionView
    from imessenger.core.values import Approval, Choice

logger = logging.getLogger(__name__)


class PromptActions(Services):
    """What approve, deny and inbox (a prompt) do."""

    def prompt_of(self, view: SessionView) -> PromptView | None:
        """The prompt ``view`` shows, with each option's keys and answer; None when none."""
        return prompt_view(self.sessions, view)

    def waiting(self) -> list[PromptView]:
        """Every session asking for permission, read from its pane, with its prompt."""
        return asking_prompts(self.sessions)

    def answer(self, session: str, choice: Choice, prompt: str | None = None) -> Approval:
        """Answer ``session``'s prompt with the option that means ``choice``; record it.

        ``prompt`` is the id of the prompt the answer is for (as :meth:`waiting` shows
        it); None: the one on screen now. Nothing is pressed when the session is not
        asking, shows another prompt, was answered already, has no such option, or its
        screen cannot be read with certainty (see imessenger.actions.approval).
        """
        from imessenger.actions.approval import (
            HookSaysAsking,
            NothingAsking,
            UnreadableScreen,
            answer,
        )
        from imessenger.core.answers import parse_prompt_id

        bound = parse_prompt_id(prompt) if prompt is not None else None
        try:
            return answer(self.sessions, session, choice, who=self.caller.name, prompt=bound)
        except (NothingAsking, UnreadableScreen) as error:
            said = self._hook_asking(session)
            if said is None:
                raise
            screen = (
                f"its screen reads {error.state}"
                if isinstance(error, NothingAsking)
                else "its screen cannot be read with certainty"
            )
            raise HookSaysAsking(session, screen, said) from None

    def _hook_asking(self, session: str) -> str | None:
        """What the session's own hook last said it asks about, when its last event says
        it asks (the screen wins for keys: this only explains why nothing was pressed)."""
        [*_, last] = [None, *self.store.hook_events.recent(session, limit=1)]
        if last is None or last.state != "asking":
            return None
        answers = self.store.approvals.latest(session, limit=1)
        if answers and answers[0].at >= last.at:
            return None  # answered since: its next event has not come yet
        return last.detail or last.event

    def answer_all(self, choice: Choice) -> AnsweredAll:
        """Answer every session asking (but the caller's own) with ``choice``, in name order:
        each the prompt it showed when this began."""
        from imessenger.actions.approval import (
            NothingAsking,
            PromptAnswered,
            PromptClosed,
            SessionExited,
        )

        prompts = [p for p in asking_prompts(self.sessions) if p.session != self.caller.name]
        approvals: list[Approval] = []
        skipped: list[tuple[str, str]] = []
        failed: list[tuple[str, str]] = []
        for prompt in prompts:
            name = prompt.session
            try:
                approvals.append(self.answer(name, choice, prompt.id))
            except (NothingAsking, PromptClosed, SessionExited):
                skipped.append((name, "no longer asking"))
            except PromptAnswered as error:
                skipped.append((name, f"answered already by {error.record.answered_by}"))
            except ImessengerError as error:
                failed.append((name, str(error)))
        return AnsweredAll(len(prompts), approvals, skipped, failed)


def prompt_view(sessions: Sessions, view: SessionView) -> PromptView | None:
    """The prompt ``view`` shows, with its id, each option's keys and answer; None when none.

    Its id is None when the store could not record it (a full disk): the commands shown
    then answer whatever prompt is open.
    """
    from imessenger.actions.approval import answers, observe
    from imessenger.core.answers import command_for

    prompt = view.screen.prompt
    if prompt is None:
        return None
    try:
        seen = observe(sessions, view)
    except StoreError as error:
        logger.warning("the prompt of %s could not be recorded: %s", view.name, error)
        seen = None
    known = seen.id if seen is not None else None
    profile = sessions.view_profile(view)
    chosen = answers(view.name, prompt)
    options = tuple(
        OptionView(
            key=option.key,
            label=option.label,
            meaning=option.meaning,
            selected=option.selected,
            keys=tuple(profile.drive.keys_for(option, prompt.options)),
            answer=chosen.get(option.key),
            command=(
                command_for(view.name, chosen[option.key], known) if option.key in chosen else None
            ),
        )
        for option in prompt.options
    )
    return PromptView(
        view.name,
        view.agent,
        str(view.state),
        prompt.question,
        prompt.subject,
        prompt.text,
        options,
        known,
    )


def note_closed(sessions: Sessions, views: list[SessionView]) -> None:
    """Close the prompts no longer shown in ``views`` (see imessenger.actions.approval); a store
    that refuses is logged: the next reader tries again."""
    from imessenger.actions import approval

    try:
        approval.note_closed(sessions, views)
    except StoreError as error:
        logger.warning("could not record which prompts closed: %s", error)


def asking_prompts(sessions: Sessions) -> list[PromptView]:
    """The prompt of every session asking, read from its pane, each with its id."""
    from imessenger.actions.approval import asking

    views = sessions.views(include_all=True)
    note_closed(sessions, views)
    found = (prompt_view(sessions, view) for view in asking(sessions, views))
    return [prompt for prompt in found if prompt is not None]
