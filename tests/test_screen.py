"""The screen classifier on real captures of the agents and on hand-made screens.

Real captures live in tests/fixtures/claude-code-2.1.332, codex-0.169.0 and
qwen-code-0.24.4; the
hand-made ones (Gemini CLI, Aider, the demo agent, and variants) in
tests/fixtures/handmade. See tests/fixtures/README.md.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imessenger.core.errors import ConfigError
from imessenger.core.screen import (
    PATTERN_KEYS,
    GrammarError,
    Meaning,
    Option,
    PatternError,
    Prompt,
    Screen,
    ScreenGrammar,
    State,
    classify,
    compile_patterns,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLAUDE_DIR = "claude-code-2.1.332"
CODEX_DIR = "codex-0.169.0"
QWEN_DIR = "qwen-code-0.24.4"
COPILOT_DIR = "copilot-1.0.102"
GEMINI_DIR = "gemini-cli-0.61.0"
AIDER_DIR = "aider-0.86.2"
GEMINI_FAILED = (
    ' This request failed. Press F12 for diagnostics, or run /settings and change "Error '
    'Verbosity" to full for full details.'
)
OPENCODE_DIR = "opencode-1.18.33"
NBSP = "\u00a0"
#: The message of the fake model API's 400 in the wrapped fixtures of Qwen Code and Copilot
#: CLI: longer than their 200-column pane.
LONG_400 = (
    "model fake-model is not supported with these parameters: "
    + "tools, tool_choice, parallel_tool_calls, stream_options, " * 4
    + "and this line goes on past the edge of the pane"
)


@functools.cache
def grammars() -> dict[str, ScreenGrammar]:
    """The screen grammars of the shipped profiles, read straight from conf/agents.toml."""
    with (ROOT / "conf" / "agents.toml").open("rb") as handle:
        tables = tomllib.load(handle)["agents"]
    return {
        name: ScreenGrammar.compile(
            table["marker_lines"], {key: table[key] for key in PATTERN_KEYS}
        )
        for name, table in tables.items()
    }


def read(relative: str) -> str:
    return (FIXTURES / relative).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Asked:
    """What a fixture's prompt must look like."""

    question: str
    subject: str
    options: tuple[tuple[str, Meaning], ...]  # (key, meaning) in screen order
    selected: str | None = "1"


YES_NO_3 = (("1", Meaning.YES_ONCE), ("2", Meaning.YES_ALWAYS), ("3", Meaning.NO))
YES_NO_2 = (("1", Meaning.YES_ONCE), ("2", Meaning.NO))
PROCEED = "Do you want to proceed?"
#: OpenCode's row of options: keys are places in the row, none shown as selected (the
#: highlight is a colour)
OPENCODE_ROW = (("1", Meaning.YES_ONCE), ("2", Meaning.YES_ALWAYS), ("3", Meaning.NO))
OPENCODE_Q = "Permission required"
CODEX_Q = "Would you like to run the following command?"
QWEN_4 = (
    ("1", Meaning.YES_ONCE),
    ("2", Meaning.YES_ALWAYS),
    ("3", Meaning.OTHER),
    ("4", Meaning.NO),
)
COPILOT_RUN = "Do you want to run this command?"
COPILOT_3 = YES_NO_3


@dataclass(frozen=True)
class Expect:
    profile: str
    state: State
    input_text: str | None = None
    queued: bool = False
    asked: Asked | None = None
    #: the error that ends the transcript (a failed turn), None: none
    error: str | None = None


EXPECTED: dict[str, Expect] = {
    # Claude Code 2.1.332, real
    f"{CLAUDE_DIR}/01_startup.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/02_after_paste.txt": Expect("claude", State.IDLE, "[Pasted text #1 +4 lines]"),
    f"{CLAUDE_DIR}/03_busy.txt": Expect("claude", State.BUSY, ""),
    f"{CLAUDE_DIR}/04_text_reply.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/05_permission_prompt_1.txt": Expect(
        "claude", State.ASKING, asked=Asked(PROCEED, "touch probe-1.txt", YES_NO_3)
    ),
    f"{CLAUDE_DIR}/06_after_key_1.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/07_permission_prompt_2.txt": Expect(
        "claude",
        State.ASKING,
        asked=Asked(PROCEED, "python3 -c \"print('hello-from-bash')\"", YES_NO_3),
    ),
    f"{CLAUDE_DIR}/08_after_key_2.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/09_no_prompt_after_2.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/10_after_key_3.txt": Expect("claude", State.IDLE, ""),
    f"{CLAUDE_DIR}/11_queued.txt": Expect("claude", State.BUSY, "", queued=True),
    # turns Claude Code's model API refused (HTTP 400, 401, 429, 500), real; the input box
    # shows a hint then ("Once fixed, resend your message"): empty
    f"{CLAUDE_DIR}/12_error_400.txt": Expect(
        "claude",
        State.IDLE,
        "",
        error="Prompt is too long · the request is ~212000 tokens (limit 200000) but this "
        "conversation is only ~2968 tokens — the rest is system prompt, tool definitions, and "
        "attachment content. A single-exchange conversation cannot be compacted; reduce "
        "attached files/tools or start with less context. · /clear to start fresh",
    ),
    f"{CLAUDE_DIR}/13_error_401.txt": Expect(
        "claude", State.IDLE, "", error="Invalid API key · Fix external API key"
    ),
    f"{CLAUDE_DIR}/14_error_429.txt": Expect(
        "claude",
        State.IDLE,
        "",
        error="API Error: Request rejected (429) · Number of request tokens has exceeded your "
        "per-minute rate limit",
    ),
    f"{CLAUDE_DIR}/15_error_500.txt": Expect(
        "claude",
        State.IDLE,
        "",
        error="API Error: 500 Internal server error. This is a server-side issue, usually "
        "temporary — try again in a moment. If it persists, check your inference gateway "
        "(127.0.0.1:8080).",
    ),
    # Codex 0.169.0, real
    f"{CODEX_DIR}/c01_startup.txt": Expect("codex", State.IDLE, ""),
    f"{CODEX_DIR}/c02_after_paste.txt": Expect(
        "codex", State.IDLE, "Hello codex IMSG-ID cx1 DELAY-2\nline two\nline three"
    ),
    f"{CODEX_DIR}/c03_busy.txt": Expect("codex", State.BUSY, ""),
    f"{CODEX_DIR}/c04_text_reply.txt": Expect("codex", State.IDLE, ""),
    f"{CODEX_DIR}/c05_approval_prompt_1.txt": Expect(
        "codex", State.ASKING, asked=Asked(CODEX_Q, "touch codex-probe-1.txt", YES_NO_3)
    ),
    f"{CODEX_DIR}/c06_after_key_1.txt": Expect("codex", State.IDLE, ""),
    f"{CODEX_DIR}/c07_approval_prompt_2.txt": Expect(
        "codex", State.ASKING, asked=Asked(CODEX_Q, "touch codex-probe-2.txt", YES_NO_3)
    ),
    f"{CODEX_DIR}/c08_after_key_2.txt": Expect("codex", State.IDLE, ""),
    f"{CODEX_DIR}/c09_no_prompt_after_2.txt": Expect("codex", State.IDLE, ""),
    # an MCP tool call waiting for the user (imessenger's own approve tool), options with
    # descriptions; "Always allow" would write into the user's config: "other"
    f"{CODEX_DIR}/c10_mcp_tool_prompt.txt": Expect(
        "codex",
        State.ASKING,
        asked=Asked(
            'Allow the imessenger MCP server to run tool "approve"?',
            "",
            (
                ("1", Meaning.YES_ONCE),
                ("2", Meaning.YES_ALWAYS),
                ("3", Meaning.OTHER),
                ("4", Meaning.NO),
            ),
        ),
    ),
    # turns Codex's model API refused (HTTP 400, 401, 429 after its retries, 500), real
    f"{CODEX_DIR}/c11_error_400.txt": Expect(
        "codex",
        State.IDLE,
        "",
        error='{"error": {"message": "prompt is too long: 212000 tokens > 200000 maximum", '
        '"type": "invalid_request_error", "code": null}}',
    ),
    f"{CODEX_DIR}/c12_error_401.txt": Expect(
        "codex",
        State.IDLE,
        "",
        error="unexpected status 401 Unauthorized: invalid x-api-key, "
        "url: http://127.0.0.1:8080/v1/responses",
    ),
    f"{CODEX_DIR}/c13_error_429.txt": Expect(
        "codex", State.IDLE, "", error="exceeded retry limit, last status: 429 Too Many Requests"
    ),
    f"{CODEX_DIR}/c14_error_500.txt": Expect(
        "codex",
        State.IDLE,
        "",
        error="We\u2019re currently experiencing high demand, which may cause temporary errors.",
    ),
    # turns Gemini CLI's model API refused (HTTP 400, 401), real: the error and, on a
    # line of its own, that the request failed; its frame (a rule, the mode line) under it
    f"{GEMINI_DIR}/g01_error_400.txt": Expect(
        "gemini",
        State.IDLE,
        "",
        error='API Error: {"error":{"code":400,"message":"prompt is too long: 212000 tokens > '
        '200000 maximum","status":"INVALID_ARGUMENT"}}' + GEMINI_FAILED,
    ),
    f"{GEMINI_DIR}/g02_error_401.txt": Expect(
        "gemini",
        State.IDLE,
        "",
        error='API Error: {"error":{"code":401,"message":"invalid x-api-key",'
        '"status":"UNAUTHENTICATED"}}' + GEMINI_FAILED,
    ),
    # turns Aider's model API refused (HTTP 401, 400), real; it wraps at 80 columns with no
    # indent, so an error longer than that is not read as one (its turn is done instead)
    f"{AIDER_DIR}/a01_error_401.txt": Expect(
        "aider", State.IDLE, "", error="BadRequestError: OpenAIException - invalid x-api-key"
    ),
    f"{AIDER_DIR}/a02_error_400_wrapped.txt": Expect("aider", State.IDLE, ""),
    # OpenCode 1.18.33, real (200x50 with its sidebar on the right, but 09 to 11)
    f"{OPENCODE_DIR}/01_startup.txt": Expect("opencode", State.IDLE, ""),
    f"{OPENCODE_DIR}/02_after_paste.txt": Expect("opencode", State.IDLE, "[Pasted ~3 lines]"),
    f"{OPENCODE_DIR}/03_busy.txt": Expect("opencode", State.BUSY, ""),
    f"{OPENCODE_DIR}/04_queued.txt": Expect("opencode", State.BUSY, "", queued=True),
    f"{OPENCODE_DIR}/05_reply.txt": Expect("opencode", State.IDLE, ""),
    f"{OPENCODE_DIR}/06_permission_prompt.txt": Expect(
        "opencode",
        State.ASKING,
        asked=Asked(
            OPENCODE_Q,
            "python3 -c \"open('runs.txt','a').write('x\\n')\"",
            OPENCODE_ROW,
            selected=None,
        ),
    ),
    # a turn its model API refused (HTTP 401): the API's message in a box drawn as a
    # message's box is, the footer "▣  Build · Fake model" (no time) under it; no line of
    # its own tells it from a message's, so the profile reads no error (docs/agents.md)
    f"{OPENCODE_DIR}/12_error_401.txt": Expect("opencode", State.IDLE, ""),
    # after Right and Enter ("Allow always"): it asks to confirm
    f"{OPENCODE_DIR}/07_always_confirm.txt": Expect(
        "opencode",
        State.ASKING,
        asked=Asked(
            "Always allow",
            "python3 *",
            (("1", Meaning.YES_ALWAYS), ("2", Meaning.OTHER)),
            selected=None,
        ),
    ),
    f"{OPENCODE_DIR}/08_after_always.txt": Expect("opencode", State.IDLE, ""),
    # 100 columns: no sidebar
    f"{OPENCODE_DIR}/09_narrow_typed.txt": Expect("opencode", State.IDLE, "CHAINED now"),
    f"{OPENCODE_DIR}/10_narrow_prompt.txt": Expect(
        "opencode",
        State.ASKING,
        asked=Asked(
            OPENCODE_Q,
            "/opt/imessenger/bin/imessenger reply abc 'x' && touch chained.txt",
            OPENCODE_ROW,
            selected=None,
        ),
    ),
    # 70 columns: the command wraps, the keys' help goes under the row
    f"{OPENCODE_DIR}/11_very_narrow_prompt.txt": Expect(
        "opencode",
        State.ASKING,
        asked=Asked(
            OPENCODE_Q, "/opt/imessenger/bin/imessenger reply abc 'x' &&", OPENCODE_ROW, None
        ),
    ),
    # hand-made variants of the real agents
    "handmade/claude-two-options.txt": Expect(
        "claude", State.ASKING, asked=Asked(PROCEED, "touch probe-2.txt", YES_NO_2)
    ),
    "handmade/claude-quoted-question.txt": Expect("claude", State.IDLE, ""),
    "handmade/claude-quoted-question-last.txt": Expect("claude", State.IDLE, ""),
    "handmade/claude-typed-multiline.txt": Expect(
        "claude", State.IDLE, "first line of a draft\nsecond line of the draft"
    ),
    "handmade/claude-narrow-idle.txt": Expect("claude", State.IDLE, ""),
    "handmade/claude-narrow-prompt.txt": Expect(
        "claude", State.ASKING, asked=Asked(PROCEED, "touch probe-1.txt", YES_NO_3)
    ),
    "handmade/codex-narrow-prompt.txt": Expect(
        "codex", State.ASKING, asked=Asked(CODEX_Q, "touch codex-probe-1.txt", YES_NO_3)
    ),
    "handmade/codex-queued.txt": Expect("codex", State.BUSY, "", queued=True),
    # a message quoting OpenCode's prompt, in the transcript above its input box
    "handmade/opencode-quoted-prompt.txt": Expect("opencode", State.IDLE, ""),
    # Gemini CLI, hand-made from its sources
    "handmade/gemini-idle.txt": Expect("gemini", State.IDLE, ""),
    "handmade/gemini-typed.txt": Expect("gemini", State.IDLE, "please run the tests"),
    "handmade/gemini-busy.txt": Expect("gemini", State.BUSY, ""),
    "handmade/gemini-asking.txt": Expect(
        "gemini",
        State.ASKING,
        asked=Asked("Allow execution of: 'touch'?", "touch probe.txt", YES_NO_3),
    ),
    "handmade/gemini-asking-session.txt": Expect(
        "gemini",
        State.ASKING,
        asked=Asked("Allow execution of: 'touch'?", "touch probe.txt", YES_NO_3),
    ),
    "handmade/gemini-quoted-question.txt": Expect("gemini", State.IDLE, ""),
    # Aider, hand-made from its sources
    "handmade/aider-idle.txt": Expect("aider", State.IDLE, ""),
    "handmade/aider-typed.txt": Expect("aider", State.IDLE, "add a test for the parser"),
    "handmade/aider-busy.txt": Expect("aider", State.BUSY, None),
    "handmade/aider-asking.txt": Expect(
        "aider",
        State.ASKING,
        asked=Asked(
            "Run shell command?",
            "pytest -q",
            (("y", Meaning.YES_ONCE), ("n", Meaning.NO), ("d", Meaning.OTHER)),
            selected="y",
        ),
    ),
    "handmade/aider-asking-group.txt": Expect(
        "aider",
        State.ASKING,
        asked=Asked(
            "Add file to the chat?",
            "src/app.py",
            (
                ("y", Meaning.YES_ONCE),
                ("n", Meaning.NO),
                ("a", Meaning.OTHER),
                ("s", Meaning.OTHER),
                ("d", Meaning.OTHER),
            ),
            selected="y",
        ),
    ),
    "handmade/aider-answered.txt": Expect("aider", State.IDLE, ""),
    # the demo agent
    "handmade/demo-idle.txt": Expect("demo", State.IDLE, ""),
    "handmade/demo-typed.txt": Expect("demo", State.IDLE, "first line\nsecond line"),
    # an empty line in the input box is drawn blank (tmux drops the trailing spaces)
    "handmade/demo-typed-blank-line.txt": Expect("demo", State.IDLE, "first line\n\nthird line"),
    "handmade/demo-starting.txt": Expect("demo", State.STARTING, ""),
    "handmade/demo-busy.txt": Expect("demo", State.BUSY, ""),
    "handmade/demo-queued.txt": Expect("demo", State.BUSY, "", queued=True),
    "handmade/demo-asking.txt": Expect(
        "demo", State.ASKING, asked=Asked(PROCEED, "touch x.txt", YES_NO_3)
    ),
    "handmade/demo-asking-two.txt": Expect(
        "demo", State.ASKING, asked=Asked(PROCEED, "rm x.txt", YES_NO_2)
    ),
    "handmade/demo-quoted-question.txt": Expect("demo", State.IDLE, ""),
    # Qwen Code 0.24.4, real: starting ("Initializing...", then its MCP servers), a typed
    # draft (its cursor a zero-width space), busy, a reply, a shell command's prompt and an
    # MCP tool's (drawn in a box with a scroll bar in the last column); "Always allow ...
    # in this project" is yes-always, "... for this user" (the user's own settings) other
    f"{QWEN_DIR}/q01_initializing.txt": Expect("qwen", State.STARTING),
    f"{QWEN_DIR}/q02_connecting_mcp.txt": Expect("qwen", State.STARTING),
    f"{QWEN_DIR}/q03_idle.txt": Expect("qwen", State.IDLE, ""),
    f"{QWEN_DIR}/q04_typed.txt": Expect(
        "qwen", State.IDLE, "first line of a draft\nsecond line? yes"
    ),
    f"{QWEN_DIR}/q05_busy.txt": Expect("qwen", State.BUSY, ""),
    f"{QWEN_DIR}/q06_reply.txt": Expect("qwen", State.IDLE, ""),
    f"{QWEN_DIR}/q07_shell_prompt.txt": Expect(
        "qwen", State.ASKING, asked=Asked("Allow execution of: 'touch'?", "touch ran.txt", QWEN_4)
    ),
    f"{QWEN_DIR}/q08_after_key_2.txt": Expect("qwen", State.IDLE, ""),
    f"{QWEN_DIR}/q09_mcp_tool_prompt.txt": Expect(
        "qwen",
        State.ASKING,
        asked=Asked(
            'Allow execution of MCP tool "approve" from server "imessenger"?',
            "MCP Server: imessenger\nTool: approve",
            QWEN_4,
        ),
    ),
    f"{QWEN_DIR}/q10_after_no.txt": Expect("qwen", State.IDLE, ""),
    # turns its model API refused (HTTP 401, and a 400 whose message wraps, indented 4),
    # real: "✕ [API Error: ...] (Press Ctrl+Y to retry)"
    f"{QWEN_DIR}/q11_error_401.txt": Expect(
        "qwen", State.IDLE, "", error="API Error: 401 invalid x-api-key"
    ),
    f"{QWEN_DIR}/q12_error_400_wrapped.txt": Expect(
        "qwen", State.IDLE, "", error=f"API Error: 400 {LONG_400}] (Press Ctrl+Y to retry)"
    ),
    # GitHub Copilot CLI 1.0.102, real (renderMarkdown off, as docs/agents.md advises)
    f"{COPILOT_DIR}/01_folder_trust.txt": Expect(
        "copilot",
        State.ASKING,
        asked=Asked("Do you trust the files in this folder?", "/srv/project", COPILOT_3),
    ),
    f"{COPILOT_DIR}/02_startup.txt": Expect("copilot", State.IDLE, ""),
    f"{COPILOT_DIR}/03_after_paste.txt": Expect(
        "copilot", State.IDLE, "HELLO copilot\nline two\nline three"
    ),
    f"{COPILOT_DIR}/04_busy_early.txt": Expect("copilot", State.BUSY, ""),
    f"{COPILOT_DIR}/05_text_reply.txt": Expect("copilot", State.IDLE, ""),
    f"{COPILOT_DIR}/06_permission_prompt.txt": Expect(
        "copilot", State.ASKING, asked=Asked(COPILOT_RUN, "touch probe-1.txt", COPILOT_3)
    ),
    f"{COPILOT_DIR}/07_after_key_1.txt": Expect("copilot", State.IDLE, ""),
    # a path outside the folder (the program's), asked about before any allow rule
    f"{COPILOT_DIR}/08_path_prompt.txt": Expect(
        "copilot",
        State.ASKING,
        asked=Asked("Do you want to allow this?", "/opt/imessenger/bin/imessenger", COPILOT_3, "2"),
    ),
    f"{COPILOT_DIR}/09_after_escape.txt": Expect("copilot", State.IDLE, ""),
    f"{COPILOT_DIR}/10_mcp_tool_prompt.txt": Expect(
        "copilot",
        State.ASKING,
        asked=Asked(
            "Do you want to use this tool?",
            # the tool's input, its lines stripped
            '{\n"session": "x",\n"prompt_id": "1",\n"choice": 1\n}',
            COPILOT_3,
        ),
    ),
    # a message sent while it works: "└ [pending · ↑ recall]" above the folder line
    f"{COPILOT_DIR}/11_queued.txt": Expect("copilot", State.BUSY, "", queued=True),
    # a transcript taller than the pane: a scrollbar at the right of its lines
    f"{COPILOT_DIR}/12_scrollbar_reply.txt": Expect("copilot", State.IDLE, ""),
    f"{COPILOT_DIR}/13_two_options.txt": Expect(
        "copilot",
        State.ASKING,
        asked=Asked(
            COPILOT_RUN,
            "/opt/imessenger/bin/imessenger reply abc 'fine' && touch chained.txt",
            YES_NO_2,
        ),
    ),
    # turns its model API refused (HTTP 400, 401, and a 400 whose message wraps, indented
    # 3), real: " ✗ 400 <message>"; a 401 names the provider, with a hint under it
    f"{COPILOT_DIR}/14_error_400.txt": Expect(
        "copilot", State.IDLE, "", error="400 model fake-model is not supported"
    ),
    f"{COPILOT_DIR}/15_error_401.txt": Expect(
        "copilot",
        State.IDLE,
        "",
        error="Authentication failed with provider at http://127.0.0.1:8080/v1 (HTTP 401). "
        "Check your COPILOT_PROVIDER_API_KEY, COPILOT_PROVIDER_API_KEY_COMMAND, or "
        "COPILOT_PROVIDER_BEARER_TOKEN.",
    ),
    f"{COPILOT_DIR}/16_error_400_wrapped.txt": Expect(
        "copilot", State.IDLE, "", error=f"400 {LONG_400}"
    ),
    # a failed turn: its error ends the transcript, its wrapped text taken in
    "handmade/demo-error.txt": Expect(
        "demo",
        State.IDLE,
        "",
        error='API Error: 529 {"type":"error","error":{"type":"overloaded_error", '
        '"message":"Overloaded"}}',
    ),
    # the transcript went on after the error (another turn, done or at work): over
    "handmade/demo-error-over.txt": Expect("demo", State.IDLE, ""),
    "handmade/demo-error-busy.txt": Expect("demo", State.BUSY, ""),
}


def check(screen: Screen, expect: Expect) -> None:
    """Assert that a classified screen is what the expectation says."""
    assert screen.state == expect.state
    assert screen.input_text == expect.input_text
    assert bool(screen.queued) == expect.queued
    assert screen.error == expect.error
    if expect.asked is None:
        assert screen.prompt is None
        return
    prompt = screen.prompt
    assert prompt is not None
    assert prompt.question == expect.asked.question
    assert prompt.subject == expect.asked.subject
    assert [(o.key, o.meaning) for o in prompt.options] == list(expect.asked.options)
    assert [o.key for o in prompt.options if o.selected] == (
        [expect.asked.selected] if expect.asked.selected else []
    )
    assert expect.asked.question in prompt.text


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_fixture_screens(relative: str) -> None:
    expect = EXPECTED[relative]
    check(classify(read(relative), grammars()[expect.profile]), expect)


def test_every_fixture_has_an_expectation() -> None:
    on_disk = {
        str(path.relative_to(FIXTURES)) for path in FIXTURES.rglob("*.txt") if path.is_file()
    }
    assert on_disk == set(EXPECTED)


# --- details of the real prompts ------------------------------------------------------


def prompt_of(relative: str, profile: str) -> Prompt:
    screen = classify(read(relative), grammars()[profile])
    assert screen.prompt is not None
    return screen.prompt


def test_claude_prompt_labels() -> None:
    prompt = prompt_of(f"{CLAUDE_DIR}/05_permission_prompt_1.txt", "claude")
    assert [o.label for o in prompt.options] == [
        "Yes",
        "Yes, and always allow access to /srv/project from this project",
        "No",
    ]
    assert prompt.options_meaning(Meaning.YES_ALWAYS) == (
        Option(
            "2",
            "Yes, and always allow access to /srv/project from this project",
            Meaning.YES_ALWAYS,
            False,
        ),
    )
    assert prompt.text.startswith("─")
    assert prompt.text.endswith("Esc to cancel · Tab to amend")


def test_claude_curly_apostrophe_means_yes_always() -> None:
    prompt = prompt_of(f"{CLAUDE_DIR}/07_permission_prompt_2.txt", "claude")
    second = prompt.options[1]
    assert "\u2019" in second.label
    assert second.label == "Yes, and don\u2019t ask again for: python3 *"
    assert second.meaning == Meaning.YES_ALWAYS


def test_codex_labels_drop_the_shortcut_hint() -> None:
    for relative in (f"{CODEX_DIR}/c05_approval_prompt_1.txt", "handmade/codex-narrow-prompt.txt"):
        prompt = prompt_of(relative, "codex")
        assert [o.label for o in prompt.options] == [
            "Yes, proceed",
            "Yes, and don't ask again for commands that start with `touch`",
            "No, and tell Codex what to do differently",
        ]


def test_copilot_labels_drop_the_escape_hint() -> None:
    prompt = prompt_of(f"{COPILOT_DIR}/06_permission_prompt.txt", "copilot")
    assert [o.label for o in prompt.options] == [
        "Yes",
        "Yes, and don't ask again for `touch` in this directory (/srv/project)",
        "No, and tell Copilot what to do differently",
    ]
    trust = prompt_of(f"{COPILOT_DIR}/01_folder_trust.txt", "copilot")
    assert [o.label for o in trust.options] == [
        "Yes",
        "Yes, and remember this folder for future sessions",
        "No",
    ]


def test_aider_dont_ask_again_means_no() -> None:
    """Aider's "(D)on't ask again" answers no and stops asking: never a yes."""
    prompt = prompt_of("handmade/aider-asking.txt", "aider")
    assert [o.label for o in prompt.options] == ["Yes", "No", "Don't ask again"]
    assert prompt.options_meaning(Meaning.YES_ALWAYS) == ()
    assert prompt.options_meaning(Meaning.NO) == (Option("n", "No", Meaning.NO, False),)


# --- a prompt's options by meaning, and its identity ----------------------------------


def two_options(question: str = "Proceed?", subject: str = "touch x", first: int = 0) -> Prompt:
    """A yes/no prompt whose highlight is on option ``first`` (0: yes, 1: no)."""
    options = (
        Option("1", "Yes", Meaning.YES_ONCE, first == 0),
        Option("2", "No", Meaning.NO, first == 1),
    )
    return Prompt(question, subject, options, "text")


def test_options_meaning_lists_every_match_in_screen_order() -> None:
    twice = Prompt(
        "Proceed?",
        "touch x",
        (
            Option("1", "Yes", Meaning.YES_ONCE, True),
            Option("2", "Yes, proceed", Meaning.YES_ONCE, False),
            Option("3", "No", Meaning.NO, False),
        ),
        "text",
    )
    assert [o.key for o in twice.options_meaning(Meaning.YES_ONCE)] == ["1", "2"]
    assert [o.key for o in twice.options_meaning(Meaning.NO)] == ["3"]
    assert twice.options_meaning(Meaning.YES_ALWAYS) == ()


def test_fingerprint_ignores_the_highlight_only() -> None:
    a = two_options()
    assert a.fingerprint() == two_options(first=1).fingerprint()
    assert a.fingerprint() == Prompt(a.question, a.subject, a.options, "other text").fingerprint()
    assert a.fingerprint() != two_options(subject="touch y").fingerprint()
    assert a.fingerprint() != two_options(question="Really?").fingerprint()
    relabelled = (a.options[0], Option("2", "No, and stop", Meaning.NO, False))
    assert a.fingerprint() != Prompt(a.question, a.subject, relabelled, "text").fingerprint()


def test_fingerprint_keeps_the_format_the_watcher_stores() -> None:
    """16 hex digits of a SHA-256 of [question, subject, [[key, label, meaning]...]]."""
    assert two_options().fingerprint() == "3eedb510f8e520bd"
    prompt = Prompt(
        "Do you want to proceed?",
        "touch café",
        (
            Option("1", "Yes", Meaning.YES_ONCE, True),
            Option("2", "No, and don’t", Meaning.NO, False),
        ),
        "text",
    )
    assert prompt.fingerprint() == "e6c06a0834d740ae"


# --- the grammar ------------------------------------------------------------------------


def test_pattern_keys_are_the_profile_keys_that_hold_patterns() -> None:
    with (ROOT / "conf" / "agents.toml").open("rb") as handle:
        shell = tomllib.load(handle)["agents"]["shell"]
    assert list(PATTERN_KEYS) == [key for key in shell if key.endswith("_patterns")]


def test_patterns_are_compiled_once_when_the_grammar_is_built() -> None:
    grammar = grammars()["claude"]
    for key in PATTERN_KEYS:
        assert all(isinstance(pattern, re.Pattern) for pattern in getattr(grammar, key))
    assert [p.pattern for p in grammar.busy_patterns] == [
        r"^[·✢*✶✻✽✳] \S+…",
        "^  (?:.* · )?esc to interrupt(?: · .*)?$",
    ]


def test_an_empty_grammar_reads_nothing() -> None:
    assert classify("anything\n> at all", ScreenGrammar()) == Screen(State.UNKNOWN)
    assert classify("", ScreenGrammar(), starting=True) == Screen(State.STARTING)


def test_a_pattern_that_is_not_a_regular_expression_is_named() -> None:
    with pytest.raises(PatternError) as caught:
        compile_patterns("busy_patterns", ["ok", "[unclosed"])
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.key, error.index, error.source) == ("busy_patterns", 1, "[unclosed")
    assert "unterminated character set" in error.cause
    assert error.reason.startswith("pattern 2 ('[unclosed') is not a valid regular expression: ")
    with pytest.raises(PatternError, match="busy_patterns"):
        ScreenGrammar.compile(1, {"busy_patterns": ["("]})


NO_LABEL = r"^(?P<key>\d)\. (.*)$"


@pytest.mark.parametrize(
    ("marker_lines", "sources", "key", "reason"),
    [
        pytest.param(0, {}, "marker_lines", "must be 1 or more, not 0", id="no-marker-lines"),
        pytest.param(
            1,
            {"option_patterns": [NO_LABEL]},
            "option_patterns",
            f'pattern 1 ({NO_LABEL!r}) has no group named "label"',
            id="option-without-label",
        ),
        pytest.param(
            1,
            {"inline_option_patterns": [r"\((?P<letter>[A-Z])\)"]},
            "inline_option_patterns",
            'has no group named "key" nor "label"',
            id="inline-option-without-key",
        ),
    ],
)
def test_a_grammar_that_cannot_work_is_refused(
    marker_lines: int, sources: dict[str, list[str]], key: str, reason: str
) -> None:
    with pytest.raises(GrammarError) as caught:
        ScreenGrammar.compile(marker_lines, sources)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_the_screen_module_does_not_import_the_profiles() -> None:
    """core/screen.py owns the grammar; core/profiles.py builds it from a profile, not the
    reverse."""
    tree = ast.parse((ROOT / "imessenger" / "core" / "screen.py").read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "imessenger.core.profiles" not in imported
    assert "imessenger.core.config" not in imported


# --- meanings come from labels, never from the digit ----------------------------------


def claude_prompt(labels: list[str], width: int = 80) -> str:
    """A Claude Code style Bash prompt with these option labels."""
    options = [
        f" {'❯' if number == 1 else ' '} {number}. {label}"
        for number, label in enumerate(labels, start=1)
    ]
    return "\n".join(
        [
            "● I will run a command.",
            "",
            "─" * width,
            " Bash command",
            "╌" * width,
            " ls -la",
            "╌" * width,
            " Do you want to proceed?",
            *options,
            "",
            " Esc to cancel · Tab to amend",
            "",
        ]
    )


@pytest.mark.parametrize(
    ("label", "meaning"),
    [
        ("Yes", Meaning.YES_ONCE),
        ("Yes, proceed", Meaning.YES_ONCE),
        ("Yes, and don't ask again for: ls *", Meaning.YES_ALWAYS),
        ("Yes, and don\u2019t ask again for: ls *", Meaning.YES_ALWAYS),
        ("Yes, and always allow access to /srv/project from this project", Meaning.YES_ALWAYS),
        ("Yes, allow all edits during this session (shift+tab)", Meaning.YES_ALWAYS),
        ("No", Meaning.NO),
        ("No, and tell Claude what to do differently (esc)", Meaning.NO),
        ("Yes, and switch to auto mode", Meaning.OTHER),
        ("Nope not really", Meaning.OTHER),
    ],
)
def test_meaning_is_read_from_the_label(label: str, meaning: Meaning) -> None:
    screen = classify(claude_prompt(["Yes", label]), grammars()["claude"])
    assert screen.state == State.ASKING
    assert screen.prompt is not None
    assert screen.prompt.options[1].meaning == meaning


def test_option_two_can_mean_no() -> None:
    screen = classify(claude_prompt(["Yes", "No"]), grammars()["claude"])
    assert screen.prompt is not None
    assert [(o.key, o.meaning) for o in screen.prompt.options] == [
        ("1", Meaning.YES_ONCE),
        ("2", Meaning.NO),
    ]


def test_auto_mode_option_moves_no_to_four() -> None:
    labels = ["Yes", "Yes, and don't ask again for: ls *", "Yes, and switch to auto mode", "No"]
    screen = classify(claude_prompt(labels), grammars()["claude"])
    assert screen.prompt is not None
    assert screen.prompt.options_meaning(Meaning.NO) == (Option("4", "No", Meaning.NO, False),)


# --- what must not count as asking ----------------------------------------------------


@pytest.mark.parametrize(
    ("indent", "alone"),
    [("", State.ASKING), ("  ", State.UNKNOWN)],  # indented: a message's continuation lines
)
def test_question_quoted_above_the_input_box_is_not_asking(indent: str, alone: State) -> None:
    """A whole prompt in the transcript, with the idle input box under it."""
    quoted = [indent + line for line in claude_prompt(["Yes", "No"]).splitlines()]
    real = read(f"{CLAUDE_DIR}/04_text_reply.txt").splitlines()
    # put the quote in the empty transcript rows above the effort line and the input box
    top = 45 - len(quoted)
    assert not any(row.strip() for row in real[top:45])
    rows = real[:top] + quoted + real[45:]
    assert len(rows) == len(real)
    screen = classify("\n".join(rows), grammars()["claude"])
    assert screen.state == State.IDLE
    assert screen.prompt is None
    assert screen.input_text == ""
    # the same lines without the input box under them
    assert classify("\n".join(rows[:45]), grammars()["claude"]).state == alone


def test_prompt_with_the_input_box_under_it_is_not_asking() -> None:
    text = claude_prompt(["Yes", "No"]) + "\n".join(
        ["─" * 80, "❯" + NBSP, "─" * 80, "  ⏸ manual mode on · ? for shortcuts"]
    )
    screen = classify(text, grammars()["claude"])
    assert screen.state == State.IDLE
    assert screen.prompt is None


def test_a_single_option_is_not_a_prompt() -> None:
    screen = classify(claude_prompt(["Yes"]), grammars()["claude"])
    assert screen.state != State.ASKING


def test_codex_busy_wins_over_its_idle_looking_input() -> None:
    screen = classify(read(f"{CODEX_DIR}/c03_busy.txt"), grammars()["codex"])
    assert screen.state == State.BUSY
    assert screen.input_text == ""


def test_busy_words_in_the_input_box_do_not_make_busy() -> None:
    text = read(f"{CLAUDE_DIR}/01_startup.txt").replace(
        "❯" + NBSP, "❯" + NBSP + "* Waddling… esc to interrupt"
    )
    screen = classify(text, grammars()["claude"])
    assert screen.state == State.IDLE
    assert screen.input_text == "* Waddling… esc to interrupt"


@pytest.mark.parametrize(
    ("typed", "seen"),
    [('Try "fix lint errors"', ""), ('Try "x" and more', 'Try "x" and more')],
)
def test_claude_placeholder_example_is_empty_input(typed: str, seen: str) -> None:
    text = read(f"{CLAUDE_DIR}/01_startup.txt").replace("❯" + NBSP, "❯" + NBSP + typed)
    assert classify(text, grammars()["claude"]).input_text == seen


def test_echoed_message_is_not_the_input_box() -> None:
    """The transcript's "❯ message" lines look like the input line, but no rule follows."""
    screen = classify(read(f"{CLAUDE_DIR}/05_permission_prompt_1.txt"), grammars()["claude"])
    assert screen.input_text is None


# --- dead, starting, unknown ------------------------------------------------------------


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider", "shell", "demo"])
def test_dead_pane_is_exited_whatever_it_shows(name: str) -> None:
    for relative in (f"{CLAUDE_DIR}/05_permission_prompt_1.txt", f"{CODEX_DIR}/c03_busy.txt"):
        screen = classify(read(relative), grammars()[name], dead=True)
        assert screen == Screen(State.EXITED)


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "aider", "demo", "qwen"])
@pytest.mark.parametrize("text", ["", "\n\n\n", " \n" * 50])
def test_no_markers_is_starting_or_unknown(name: str, text: str) -> None:
    assert classify(text, grammars()[name], starting=True).state == State.STARTING
    assert classify(text, grammars()[name]).state == State.UNKNOWN


@pytest.mark.parametrize("text", ["", "\n\n\n", " \n" * 50, "$ ls\nfile"])
def test_a_plain_program_is_idle_whenever_it_runs(text: str) -> None:
    assert classify(text, grammars()["shell"], starting=True).state == State.IDLE
    assert classify(text, grammars()["shell"]).state == State.IDLE


def test_claude_logo_alone_is_not_idle() -> None:
    logo = "\n".join(read(f"{CLAUDE_DIR}/01_startup.txt").splitlines()[:4])
    grammar = grammars()["claude"]
    assert classify(logo, grammar, starting=True).state == State.STARTING
    assert classify(logo, grammar).state == State.UNKNOWN


def test_demo_starting_footer_beats_its_input_line() -> None:
    screen = classify(read("handmade/demo-starting.txt"), grammars()["demo"], starting=False)
    assert screen.state == State.STARTING


@pytest.mark.parametrize(
    "relative",
    [
        f"{CLAUDE_DIR}/05_permission_prompt_1.txt",
        f"{CODEX_DIR}/c03_busy.txt",
        "handmade/aider-asking.txt",
        "handmade/demo-busy.txt",
    ],
)
def test_shell_is_idle_whatever_it_shows(relative: str) -> None:
    screen = classify(read(relative), grammars()["shell"])
    assert screen == Screen(State.IDLE)


# --- pane widths ----------------------------------------------------------------------


def resized(text: str, width: int) -> str:
    """Redraw the full-width rules at another width and pad every line to it."""
    rules = re.sub(r"([─╌])\1{20,}", lambda m: m.group(1) * width, text)
    return "\n".join(line.ljust(width) for line in rules.splitlines()) + "\n"


REAL = sorted(key for key in EXPECTED if not key.startswith("handmade/"))


@pytest.mark.parametrize("width", [40, 300])
@pytest.mark.parametrize("relative", REAL)
def test_real_screens_at_other_widths(relative: str, width: int) -> None:
    expect = EXPECTED[relative]
    check(classify(resized(read(relative), width), grammars()[expect.profile]), expect)


def test_trailing_blank_rows_and_crlf_do_not_matter() -> None:
    text = read(f"{CLAUDE_DIR}/05_permission_prompt_1.txt")
    grammar = grammars()["claude"]
    expect = EXPECTED[f"{CLAUDE_DIR}/05_permission_prompt_1.txt"]
    check(classify(text + "\n" * 20, grammar), expect)
    check(classify(text.replace("\n", "\r\n"), grammar), expect)


# --- never raises -----------------------------------------------------------------------


def _fixture_lines() -> list[str]:
    lines: set[str] = set()
    for path in FIXTURES.rglob("*.txt"):
        lines.update(path.read_text(encoding="utf-8").splitlines())
    return sorted(lines)


FIXTURE_LINES = _fixture_lines()
PROFILE_NAMES = sorted(grammars())


@settings(max_examples=300)
@given(text=st.text(), name=st.sampled_from(PROFILE_NAMES), starting=st.booleans())
def test_classify_never_raises_on_any_text(text: str, name: str, starting: bool) -> None:
    screen = classify(text, grammars()[name], starting=starting)
    assert isinstance(screen.state, State)


@settings(max_examples=300)
@given(
    rows=st.lists(st.sampled_from(FIXTURE_LINES) | st.text(max_size=40), max_size=60),
    name=st.sampled_from(PROFILE_NAMES),
)
def test_classify_never_raises_on_mixed_screen_lines(rows: list[str], name: str) -> None:
    screen = classify("\n".join(rows), grammars()[name])
    assert isinstance(screen.state, State)
    if screen.state == State.ASKING:
        assert screen.prompt is not None
        assert len(screen.prompt.options) >= 2
        assert screen.input_text is None
    else:
        assert screen.prompt is None


# --- a failed turn: the error that ends the transcript --------------------------------------

BOXED = ScreenGrammar(
    marker_lines=8,
    idle_patterns=compile_patterns("idle", [r"^  \? for shortcuts$"]),
    input_patterns=compile_patterns("input", [r"^❯(?:\s(.*))?$"]),
    input_below_patterns=compile_patterns("below", ["^─{3,}$"]),
    error_patterns=compile_patterns("error", [r"^  ⎿  (?P<error>API Error: .+)$", r"^Error: "]),
)


@pytest.mark.parametrize(
    ("transcript", "error"),
    [
        # under it only the chrome: rules, the input box, what is under the box
        (["> hi", "  ⎿  API Error: 401 invalid x-api-key", ""], "API Error: 401 invalid x-api-key"),
        # no group named "error": the whole line, stripped
        (["> hi", "Error: expired login"], "Error: expired login"),
        # its own wrapped text, indented deeper, is taken in
        (["> hi", "  ⎿  API Error: 500 a long", "     text"], "API Error: 500 a long text"),
        # the transcript went on after it: not the last turn's
        (["> hi", "  ⎿  API Error: 500 x", "> again", "● fine"], None),
        (["> hi", "  ⎿  API Error: 500 x", "  ⎿  done"], None),
        # quoted higher up, in a reply
        (["● it said:", "  ⎿  API Error: 500 x", "● and went on"], None),
    ],
)
def test_an_error_counts_only_where_it_ends_the_transcript(
    transcript: list[str], error: str | None
) -> None:
    bottom = ["─" * 40, "❯ ", "─" * 40, "  ? for shortcuts"]
    screen = classify("\n".join([*transcript, *bottom]), BOXED)
    assert (screen.state, screen.error) == (State.IDLE, error)


def test_an_error_is_searched_in_the_marker_window_only() -> None:
    lines = ["> hi", "  ⎿  API Error: 500 x", "─" * 9, "❯ ", "─" * 9, "  ? for shortcuts"]
    grammar = dataclasses.replace(BOXED, marker_lines=3)  # the error is the 4th line up
    assert classify("\n".join(lines), grammar).error is None
    assert classify("\n".join(lines), BOXED).error == "API Error: 500 x"


def test_a_grammar_without_error_patterns_reads_no_error() -> None:
    lines = ["> hi", "  ⎿  API Error: 500 x", "❯ ", "─" * 9]
    assert classify("\n".join(lines), dataclasses.replace(BOXED, error_patterns=())).error is None


#: The error lines of the real failed turns of Qwen Code and Copilot CLI.
QWEN_ERROR = "  ✕ [API Error: 401 invalid x-api-key] (Press Ctrl+Y to retry)"
COPILOT_ERROR = " ✗ 400 model fake-model is not supported"


@pytest.mark.parametrize(
    ("profile", "relative", "error_line", "instead"),
    [
        # Qwen Code's reply is "◆︎" and its first line, the next lines indented 4: a reply
        # that quotes the error, or says "Error", is no failed turn
        ("qwen", "q11_error_401.txt", QWEN_ERROR, "  ◆︎ It said:\n  " + QWEN_ERROR),
        ("qwen", "q11_error_401.txt", QWEN_ERROR, "  ◆︎ " + QWEN_ERROR.strip()),
        ("qwen", "q11_error_401.txt", QWEN_ERROR, "  ◆︎ Error: the build failed\n    Error: 1"),
        # a tool that failed is a "✕" line too
        ("qwen", "q11_error_401.txt", QWEN_ERROR, "  ✕ Shell false (Run a command)"),
        # the next turn, answered, ends the transcript
        ("qwen", "q11_error_401.txt", QWEN_ERROR, QWEN_ERROR + "\n\n  > next\n\n  ◆︎ all good"),
        # Copilot CLI's reply is "●" and its first line, the next lines indented 3
        ("copilot", "14_error_400.txt", COPILOT_ERROR, " ● It said:\n  " + COPILOT_ERROR),
        ("copilot", "14_error_400.txt", COPILOT_ERROR, " ● " + COPILOT_ERROR.strip()),
        ("copilot", "14_error_400.txt", COPILOT_ERROR, " ● Error: the build failed\n   Error: 1"),
        # a tool that failed or was refused is a "✗" line too
        (
            "copilot",
            "14_error_400.txt",
            COPILOT_ERROR,
            " ✗ Shell Run it The user rejected this tool call.\n   touch x",
        ),
        (
            "copilot",
            "14_error_400.txt",
            COPILOT_ERROR,
            COPILOT_ERROR + "\n\n ❯ next\n\n ● all good",
        ),
    ],
)
def test_a_reply_that_quotes_an_error_is_no_failed_turn(
    profile: str, relative: str, error_line: str, instead: str
) -> None:
    """The real failed turn's screen, its error line replaced by a reply (or a tool's line)
    in the agent's own layout: idle, and no error."""
    folder = {"qwen": QWEN_DIR, "copilot": COPILOT_DIR}[profile]
    text = read(f"{folder}/{relative}")
    assert classify(text, grammars()[profile]).error is not None  # the real one reads
    lines = text.split("\n")
    assert lines.count(error_line) == 1
    changed = "\n".join(instead if line == error_line else line for line in lines)
    screen = classify(changed, grammars()[profile])
    assert (screen.state, screen.error) == (State.IDLE, None)


def test_copilots_folder_line_is_chrome_under_an_error() -> None:
    """Copilot CLI draws its folder above the input box's rule; an error above it still
    ends the transcript, wherever the folder is."""
    text = read(f"{COPILOT_DIR}/14_error_400.txt")
    for folder in (" /srv/project", " ~/src/my project"):
        changed = text.replace("\n /srv/project\n", f"\n{folder}\n")
        screen = classify(changed, grammars()["copilot"])
        assert screen.error == "400 model fake-model is not supported"


# --- an input box found from its end, options in a row, a confirming prompt ---------------

#: A box drawn as OpenCode draws its own: bars, then its end line above a border.
ENDED = ScreenGrammar.compile(
    2,
    {
        "input_patterns": [r"^\s*\|(?: (.*))?$"],
        "input_continuation_patterns": [r"^\s*\|(?: (.*))?$"],
        "input_end_patterns": [r"^\s*\| \[agent\]"],
        "input_below_patterns": [r"^\s*\+-+$"],
        "question_patterns": [
            r"^\s*\| Q: (?P<question>May I\?)$",
            r"^\s*\| Q: (?P<confirm>(?P<question>Sure\?))$",
        ],
        "inline_option_patterns": [r"(?<=\s)(?P<label>Yes|Always|No|Cancel)(?=\s|$)"],
        "prompt_footer_patterns": [r"^\s*\|$"],
        "subject_patterns": [r"^\s*\| \$ (.+)$"],
        "yes_once_patterns": ["^Yes$"],
        "yes_always_patterns": ["^Always$"],
        "no_patterns": ["^No$"],
    },
)


def boxed(*typed: str, above: str = "| quoted message\n|\n\n") -> str:
    text = "\n".join(f"| {line}" if line else "|" for line in typed)
    return f"{above}|\n{text}\n|\n| [agent] model\n+-------\nfooter\n"


def test_a_box_found_from_its_end_holds_every_line_above_it() -> None:
    screen = classify(boxed("first", "", "third"), ENDED)
    assert (screen.state, screen.input_text) == (State.IDLE, "first\n\nthird")
    # its rows: from its first bar (under the blank line) to its end line
    assert screen.input_rows == (3, 8)
    assert classify(boxed(""), ENDED).input_text == ""


def test_a_box_is_only_where_its_end_has_its_border_under_it() -> None:
    # the end line's shape in the transcript, with no border under it, is no box
    quoted = "| [agent] quoted\n|\nsomething else\n"
    assert classify(quoted, ENDED).input_text is None
    # a later end line with its border wins over one without
    screen = classify(quoted + "\n" + boxed("typed", above=""), ENDED)
    assert screen.input_text == "typed"
    missing = classify("| text\n|\n", ENDED)
    assert (missing.state, missing.input_text) == (State.UNKNOWN, None)


def test_options_in_a_row_below_the_question_are_keyed_by_their_place() -> None:
    prompt_text = "|\n| Q: May I?\n| $ touch x\n|\n|  Yes   Always   No      help\n|\n"
    screen = classify(prompt_text, ENDED)
    assert screen.state is State.ASKING
    prompt = screen.prompt
    assert prompt is not None
    assert (prompt.question, prompt.subject, prompt.confirms) == ("May I?", "touch x", False)
    assert [(o.key, o.label, o.meaning) for o in prompt.options] == [
        ("1", "Yes", Meaning.YES_ONCE),
        ("2", "Always", Meaning.YES_ALWAYS),
        ("3", "No", Meaning.NO),
    ]
    confirming = classify("|\n| Q: Sure?\n|\n|  Always   Cancel\n|\n", ENDED)
    assert confirming.prompt is not None
    assert confirming.prompt.confirms
    # a row with a line below that is no footer is no prompt
    assert classify(prompt_text + "typed here\n", ENDED).state is not State.ASKING


def test_explain_names_the_end_line_of_a_box() -> None:
    from imessenger.core.screen import explain

    trace = explain(boxed("typed"), ENDED).input
    assert trace is not None
    assert trace.text == "typed"
    assert trace.line is not None
    assert trace.line.row == 4
    assert [hit.pattern.key for hit in trace.continuation] == [
        "input_continuation_patterns",
        "input_continuation_patterns",
        "input_end_patterns",
    ]
    assert trace.under is not None
    assert trace.under.text == "+-------"
