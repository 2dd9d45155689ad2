"""What a pane printed, told apart from a redraw (``imessenger.core.redraws``): pure.

The payloads are written as tmux sends them in ``%output`` (control characters and
backslashes as octal escapes); the frames are those of the agents' spinners.
"""

from __future__ import annotations

import pytest

from imessenger.core.redraws import FLOOD, NEWS, SEEN, Redraws, redraw_key, screen_key


def escaped(text: str) -> bytes:
    """``text`` as tmux writes it in ``%output``: bytes under 32 and ``\\`` in octal."""
    out = bytearray()
    for byte in text.encode("utf-8"):
        out += b"\\%03o" % byte if byte < 32 or byte == 92 else bytes([byte])
    return bytes(out)


def redraws() -> Redraws:
    return Redraws(flood_bytes=16 * 1024, flood_window_s=0.1, flood_hold_s=1.0)


def read(r: Redraws, screen: str) -> None:
    """A read of the session: its capture answered, showing ``screen``."""
    r.settle(r.taken(), screen)


#: (first frame, a later one): the same frame as a redraw draws it again.
SPINNERS = {
    "demo": (
        "\x1b[2A\r\x1b[J⠋ Working (9s · esc to interrupt)\r\ndemo> \r\n  demo · ? for help",
        "\x1b[2A\r\x1b[J⠼ Working (10s · esc to interrupt)\r\ndemo> \r\n  demo · ? for help",
    ),
    # Claude Code: a star glyph, a colour moving along the verb, the seconds, the tokens
    "claude": (
        "\x1b[3A\x1b[2K\x1b[38;2;215;119;87m✻\x1b[39m \x1b[1mW\x1b[22morking… "
        "(12s · ↑ 1.2k tokens · esc to interrupt)\x1b[3B\x1b[G",
        "\x1b[3A\x1b[2K\x1b[38;2;215;119;87m✶\x1b[39m Wo\x1b[1mr\x1b[22mking… "
        "(13s · ↓ 1.4k tokens · esc to interrupt)\x1b[3B\x1b[G",
    ),
    # Codex CLI: "•" and "◦" in turn, a cell-by-cell redraw at a cursor position
    "codex": (
        "\x1b[12;1H• \x1b[1mWorking\x1b[0m (3s • esc to interrupt)",
        "\x1b[12;1H◦ \x1b[1mWorking\x1b[0m (4s • esc to interrupt)",
    ),
    # Gemini CLI: braille, a window title with the glyph, a hidden cursor
    "gemini": (
        "\x1b]0;⠏ Gemini\x07\x1b[?25l\x1b[5;3H⠏ Thinking (esc to cancel, 3s)",
        "\x1b]0;⠋ Gemini\x07\x1b[?25l\x1b[5;3H⠋ Thinking (esc to cancel, 41s)",
    ),
}


@pytest.mark.parametrize("agent", sorted(SPINNERS))
def test_a_spinners_next_frame_is_a_redraw(agent: str) -> None:
    first, later = (escaped(frame) for frame in SPINNERS[agent])
    assert first != later
    assert redraw_key(first) == redraw_key(later)
    r = redraws()
    assert r.printed("%1", first, now=0.0) == NEWS
    read(r, "⠋ Working (9s · esc to interrupt)\ndemo>")
    assert r.printed("%1", later, now=0.1) == SEEN
    assert r.printed("%2", later, now=0.1) == NEWS  # another pane's is its own


@pytest.mark.parametrize(
    ("frame", "news"),
    [
        ("\x1b[2A\r\x1b[J Do you want to proceed?\r\n ❯ 1. Yes\r\n   2. No", "a prompt"),
        ("\x1b[12;1H\x1b[2K", "an erase: the spinner line gone"),
        ("\x1b[12;1H          ", "blanks over the spinner"),
        ("\r\n● Done: 3 files changed", "new text"),
        ("\x1b[2A\r\x1b[J\r\ndemo> \r\n  demo · ? for help", "the spinner line left out"),
    ],
)
def test_anything_else_is_news(frame: str, news: str) -> None:
    r = redraws()
    for spinner in SPINNERS.values():
        for payload in spinner:
            r.printed("%1", escaped(payload), now=0.0)
    read(r, "⠋ Working (9s · esc to interrupt)")
    assert r.printed("%1", escaped(frame), now=0.1) == NEWS, news


def test_a_frame_seen_on_another_screen_is_news_again() -> None:
    # idle, the prompt, idle, the prompt again (another number in it): every one a read
    idle = escaped("\x1b[H\x1b[2J● ready\r\n\r\ndemo> \r\n  demo · ? for help")
    r = redraws()
    read(r, "● ready\n\ndemo>\n  demo · ? for help")
    for n in range(1, 4):
        prompt = escaped(f"\x1b[H\x1b[2J $ touch file-{n}\r\n Do you want to proceed?\r\n ❯ 1. Yes")
        assert r.printed("%1", prompt, now=n) == NEWS
        read(r, f" $ touch file-{n}\n Do you want to proceed?\n ❯ 1. Yes")
        assert r.printed("%1", idle, now=n + 0.5) == NEWS
        read(r, "● ready\n\ndemo>\n  demo · ? for help")


def test_a_frame_seen_on_the_same_screen_stays_a_redraw_across_reads() -> None:
    a = escaped("\r⠋ Working (1s)")
    b = escaped("\r\x1b[K⠙ Working (2s)")  # erased first this time: two keys, one screen
    r = redraws()
    assert r.printed("%1", a, now=0.0) == NEWS
    read(r, "⠋ Working (1s)")
    assert r.printed("%1", b, now=0.1) == NEWS
    read(r, "⠙ Working (2s)")  # the same screen, its glyph and seconds aside
    assert r.printed("%1", a, now=0.2) == SEEN
    assert r.printed("%1", b, now=0.3) == SEEN
    assert r.unread == (0.2, 0.3)
    r.taken()
    assert r.unread is None


def test_a_pane_printing_a_lot_floods() -> None:
    r = Redraws(flood_bytes=1000, flood_window_s=0.1, flood_hold_s=1.0)
    line = b"line 12345" * 25  # 250 bytes
    assert [r.printed("%1", line, now=0.01 * i) for i in range(5)] == [NEWS] * 4 + [FLOOD]
    r.resumed("%1", now=0.2)
    assert r.printed("%1", line, now=0.2) == FLOOD  # it flooded a moment ago
    assert r.printed("%1", line, now=1.3) == NEWS  # not for a second
    assert r.printed("%2", line * 3, now=1.3) == NEWS
    assert r.printed("%2", line * 3, now=1.45) == NEWS  # another window
    assert r.printed("%2", line * 5, now=1.5) == FLOOD


def test_the_glyphs_are_the_same_in_output_and_on_screen() -> None:
    ranges = [(0x2800, 0x28FF), (0x2580, 0x25FF), (0x2700, 0x27BF), (0x2190, 0x21FF)]
    glyphs = [chr(c) for first, last in ranges for c in range(first, last + 1)]
    glyphs += ["·", "•", "∙", "⋅", "*", "7"]
    for glyph in glyphs:
        assert redraw_key(escaped(glyph)) == b"", hex(ord(glyph))
        assert screen_key(glyph) == "", hex(ord(glyph))
    for kept in ["─", "│", "╭", "∀", "é", "日", "⎿", "›", "A", " ", "…", "☆"]:
        assert redraw_key(escaped(kept)) != b"", hex(ord(kept))
        assert screen_key(kept) == kept, hex(ord(kept))
