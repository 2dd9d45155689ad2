"""imessenger.core.visible: how an agent's text is shown to a person, on any text at all.

The places that print it are tested in test_hostile_text.py; here, the function they
all use: what it leaves (ordinary text, line feeds and tabs), what it replaces (every
character a terminal acts on, or that hides or reorders text), and that JSON keeps the
exact value.
"""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from imessenger.core.envelope import neutralise
from imessenger.core.visible import for_terminal, json_text, stand_in, visible

#: What must never reach a terminal as it is (written out here, not taken from the module).
UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
    "|\r(?!\n)"
)
#: Any text, unpaired surrogates and all; and text a person writes (no control or
#: invisible or unassigned character: categories Cc, Cf, Cn, Cs, Zl, Zp).
anything = st.text(st.characters(), max_size=60)
ordinary = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cn", "Cs", "Zl", "Zp")).filter(
        lambda c: c != "\u180e"
    ),
    max_size=60,
)


@given(text=anything)
def test_for_a_terminal_nothing_is_left_that_acts_on_it(text: str) -> None:
    shown = for_terminal(text)
    assert UNSAFE.search(shown) is None
    assert shown.count("\n") == text.count("\n")  # line feeds keep their meaning
    assert shown.count("\t") == text.count("\t")
    shown.encode("utf-8")  # writable: no unpaired surrogate left


@given(text=anything)
def test_a_line_holds_no_control_character_at_all(text: str) -> None:
    shown = visible(text)
    assert UNSAFE.search(shown) is None
    assert not set(shown) & set("\n\t\r")
    shown.encode("utf-8")


@given(text=st.lists(st.one_of(ordinary, st.sampled_from(["\n", "\t", "\r\n"]))).map("".join))
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert for_terminal(text) == text


@given(text=ordinary)
def test_an_ordinary_line_is_left_as_it_is(text: str) -> None:
    assert visible(text) == text


@given(
    data=st.recursive(anything, lambda inner: st.lists(inner) | st.dictionaries(anything, inner))
)
def test_json_keeps_the_exact_value_and_holds_nothing_a_terminal_acts_on(data: object) -> None:
    for text in (json_text(data), json_text(data, compact=True), json_text(data, indent=None)):
        assert json.loads(text) == data
        assert UNSAFE.search(text) is None
    assert "\n" not in json_text(data, compact=True)  # one JSON line


def test_the_stand_ins() -> None:
    shown = for_terminal("\x1b]52;c;eA==\x07 \x00 \x08 a\rb \x7f \x9b \u202e \udc80 ok\r\n")
    assert shown == "␛]52;c;eA==␇ ␀ ␈ a␍b ␡ \\x9b \\u202e \\udc80 ok\r\n"
    assert visible("a\tb\nc") == "a␉b␊c"
    assert [stand_in(c) for c in "\x1b\x00\x7f\x85\u200b"] == ["␛", "␀", "␡", "\\x85", "\\u200b"]


def test_a_pasted_body_gets_the_same_stand_ins() -> None:
    # what is pasted into an agent: line endings become LF, tabs stay, and every other
    # control character gets the stand-in a person sees
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        char = chr(code)
        if char not in "\t\n\r":
            assert neutralise(f"a{char}b") == f"a{visible(char)}b"
    assert neutralise("a\r\nb\rc\td") == "a\nb\nc\td"
