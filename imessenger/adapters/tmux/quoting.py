"""Keeping a string literal for the one tmux reader that sees it: pure functions.

Which of its arguments tmux splits, expands or parses is told in the package's
docstring (:mod:`imessenger.adapters.tmux`). Each function here escapes for one reader:

* :func:`whole_word`: the split of tmux's argv into commands (a final ``;``);
* :func:`format_literal`: one round of format expansion (``#``);
* :func:`drawn_literal`: expansion, then drawing (``#[...]`` styles, and control
  characters, shown as stand-ins);
* :func:`searched_literal`: expansion, then the pane search of ``#{C:...}`` (a glob);
* :func:`control_quote`: tmux's command parser (a control client's lines, and the
  commands that ``if-shell`` and menu items run).
"""

from __future__ import annotations

import re

from imessenger.core.visible import visible


def whole_word(arg: str) -> str:
    """Return ``arg`` as an argv word that tmux keeps whole.

    tmux splits its argv into commands at every word that *ends* in ``;``
    (``cmd_parse_from_arguments``): ``x;`` becomes ``x`` and the words after it are
    run as the next command. A word ending in ``\\;`` keeps a literal ``;``.
    """
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


_HASH_RUN = re.compile(r"#+(\[?)")


def format_literal(text: str) -> str:
    """Return ``text`` escaped for one round of format expansion, which then gives it back.

    Expansion turns ``##`` into ``#``, but copies a run of ``#`` right before ``[``
    as it is (a style, left for drawing): such runs stay, every other ``#`` is
    doubled. For arguments tmux expands but does not draw (``new-session -c``).
    """
    return _HASH_RUN.sub(lambda run: run.group(0) if run.group(1) else run.group(0) * 2, text)


def drawn_literal(text: str) -> str:
    """Return ``text`` escaped so that tmux shows it as it is in a message or a menu.

    tmux expands the text as a format, then draws it, where ``#[...]`` is a style and
    ``##`` one ``#``: drawing needs every ``#`` doubled, and expansion needs that
    escaped in turn. Control and invisible characters are shown as their stand-ins
    (:func:`imessenger.core.visible.visible`): tmux would drop a control character, pass a
    bidirectional override on to the terminal, and a menu holding a C1 character
    hangs the tmux server (seen on tmux 3.3a).
    """
    return format_literal(visible(text).replace("#", "##"))


_SEARCH_SPECIAL = {
    **{"#": "##", ",": "#,", "}": "#}"},  # the format
    **{"\\": "\\\\", "*": "\\*", "?": "\\?", "[": "\\["},  # the glob
}


def searched_literal(text: str) -> str:
    """Return ``text`` escaped to be found as it is by the format ``#{C:...}``.

    tmux expands the argument of ``C:`` once (``##``, ``#,`` and ``#}`` give ``#``,
    ``,`` and ``}``), then looks for it in each line of the pane as the glob
    ``*text*`` (fnmatch), where a backslash makes ``*``, ``?``, ``[`` and itself plain.
    So ``#(...)`` in a line read from a pane is never run, and ``*`` matches only a ``*``.
    """
    return "".join(_SEARCH_SPECIAL.get(char, char) for char in text)


#: Arguments made only of these need no quotes (a leading "%" or "=" could, for example).
_CONTROL_SAFE = re.compile(r"[A-Za-z0-9_./,:@+-]+")


def control_quote(arg: str) -> str:
    """Quote one argument for tmux's command parser (single quotes, as in sh)."""
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"a tmux command argument cannot hold a line break: {arg!r}")
    if _CONTROL_SAFE.fullmatch(arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"
