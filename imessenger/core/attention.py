r"""When an agent needs its person: the events the watcher tells of, and how a terminal is
alerted. Pure: names, checks and bytes.

The events (:class:`Event`), each told once per occurrence:

- ``asking``: a permission prompt opened;
- ``exited``: the agent exited, or its tmux session was closed outside isesh;
- ``done``: a turn ended and the agent is idle, and no waiting ``send`` takes its reply;
- ``stuck``: busy for ``watch.stuck_after_ms`` with nothing new on screen and nothing new
  in its record;
- ``error``: a turn ended on an error (:attr:`imessenger.core.screen.Screen.error`).

``watch.notify_on`` names the events told on every channel (:func:`notify_on`);
``watch.bell`` how an attached terminal is alerted (:data:`BELLS`, :func:`alert`).

>>> alert("bell", "ignored")
b'\x07'
>>> alert("osc9", 'w1: API Error \x1b]0;owned\x07 #{pane_id} $(id)')
b'\x1b]9;imessenger: w1: API Error \xe2\x90\x9b]0;owned\xe2\x90\x87 #{pane_id} $(id)\x07'
>>> alert("off", "x")
b''
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from enum import StrEnum

from imessenger.core.errors import ConfigError
from imessenger.core.redraws import screen_key
from imessenger.core.visible import visible


class Event(StrEnum):
    """What the watcher tells a person of (the module docstring says when)."""

    ASKING = "asking"
    EXITED = "exited"
    DONE = "done"
    STUCK = "stuck"
    ERROR = "error"


#: Every event, in the order the documentation lists them.
EVENTS: tuple[str, ...] = tuple(str(event) for event in Event)

#: The events the attached terminals are not told of while one of them shows the
#: session's pane (``watch.notify_when_looking`` false): the person sees them there.
#: Asking and exited are told whoever looks, as before.
SEEN_WHEN_LOOKING = frozenset({Event.DONE, Event.STUCK, Event.ERROR})

#: How an attached terminal is alerted (``watch.bell``): not at all, with BEL, or with an
#: OSC 9 notification (iTerm2, WezTerm, kitty, Windows Terminal, foot...).
BELLS = ("off", "bell", "osc9")

#: The most characters of text an OSC 9 notification carries.
OSC9_MAX = 200


def notify_on(names: Sequence[str], where: str) -> tuple[str, ...]:
    """The events ``watch.notify_on`` names, as given; ConfigError for a name that is no
    event (``where`` names the file it came from)."""
    for index, name in enumerate(names):
        if name not in EVENTS:
            raise ConfigError(
                f"{where}: watch.notify_on[{index}] is {name!r}, not an event; "
                f"use some of: {', '.join(EVENTS)}"
            )
    return tuple(names)


def check_bell(value: str, where: str) -> str:
    """``watch.bell`` as given; ConfigError when it is not one of :data:`BELLS`."""
    if value not in BELLS:
        raise ConfigError(f"{where}: watch.bell is {value!r}; use one of: {', '.join(BELLS)}")
    return value


def alert(bell: str, text: str) -> bytes:
    """The bytes that alert a terminal in the way ``bell`` names (see :data:`BELLS`).

    The text of an OSC 9 notification is made visible (no control character ends it
    early or starts another sequence), cut to :data:`OSC9_MAX` characters, and begins
    with "imessenger: " (a leading number would be taken for a ConEmu sub-command).
    """
    if bell == "bell":
        return b"\x07"
    if bell != "osc9":
        return b""
    shown = visible(text)
    if len(shown) > OSC9_MAX:
        shown = shown[: OSC9_MAX - 1] + "…"
    return b"\x1b]9;" + f"imessenger: {shown}".encode() + b"\x07"


def fit(text: str, limit: int) -> str:
    """One line of text made visible and cut to ``limit`` characters (an ellipsis ends a
    cut one): for a tmux message or a desktop notification.

    >>> fit("API Error:\\n\\x1b[31mred", 40)
    'API Error:␊␛[31mred'
    >>> fit("x" * 10, 5)
    'xxxx…'
    """
    shown = visible(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def duration(seconds: float) -> str:
    """A length of time in its largest units, as a list of sessions shows it.

    >>> [duration(s) for s in (0, 59.9, 60, 754, 3600, 5400, 86400 * 3)]
    ['0s', '59s', '1m', '12m', '1h00m', '1h30m', '3d']
    """
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d"


#: A timer's reading ("59s", "1m 5s", "2.5s", "1h"): its units change as it runs.
_TIMER = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|[hms])\b")
#: Runs of spaces, which a timer's reading leaves as it changes length.
_SPACES = re.compile(r"[ \t]+")


def progress_digest(text: str) -> str:
    """What tells a screen from the last one for progress: 16 hex digits of it once timers
    ("59s" turning "1m 5s"), digits and spinner glyphs are set aside, and runs of spaces
    are one
    (:func:`imessenger.core.redraws.screen_key`); the same in every process.

    >>> a = progress_digest("⠋ Thinking... (esc to cancel, 59s)")
    >>> a == progress_digest("⠙ Thinking... (esc to cancel, 1m 5s)")
    True
    >>> a == progress_digest("⠙ Thinking... (esc to cancel, 1m 5s)\\n● a new line")
    False
    """
    key = _SPACES.sub(" ", screen_key(_TIMER.sub("", text)))
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
