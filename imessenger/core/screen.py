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

A screen without a prompt may also show that the agent's last turn failed (an API
error, a rate limit, an expired login): ``error_patterns`` lines that end the
transcript. They are searched in the same lines, from the bottom up, the agent's own
chrome passed over: every line under the input box, the lines between the box and a
rule drawn at most two lines above it (its frame: a mode line, hints), the busy,
starting, idle and queued markers, ``input_below_patterns`` and
``prompt_footer_patterns`` lines, and lines drawn of box-drawing characters only. The
lowest error line counts only when nothing but lines indented deeper than it (its own
wrapped text, which it takes in) stands under it: an error that the transcript went on
after is over. The error lines right above it belong to the same error (an agent may
say more on a line of its own), each with its own wrapped text. A group named ``error``
picks the error's text out of a line.

:func:`explain` reads a screen through the same functions and says why it reads as
it does: the rule that decided (:class:`Rule`), and for the input box, the markers
and the prompt, the screen lines (rows from 1) and the patterns (key and place in the
profile) that matched, or why there is none (:class:`InputMiss`, :class:`PromptMiss`).
Each of those functions returns what it saw (rows and matches); classify keeps only
its result, and explain turns the rest into names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import NamedTuple

from imessenger.core.errors import ConfigError

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
    #: it only confirms the answer given just before (its question pattern's group
    #: "confirm" took part): OpenCode's "Always allow" after "Allow always"
    confirms: bool = False

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
    its placeholder; None when no input box is visible), and ``input_rows`` the first
    and last row of that box in the text read (None when none is visible). ``queued``
    says how many queued messages the agent shows (0: none; see :func:`queue_length`).
    ``error`` is the text of the error that ends the transcript (the last turn failed:
    an API error, a rate limit, an expired login), None when none shows.
    """

    state: State
    prompt: Prompt | None = None
    input_text: str | None = None
    queued: int = 0
    input_rows: tuple[int, int] | None = None
    error: str | None = None


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
}
#: Named groups of which a pattern of some keys must define one at least.
_ONE_OF_GROUPS: dict[str, tuple[str, ...]] = {
    "inline_option_patterns": ("key", "label"),
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
    error_patterns: Patterns = ()
    input_patterns: Patterns = ()
    input_continuation_patterns: Patterns = ()
    input_below_patterns: Patterns = ()
    input_placeholder_patterns: Patterns = ()
    input_end_patterns: Patterns = ()
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
        for key, groups in _ONE_OF_GROUPS.items():
            for index, pattern in enumerate(getattr(self, key), start=1):
                if not any(group in pattern.groupindex for group in groups):
                    named = " nor ".join(f'"{group}"' for group in groups)
                    raise GrammarError(
                        key, f"pattern {index} ({pattern.pattern!r}) has no group named {named}"
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


class Rule(StrEnum):
    """Which rule of :func:`classify` decided the state (its docstring lists them in order)."""

    EXITED = "exited"  # 1. the pane is dead
    PROMPT = "prompt"  # 2. a permission prompt at the bottom
    BUSY = "busy"  # 3. a busy marker
    STARTING = "starting"  # 4. a starting marker
    INPUT_BOX = "input-box"  # 5. the input box
    IDLE = "idle"  # 5. an idle marker
    JUST_STARTED = "just-started"  # 6. no marker, and the agent has just been started
    NO_MARKER = "no-marker"  # 6. no marker


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
    return _read(text, grammar, starting).screen


#: What the marker window holds on a screen with no line to search: one empty line.
_BLANK: tuple[int, str] = (-1, "")


class _Reading(NamedTuple):
    """All that one classification saw: :func:`classify` keeps the screen, :func:`explain`
    reports the rest."""

    lines: list[str]
    seen: _InputSeen
    window: list[tuple[int, str]]
    asked: _PromptSeen
    rule: Rule
    screen: Screen
    failed: _ErrorSeen | None = None


def _read(text: str, grammar: ScreenGrammar, starting: bool) -> _Reading:
    """Read a live pane's text in classify's order (rules 2 to 6)."""
    lines = _lines(text, grammar)
    seen = _input_box(lines, grammar)
    box = seen.box
    # A blank screen is one empty line, so that a grammar whose idle pattern is "^" (a
    # plain program: idle whenever it is alive) reads it as idle.
    window = _marker_window(lines, box, grammar.marker_lines) or [_BLANK]
    queued = _queue(_queue_matches(grammar.queued_patterns, window))
    asked = _prompt(lines, box, grammar)
    if asked.prompt is not None:
        screen = Screen(State.ASKING, prompt=asked.prompt, queued=queued)
        return _Reading(lines, seen, window, asked, Rule.PROMPT, screen)
    state, rule = _decide(window, box, grammar, starting)
    input_text = box.text if box is not None else None
    rows = (box.first, box.last) if box is not None else None
    failed = _error(lines, window, box, grammar)
    error = failed.text if failed is not None else None
    screen = Screen(state, None, input_text, queued, rows, error)
    return _Reading(lines, seen, window, asked, rule, screen, failed)


def _decide(
    window: Sequence[tuple[int, str]], box: _InputBox | None, grammar: ScreenGrammar, starting: bool
) -> tuple[State, Rule]:
    """Decide the state of a screen that shows no prompt (rules 3 to 6)."""
    if _marker(grammar.busy_patterns, window) is not None:
        return State.BUSY, Rule.BUSY
    if _marker(grammar.starting_patterns, window) is not None:
        return State.STARTING, Rule.STARTING
    if box is not None:
        return State.IDLE, Rule.INPUT_BOX
    if _marker(grammar.idle_patterns, window) is not None:
        return State.IDLE, Rule.IDLE
    if starting:
        return State.STARTING, Rule.JUST_STARTED
    return State.UNKNOWN, Rule.NO_MARKER


# --- lines and markers ------------------------------------------------------------------


def _lines(text: str, grammar: ScreenGrammar) -> list[str]:
    """Split the pane into lines: strip patterns applied, trailing blanks removed."""
    strip = grammar.strip_patterns
    if strip:
        lines: list[str] = []
        for raw in text.splitlines():
            line = raw.rstrip()
            for pattern in strip:
                line = pattern.sub("", line)
            lines.append(line.rstrip())
    else:
        lines = [raw.rstrip() for raw in text.splitlines()]
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
    return _queue(_queue_matches(patterns, enumerate(lines)))


def _queue_matches(
    patterns: Sequence[re.Pattern[str]], window: Iterable[tuple[int, str]]
) -> list[tuple[int, re.Match[str]]]:
    """Return each (row, match) that counts toward the queue: every pattern matching a line."""
    matches: list[tuple[int, re.Match[str]]] = []
    if patterns:
        for row, line in window:
            for pattern in patterns:
                found = pattern.search(line)
                if found is not None:
                    matches.append((row, found))
    return matches


def _queue(matches: Iterable[tuple[int, re.Match[str]]]) -> int:
    """How many queued messages the matches stand for: each its group ``count``, else one."""
    total = 0
    for _, found in matches:
        count = found.groupdict().get("count")
        total += int(count) if count and count.isdigit() else 1
    return total


def _last(
    patterns: Sequence[re.Pattern[str]], lines: Sequence[str], end: int
) -> tuple[int, re.Match[str]] | None:
    """Return the last line above row ``end`` that a pattern matches: (row, match)."""
    for index in range(end - 1, -1, -1):
        line = lines[index]
        for pattern in patterns:
            found = pattern.search(line)
            if found is not None:
                return index, found
    return None


def _marker(
    patterns: Sequence[re.Pattern[str]], window: Iterable[tuple[int, str]]
) -> tuple[int, re.Match[str]] | None:
    """Return the first line of the window (bottom first) a pattern matches: (row, match)."""
    if patterns:
        for row, line in window:
            found = _search(patterns, line)
            if found is not None:
                return row, found
    return None


def _first_group(found: re.Match[str]) -> str:
    """Return the first group of a match ("" when it did not take part), else the match."""
    if found.re.groups:
        return found.group(1) or ""
    return found.group(0)


def _marker_window(
    lines: Sequence[str], box: _InputBox | None, count: int
) -> list[tuple[int, str]]:
    """Return the last ``count`` non-blank lines outside the input box, bottom first, with
    their rows."""
    window: list[tuple[int, str]] = []
    for index in range(len(lines) - 1, -1, -1):
        if box is not None and box.first <= index <= box.last:
            continue
        line = lines[index]
        if line.strip():
            window.append((index, line))
            if len(window) >= count:
                break
    return window


# --- a failed turn ---------------------------------------------------------------------

#: A line drawn of box-drawing characters (and spaces) only: a rule, a box's border.
_RULE_LINE = re.compile("^[\u2500-\u257f ]+$")


class _ErrorSeen(NamedTuple):
    """The error that ends the transcript: its error lines (row and match, top first), the
    rows that continue their text, and its text."""

    marks: tuple[tuple[int, re.Match[str]], ...]
    more: tuple[int, ...]
    text: str


#: How many lines may stand between the input box and a rule drawn above it, and still be
#: the agent's frame around the box (a mode line, hints): chrome, not transcript.
_FRAME_LINES = 2


def _frame_top(lines: Sequence[str], box: _InputBox | None) -> int:
    """The row of the rule drawn above the input box, when one is (the lines between it and
    the box are chrome); -1 when none is."""
    if box is None:
        return -1
    for row in range(box.first - 1, max(box.first - 2 - _FRAME_LINES, -1), -1):
        if _RULE_LINE.match(lines[row]):
            return row
    return -1


def _chrome(row: int, line: str, box: _InputBox | None, frame: int, grammar: ScreenGrammar) -> bool:
    """Whether a window line is the agent's own chrome, not its transcript."""
    if box is not None and (row > box.last or 0 <= frame < row < box.first):
        return True
    if _RULE_LINE.match(line):
        return True
    kinds = (
        grammar.busy_patterns,
        grammar.starting_patterns,
        grammar.idle_patterns,
        grammar.queued_patterns,
        grammar.input_below_patterns,
        grammar.prompt_footer_patterns,
    )
    return any(_search(patterns, line) is not None for patterns in kinds)


def _error(
    lines: Sequence[str],
    window: Sequence[tuple[int, str]],
    box: _InputBox | None,
    grammar: ScreenGrammar,
) -> _ErrorSeen | None:
    """The error that ends the transcript, if any (see the module docstring): the lowest
    error line with nothing under it but chrome and its own deeper-indented text, and the
    error lines right above it (with their own deeper-indented text)."""
    patterns = grammar.error_patterns
    if not patterns:
        return None
    frame = _frame_top(lines, box)
    # the transcript lines of the window, bottom first, each with its error match
    rows = [
        (row, line, _search(patterns, line))
        for row, line in window
        if not _chrome(row, line, box, frame, grammar)
    ]
    lowest = next((i for i, (_, _, found) in enumerate(rows) if found is not None), None)
    if lowest is None:
        return None
    indent = _indent(rows[lowest][1])
    if any(_indent(line) <= indent for _, line, _ in rows[:lowest]):
        return None  # the transcript went on after it
    top, pending = lowest, []
    for index in range(lowest + 1, len(rows)):
        _, line, found = rows[index]
        if found is None:
            pending.append(line)
        elif all(_indent(text) > _indent(line) for text in pending):
            top, pending = index, []
        else:
            break
    marks: list[tuple[int, re.Match[str]]] = []
    more: list[int] = []
    parts: list[str] = []
    for row, line, found in reversed(rows[: top + 1]):
        if found is not None:
            named = found.groupdict().get("error")
            parts.append((named if named is not None else line).strip())
            marks.append((row, found))
        else:
            parts.append(line.strip())
            more.append(row)
    return _ErrorSeen(tuple(marks), tuple(more), " ".join(part for part in parts if part))


# --- the input box ----------------------------------------------------------------------


class InputMiss(StrEnum):
    """Why a screen shows no input box, in the order :func:`classify` looks."""

    NO_PATTERNS = "no-patterns"  # input_patterns is empty
    NO_LINE = "no-line"  # no line matches input_patterns
    NO_END = "no-end"  # input_end_patterns are given, and no line matches them
    NOTHING_UNDER = "nothing-under"  # input_below_patterns wants a line under it; there is none
    UNDER_REFUSED = "under-refused"  # the line under it matches none of input_below_patterns
    NOT_LAST = "not-last"  # no input_below_patterns: it must be the last line, and is not


class _InputBox(NamedTuple):
    """The input box: its first and last rows, and the text typed in it."""

    first: int
    last: int
    text: str


class _InputSeen(NamedTuple):
    """What the search for the input box saw: the box, or why there is none."""

    box: _InputBox | None
    miss: InputMiss | None
    #: the last line an input pattern matches (-1: none), and that match
    first: int = -1
    found: re.Match[str] | None = None
    #: the continuation matches of the lines after it, one a line
    more: tuple[re.Match[str], ...] = ()
    #: the input_below pattern's match on the line under them
    under: re.Match[str] | None = None
    #: the text read, and the placeholder pattern that made it empty
    typed: str = ""
    placeholder: re.Match[str] | None = None
    #: a box found from its end (input_end_patterns): that line, and the match there
    end: int = -1
    end_found: re.Match[str] | None = None


_NO_INPUT_PATTERNS = _InputSeen(None, InputMiss.NO_PATTERNS)
_NO_INPUT_LINE = _InputSeen(None, InputMiss.NO_LINE)


def _input_box(lines: Sequence[str], grammar: ScreenGrammar) -> _InputSeen:
    """Find the input box: the last input line, if the line under its block fits (or,
    with input_end_patterns, the box above its end line: :func:`_input_box_from_end`)."""
    starts = grammar.input_patterns
    if not starts:
        return _NO_INPUT_PATTERNS
    if grammar.input_end_patterns:
        return _input_box_from_end(lines, grammar)
    input_line = _last(starts, lines, len(lines))
    if input_line is None:
        return _NO_INPUT_LINE
    first, found = input_line
    more: list[re.Match[str]] = []
    continuation = grammar.input_continuation_patterns
    below = first + 1
    while below < len(lines):
        match = _search(continuation, lines[below])
        if match is None:
            break
        more.append(match)
        below += 1
    under: re.Match[str] | None = None
    below_patterns = grammar.input_below_patterns
    if below_patterns:
        if below >= len(lines):
            return _InputSeen(None, InputMiss.NOTHING_UNDER, first, found, tuple(more))
        under = _search(below_patterns, lines[below])
        if under is None:
            return _InputSeen(None, InputMiss.UNDER_REFUSED, first, found, tuple(more))
    elif below < len(lines):
        return _InputSeen(None, InputMiss.NOT_LAST, first, found, tuple(more))
    parts = [_first_group(found), *map(_first_group, more)]
    typed = "\n".join(part.rstrip() for part in parts).strip()
    placeholder = _search(grammar.input_placeholder_patterns, typed) if typed else None
    box = _InputBox(first, below - 1, "" if placeholder is not None else typed)
    return _InputSeen(box, None, first, found, tuple(more), under, typed, placeholder)


def _input_box_from_end(lines: Sequence[str], grammar: ScreenGrammar) -> _InputSeen:
    """Find an input box drawn around its text from its end line, which holds no text
    (OpenCode: the agent and model under the text, inside the box's border).

    The end line is the last line an input_end pattern matches whose next line an
    input_below pattern accepts (with no input_below_patterns: the last line of the
    screen). Above it, the lines input_continuation_patterns match continue the box; its
    first line is the top one of those, else the line above them, and an input pattern
    must match it. The text is that of the lines from the first to the one above the end.
    """
    below_patterns = grammar.input_below_patterns
    candidate: tuple[int, re.Match[str]] | None = None
    under: re.Match[str] | None = None
    miss = InputMiss.NO_END
    for index in range(len(lines) - 1, -1, -1):
        found = _search(grammar.input_end_patterns, lines[index])
        if found is None:
            continue
        if not below_patterns:
            if index == len(lines) - 1:
                candidate = (index, found)
                break
            miss = InputMiss.NOT_LAST
            continue
        if index + 1 >= len(lines):
            miss = InputMiss.NOTHING_UNDER
            continue
        under = _search(below_patterns, lines[index + 1])
        if under is not None:
            candidate = (index, found)
            break
        miss = InputMiss.UNDER_REFUSED
    if candidate is None:
        return _InputSeen(None, miss)
    end, end_found = candidate
    top = end
    while top > 0 and _search(grammar.input_continuation_patterns, lines[top - 1]) is not None:
        top -= 1
    first = top if top < end else top - 1
    found = _search(grammar.input_patterns, lines[first]) if first >= 0 else None
    if found is None and first == top and top > 0:
        first = top - 1
        found = _search(grammar.input_patterns, lines[first])
    if found is None:
        return _InputSeen(None, InputMiss.NO_LINE, end=end, end_found=end_found)
    more = tuple(
        match
        for match in (
            _search(grammar.input_continuation_patterns, lines[row])
            for row in range(first + 1, end)
        )
        if match is not None
    )
    parts = [_first_group(found), *map(_first_group, more)]
    typed = "\n".join(part.rstrip() for part in parts).strip()
    placeholder = _search(grammar.input_placeholder_patterns, typed) if typed else None
    box = _InputBox(first, end, "" if placeholder is not None else typed)
    return _InputSeen(
        box, None, first, found, more, under, typed, placeholder, end=end, end_found=end_found
    )


# --- prompts ----------------------------------------------------------------------------


class PromptMiss(StrEnum):
    """Why a screen shows no permission prompt, in the order :func:`classify` looks."""

    NO_PATTERNS = "no-patterns"  # question_patterns is empty
    NO_QUESTION = "no-question"  # no line matches question_patterns
    UNREADABLE = "unreadable"  # an option's label, joined with its next lines, no longer matches
    FEW_OPTIONS = "few-options"  # fewer than two options in or under the question line
    NOT_FOOTER = "not-footer"  # a line below the options is neither blank nor a footer
    INPUT_BELOW = "input-below"  # the input box is below the options


class Subject(StrEnum):
    """Where a prompt's subject was read."""

    FENCE = "fence"  # between the first two lines subject_fence_patterns match
    PATTERNS = "subject-patterns"  # from the lines subject_patterns match
    BETWEEN = "between"  # the lines between the prompt's start line and its question


class _OptionSeen(NamedTuple):
    """One option as read: where it is, the pattern that read it and the one that gave its
    meaning (None: "other")."""

    option: Option
    row: int
    found: re.Match[str]
    more: tuple[int, ...]
    meaning: re.Match[str] | None


class _SubjectSeen(NamedTuple):
    """A prompt's subject: its text, where it was read, the rows it comes from, and the
    lines a subject pattern matched (the fences, or the subject lines)."""

    text: str
    source: Subject
    rows: tuple[int, ...]
    marks: tuple[tuple[int, re.Match[str]], ...]


class _PromptSeen(NamedTuple):
    """What the search for a prompt saw: the prompt, or why there is none and where."""

    prompt: Prompt | None
    miss: PromptMiss | None
    asked: int = -1
    question: re.Match[str] | None = None
    options: tuple[_OptionSeen, ...] = ()
    inline: bool = False
    footers: tuple[tuple[int, re.Match[str]], ...] = ()
    #: the line that made it no prompt (a line below the options, the input box...)
    blocker: int = -1
    start: int = -1
    start_found: re.Match[str] | None = None
    subject: _SubjectSeen | None = None


_NO_QUESTION_PATTERNS = _PromptSeen(None, PromptMiss.NO_PATTERNS)
_NO_QUESTION = _PromptSeen(None, PromptMiss.NO_QUESTION)


def _prompt(lines: Sequence[str], box: _InputBox | None, grammar: ScreenGrammar) -> _PromptSeen:
    """Parse a permission prompt at the bottom of the screen, or say why there is none."""
    questions = grammar.question_patterns
    if not questions:
        return _NO_QUESTION_PATTERNS
    question_line = _last(questions, lines, len(lines))
    if question_line is None:
        return _NO_QUESTION
    asked, found = question_line
    named = found.groupdict().get("question")
    question = (named if named is not None else lines[asked]).strip()

    begin = found.end("question") if "question" in found.re.groupindex else 0
    options = _inline_options(lines[asked], asked, max(begin, 0), grammar)
    inline = len(options) >= 2
    first_option = last = asked
    unreadable = -1
    if not inline:
        options, first_option, last, unreadable = _option_block(lines, asked + 1, grammar)
    if len(options) < 2 and unreadable < 0:
        row = _option_row(lines, asked + 1, grammar)
        if row is not None:
            first_option = last = row[0]
            options, inline = row[1], True
    seen = (asked, found, tuple(options), inline)
    if len(options) < 2:
        if unreadable >= 0:
            return _PromptSeen(None, PromptMiss.UNREADABLE, *seen, blocker=unreadable)
        return _PromptSeen(None, PromptMiss.FEW_OPTIONS, *seen)
    footer = grammar.prompt_footer_patterns
    footers: list[tuple[int, re.Match[str]]] = []
    for index in range(last + 1, len(lines)):
        if not lines[index].strip():
            continue
        allowed = _search(footer, lines[index])
        if allowed is None:
            return _PromptSeen(None, PromptMiss.NOT_FOOTER, *seen, tuple(footers), blocker=index)
        footers.append((index, allowed))
    if box is not None and box.first > last:
        return _PromptSeen(None, PromptMiss.INPUT_BELOW, *seen, tuple(footers), blocker=box.first)

    start, start_found = _prompt_start(lines, asked, grammar)
    subject = _subject(lines, start, asked, first_option, grammar)
    text = "\n".join(lines[start:]).strip("\n")
    chosen = tuple([seen_option.option for seen_option in options])
    confirms = found.groupdict().get("confirm") is not None
    prompt = Prompt(
        question=question, subject=subject.text, options=chosen, text=text, confirms=confirms
    )
    return _PromptSeen(
        prompt, None, *seen, tuple(footers), start=start, start_found=start_found, subject=subject
    )


#: The grammar key that gives each meaning, in the order :func:`_meaning` tries them.
_MEANING_KEYS: dict[Meaning, str] = {
    Meaning.YES_ALWAYS: "yes_always_patterns",
    Meaning.YES_ONCE: "yes_once_patterns",
    Meaning.NO: "no_patterns",
}


def _meaning(label: str, grammar: ScreenGrammar) -> tuple[Meaning, re.Match[str] | None]:
    """Read an option's meaning from its label, with the match that gave it (see
    :data:`_MEANING_KEYS`)."""
    found = _search(grammar.yes_always_patterns, label)
    if found is not None:
        return Meaning.YES_ALWAYS, found
    found = _search(grammar.yes_once_patterns, label)
    if found is not None:
        return Meaning.YES_ONCE, found
    found = _search(grammar.no_patterns, label)
    if found is not None:
        return Meaning.NO, found
    return Meaning.OTHER, None


def _inline_options(line: str, row: int, begin: int, grammar: ScreenGrammar) -> list[_OptionSeen]:
    """Read options written side by side in one line, from column ``begin`` on: in the
    question line ("(Y)es/(N)o [Yes]:"), or in a row of their own ("Allow once   Reject").

    With a group "key" (Aider), an option's key is that group and its label the match
    without parentheses; without one (a row), its key is its place in the line (from 1)
    and its label the group "label" (else the whole match). It is the selected one when
    its group "selected" took part, or when a "[Label]" after the options names it.
    """
    patterns = grammar.inline_option_patterns
    if not patterns:
        return []
    tail = line[begin:]
    for pattern in patterns:
        matches = list(pattern.finditer(tail))
        if len(matches) < 2:
            continue
        default = _DEFAULT_MARK.search(tail, matches[-1].end())
        chosen = default.group(1).strip().lower() if default else None
        options: list[_OptionSeen] = []
        for place, match in enumerate(matches, start=1):
            named = match.groupdict()
            key = named.get("key")
            if key is not None:
                label = match.group(0).replace("(", "").replace(")", "").strip(" /")
            else:
                label = (named.get("label") or match.group(0)).strip()
            meaning, by = _meaning(label, grammar)
            option = Option(
                key=key.lower() if key is not None else str(place),
                label=label,
                meaning=meaning,
                selected=label.lower() == chosen or named.get("selected") is not None,
            )
            options.append(_OptionSeen(option, row, match, (), by))
        return options
    return []


def _option_row(
    lines: Sequence[str], begin: int, grammar: ScreenGrammar
) -> tuple[int, list[_OptionSeen]] | None:
    """The first line from row ``begin`` on that holds two or more options side by side
    (inline_option_patterns), with its options; None when there is none."""
    for index in range(begin, len(lines)):
        options = _inline_options(lines[index], index, 0, grammar)
        if len(options) >= 2:
            return index, options
    return None


def _option_block(
    lines: Sequence[str], begin: int, grammar: ScreenGrammar
) -> tuple[list[_OptionSeen], int, int, int]:
    """Read the option lines after the question: (options, first line, last line, the
    option line that could not be read, else -1)."""
    patterns = grammar.option_patterns
    if not patterns:
        return [], -1, -1, -1
    index = begin
    while index < len(lines) and _search(patterns, lines[index]) is None:
        index += 1
    first = index
    # each option as one logical line: its first line and the lines that continue its label;
    # with the row of its first line, the match there and the rows that continue it
    logical: list[str] = []
    starts: list[tuple[int, re.Match[str], list[int]]] = []
    key_column = 0
    last = -1
    gap = False
    while index < len(lines):
        line = lines[index]
        found = _search(patterns, line)
        if found is not None:
            logical.append(line)
            starts.append((index, found, []))
            key_column = found.start("key")
            last = index
            gap = False
        elif not line.strip():
            gap = True
        elif logical and not gap and _indent(line) > key_column:
            logical[-1] += " " + line.strip()
            starts[-1][2].append(index)
            last = index
        else:
            break
        index += 1
    options: list[_OptionSeen] = []
    for text, (row, found_there, more) in zip(logical, starts, strict=True):
        found = _search(patterns, text) if more else found_there
        if found is None:  # a continuation made the line unreadable: give up on the prompt
            return [], first, last, row
        label = found.group("label").strip()
        meaning, by = _meaning(label, grammar)
        option = Option(
            key=found.group("key").lower(),
            label=label,
            meaning=meaning,
            selected=bool(found.groupdict().get("selected")),
        )
        options.append(_OptionSeen(option, row, found, tuple(more), by))
    return options, first, last, -1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _prompt_start(
    lines: Sequence[str], asked: int, grammar: ScreenGrammar
) -> tuple[int, re.Match[str] | None]:
    """Return the first line of the prompt (the last start line above the question), with
    the start pattern's match; the question itself when none."""
    return _last(grammar.prompt_start_patterns, lines, asked) or (asked, None)


def _subject(
    lines: Sequence[str], start: int, asked: int, first_option: int, grammar: ScreenGrammar
) -> _SubjectSeen:
    """Return what the prompt asks about (a command, a file...) and where it was read."""
    fences = grammar.subject_fence_patterns
    if fences:
        marks: list[tuple[int, re.Match[str]]] = []
        for index in range(start, asked):
            found = _search(fences, lines[index])
            if found is not None:
                marks.append((index, found))
        if len(marks) >= 2:
            rows = _filled(lines, marks[0][0] + 1, marks[1][0])
            text = "\n".join(lines[row].strip() for row in rows)
            return _SubjectSeen(text, Subject.FENCE, rows, tuple(marks[:2]))
    subjects = grammar.subject_patterns
    if subjects:
        parts: list[str] = []
        marks = []
        for index in range(start, max(first_option, asked + 1)):
            if index == asked:
                continue
            match = _search(subjects, lines[index])
            if match is not None:
                parts.append(_first_group(match).strip())
                marks.append((index, match))
        rows = tuple(row for row, _ in marks)
        return _SubjectSeen("\n".join(parts), Subject.PATTERNS, rows, tuple(marks))
    rows = _filled(lines, start + 1, asked)
    return _SubjectSeen("\n".join(lines[row].strip() for row in rows), Subject.BETWEEN, rows, ())


def _filled(lines: Sequence[str], begin: int, end: int) -> tuple[int, ...]:
    """The rows from ``begin`` up to ``end`` (not included) that are not blank."""
    return tuple(row for row in range(begin, end) if lines[row].strip())


# --- explaining -------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternRef:
    """One pattern of a grammar, as a profile names it: its key, its place in the key's
    list (from 0) and its text."""

    key: str
    index: int
    source: str


@dataclass(frozen=True)
class ScreenLine:
    """A line of the screen as :func:`classify` reads it (strip patterns applied, trailing
    blanks removed). ``row`` counts from 1 at the top of the pane; 0 stands for the one
    empty line a screen with nothing to search is read as."""

    row: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A line of the screen (as :class:`ScreenLine`) and the pattern that matched it."""

    row: int
    text: str
    pattern: PatternRef


@dataclass(frozen=True)
class InputTrace:
    """How the input box was found, or why it was not (``miss``).

    ``line`` is the last line an input pattern matches (the only candidate),
    ``continuation`` the lines under it that continue it, ``under`` the line under
    them and ``accepted_by`` the input_below pattern that accepted it. ``typed`` is
    the text read from the box; ``placeholder``, the pattern that found it to be the
    agent's placeholder, so that ``text`` (what classify gives) is empty.
    """

    miss: InputMiss | None
    line: Hit | None = None
    continuation: tuple[Hit, ...] = ()
    under: ScreenLine | None = None
    accepted_by: PatternRef | None = None
    typed: str = ""
    placeholder: PatternRef | None = None
    text: str | None = None


@dataclass(frozen=True)
class MarkerTrace:
    """The marker window (the lines searched for markers, bottom first) and, for each kind
    of marker, the first of its lines that one of the kind's patterns matches; every line
    that counts toward the queue, and the queue's length."""

    lines: tuple[ScreenLine, ...]
    busy: Hit | None
    starting: Hit | None
    idle: Hit | None
    queued: tuple[Hit, ...]
    queue: int


@dataclass(frozen=True)
class OptionTrace:
    """One option of a prompt: its line and the option pattern that read it, the lines that
    continue its label, and the pattern that gave it its meaning (None: "other")."""

    option: Option
    line: Hit
    continuation: tuple[ScreenLine, ...]
    meaning_by: PatternRef | None


@dataclass(frozen=True)
class PromptTrace:
    """How the prompt was read, or why there is none (``miss``, and the ``blocker`` line
    that stopped it when there is one).

    ``question`` is the last line a question pattern matches; ``options`` what was read in
    or under it; ``footers`` the lines below the options, each with the footer pattern
    that allowed it. For a prompt: ``start`` (its first line, None when it starts at its
    question) and where its subject came from: ``subject_from``, the lines a fence or
    subject pattern matched (``subject_marks``) and the lines of its text
    (``subject_lines``).
    """

    miss: PromptMiss | None
    question: Hit | None = None
    options: tuple[OptionTrace, ...] = ()
    footers: tuple[Hit, ...] = ()
    blocker: ScreenLine | None = None
    start: Hit | None = None
    subject_from: Subject | None = None
    subject_marks: tuple[Hit, ...] = ()
    subject_lines: tuple[ScreenLine, ...] = ()


@dataclass(frozen=True)
class ErrorTrace:
    """The error that ends the transcript: its lines and the error pattern that matched
    each (top first), the lines that continue their text, and the text :func:`classify`
    gives."""

    lines: tuple[Hit, ...]
    continuation: tuple[ScreenLine, ...]
    text: str


@dataclass(frozen=True)
class Explanation:
    """Why a screen reads as it does: :func:`classify`'s result and what decided it.

    ``screen`` is what classify returns for the same arguments, ``rule`` the rule that
    decided the state. ``strip`` lists the grammar's strip patterns (the lines shown are
    as they leave them); ``input``, ``markers`` and ``prompt`` trace each part of the
    reading (None for a dead pane, whose screen is not read); ``error``, the error that
    ends the transcript (None: none shows).
    """

    screen: Screen
    rule: Rule
    marker_lines: int
    strip: tuple[PatternRef, ...]
    input: InputTrace | None
    markers: MarkerTrace | None
    prompt: PromptTrace | None
    error: ErrorTrace | None = None

    @property
    def decided_by(self) -> Hit | None:
        """The line, and its pattern, that decided the state (None for rules without one)."""
        if self.rule is Rule.PROMPT and self.prompt is not None:
            return self.prompt.question
        if self.rule is Rule.INPUT_BOX and self.input is not None:
            return self.input.line
        if self.markers is None:
            return None
        return {
            Rule.BUSY: self.markers.busy,
            Rule.STARTING: self.markers.starting,
            Rule.IDLE: self.markers.idle,
        }.get(self.rule)


def explain(
    text: str, grammar: ScreenGrammar, *, dead: bool = False, starting: bool = False
) -> Explanation:
    """Classify the text as :func:`classify` does, and say why.

    Takes what classify takes; the explanation's ``screen`` is what classify returns,
    read by the same code. Slower than classify (it looks for every kind of marker, and
    names every pattern): for a person, not for the watcher. Never raises on any text.

    >>> plain = ScreenGrammar(idle_patterns=(re.compile("^[$]$"),))
    >>> explained = explain("ls\\n$", plain)
    >>> explained.rule, explained.decided_by.row, explained.decided_by.text
    (<Rule.IDLE: 'idle'>, 2, '$')
    >>> explained.decided_by.pattern
    PatternRef(key='idle_patterns', index=0, source='^[$]$')
    """
    strip = tuple(
        PatternRef("strip_patterns", index, pattern.pattern)
        for index, pattern in enumerate(grammar.strip_patterns)
    )
    if dead:
        return Explanation(
            Screen(State.EXITED), Rule.EXITED, grammar.marker_lines, strip, None, None, None
        )
    reading = _read(text, grammar, starting)
    trace = _Tracer(grammar, reading.lines)
    return Explanation(
        reading.screen,
        reading.rule,
        grammar.marker_lines,
        strip,
        trace.input(reading.seen),
        trace.markers(reading.window),
        trace.prompt(reading.asked),
        trace.error(reading.failed),
    )


class _Tracer:
    """Turns what a reading saw (rows from 0, matches) into a trace (rows from 1, patterns
    named by key and place)."""

    def __init__(self, grammar: ScreenGrammar, lines: Sequence[str]) -> None:
        self.grammar = grammar
        self.lines = lines

    def ref(self, key: str, found: re.Match[str]) -> PatternRef:
        """Name the pattern of ``key`` that made ``found``."""
        patterns: Patterns = getattr(self.grammar, key)
        # Found by identity; when one object stands twice in the list (re.compile hands
        # out one object per text), the first is the one that matched, since every search
        # tries the patterns in order and stops at the first match.
        index = next(place for place, pattern in enumerate(patterns) if pattern is found.re)
        return PatternRef(key, index, found.re.pattern)

    def line(self, row: int) -> ScreenLine:
        if row < 0:
            return ScreenLine(0, "")
        return ScreenLine(row + 1, self.lines[row])

    def hit(self, row: int, key: str, found: re.Match[str]) -> Hit:
        line = self.line(row)
        return Hit(line.row, line.text, self.ref(key, found))

    def input(self, seen: _InputSeen) -> InputTrace:
        if seen.found is None:
            return InputTrace(seen.miss)
        more = tuple(
            self.hit(seen.first + 1 + place, "input_continuation_patterns", found)
            for place, found in enumerate(seen.more)
        )
        if seen.end_found is not None:  # a box found from its end: that line closes it
            more += (self.hit(seen.end, "input_end_patterns", seen.end_found),)
        below = seen.first + 1 + len(more)
        return InputTrace(
            seen.miss,
            line=self.hit(seen.first, "input_patterns", seen.found),
            continuation=more,
            under=self.line(below) if below < len(self.lines) else None,
            accepted_by=self.ref("input_below_patterns", seen.under) if seen.under else None,
            typed=seen.typed,
            placeholder=(
                self.ref("input_placeholder_patterns", seen.placeholder)
                if seen.placeholder
                else None
            ),
            text=seen.box.text if seen.box is not None else None,
        )

    def markers(self, window: Sequence[tuple[int, str]]) -> MarkerTrace:
        grammar = self.grammar

        def first(key: str) -> Hit | None:
            found = _marker(getattr(grammar, key), window)
            return self.hit(found[0], key, found[1]) if found is not None else None

        counted = _queue_matches(grammar.queued_patterns, window)
        queued = tuple(self.hit(row, "queued_patterns", found) for row, found in counted)
        return MarkerTrace(
            lines=tuple(self.line(row) for row, _ in window),
            busy=first("busy_patterns"),
            starting=first("starting_patterns"),
            idle=first("idle_patterns"),
            queued=queued,
            queue=_queue(counted),
        )

    def prompt(self, seen: _PromptSeen) -> PromptTrace:
        if seen.question is None:
            return PromptTrace(seen.miss)
        option_key = "inline_option_patterns" if seen.inline else "option_patterns"
        options = tuple(
            OptionTrace(
                option=read.option,
                line=self.hit(read.row, option_key, read.found),
                continuation=tuple(self.line(row) for row in read.more),
                meaning_by=self._meaning_ref(read),
            )
            for read in seen.options
        )
        subject = seen.subject
        return PromptTrace(
            seen.miss,
            question=self.hit(seen.asked, "question_patterns", seen.question),
            options=options,
            footers=tuple(self.hit(row, "prompt_footer_patterns", f) for row, f in seen.footers),
            blocker=self.line(seen.blocker) if seen.blocker >= 0 else None,
            start=(
                self.hit(seen.start, "prompt_start_patterns", seen.start_found)
                if seen.start_found is not None
                else None
            ),
            subject_from=subject.source if subject is not None else None,
            subject_marks=self._subject_marks(subject),
            subject_lines=tuple(self.line(row) for row in subject.rows) if subject else (),
        )

    def error(self, failed: _ErrorSeen | None) -> ErrorTrace | None:
        if failed is None:
            return None
        return ErrorTrace(
            lines=tuple(self.hit(row, "error_patterns", found) for row, found in failed.marks),
            continuation=tuple(self.line(row) for row in failed.more),
            text=failed.text,
        )

    def _meaning_ref(self, read: _OptionSeen) -> PatternRef | None:
        if read.meaning is None:
            return None
        key = _MEANING_KEYS[read.option.meaning]
        return self.ref(key, read.meaning)

    def _subject_marks(self, subject: _SubjectSeen | None) -> tuple[Hit, ...]:
        if subject is None or subject.source is Subject.BETWEEN:
            return ()
        key = "subject_fence_patterns" if subject.source is Subject.FENCE else "subject_patterns"
        return tuple(self.hit(row, key, found) for row, found in subject.marks)
