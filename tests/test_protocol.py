"""The envelope and reply delimiters, on text alone."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imessenger.core.envelope import (
    Delimiters,
    clean_reply,
    delimiters,
    find_reply,
    message_id_in,
    neutralise,
    new_message_id,
    render_envelope,
    validate_envelope_template,
)

START = "<<IMSG-REPLY {id}>>"
END = "<<IMSG-END {id}>>"
TEMPLATE = (
    "[imessenger] message {id} from {sender}:\n{body}\n"
    '[imessenger] reply with `imessenger reply {id} "your answer"`, or print your answer '
    "between a line {start} and the same line with END in place of REPLY."
)


def envelope_for(body: str, message_id: str = "a1b2c3d4") -> tuple[str, Delimiters]:
    delims = delimiters(message_id, START, END)
    text = render_envelope(
        TEMPLATE,
        body=body,
        message_id=message_id,
        sender="boss",
        delims=delims,
        reply="/opt/im/bin/imessenger reply",
    )
    return text, delims


def claude_wrap(text: str, width: int, first: str = "❯ ") -> list[str]:
    """Render text the way Claude Code echoes a message: hard wrap, two-space indent."""
    out: list[str] = []
    for number, line in enumerate(text.split("\n")):
        lead = first if number == 0 else "  "
        pieces = textwrap.wrap(line, max(width - 2, 1), break_long_words=True) or [""]
        out.extend((lead if i == 0 else "  ") + piece for i, piece in enumerate(pieces))
    return out


def terminal_wrap(text: str, width: int) -> list[str]:
    """Render text the way a plain terminal wraps it: cut at the width, no indent."""
    out: list[str] = []
    for line in text.split("\n"):
        out.extend([line[i : i + width] for i in range(0, max(len(line), 1), width)])
    return out


def test_ids_are_short_and_distinct() -> None:
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 8 for i in ids)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("a\r\nb\rc", "a\nb\nc", id="line-endings"),
        pytest.param("tab\there", "tab\there", id="tab-kept"),
        pytest.param("esc\x1b[201~after", "esc\u241b[201~after", id="end-of-paste"),
        pytest.param(
            "ctrl-c\x03 ctrl-d\x04 bel\x07", "ctrl-c\u2403 ctrl-d\u2404 bel\u2407", id="c0"
        ),
        pytest.param("del\x7f c1\x9b", "del\u2421 c1\\x9b", id="del-and-c1"),
        pytest.param("ünïcödé → ✓", "ünïcödé → ✓", id="unicode"),
    ],
)
def test_neutralise(text: str, expected: str) -> None:
    assert neutralise(text) == expected


@given(st.text())
def test_neutralised_text_holds_no_control_but_tab_and_newline(text: str) -> None:
    safe = neutralise(text)
    assert all(c in "\t\n" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) for c in safe)


def test_envelope_carries_sender_id_body_and_start_but_not_end() -> None:
    text, delims = envelope_for("Build the login component")
    assert "boss" in text
    assert "a1b2c3d4" in text
    assert "Build the login component" in text
    assert delims.start in text
    assert delims.end not in text


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        pytest.param(TEMPLATE, None, id="good"),
        pytest.param("{body}", "must contain", id="no-id"),
        pytest.param("{id} {body} {end}", "placeholder", id="unknown-placeholder"),
        pytest.param("{id} {body} <<IMSG-END {id}>>", "end delimiter", id="spells-end"),
    ],
)
def test_validate_envelope_template(template: str, problem: str | None) -> None:
    result = validate_envelope_template(template, START, END)
    if problem is None:
        assert result is None
    else:
        assert result is not None
        assert problem in result


def test_message_id_is_found_in_an_envelope() -> None:
    text, _ = envelope_for("hello", "0badcafe")
    assert message_id_in(text, START) == "0badcafe"
    assert message_id_in("no envelope here", START) is None


def test_find_reply_in_claude_screen() -> None:
    screen = "\n".join(
        [
            "❯ question",
            "● <<IMSG-REPLY demo1>>",
            "  first line",
            "    indented code",
            "  ",
            "  last line",
            "  <<IMSG-END demo1>>",
            "✻ Cooked for 2s · done 5:21 PM",
        ]
    )
    reply = find_reply(screen, delimiters("demo1", START, END))
    assert reply == "first line\n  indented code\n\nlast line"


def test_find_reply_in_codex_screen() -> None:
    screen = "• <<IMSG-REPLY cx1>>\n  Fake model here.\n  <<IMSG-END cx1>>\n  Worked for 2s • 17:23"
    assert find_reply(screen, delimiters("cx1", START, END)) == "Fake model here."


def test_find_reply_takes_the_last_block_and_keeps_markdown_rules() -> None:
    screen = "\n".join(
        [
            *["<<IMSG-REPLY x>>", "old", "<<IMSG-END x>>"],
            *["<<IMSG-REPLY x>>", "new", "---", "ok", "─" * 40, "<<IMSG-END x>>"],
        ]
    )
    assert find_reply(screen, delimiters("x", START, END)) == "new\n---\nok"


def test_no_reply_without_end_line() -> None:
    screen = "● <<IMSG-REPLY x>>\n  partial answer still streaming"
    assert find_reply(screen, delimiters("x", START, END)) is None


def test_clean_reply_strips_blank_edges() -> None:
    assert clean_reply(["", "  a", "   b", ""]) == "a\n b"


bodies = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t <>`$;'\""),
        max_size=120,
    ),
    min_size=1,
    max_size=6,
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(body=bodies, width=st.integers(min_value=10, max_value=240), claude=st.booleans())
def test_the_echo_of_an_envelope_is_never_taken_for_a_reply(
    body: str, width: int, claude: bool
) -> None:
    text, delims = envelope_for(body)
    wrap = claude_wrap if claude else terminal_wrap
    echo = wrap(text, width)
    assert find_reply("\n".join(echo), delims) is None
    # And once the agent answers below the echo, the answer comes back exactly.
    answer = ["● " + delims.start, "  the answer", "  second line", "  " + delims.end]
    assert find_reply("\n".join([*echo, *answer]), delims) == "the answer\nsecond line"


_PIECES = st.sampled_from(
    [
        "<<IMSG-REPLY 1234abcd>>",
        "<<IMSG-END 1234abcd>>",
        "<<",
        ">>",
        "IMSG-END",
        " 1234abcd",
        "\t",
        "\u200b",
        "\n",
        " ",
        "[imessenger] message 1234abcd from user:",
        "\\",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=12), width=st.integers(min_value=4, max_value=40))
def test_a_neutralised_body_never_shows_a_delimiter_line_at_any_width(
    pieces: list[str], width: int
) -> None:
    from imessenger.core.envelope import neutralise, neutralise_shapes, shapes

    envelope = "[imessenger] message {id} from {sender}:\n{body}\n[imessenger] reply to {id}"
    found = shapes("<<IMSG-REPLY {id}>>", "<<IMSG-END {id}>>", envelope)
    body = neutralise_shapes(neutralise("".join(pieces)), found)
    assert found.pattern.search(body) is None
    delims = Delimiters("<<IMSG-REPLY 1234abcd>>", "<<IMSG-END 1234abcd>>")
    # the pane hard-wraps each line at its width; a tab may show as one space
    for line in body.replace("\t", " ").replace("\u200b", "").split("\n"):
        for start in range(0, max(len(line), 1), width):
            shown = line[start : start + width].strip()
            assert shown not in (delims.start, delims.end), (body, width)
