"""Answers to permission prompts, in words and as commands: pure.

An answer (:class:`~imessenger.core.values.Choice`) is chosen by the meaning of an
option's label, never by its digit (see imessenger.actions.approval); here are the
words and the commands that give it, and the readers of what a person types for it.
"""

from __future__ import annotations

import shlex

from imessenger.core.errors import ImessengerError
from imessenger.core.screen import Meaning
from imessenger.core.values import Choice

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


def command_for(session: str, choice: Choice, prompt: str | None = None) -> str:
    """Return the imessenger command that gives this answer to a session (shell-quoted);
    with ``prompt``, to that prompt only."""
    bound = ["--prompt", prompt] if prompt else []
    if choice is Choice.NO:
        return shlex.join(["imessenger", "deny", session, *bound])
    digit = next(text for text, known in CHOICES.items() if known is choice)
    return shlex.join(["imessenger", "approve", session, digit, *bound])


class BadChoice(ImessengerError):
    """CHOICE is neither 1 nor 2 (a usage error)."""

    exit_code = 2

    def __init__(self, text: str) -> None:
        super().__init__(
            f'CHOICE must be 1 (yes, this once) or 2 (yes, and don\'t ask again), not "{text}"; '
            "to answer no, use `imessenger deny SESSION`"
        )


class BadPromptId(ImessengerError):
    """PROMPT is not a prompt's id (a usage error)."""

    exit_code = 2

    def __init__(self, text: str) -> None:
        super().__init__(
            f"PROMPT must be the id of a prompt (10 hex digits, as `imessenger inbox --waiting` "
            f"shows it), not {text!r}"
        )


def parse_choice(text: str | None) -> Choice:
    """Return the answer that CHOICE ("1", "2" or None for "1") stands for; BadChoice else.

    >>> parse_choice("2"), describe(parse_choice(None))
    (<Choice.YES_ALWAYS: 'yes-always'>, 'yes, this once')
    """
    if text is None:
        return Choice.YES_ONCE
    choice = CHOICES.get(text.strip())
    if choice is None:
        raise BadChoice(text)
    return choice


def parse_prompt_id(text: str) -> str:
    """Return the prompt id ``text`` holds (10 hex digits, any case); BadPromptId else."""
    found = text.strip().lower()
    if len(found) != 10 or any(c not in "0123456789abcdef" for c in found):
        raise BadPromptId(text)
    return found
