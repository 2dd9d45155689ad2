r"""What a pane printed, told apart from a redraw of what it showed already: pure.

The watcher hears of a pane's output as it is printed (tmux's ``%output``, through a
control client). A busy agent prints all the time, and nearly all of it is the same
frame again: another spinner glyph, another second on a timer, the cursor moved, the
colours changed. A read of the screen (a capture, then a classification) costs the
watcher and the tmux server more than the frame; so the bytes themselves decide which
output may change what a read would find (news) and which is a redraw seen already:

* :func:`redraw_key` turns a ``%output`` payload, as tmux sends it (control characters
  and backslashes as octal escapes, ``\033``), into what is left once what a redraw
  changes is set aside: cursor movement, colours and modes (CSI sequences ending in
  ``A``-``H``, ``a``, ``d``-``f``, a backquote, ``h``, ``l``, ``m``, ``n``, ``q``-``u``),
  window titles (OSC), cursor saves and character sets; spinner glyphs
  (:data:`SPINNER_GLYPHS`); then digits and ``*`` (the escapes' digits too: every
  other control character is left as a bare backslash). Text, line breaks and erases
  (``\033[K``, ``\033[J``...) stay. It is two passes in C, for it runs on every
  frame of every busy pane;
* :func:`screen_key` sets aside the same glyphs, digits and ``*`` in a captured screen;
* :class:`Redraws` follows the output of one session's panes between reads, by
  :meth:`Redraws.printed`, in this order:

  1. a pane that printed more than ``flood_bytes`` within ``flood_window_s`` floods:
     its output is better paused and the screen read once per round (:data:`FLOOD`),
     and so is all it prints until it has not flooded for ``flood_hold_s``;
  2. a payload whose key (with its pane) was printed since the session's screen last
     changed (its :func:`screen_key`, from one read to the next) is a redraw: nothing
     to read now (:data:`SEEN`). :attr:`Redraws.unread` keeps when the first redraw
     not read since came, and the last output: the net under what a key could hide
     is the caller's (the watcher reads a session whose redraws stopped, or went on
     for long; :mod:`imessenger.watcher.following`);
  3. anything else is news (:data:`NEWS`): read it.

  :meth:`Redraws.taken` is called when tmux answers the capture of a read (whatever
  was printed before it is in that capture): the keys of the news since the last
  read go with that read (what comes until the next call is news: the screen it
  goes on may be a new one), and :meth:`Redraws.settle` learns the screen it found:
  the same screen as the read before, and those keys join the ones already seen; a
  changed one, and they replace them (a frame that meant nothing on one screen may
  mean something on the next: the idle screen back over a prompt).

So a spinner costs one read for its first frame on each screen, a prompt drawn in one
write is news, and so is any new text; nothing here reaches tmux.

>>> a = b"\\033[2A\\015\\033[J\xe2\xa0\x8b Working (9s \xc2\xb7 esc)\\015\\012demo> "
>>> b = b"\\033[2A\\015\\033[J\xe2\xa0\x99 Working (10s \xc2\xb7 esc)\\015\\012demo> "
>>> redraw_key(a) == redraw_key(b)
True
>>> redraw_key(a)
b'\\\\[J Working (s  esc)\\\\demo> '
>>> redraw_key(b"\\033[5;1H\\033[2K") == redraw_key(b"")  # an erase is not nothing
False
>>> r = Redraws(flood_bytes=1000, flood_window_s=0.1, flood_hold_s=1.0)
>>> [r.printed("%1", p, now=0.0) for p in (a, b)]
['news', 'news']
>>> r.settle(r.taken(), "⠋ Working (9s · esc)\ndemo>")
>>> r.printed("%1", b.replace(b"10s", b"11s"), now=0.1)
'seen'
>>> r.printed("%1", b"\\015Do you want to proceed?", now=0.2)
'news'
>>> r.printed("%1", a, now=0.3), r.unread
('seen', (0.1, 0.3))
>>> r.printed("%2", b"x" * 1001, now=0.4), r.printed("%2", b"x", now=1.0)
('flood', 'flood')
>>> r.printed("%2", b"x", now=2.5)
'news'
"""

from __future__ import annotations

import re

#: The characters spinners are drawn with, as UTF-8: braille (U+2800-U+28FF), block
#: elements and geometric shapes (U+2580-U+25FF: ▁▂▃, ◐◓, ●○◦), dingbats (U+2700-U+27BF:
#: ✢✳✶✻✽), arrows (U+2190-U+21FF), and the dots ·•∙⋅; ASCII ``*`` goes with the digits.
SPINNER_GLYPHS = (
    rb"\xe2(?:[\xa0-\xa3][\x80-\xbf]|[\x96\x97\x9c-\x9e][\x80-\xbf]|\x86[\x90-\xbf]"
    rb"|\x87[\x80-\xbf]|\x80\xa2|\x88\x99|\x8b\x85)|\xc2\xb7"
)

#: What :meth:`Redraws.printed` says of a payload.
SEEN = "seen"  # a redraw of a frame printed since the screen last changed
NEWS = "news"  # may change what a read finds: read the screen
FLOOD = "flood"  # the pane prints a lot: pause it and read the screen

#: What a redraw changes, in tmux's escaped form (ESC is \033, BEL \007 and a backslash
#: \134): escape sequences that change no text (CSI: cursor movement, colours, modes;
#: OSC: titles; cursor saves, keypad modes, character sets) and spinner glyphs. Digits
#: (those of the escapes too: every control character is then a bare backslash) and
#: ``*`` go after them.
_SET_ASIDE = re.compile(
    rb"\\033(?:\[[0-?]*[ -/]*[A-Hadef`hlmnqrstu]|\][^\\]*(?:\\007|\\033\\134)?|[78=>]|[()][ -~])|"
    + SPINNER_GLYPHS
)
_DIGITS = b"0123456789*"
#: The same glyphs, digits and ``*`` in a captured screen (a test keeps the two in step).
_SCREEN_SET_ASIDE = re.compile(
    "[\u2800-\u28ff\u2580-\u25ff\u2700-\u27bf\u2190-\u21ff\u00b7\u2022\u2219\u22c50-9*]"
)
#: How many keys a session keeps as seen, at most (a screen that keeps changing text is
#: news anyway).
_KEEP = 256


def redraw_key(payload: bytes) -> bytes:
    """A ``%output`` payload (tmux's escaped form) without what a redraw changes."""
    return _SET_ASIDE.sub(b"", payload).translate(None, _DIGITS)


def screen_key(text: str) -> str:
    """A captured screen without its digits and spinner glyphs."""
    return _SCREEN_SET_ASIDE.sub("", text)


class _Pane:
    """How much one pane printed in its current flood window, and when it last flooded."""

    __slots__ = ("began", "flooded", "printed")

    def __init__(self, now: float, flooded: float | None = None) -> None:
        self.began = now
        self.printed = 0
        self.flooded = flooded


class Redraws:
    """The output of one session's panes since its last read: news, redraws, floods.

    Not thread-safe: the caller (a control client) holds its lock around each call.
    """

    def __init__(self, *, flood_bytes: int, flood_window_s: float, flood_hold_s: float) -> None:
        self.flood_bytes = flood_bytes
        self.flood_window_s = flood_window_s
        self.flood_hold_s = flood_hold_s
        #: when the first redraw not read since was printed, and the last output (or None)
        self.unread: tuple[float, float] | None = None
        self._panes: dict[str, _Pane] = {}
        self._seen: set[int] = set()  # keys printed since the screen last changed
        self._news: set[int] = set()  # keys of the news since the last read
        self._screen: str | None = None  # the screen_key of the last read
        self._settling = False  # a capture was answered, the screen it found is not known yet

    def printed(self, pane: str, payload: bytes, *, now: float) -> str:
        """What a payload a pane printed is: :data:`SEEN`, :data:`NEWS` or :data:`FLOOD`."""
        counted = self._panes.get(pane)
        if counted is None or now - counted.began > self.flood_window_s:
            counted = self._panes[pane] = _Pane(now, counted.flooded if counted else None)
        counted.printed += len(payload)
        if counted.printed > self.flood_bytes or (
            counted.flooded is not None and now - counted.flooded < self.flood_hold_s
        ):
            counted.flooded = now
            return FLOOD
        key = hash((pane, redraw_key(payload)))
        if key not in self._seen or self._settling:
            self._news.add(key)
            return NEWS
        self.unread = (now if self.unread is None else self.unread[0], now)
        return SEEN

    def resumed(self, pane: str, *, now: float) -> None:
        """The pane's output was paused and goes on: its flood window starts again (it
        is still held as flooding for ``flood_hold_s``)."""
        counted = self._panes.get(pane)
        if counted is not None:
            self._panes[pane] = _Pane(now, counted.flooded)

    def taken(self) -> frozenset[int]:
        """A read's capture was answered: the keys of the news it covers (the redraws
        before it are read too)."""
        news, self._news = frozenset(self._news), set()
        self.unread = None
        self._settling = True  # what comes before settle() is news: its screen may be new
        return news

    def settle(self, news: frozenset[int], screen: str) -> None:
        """The read that took ``news`` found ``screen``: keep the keys as seen, with the
        ones seen before when the screen is the same, alone when it changed."""
        self._settling = False
        key = screen_key(screen)
        if key != self._screen or len(self._seen) + len(news) > _KEEP:
            self._screen = key
            self._seen = set(news)
        else:
            self._seen |= news
