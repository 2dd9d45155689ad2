r"""How text that came from an agent is shown to a person: pure functions, text in, text out.

A reply, a prompt's subject, an inbox entry or a pane's text may hold characters that
a terminal acts on instead of showing: ESC starts a sequence that sets the clipboard
(OSC 52), retitles the window (OSC 2), moves the cursor or clears the screen (CSI),
or talks to the terminal (DCS); a C1 character (U+0080-U+009F) starts one on some
terminals by itself (and a tmux menu holding one hangs the tmux server, seen on tmux
3.3a); BEL rings, backspace and a carriage return write over what was shown; NUL
ends a string for curses. Invisible format characters (zero-width ones, the
bidirectional overrides such as U+202E) hide or reorder text. None of them reaches
a person's terminal as it is: each is replaced by a stand-in that shows what it was.

=============================  ===============================================
character                      shown as
=============================  ===============================================
C0 controls, U+0000-U+001F     its Unicode control picture: ``␛`` ESC, ``␀`` NUL,
                               ``␇`` BEL, ``␈`` backspace, ``␍`` carriage return,
                               ``␉`` tab, ``␊`` line feed
DEL, U+007F                    ``␡``
C1 controls, U+0080-U+009F     ``\x9b``
invisible format characters    ``\u202e`` (soft hyphen, zero-width characters,
                               bidirectional marks and overrides, line and
                               paragraph separators, byte order mark)
unpaired surrogates            ``\udc80`` (they cannot be written as UTF-8)
=============================  ===============================================

Two ways, by where the text goes:

- :func:`visible`: for a line (a tmux menu item or message, a line of the dashboard,
  a quoted screen line in ``isesh explain``): every one of them, tabs and line
  feeds included.
- :func:`for_terminal`: for a block of text printed to a terminal (a reply, an inbox
  entry, the log): line feeds and tabs keep their meaning, and so does a carriage
  return right before a line feed (a CRLF line ending writes over nothing); every
  other one is replaced.

And :func:`json_text` writes JSON that holds none of them as it is: JSON writes C0
controls as ``\u`` escapes already; DEL, C1, the invisible characters and unpaired
surrogates are written as ``\u`` escapes too, so the value read back is the text
exactly.

Where exact text was asked for it is kept: ``--json`` (its value), and standard
output or error that is not a terminal (``imessenger send w1 ... > file``); the
command lines decide that (``imessenger.interfaces.cli.group.echo``), not these functions.
:func:`imessenger.core.envelope.neutralise` (what is pasted into an agent) uses the same
stand-ins.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The invisible format characters that hide or reorder text, as a regex character range.
INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
#: Every character that is never shown as it is (see the module docstring).
_UNSEEN = re.compile(f"[\x00-\x1f\x7f-\x9f{INVISIBLE}\ud800-\udfff]")
#: The same, but for a line feed, a tab, and a carriage return right before a line feed.
_UNSEEN_IN_BLOCK = re.compile(
    f"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{INVISIBLE}\ud800-\udfff]"
)
#: What JSON (without ensure_ascii) writes as it is but a terminal must not get.
_UNSEEN_IN_JSON = re.compile(f"[\x7f-\x9f{INVISIBLE}\ud800-\udfff]")


def stand_in(char: str) -> str:
    r"""The stand-in shown for one character (see the module docstring).

    >>> stand_in("\x1b"), stand_in("\x7f"), stand_in("\x9b"), stand_in("\u202e")
    ('␛', '␡', '\\x9b', '\\u202e')
    """
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␛ for ESC, ␉ for a tab
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _replace(found: re.Match[str]) -> str:
    return stand_in(found.group())


def visible(text: str) -> str:
    r"""Return ``text`` as one line with every control or invisible character replaced.

    >>> visible("a\x1b]52;c;ZWNobw==\x07b\tc\nd\u202ee")
    'a␛]52;c;ZWNobw==␇b␉c␊d\\u202ee'
    """
    return _UNSEEN.sub(_replace, text)


def for_terminal(text: str) -> str:
    r"""Return ``text`` for a terminal: line feeds and tabs as they are, the rest replaced.

    >>> for_terminal("one\ttwo\r\nthree\rfour\x1b[2J\x00")
    'one\ttwo\r\nthree␍four␛[2J␀'
    """
    return _UNSEEN_IN_BLOCK.sub(_replace, text)


def json_text(data: Any, *, indent: int | None = 2, compact: bool = False) -> str:
    r"""Return ``data`` as JSON with no character a terminal acts on (see the module
    docstring); ``json.loads`` gives ``data`` back exactly. ``compact`` writes it on one
    line without spaces (for JSON lines).

    >>> print(json_text({"reply": "a\x1b\x9b\u202eb"}, indent=None))
    {"reply": "a\u001b\u009b\u202eb"}
    """
    separators = (",", ":") if compact else None
    text = json.dumps(
        data, ensure_ascii=False, indent=None if compact else indent, separators=separators
    )
    return _UNSEEN_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
