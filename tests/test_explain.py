"""``isesh explain``: the trace of a classification, how it is shown, and the command.

:func:`imessenger.core.screen.explain` must say what :func:`classify` decides, on every
fixture screen with every profile, and name lines and patterns that really match;
then specific facts on the real captures; then the text and JSON it is shown as
(nothing of the pane reaches the terminal raw); then ``isesh explain`` on real tmux
with the demo agent.
"""

from __future__ import annotations

import doctest
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ask, run_isesh, start_demo, wait_for
from test_screen import (
    CLAUDE_DIR,
    CODEX_DIR,
    EXPECTED,
    FIXTURE_LINES,
    claude_prompt,
    grammars,
    read,
    resized,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.tmux import Tmux
from imessenger.app.values import Explained
from imessenger.core.screen import (
    Explanation,
    Hit,
    InputMiss,
    Meaning,
    PatternRef,
    PromptMiss,
    Rule,
    ScreenGrammar,
    ScreenLine,
    State,
    Subject,
    classify,
    explain,
)
from imessenger.core.values import HookEventRecord
from imessenger.interfaces.cli import explain as shown

PROFILES = sorted(grammars())
SCREENS = sorted(EXPECTED)
#: What each rule decides.
STATES = {
    Rule.EXITED: State.EXITED,
    Rule.PROMPT: State.ASKING,
    Rule.BUSY: State.BUSY,
    Rule.STARTING: State.STARTING,
    Rule.INPUT_BOX: State.IDLE,
    Rule.IDLE: State.IDLE,
    Rule.JUST_STARTED: State.STARTING,
    Rule.NO_MARKER: State.UNKNOWN,
}

#: The key whose patterns give each meaning.
MEANING_KEYS = {
    Meaning.YES_ONCE: "yes_once_patterns",
    Meaning.YES_ALWAYS: "yes_always_patterns",
    Meaning.NO: "no_patterns",
}


def stripped_rows(text: str, grammar: ScreenGrammar) -> list[str]:
    """The screen's lines as the classifier reads them, written again here (not its code)."""
    rows = []
    for raw in text.splitlines():
        line = raw.rstrip()
        for pattern in grammar.strip_patterns:
            line = pattern.sub("", line)
        rows.append(line.rstrip())
    return rows


def hits(explanation: Explanation) -> Iterator[tuple[Hit, bool]]:
    """Every line-and-pattern of a trace, with whether the pattern was matched on the line
    itself (an option whose label goes on was matched on its lines joined)."""
    box, markers, prompt = explanation.input, explanation.markers, explanation.prompt
    found: list[Hit | None] = []
    if box is not None:
        found += [box.line, *box.continuation]
    if markers is not None:
        found += [markers.busy, markers.starting, markers.idle, *markers.queued]
    if prompt is not None:
        found += [prompt.question, prompt.start, *prompt.footers, *prompt.subject_marks]
        yield from ((option.line, not option.continuation) for option in prompt.options)
    yield from ((hit, True) for hit in found if hit is not None)


def named(ref: PatternRef, grammar: ScreenGrammar) -> re.Pattern[str]:
    """The pattern a reference names; it must be the one of that key and place."""
    compiled: re.Pattern[str] = getattr(grammar, ref.key)[ref.index]
    assert compiled.pattern == ref.source, ref
    return compiled


def check_trace(explanation: Explanation, text: str, grammar: ScreenGrammar) -> None:
    """Assert that a trace holds together: rule and state, lines and patterns, each part."""
    screen = explanation.screen
    assert STATES[explanation.rule] is screen.state
    for ref in explanation.strip:
        named(ref, grammar)
    rows = stripped_rows(text, grammar)
    for hit, on_the_line in hits(explanation):
        compiled = named(hit.pattern, grammar)
        if hit.row:
            assert rows[hit.row - 1] == hit.text, hit
        if on_the_line:
            assert compiled.search(hit.text), hit
    if explanation.input is None:  # a dead pane: nothing read
        assert explanation.rule is Rule.EXITED
        return
    assert explanation.markers is not None
    assert explanation.prompt is not None
    box, markers, prompt = explanation.input, explanation.markers, explanation.prompt
    assert (box.miss is None) == (box.text is not None)
    if box.accepted_by is not None:
        assert box.under is not None
        assert named(box.accepted_by, grammar).search(box.under.text)
    if box.placeholder is not None:
        assert named(box.placeholder, grammar).search(box.typed)
    if screen.state is not State.ASKING:
        assert box.text == screen.input_text
    assert markers.queue == screen.queued
    assert (prompt.miss is None) == (screen.prompt is not None)
    if screen.prompt is not None:
        assert tuple(option.option for option in prompt.options) == screen.prompt.options
        for option in prompt.options:
            meaning = option.option.meaning
            by = option.meaning_by
            assert (by is None) == (meaning is Meaning.OTHER)
            if by is not None:
                assert by.key == MEANING_KEYS[meaning]
                assert named(by, grammar).search(option.option.label)
    # the rule is the first of classify's that holds
    if explanation.rule is Rule.BUSY:
        assert markers.busy is not None
    if explanation.rule is Rule.STARTING:
        assert markers.busy is None
        assert markers.starting is not None
    if explanation.rule in (Rule.INPUT_BOX, Rule.IDLE, Rule.JUST_STARTED, Rule.NO_MARKER):
        assert markers.busy is None
        assert markers.starting is None
        assert (explanation.rule is Rule.INPUT_BOX) == (box.miss is None)
    if explanation.rule is Rule.IDLE:
        assert markers.idle is not None
    if explanation.rule in (Rule.JUST_STARTED, Rule.NO_MARKER):
        assert markers.idle is None
    if explanation.rule in (Rule.PROMPT, Rule.BUSY, Rule.STARTING, Rule.INPUT_BOX, Rule.IDLE):
        assert explanation.decided_by is not None


# --- the same reading as classify -------------------------------------------------------


@pytest.mark.parametrize("starting", [False, True], ids=["", "starting"])
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("relative", SCREENS)
def test_explain_agrees_with_classify_on_every_fixture(
    relative: str, profile: str, starting: bool
) -> None:
    text, grammar = read(relative), grammars()[profile]
    explanation = explain(text, grammar, starting=starting)
    assert explanation.screen == classify(text, grammar, starting=starting)
    check_trace(explanation, text, grammar)


@pytest.mark.parametrize("width", [40, 300])
@pytest.mark.parametrize("relative", [r for r in SCREENS if not r.startswith("handmade/")])
def test_explain_agrees_with_classify_at_other_widths(relative: str, width: int) -> None:
    text, grammar = resized(read(relative), width), grammars()[EXPECTED[relative].profile]
    explanation = explain(text, grammar)
    assert explanation.screen == classify(text, grammar)
    check_trace(explanation, text, grammar)


@settings(max_examples=300)
@given(
    rows=st.lists(st.sampled_from(FIXTURE_LINES) | st.text(max_size=40), max_size=60),
    profile=st.sampled_from(PROFILES),
    starting=st.booleans(),
)
def test_explain_agrees_with_classify_on_mixed_screens(
    rows: list[str], profile: str, starting: bool
) -> None:
    text, grammar = "\n".join(rows), grammars()[profile]
    explanation = explain(text, grammar, starting=starting)
    assert explanation.screen == classify(text, grammar, starting=starting)
    check_trace(explanation, text, grammar)


def test_a_dead_pane_is_not_read() -> None:
    explanation = explain(
        read(f"{CLAUDE_DIR}/05_permission_prompt_1.txt"), grammars()["claude"], dead=True
    )
    assert explanation.screen == classify("", grammars()["claude"], dead=True)
    assert explanation.rule is Rule.EXITED
    assert (explanation.input, explanation.markers, explanation.prompt) == (None, None, None)
    assert explanation.decided_by is None


# --- what the real screens are explained with -------------------------------------------


def ref(key: str, index: int = 0, profile: str = "claude") -> PatternRef:
    """The pattern of a shipped profile, as explain names it."""
    return PatternRef(key, index, getattr(grammars()[profile], key)[index].pattern)


def test_claude_permission_prompt() -> None:
    explanation = explain(read(f"{CLAUDE_DIR}/05_permission_prompt_1.txt"), grammars()["claude"])
    assert explanation.rule is Rule.PROMPT
    prompt = explanation.prompt
    assert prompt is not None
    assert prompt.miss is None
    assert prompt.question == Hit(45, " Do you want to proceed?", ref("question_patterns"))
    assert explanation.decided_by == prompt.question
    assert [(o.line.row, o.option.key, o.option.selected) for o in prompt.options] == [
        (46, "1", True),
        (47, "2", False),
        (48, "3", False),
    ]
    assert {o.line.pattern for o in prompt.options} == {ref("option_patterns")}
    assert [(o.option.meaning, o.meaning_by) for o in prompt.options] == [
        (Meaning.YES_ONCE, ref("yes_once_patterns")),
        (Meaning.YES_ALWAYS, ref("yes_always_patterns")),
        (Meaning.NO, ref("no_patterns")),
    ]
    assert prompt.footers == (
        Hit(50, " Esc to cancel · Tab to amend", ref("prompt_footer_patterns")),
    )
    assert prompt.start == Hit(39, "─" * 200, ref("prompt_start_patterns"))
    assert prompt.subject_from is Subject.FENCE
    assert [(h.row, h.pattern) for h in prompt.subject_marks] == [
        (42, ref("subject_fence_patterns")),
        (44, ref("subject_fence_patterns")),
    ]
    assert prompt.subject_lines == (ScreenLine(43, " touch probe-1.txt"),)
    # the echoed message above is the last line input_patterns match, but no rule follows it
    box = explanation.input
    assert box is not None
    assert box.miss is InputMiss.UNDER_REFUSED
    assert box.line == Hit(
        23, "❯ Please RUN-BASH[touch probe-1.txt] IMSG-ID bash1", ref("input_patterns")
    )
    assert box.under == ScreenLine(24, "")
    assert (box.accepted_by, box.text) == (None, None)


def test_claude_curly_apostrophe_is_yes_always_by_its_first_pattern() -> None:
    explanation = explain(read(f"{CLAUDE_DIR}/07_permission_prompt_2.txt"), grammars()["claude"])
    assert explanation.prompt is not None
    second = explanation.prompt.options[1]
    assert second.option.label == "Yes, and don\u2019t ask again for: python3 *"
    assert second.meaning_by == ref("yes_always_patterns", 0)


def test_the_second_yes_always_pattern_is_named_with_its_place() -> None:
    screen = claude_prompt(["Yes", "Yes, allow all edits during this session (shift+tab)", "No"])
    explanation = explain(screen, grammars()["claude"])
    assert explanation.prompt is not None
    assert [o.meaning_by for o in explanation.prompt.options] == [
        ref("yes_once_patterns"),
        ref("yes_always_patterns", 1),
        ref("no_patterns"),
    ]


def test_claude_idle_screen() -> None:
    explanation = explain(read(f"{CLAUDE_DIR}/01_startup.txt"), grammars()["claude"])
    assert explanation.rule is Rule.INPUT_BOX
    box = explanation.input
    assert box is not None
    assert box.miss is None
    assert box.line == Hit(48, "❯", ref("input_patterns"))
    assert box.under == ScreenLine(49, "─" * 200)
    assert box.accepted_by == ref("input_below_patterns")
    assert box.text == ""
    markers = explanation.markers
    assert markers is not None
    assert markers.idle == Hit(
        50, "  ⏸ manual mode on · ? for shortcuts · ← for agents", ref("idle_patterns")
    )
    assert markers.lines[0].row == 50
    assert 48 not in [line.row for line in markers.lines]  # the input box is left out
    assert (markers.busy, markers.starting) == (None, None)
    assert explanation.prompt is not None
    assert explanation.prompt.miss is PromptMiss.NO_QUESTION


def test_an_idle_marker_decides_without_an_input_box() -> None:
    """The same screen with the rule under the input line gone: the idle line decides."""
    rows = read(f"{CLAUDE_DIR}/01_startup.txt").splitlines()
    del rows[48]  # row 49
    explanation = explain("\n".join(rows), grammars()["claude"])
    assert explanation.rule is Rule.IDLE
    idle = "  ⏸ manual mode on · ? for shortcuts · ← for agents"
    assert explanation.decided_by == Hit(49, idle, ref("idle_patterns"))
    # indented by two, the idle line reads as the input's second line: then nothing is under
    box = explanation.input
    assert box is not None
    assert box.miss is InputMiss.NOTHING_UNDER
    assert box.continuation == (Hit(49, idle, ref("input_continuation_patterns")),)
    assert box.under is None


def test_busy_wins_over_the_input_box() -> None:
    explanation = explain(read(f"{CODEX_DIR}/c03_busy.txt"), grammars()["codex"])
    assert explanation.rule is Rule.BUSY
    assert explanation.input is not None
    assert explanation.input.miss is None
    assert explanation.decided_by is not None
    assert explanation.decided_by.pattern == ref("busy_patterns", 0, "codex")
    assert "esc to interrupt" in explanation.decided_by.text


def test_a_quoted_question_above_the_input_box_is_no_prompt() -> None:
    explanation = explain(read("handmade/claude-quoted-question.txt"), grammars()["claude"])
    assert explanation.rule is Rule.INPUT_BOX
    prompt = explanation.prompt
    assert prompt is not None
    assert prompt.miss is PromptMiss.NOT_FOOTER
    assert prompt.question == Hit(17, "  Do you want to proceed?", ref("question_patterns"))
    assert [o.line.row for o in prompt.options] == [18, 19, 20]
    assert prompt.blocker == ScreenLine(21, "  What does option 2 mean?")
    assert prompt.footers == ()


def test_the_placeholder_and_the_queue_of_a_claude_screen() -> None:
    explanation = explain(read(f"{CLAUDE_DIR}/11_queued.txt"), grammars()["claude"])
    box, markers = explanation.input, explanation.markers
    assert box is not None
    assert markers is not None
    assert box.typed == "Press up to edit queued messages"
    assert box.placeholder == ref("input_placeholder_patterns", 1)
    assert box.text == ""
    assert markers.queue == 1
    assert [(h.row, h.pattern) for h in markers.queued] == [(13, ref("queued_patterns", 1))]


def test_aider_inline_options_and_other_meaning() -> None:
    explanation = explain(read("handmade/aider-asking.txt"), grammars()["aider"])
    prompt = explanation.prompt
    assert prompt is not None
    assert prompt.question is not None
    assert prompt.question.row == 20
    inline = ref("inline_option_patterns", 0, "aider")
    assert [(o.option.key, o.line.row, o.line.pattern) for o in prompt.options] == [
        ("y", 20, inline),
        ("n", 20, inline),
        ("d", 20, inline),
    ]
    assert prompt.options[2].meaning_by is None  # "Don't ask again": other
    assert prompt.start == Hit(18, "", ref("prompt_start_patterns", 0, "aider"))
    assert prompt.subject_from is Subject.BETWEEN
    assert prompt.subject_lines == (ScreenLine(19, "pytest -q"),)
    # aider has no input_below_patterns: the input must be the last line
    assert explanation.input is not None
    assert explanation.input.miss is InputMiss.NOT_LAST
    assert explanation.input.under == ScreenLine(12, "")


def test_codex_subject_from_its_subject_pattern() -> None:
    explanation = explain(read(f"{CODEX_DIR}/c05_approval_prompt_1.txt"), grammars()["codex"])
    prompt = explanation.prompt
    assert prompt is not None
    assert prompt.subject_from is Subject.PATTERNS
    assert [h.pattern for h in prompt.subject_marks] == [ref("subject_patterns", 0, "codex")]
    assert "touch codex-probe-1.txt" in prompt.subject_marks[0].text
    assert prompt.start is None  # codex has no prompt_start_patterns


def test_gemini_lines_are_explained_as_stripped() -> None:
    grammar = grammars()["gemini"]
    explanation = explain(read("handmade/gemini-typed.txt"), grammar)
    assert [p.key for p in explanation.strip] == ["strip_patterns"] * 4
    assert explanation.input is not None
    assert explanation.input.line == Hit(
        28, "> please run the tests", ref("input_patterns", 0, "gemini")
    )


def test_a_blank_screen_is_one_empty_line() -> None:
    explanation = explain("\n\n", grammars()["shell"])
    assert explanation.rule is Rule.IDLE
    assert explanation.markers is not None
    assert explanation.markers.lines == (ScreenLine(0, ""),)
    assert explanation.decided_by == Hit(0, "", ref("idle_patterns", 0, "shell"))
    assert explanation.input is not None
    assert explanation.input.miss is InputMiss.NO_PATTERNS
    assert explanation.prompt is not None
    assert explanation.prompt.miss is PromptMiss.NO_PATTERNS


@pytest.mark.parametrize(("starting", "rule"), [(True, Rule.JUST_STARTED), (False, Rule.NO_MARKER)])
def test_no_marker(starting: bool, rule: Rule) -> None:
    explanation = explain("", grammars()["claude"], starting=starting)
    assert explanation.rule is rule
    assert explanation.decided_by is None


def test_the_demo_starting_footer() -> None:
    explanation = explain(read("handmade/demo-starting.txt"), grammars()["demo"])
    assert explanation.rule is Rule.STARTING
    assert explanation.decided_by is not None
    assert explanation.decided_by.pattern == ref("starting_patterns", 0, "demo")


# --- every reason for no prompt and no input box ----------------------------------------

TINY = ScreenGrammar.compile(
    1,
    {
        "question_patterns": [r"^Proceed\?$"],
        "option_patterns": [r"^(?P<key>\d)\. (?P<label>\w+)$"],
        "prompt_footer_patterns": ["."],
        "input_patterns": ["^> ?(.*)$"],
        "input_below_patterns": ["^--$"],
    },
)


@pytest.mark.parametrize(
    ("rows", "miss", "blocker"),
    [
        pytest.param(["Proceed?", "1. Yes"], PromptMiss.FEW_OPTIONS, None, id="one-option"),
        pytest.param(
            ["Proceed?", "1. Yes", "   please", "2. No"], PromptMiss.UNREADABLE, 2, id="unreadable"
        ),
        pytest.param(
            ["Proceed?", "1. Yes", "2. No", "> typed", "--"], PromptMiss.INPUT_BELOW, 4, id="box"
        ),
    ],
)
def test_why_a_question_is_no_prompt(
    rows: list[str], miss: PromptMiss, blocker: int | None
) -> None:
    text = "\n".join(rows)
    explanation = explain(text, TINY)
    assert explanation.screen == classify(text, TINY)
    assert explanation.prompt is not None
    assert explanation.prompt.miss is miss
    assert explanation.prompt.question == Hit(
        1, "Proceed?", PatternRef("question_patterns", 0, r"^Proceed\?$")
    )
    found = explanation.prompt.blocker
    assert (found.row if found else None) == blocker


@pytest.mark.parametrize(
    ("rows", "miss"),
    [
        pytest.param(["output"], InputMiss.NO_LINE, id="no-line"),
        pytest.param(["> typed"], InputMiss.NOTHING_UNDER, id="nothing-under"),
        pytest.param(["> typed", "xx"], InputMiss.UNDER_REFUSED, id="under-refused"),
        pytest.param(["> typed", "--"], None, id="found"),
    ],
)
def test_why_there_is_no_input_box(rows: list[str], miss: InputMiss | None) -> None:
    explanation = explain("\n".join(rows), TINY)
    assert explanation.input is not None
    assert explanation.input.miss is miss
    assert explanation.input.text == ("typed" if miss is None else None)


# --- the text and the JSON --------------------------------------------------------------


def explained(relative: str, profile: str, **kwargs: Any) -> Explained:
    """The value ``Api.explain`` would give for a session showing this fixture screen."""
    text = read(relative)
    return Explained(
        "w1", profile, profile, True, text, explain(text, grammars()[profile]), **kwargs
    )


def test_the_text_of_the_claude_prompt() -> None:
    text = shown.render(explained(f"{CLAUDE_DIR}/05_permission_prompt_1.txt", "claude"))
    lines = text.splitlines()
    assert lines[0] == 'session "w1", profile "claude"'
    assert "state: asking" in lines
    assert "  decided by rule 2: a permission prompt at the bottom, its question on row 45" in lines
    at = lines.index('  question  row 45  " Do you want to proceed?"')
    assert (
        lines[at + 1]
        == r"            question_patterns[0] '^\s{0,2}(?P<question>Do you want to .+\?)$'"
    )
    assert '  start     row 39  "─" × 200' in lines
    assert (
        '            key 2, label "Yes, and always allow access to /srv/project from this '
        'project": yes-always, by'
    ) in lines
    assert "              no_patterns[0] '^No\\b'" in lines
    assert "input box: none (the last line input_patterns match is not the input box)" in lines
    assert lines[-1] == "hook events: none recorded"


def test_the_text_says_why_a_quoted_question_is_no_prompt() -> None:
    text = shown.render(explained("handmade/claude-quoted-question.txt", "claude"))
    assert (
        "prompt: none\n  because   row 21, below the options, is neither blank nor a footer" in text
    )
    assert '  below     row 21  "  What does option 2 mean?"' in text


def test_the_text_of_hook_events_and_of_a_guessed_profile() -> None:
    at = time.mktime((2026, 12, 1, 10, 20, 30, 0, 0, -1)) + 0.25
    events = (
        HookEventRecord(1, at, "s", "w1", "claude", "PermissionRequest", "asking", "rm\x1b[2J", ""),
        HookEventRecord(2, at, "s", "w1", "claude", "Stop", "idle", "", "the screen read busy"),
        HookEventRecord(3, at, "s", "w1", "claude", "PreToolUse", "", "", ""),
    )
    empty = explain("", grammars()["codex"])
    text = shown.render(Explained("w1", "codex", "codex", False, "", empty, events, "connected"))
    assert text.splitlines()[0] == (
        'session "w1", profile "codex", guessed from the screen (isesh did not start it)'
    )
    assert text.splitlines()[-5:] == [
        "hook events (the latest, oldest first; checked by the watcher against the screen):",
        "  10:20:30.250  PermissionRequest -> asking, about rm␛[2J  [not checked (no watcher ran)]",
        "  10:20:30.250  Stop -> idle  [the screen read busy]",
        "  10:20:30.250  PreToolUse -> (says nothing of the state)",
        "tools: its imessenger MCP server is connected",
    ]


#: Bytes a terminal would act on, or that hide text: none may be printed raw.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def test_control_bytes_from_the_pane_are_shown_as_stand_ins() -> None:
    screen = read(f"{CLAUDE_DIR}/05_permission_prompt_1.txt").replace(
        " ❯ 1. Yes", " ❯ 1. Yes\x1b]0;owned\x07\u202e\x9b2J"
    )
    screen = screen.replace("❯ Please RUN-BASH", "❯ \x1b[31mPlease\tRUN-BASH")
    grammar = grammars()["claude"]
    value = Explained("w1", "claude", "claude", True, screen, explain(screen, grammar))
    assert value.explanation.screen.state is State.ASKING  # the escape is in the label
    text = shown.render(value)
    assert not RAW.search(text)
    assert '"❯ ␛[31mPlease␉RUN-BASH' in text
    assert 'label "Yes␛]0;owned␇\\u202e\\x9b2J"' in text
    dumped = shown.as_json(value)
    assert not RAW.search(dumped.replace("\n", ""))
    data = json.loads(dumped)
    assert data["capture"] == screen  # the escapes only spell the characters
    assert data["explanation"]["decided_by"]["row"] == 45
    assert data["explanation"]["rule"] == "prompt"
    assert data["hook_events"] == []


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("relative", SCREENS)
def test_every_explanation_can_be_shown(relative: str, profile: str) -> None:
    value = explained(relative, profile)
    assert not RAW.search(shown.render(value))
    data = json.loads(shown.as_json(value))
    assert data["explanation"]["rule"] == value.explanation.rule
    assert data["explanation"]["screen"]["state"] == value.explanation.screen.state


@settings(max_examples=200)
@given(
    rows=st.lists(st.sampled_from(FIXTURE_LINES) | st.text(max_size=40), max_size=40),
    profile=st.sampled_from(PROFILES),
)
def test_nothing_raw_reaches_the_terminal(rows: list[str], profile: str) -> None:
    text = "\n".join(rows)
    value = Explained("w1", profile, profile, True, text, explain(text, grammars()[profile]))
    assert not RAW.search(shown.render(value))
    dumped = shown.as_json(value)
    assert not RAW.search(dumped.replace("\n", ""))
    assert json.loads(dumped)["capture"] == text


def test_the_renderer_examples() -> None:
    result = doctest.testmod(shown)
    assert result.attempted > 0
    assert result.failed == 0


# --- on real tmux with the demo agent ---------------------------------------------------


def test_isesh_explain_on_the_demo_agent(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    # the demo agent runs its hooks in the background: its SessionStart may come late
    idle = wait_for(
        lambda: (done := run_isesh("explain", "w1")) and "SessionStart" in done.stdout and done,
        what="the SessionStart hook event",
    )
    assert idle.exit_code == 0, idle.output
    lines = idle.stdout.splitlines()
    assert lines[0] == 'session "w1", profile "demo"'
    assert "state: idle" in lines
    assert "  decided by rule 5: the input box on row 2" in lines
    at = lines.index('  line      row  2  "demo>"')
    assert lines[at + 1] == "            input_patterns[0] '^demo>(?: (.*))?$'"
    assert "            idle_patterns[0] '^  \\S.* · \\? for help$'" in lines
    assert "prompt: none (no line matches question_patterns)" in lines
    # the demo agent's own hooks (its profile installs them), not checked: no watcher runs
    assert lines[-3].startswith("hook events (the latest, oldest first;")
    assert lines[-2].endswith("  SessionStart -> started  [not checked (no watcher ran)]")
    # which record the replies are read from: the one isesh named, empty until a turn
    assert lines[-1].startswith("record: demo: ")
    assert lines[-1].endswith(".jsonl (written)")

    ask(sessions, "w1", "ASK[touch notes.txt] please")
    wait_for(
        lambda: "PermissionRequest" in run_isesh("explain", "w1").stdout, what="the hook event"
    )
    asking = run_isesh("explain", "w1")
    assert asking.exit_code == 0, asking.output
    assert "  PermissionRequest -> asking, about touch notes.txt  [not checked" in asking.stdout
    assert "state: asking" in asking.stdout
    assert 'prompt: "Do you want to proceed?" about "touch notes.txt"' in asking.stdout
    assert "subject_patterns[0] '^ ?\\$ (.+)$'" in asking.stdout
    assert "yes_always_patterns[0] '^Yes, and don['’]t ask again'" in asking.stdout

    data = json.loads(run_isesh("explain", "w1", "--json").stdout)
    assert (data["session"], data["profile"], data["managed"]) == ("w1", "demo", True)
    assert "Do you want to proceed?" in data["capture"]
    explanation = data["explanation"]
    assert explanation["rule"] == "prompt"
    assert explanation["screen"]["state"] == str(sessions.view("w1").state) == "asking"
    assert [o["option"]["meaning"] for o in explanation["prompt"]["options"]] == [
        "yes-once",
        "yes-always",
        "no",
    ]
    assert explanation["decided_by"]["pattern"]["key"] == "question_patterns"
    assert [e["event"] for e in data["hook_events"]][-1] == "PermissionRequest"
    assert data["tools"] == ""  # the demo profile registers no MCP server


def test_isesh_explain_of_a_missing_session(tmux: Tmux) -> None:
    assert run_isesh("start", "w1", "--agent", "shell", "--", "cat").exit_code == 0
    missing = run_isesh("explain", "nope")
    assert missing.exit_code == 1
    assert 'no session named "nope"; running sessions: w1' in missing.stderr
    assert run_isesh("explain", "a:b").exit_code == 1
