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

A name in the alphabet may still be taken: a few name someone or something else, and
no session may take them (:func:`check_free`): ``user``, the person's own name (what
the person sends is signed with it, and what is for it goes to the person's inbox);
``local``, which names this host (``isesh list --host local``); a host of the config,
since ``HOST:SESSION`` names that host's sessions; and the name the person starting
the session sends as.

>>> check_name("worker-1")
'worker-1'
>>> is_valid_name("$0"), is_valid_name("a;b"), is_valid_name("-x"), is_valid_name("x" * 65)
(False, False, False, False)
>>> check_free("worker-1", hosts=["buildbox"], person="alice")
'worker-1'
>>> [reserved_why(n, hosts=["buildbox"], person="alice") is not None
...  for n in ("user", "local", "buildbox", "alice", "worker-1")]
[True, True, True, True, False]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from imessenger.core.errors import UsageError

#: The longest name, in characters.
MAX_LENGTH = 64
#: The rule, in words, for messages and the README.
RULE = (
    "letters, digits, '_' and '-', starting with a letter or a digit, "
    f"at most {MAX_LENGTH} characters"
)

#: The person's own name: the sender of what the person sends, and the owner of the
#: person's inbox, whoever runs outside the agent sessions.
PERSON = "user"
#: The name that means this host where a host is expected (``isesh list --host local``).
LOCAL = "local"

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


class ReservedName(UsageError):
    """A name in the alphabet that names someone or something else; no session takes it.

    A usage error (exit 2), as a name outside the alphabet is.
    """

    exit_code = 2

    def __init__(self, name: str, why: str) -> None:
        super().__init__(
            f'no session may be named "{name}": {why}; pick another name (for example worker-1)'
        )
        self.name = name


def reserved_why(name: str, *, hosts: Iterable[str] = (), person: str = "") -> str | None:
    """Why no session may be named ``name`` (None: it may): the person's name ("user",
    or ``person``, the name the person starting it sends as), "local", or a host of the
    config (``hosts``)."""
    if name == PERSON:
        return (
            f'"{PERSON}" is the person: what the person sends is signed "{PERSON}", and '
            f'replies and notices for "{PERSON}" go to the person\'s inbox'
        )
    if person and name == person:
        return (
            f'"{name}" is the name you send as (your own tmux session, or '
            "$IMESSENGER_SESSION): replies to you would go to that session's inbox"
        )
    if name == LOCAL:
        return f'"{LOCAL}" names this host (`isesh list --host {LOCAL}`)'
    if name in set(hosts):
        return (
            f'"{name}" is a host of the config ([hosts.{name}]), whose sessions are {name}:SESSION'
        )
    return None


def check_free(name: str, *, hosts: Iterable[str] = (), person: str = "") -> str:
    """Return ``name`` when a new session may take it; raise :class:`ReservedName` else."""
    why = reserved_why(name, hosts=hosts, person=person)
    if why is not None:
        raise ReservedName(name, why)
    return name
