"""The alphabet of session names (and host names): what a person or an agent may type.

A name is 1 to 64 characters: ASCII letters, digits, ``_`` and ``-``, starting with a
letter or a digit. Everything else is refused before tmux sees it, because tmux reads
far more into a name than its letters:

* ``#(...)`` and ``#{...}`` are formats, expanded (and ``#(...)`` run by a shell) in
  ``new-session -s`` and other arguments;
* a leading ``$``, ``@`` or ``%`` makes a target a session, window or pane id, so
  ``$0`` reaches whichever session has that id;
* ``:`` and ``.`` split a target into session, window and pane, and ``=`` at the start
  asks for an exact match; ``*``, ``?`` and ``[`` make it a pattern;
* ``;``, quotes, spaces and control bytes are read by shells when a name is printed
  in a hint for copy-paste.

>>> check_name("worker-1")
'worker-1'
>>> is_valid_name("$0"), is_valid_name("a;b"), is_valid_name("-x"), is_valid_name("x" * 65)
(False, False, False, False)
"""

from __future__ import annotations

import re

from imessenger.errors import UsageError

#: The longest name, in characters.
MAX_LENGTH = 64
#: The rule, in words, for messages and the README.
RULE = (
    "letters, digits, '_' and '-', starting with a letter or a digit, "
    f"at most {MAX_LENGTH} characters"
)

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_LENGTH - 1}}}")


#: An example of each kind of name, for the messages.
_EXAMPLES = {"session": "worker-1", "host": "buildbox", "message id": "3f9c2a1b"}


class InvalidName(UsageError):
    """A name outside the alphabet (an empty one too); the message says which rule it
    breaks. A usage error: exit 2."""

    exit_code = 2

    def __init__(self, name: str, what: str = "session") -> None:
        example = _EXAMPLES.get(what, "worker-1")
        noun = what if what.endswith(" id") else f"{what} name"
        super().__init__(
            f"{noun} {_shown_short(name)} {_why(name)}: use {RULE} (for example {example})"
        )
        self.name = name


def _shown_short(name: str) -> str:
    return ascii(name) if len(name) <= 80 else ascii(name[:80])[:-1] + "...'"


def _why(name: str) -> str:
    if not name:
        return "must not be empty"
    bad = [c for c in name if not (c.isascii() and (c.isalnum() or c in "_-"))]
    if bad:
        return "contains " + ", ".join(ascii(c) for c in dict.fromkeys(bad))
    if not name[0].isalnum():
        return f'must not start with "{name[0]}"'
    return f"is longer than {MAX_LENGTH} characters"


def is_valid_name(name: str) -> bool:
    """True when ``name`` is in the alphabet of session (and host) names."""
    return _NAME.fullmatch(name) is not None


def check_name(name: str, what: str = "session") -> str:
    """Return ``name`` when it is in the alphabet; raise :class:`InvalidName` else."""
    if not is_valid_name(name):
        raise InvalidName(name, what)
    return name


def shown(name: str) -> str:
    """A name as it may be printed: as it is when valid, else escaped (no control bytes)."""
    return name if is_valid_name(name) else ascii(name)
