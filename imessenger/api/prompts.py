"""The actions on permission prompts: show them, answer them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imessenger.api.services import Services
from imessenger.api.values import Answered, OptionView, PromptView, check_name, parse_choice
from imessenger.errors import ImessengerError
from imessenger.policy import Action

if TYPE_CHECKING:
    from imessenger.approval import Approval
    from imessenger.sessions import Sessions, SessionView
    from imessenger.store import Choice


class PromptActions(Services):
    """What approve, deny and inbox (a prompt) do."""

    def prompt_of(self, view: SessionView) -> PromptView | None:
        """The prompt ``view`` shows, with each option's keys and answer; None when none."""
        return prompt_view(self.sessions, view)

    def waiting(self) -> list[PromptView]:
        """Every session asking for permission, read from its pane, with its prompt.

        Approvers, readers and the user may look.
        """
        if not self.access.allows(Action.APPROVE):
            self.access.require(Action.READ)
        return asking_prompts(self.sessions)

    def answer(self, session: str, choice: Choice) -> Approval:
        """Answer ``session``'s prompt with the option that means ``choice``; record it.

        Nothing is pressed when the session is not asking, has no such option, or
        its screen cannot be read with certainty (see imessenger.approval).
        """
        from imessenger.approval import HookSaysAsking, NothingAsking, UnreadableScreen, answer

        check_name(session)
        try:
            return answer(self.sessions, session, choice, access=self.access)
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
        server = self.tmux.label
        [*_, last] = [None, *self.store.hook_events(server, session, limit=1)]
        if last is None or last.state != "asking":
            return None
        answers = self.store.list_approvals(session, limit=1, server=server)
        if answers and answers[0].at >= last.at:
            return None  # answered since: its next event has not come yet
        return last.detail or last.event

    def approve(self, session: str, choice: str | None = None) -> Approval:
        """Say yes: CHOICE "1" (default) once, "2" and don't ask again."""
        return self.answer(session, parse_choice(choice))

    def deny(self, session: str) -> Approval:
        """Say no."""
        from imessenger.store import Choice

        return self.answer(session, Choice.NO)

    def answer_all(self, choice: Choice) -> Answered:
        """Answer every session asking (but the caller's own) with ``choice``, in name order."""
        from imessenger.approval import NothingAsking, SessionExited, asking

        self.access.require(Action.APPROVE)
        names = [view.name for view in asking(self.sessions) if view.name != self.caller.name]
        approvals: list[Approval] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        for name in names:
            try:
                approvals.append(self.answer(name, choice))
            except (NothingAsking, SessionExited):
                skipped.append(name)
            except ImessengerError as error:
                failed.append((name, str(error)))
        return Answered(len(names), approvals, skipped, failed)


def prompt_view(sessions: Sessions, view: SessionView) -> PromptView | None:
    """The prompt ``view`` shows, with each option's keys and answer; None when none."""
    from imessenger.approval import answers, command_for

    prompt = view.screen.prompt
    if prompt is None:
        return None
    profile = sessions.view_profile(view)
    chosen = answers(view.name, prompt)
    options = tuple(
        OptionView(
            key=option.key,
            label=option.label,
            meaning=option.meaning,
            selected=option.selected,
            keys=tuple(profile.drive.keys_for(option)),
            answer=chosen.get(option.key),
            command=command_for(view.name, chosen[option.key]) if option.key in chosen else None,
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
    )


def asking_prompts(sessions: Sessions) -> list[PromptView]:
    """The prompt of every session asking, read from its pane."""
    from imessenger.approval import asking

    found = (prompt_view(sessions, view) for view in asking(sessions))
    return [prompt for prompt in found if prompt is not None]
