"""Read an agent's state from the visible text of its pane: pure, text in, Screen out.

:func:`classify` looks at what a ``capture-pane -p`` shows, with the agent's
:class:`ScreenGrammar` (the screen patterns of its profile, see conf/agents.toml),
and decides in this order:

1. the pane is dead: EXITED;
2. a permission prompt at the bottom (a question, two or more options, nothing but
   the prompt's footer below them): ASKING, with the prompt parsed;
3. a busy marker near the bottom: BUSY;
4. a starting marker near the bottom: STARTING;
5. the input box, or an idle marker near the bottom: IDLE;
6. else STARTING when the caller says the agent has just been started, else UNKNOWN.

Markers count only in the last ``marker_lines`` non-blank lines outside the input
box, so transcript text (a message that quotes "esc to interrupt" or "Do you want
to proceed?") never changes the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum

from imessenger.errors import ConfigError

logger = logging.getLogger(__name__)

_DEFAULT_MARK = re.compile(r"\[([^\]]+)\]")

#: Compiled screen patterns: any of them may match.
Patterns = tuple[re.Pattern[str], ...]


class State(StrEnum):
    """What an agent is doing, as far as its screen tells."""

    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    ASKING = "asking"
    EXITED = "exited"
    UNKNOWN = "unknown"


class Meaning(StrEnum):
    """What choosing a prompt's option does, read from its label."""

    YES_ONCE = "yes-once"
    YES_ALWAYS = "yes-always"
    NO = "no"
    OTHER = "other"


@dataclass(frozen=True)
class Option:
    """One choice of a prompt: the key that picks it, its label and what it means."""

    key: str
    label: str
    meaning: Meaning
    selected: bool


@dataclass(frozen=True)
class Prompt:
    """A permission prompt: its question, what it asks about, its options, its text."""

    question: str
    subject: str
    options: tuple[Option, ...]
    text: str

    def options_meaning(self, meaning: Meaning) -> tuple[Option, ...]:
        """Return the options whose label has this meaning, in screen order."""
        return tuple(option for option in self.options if option.meaning is meaning)

    def fingerprint(self) -> str:
        """Return what tells this prompt from others: 16 hex digits of a SHA-256.

        It covers the question, the subject and the options (key, label, meaning),
        not the highlight: moving it answers nothing. Two reads show the same prompt
        when their fingerprints are equal.

        >>> yes = Option("1", "Yes", Meaning.YES_ONCE, selected=True)
        >>> no = Option("2", "No", Meaning.NO, selected=False)
        >>> Prompt("Proceed?", "touch x", (yes, no), "text").fingerprint()
        '3eedb510f8e520bd'
        """
        options = [(o.key, o.label, str(o.meaning)) for o in self.options]
        text = json.dumps([self.question, self.subject, options], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def about(self) -> str:
        """Return what the prompt asks about, on one line (its subject, else its question)."""
        return about(self.question, self.subject)


def about(question: str, subject: str) -> str:
    """What a prompt asks about, on one line: its subject's first line, else its question.

    >>> about("Do you want to proceed?", "touch x.txt\\nand more")
    'touch x.txt …'
    >>> about("Do you want to proceed?", "")
    'Do you want to proceed?'
    """
    lines = [line.strip() for line in subject.splitlines() if line.strip()]
    if not lines:
        return question
    return lines[0] + (" …" if len(lines) > 1 else "")


@dataclass(frozen=True)
class Screen:
    """The classified screen.

    ``input_text`` is the text in the agent's input box ("" when empty or showing
    its placeholder; None when no input box is visible). ``queued`` says how many
    queued messages the agent shows (0: none; see :func:`queue_length`).
    """

    state: State
    prompt: Prompt | None = None
    input_text: str | None = None
    queued: int = 0


@dataclass(frozen=True)
class _InputBox:
    first: int
    last: int
    text: str


# --- the grammar ------------------------------------------------------------------------


class GrammarError(ConfigError):
    """A screen grammar cannot work: the key at fault (``busy_patterns``...) and why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f'key "{key}": {reason}')
        self.key = key
        self.reason = reason


class PatternError(GrammarError):
    """A screen pattern is not a regular expression: its key, its place (from 0), its text."""

    def __init__(self, key: str, index: int, source: str, cause: str) -> None:
        super().__init__(
            key, f"pattern {index + 1} ({source!r}) is not a valid regular expression: {cause}"
        )
        self.index = index
        self.source = source
        self.cause = cause


#: Named groups that some pattern keys must define, because classify reads them.
_REQUIRED_GROUPS: dict[str, tuple[str, ...]] = {
    "option_patterns": ("key", "label"),
    "inline_option_patterns": ("key",),
}


@dataclass(frozen=True)
class ScreenGrammar:
    """What one kind of agent's screen looks like: what :func:`classify` reads it with.

    The fields are the screen keys of an agent profile, under the same names
    (conf/agents.toml explains each); a list left out matches nothing. Build one
    from pattern texts with :meth:`compile`. The constructor checks
    ``marker_lines`` and the named groups classify reads, raising GrammarError.

    >>> plain = ScreenGrammar(idle_patterns=(re.compile("^"),))
    >>> classify("$ ls", plain).state
    <State.IDLE: 'idle'>
    """

    marker_lines: int = 1
    strip_patterns: Patterns = ()
    busy_patterns: Patterns = ()
    starting_patterns: Patterns = ()
    idle_patterns: Patterns = ()
    queued_patterns: Patterns = ()
    input_patterns: Patterns = ()
    input_continuation_patterns: Patterns = ()
    input_below_patterns: Patterns = ()
    input_placeholder_patterns: Patterns = ()
    question_patterns: Patterns = ()
    option_patterns: Patterns = ()
    inline_option_patterns: Patterns = ()
    prompt_footer_patterns: Patterns = ()
    prompt_start_patterns: Patterns = ()
    subject_fence_patterns: Patterns = ()
    subject_patterns: Patterns = ()
    yes_once_patterns: Patterns = ()
    yes_always_patterns: Patterns = ()
    no_patterns: Patterns = ()

    def __post_init__(self) -> None:
        if self.marker_lines < 1:
            raise GrammarError("marker_lines", f"must be 1 or more, not {self.marker_lines}")
        for key, groups in _REQUIRED_GROUPS.items():
            patterns: Patterns = getattr(self, key)
            for index, pattern in enumerate(patterns, start=1):
                for group in groups:
                    if group not in pattern.groupindex:
                        raise GrammarError(
                            key,
                            f'pattern {index} ({pattern.pattern!r}) has no group named "{group}"',
                        )

    @classmethod
    def compile(cls, marker_lines: int, sources: Mapping[str, Sequence[str]]) -> ScreenGrammar:
        """Build a grammar from the pattern texts of the keys in :data:`PATTERN_KEYS`.

        Raises PatternError for the first text that is not a regular expression and
        GrammarError when the grammar cannot work (see the class).
        """
        return cls(
            marker_lines,
            **{key: compile_patterns(key, texts) for key, texts in sources.items()},
        )


#: The keys of a profile that hold screen patterns, in file order.
PATTERN_KEYS: tuple[str, ...] = tuple(
    spec.name for spec in fields(ScreenGrammar) if spec.name.endswith("_patterns")
)


def compile_patterns(key: str, sources: Sequence[str]) -> Patterns:
    """Compile the pattern texts of one key; PatternError names the first invalid one."""
    compiled: list[re.Pattern[str]] = []
    for index, source in enumerate(sources):
        try:
            compiled.append(re.compile(source))
        except (re.error, TypeError) as exc:
            raise PatternError(key, index, source, str(exc)) from None
    return tuple(compiled)


# --- classifying ------------------------------------------------------------------------


def classify(
    text: str, grammar: ScreenGrammar, *, dead: bool = False, starting: bool = False
) -> Screen:
    """Classify the visible text of an agent's pane with the agent's screen grammar.

    ``text`` is the visible pane (no scrollback; trailing blank lines are fine).
    ``dead`` says that the pane's process has exited; ``starting`` that the agent was
    started less than its profile's ``startup_ms`` ago, so that a screen without
    markers counts as STARTING instead of UNKNOWN. Never raises on any text.
    """
    if dead:
        return Screen(State.EXITED)
    lines = _lines(text, grammar)
    box = _input_box(lines, grammar)
    # A blank screen is one empty line, so that a grammar whose idle pattern is "^" (a
    # plain program: idle whenever it is alive) reads it as idle.
    window = _marker_window(lines, box, grammar.marker_lines) or [""]
    queued = queue_length(grammar.queued_patterns, window)
    prompt = _prompt(lines, box, grammar)
    if prompt is not None:
        return Screen(State.ASKING, prompt=prompt, queued=queued)
    input_text = box.text if box is not None else None
    if _any(grammar.busy_patterns, window):
        state = State.BUSY
    elif _any(grammar.starting_patterns, window):
        state = State.STARTING
    elif box is not None or _any(grammar.idle_patterns, window):
        state = State.IDLE
    else:
        state = State.STARTING if starting else State.UNKNOWN
    return Screen(state, input_text=input_text, queued=queued)


# --- lines and markers ------------------------------------------------------------------


def _lines(text: str, grammar: ScreenGrammar) -> list[str]:
    """Split the pane into lines: strip patterns applied, trailing blanks removed."""
    strip = grammar.strip_patterns
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        for pattern in strip:
            line = pattern.sub("", line)
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _search(patterns: Iterable[re.Pattern[str]], line: str) -> re.Match[str] | None:
    """Return the first match of any pattern in the line."""
    for pattern in patterns:
        found = pattern.search(line)
        if found is not None:
            return found
    return None


def queue_length(patterns: Sequence[re.Pattern[str]], lines: Iterable[str]) -> int:
    """How many queued messages the lines show, as far as the patterns tell.

    Each line a pattern matches counts one, or the number its group ``count``
    holds ("2 queued"). The sum only has to grow when the queue does: a message
    queued behind another one shows as a longer queue, not as a new one.

    >>> queue_length([re.compile(r"(?P<count>\\d+) queued"), re.compile("Queued$")],
    ...              ["demo · 2 queued", "⎿ Queued", "⎿ Queued"])
    4
    """
    total = 0
    for line in lines:
        for pattern in patterns:
            found = pattern.search(line)
            if found is None:
                continue
            count = found.groupdict().get("count")
            total += int(count) if count and count.isdigit() else 1
    return total


def _any(patterns: Sequence[re.Pattern[str]], lines: Iterable[str]) -> bool:
    return bool(patterns) and any(_search(patterns, line) for line in lines)


def _first_group(found: re.Match[str]) -> str:
    """Return the first group of a match ("" when it did not take part), else the match."""
    if found.re.groups:
        return found.group(1) or ""
    return found.group(0)


def _marker_window(lines: Sequence[str], box: _InputBox | None, count: int) -> list[str]:
    """Return the last ``count`` non-blank lines outside the input box, bottom first."""
    window: list[str] = []
    for index in range(len(lines) - 1, -1, -1):
        if box is not None and box.first <= index <= box.last:
            continue
        if lines[index].strip():
            window.append(lines[index])
            if len(window) >= count:
                break
    return window


# --- the input box ----------------------------------------------------------------------


def _input_box(lines: Sequence[str], grammar: ScreenGrammar) -> _InputBox | None:
    """Find the input box: the last input line, if the line under its block fits."""
    starts = grammar.input_patterns
    if not starts:
        return None
    first = -1
    found: re.Match[str] | None = None
    for index in range(len(lines) - 1, -1, -1):
        found = _search(starts, lines[index])
        if found is not None:
            first = index
            break
    if found is None:
        return None
    parts = [_first_group(found)]
    continuation = grammar.input_continuation_patterns
    below = first + 1
    while below < len(lines):
        more = _search(continuation, lines[below])
        if more is None:
            break
        parts.append(_first_group(more))
        below += 1
    below_patterns = grammar.input_below_patterns
    if below_patterns:
        if below >= len(lines) or _search(below_patterns, lines[below]) is None:
            return None
    elif below < len(lines):
        return None
    typed = "\n".join(part.rstrip() for part in parts).strip()
    if typed and _search(grammar.input_placeholder_patterns, typed):
        typed = ""
    return _InputBox(first, below - 1, typed)


# --- prompts ----------------------------------------------------------------------------


def _prompt(lines: Sequence[str], box: _InputBox | None, grammar: ScreenGrammar) -> Prompt | None:
    """Parse a permission prompt at the bottom of the screen, or return None."""
    questions = grammar.question_patterns
    if not questions:
        return None
    asked = -1
    found: re.Match[str] | None = None
    for index in range(len(lines) - 1, -1, -1):
        found = _search(questions, lines[index])
        if found is not None:
            asked = index
            break
    if found is None:
        return None
    named = found.groupdict().get("question")
    question = (named if named is not None else lines[asked]).strip()

    options = _inline_options(lines[asked], found, grammar)
    first_option = last = asked
    if len(options) < 2:
        options, first_option, last = _option_block(lines, asked + 1, grammar)
    if len(options) < 2:
        return None
    footer = grammar.prompt_footer_patterns
    for line in lines[last + 1 :]:
        if line.strip() and _search(footer, line) is None:
            return None
    if box is not None and box.first > last:
        return None

    start = _prompt_start(lines, asked, grammar)
    subject = _subject(lines, start, asked, first_option, grammar)
    text = "\n".join(lines[start:]).strip("\n")
    return Prompt(question=question, subject=subject, options=tuple(options), text=text)


def _meaning(label: str, grammar: ScreenGrammar) -> Meaning:
    """Read an option's meaning from its label."""
    if _search(grammar.yes_always_patterns, label):
        return Meaning.YES_ALWAYS
    if _search(grammar.yes_once_patterns, label):
        return Meaning.YES_ONCE
    if _search(grammar.no_patterns, label):
        return Meaning.NO
    return Meaning.OTHER


def _inline_options(line: str, question: re.Match[str], grammar: ScreenGrammar) -> list[Option]:
    """Read options written in the question line itself ("(Y)es/(N)o [Yes]:")."""
    patterns = grammar.inline_option_patterns
    if not patterns:
        return []
    begin = question.end("question") if "question" in question.re.groupindex else 0
    tail = line[max(begin, 0) :]
    for pattern in patterns:
        matches = list(pattern.finditer(tail))
        if len(matches) < 2:
            continue
        default = _DEFAULT_MARK.search(tail, matches[-1].end())
        chosen = default.group(1).strip().lower() if default else None
        options: list[Option] = []
        for match in matches:
            label = match.group(0).replace("(", "").replace(")", "").strip(" /")
            options.append(
                Option(
                    key=match.group("key").lower(),
                    label=label,
                    meaning=_meaning(label, grammar),
                    selected=label.lower() == chosen,
                )
            )
        return options
    return []


def _option_block(
    lines: Sequence[str], begin: int, grammar: ScreenGrammar
) -> tuple[list[Option], int, int]:
    """Read the option lines after the question: (options, first line, last line)."""
    patterns = grammar.option_patterns
    if not patterns:
        return [], -1, -1
    index = begin
    while index < len(lines) and _search(patterns, lines[index]) is None:
        index += 1
    first = index
    # each option as one logical line: its first line and the lines that continue its label
    logical: list[str] = []
    key_column = 0
    last = -1
    gap = False
    while index < len(lines):
        line = lines[index]
        found = _search(patterns, line)
        if found is not None:
            logical.append(line)
            key_column = found.start("key")
            last = index
            gap = False
        elif not line.strip():
            gap = True
        elif logical and not gap and _indent(line) > key_column:
            logical[-1] += " " + line.strip()
            last = index
        else:
            break
        index += 1
    options: list[Option] = []
    for text in logical:
        found = _search(patterns, text)
        if found is None:  # a continuation made the line unreadable: give up on the prompt
            return [], first, last
        label = found.group("label").strip()
        options.append(
            Option(
                key=found.group("key").lower(),
                label=label,
                meaning=_meaning(label, grammar),
                selected=bool(found.groupdict().get("selected")),
            )
        )
    return options, first, last


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _prompt_start(lines: Sequence[str], asked: int, grammar: ScreenGrammar) -> int:
    """Return the first line of the prompt: the last start line above the question."""
    patterns = grammar.prompt_start_patterns
    if patterns:
        for index in range(asked - 1, -1, -1):
            if _search(patterns, lines[index]) is not None:
                return index
    return asked


def _subject(
    lines: Sequence[str], start: int, asked: int, first_option: int, grammar: ScreenGrammar
) -> str:
    """Return what the prompt asks about (a command, a file...)."""
    fences = grammar.subject_fence_patterns
    if fences:
        marks = [i for i in range(start, asked) if _search(fences, lines[i]) is not None]
        if len(marks) >= 2:
            inside = lines[marks[0] + 1 : marks[1]]
            return "\n".join(line.strip() for line in inside if line.strip())
    subjects = grammar.subject_patterns
    if subjects:
        found: list[str] = []
        for index in range(start, max(first_option, asked + 1)):
            if index == asked:
                continue
            match = _search(subjects, lines[index])
            if match is not None:
                found.append(_first_group(match).strip())
        return "\n".join(found)
    inside = lines[start + 1 : asked] if start < asked else []
    return "\n".join(line.strip() for line in inside if line.strip())
