"""The dashboard: every session at a glance, in a terminal (a tmux window or popup).

It shows each session's agent, state, what it asks about, its last message and
reply, and unread counts; keys answer a prompt (the one shown: its id goes with the
answer, so nothing is pressed when the session shows another by then), send a message
or jump to the session. The screen is redrawn when something changed: the watcher's status
cache or the database (their size and time are looked at every
``watch.interval_ms``; nothing is redrawn while they stay the same). Without a
watcher the dashboard reads the panes itself at that interval.

What it shows comes from :meth:`imessenger.app.Api.overview`; :func:`render` is a
plain function (data in, text lines out); :class:`Dashboard` is the curses loop
around them, and every key calls the Api.

Every line is drawn with its control and invisible characters shown as stand-ins
(:func:`imessenger.core.visible.visible`): an agent's reply or prompt may hold ESC
sequences, which curses would send on to the terminal, or a NUL, which curses
refuses (it ended the dashboard).
"""

from __future__ import annotations

import contextlib
import curses
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from imessenger.adapters.status_cache import render_plain
from imessenger.app.values import Overview, Row
from imessenger.core.answers import describe
from imessenger.core.errors import ImessengerError
from imessenger.core.values import Choice
from imessenger.core.visible import visible

if TYPE_CHECKING:
    from imessenger.app.api import Api

logger = logging.getLogger(__name__)

__all__ = ["KEYS", "Dashboard", "Overview", "Row", "render", "run_dashboard"]

#: The keys of the dashboard and what they do, as its footer lists them.
KEYS = "↑↓ pick  y yes  a yes always  n no  s send  ⏎ jump  q quit"
_ANSWER_KEYS = {ord("y"): Choice.YES_ONCE, ord("a"): Choice.YES_ALWAYS, ord("n"): Choice.NO}


def _fit(text: str, width: int) -> str:
    """One line of the dashboard: made visible, then cut to ``width`` (with "…")."""
    if width <= 0:
        return ""
    text = visible(text)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render(view: Overview, width: int, height: int, selected: int, note: str = "") -> list[str]:
    """Lay the dashboard out as at most ``height`` lines of at most ``width`` characters.

    Two lines a session: name, agent, state, unread and what it asks; then its last
    message and reply. The selected session is marked with "›".
    """
    asking = sum(1 for row in view.rows if row.state == "asking")
    watcher = "watching" if view.watching else "no watcher: reading panes"
    header = (
        f"imessenger · {len(view.rows)} session(s) · "
        f"{render_plain(asking, view.user_unread)} · {watcher}"
    )
    lines = [_fit(header, width), ""]
    if not view.rows:
        lines.append(_fit("  no agent sessions: start one with `isesh start NAME`", width))
    name_width = max([len(row.name) for row in view.rows] + [4])
    for index, row in enumerate(view.rows):
        mark = "›" if index == selected else " "
        unread = f"✉{row.unread}" if row.unread else ""
        pending = "⏳" if row.pending else ""
        what = f"asks: {row.asking}" if row.asking else ""
        top = (
            f"{mark} {row.name:<{name_width}}  {row.agent:<7} {row.state:<8} "
            f"{unread:<4}{pending:<2} {what}"
        )
        exchange = ""
        if row.last_message:
            exchange = f'last: "{row.last_message}"  → {row.last_reply or "…"}'
        lines.append(_fit(top.rstrip(), width))
        lines.append(_fit(f"  {'':<{name_width}}  {exchange}".rstrip(), width))
    footer = [_fit(note, width), _fit(KEYS, width)]
    room = max(height - len(footer), 0)
    body = lines[:room] + [""] * (room - len(lines[:room]))
    return body + footer if height > len(footer) else footer[-height:]


class Dashboard:
    """The curses loop: draw, wait for a key or a change, act."""

    def __init__(self, api: Api, client: str | None = None) -> None:
        self.api = api
        self.client = client
        self.view = Overview()
        self.selected = 0
        self.note = ""
        self.interval_ms = max(api.settings.watch.interval_ms, 20)
        self._marks: tuple[Any, ...] | None = None

    def _changed(self) -> bool:
        """True when the status cache or the database changed (always, without a watcher)."""
        if not self.view.watching:
            return True
        marks: list[tuple[int, int] | None] = []
        for path in self.api.changes_to_watch():
            try:
                stat = path.stat()
                marks.append((stat.st_size, stat.st_mtime_ns))
            except OSError:
                marks.append(None)
        found = tuple(marks)
        if found == self._marks:
            return False
        self._marks = found
        return True

    def reload(self) -> None:
        try:
            self.view = self.api.overview()
        except ImessengerError as error:
            self.note = str(error)
        self.selected = min(self.selected, max(len(self.view.rows) - 1, 0))

    def draw(self, screen: curses.window) -> None:
        height, width = screen.getmaxyx()
        screen.erase()
        for y, line in enumerate(render(self.view, width - 1, height, self.selected, self.note)):
            with contextlib.suppress(curses.error):  # the window's last cell is unwritable
                screen.addstr(y, 0, line)
        screen.refresh()

    def run(self, screen: curses.window) -> None:
        """Run until q; ``screen`` is the window curses.wrapper gives."""
        curses.curs_set(0)
        screen.timeout(self.interval_ms)
        self._changed()
        self.reload()
        self.draw(screen)
        while True:
            key = screen.getch()
            if key == -1:
                if self._changed():
                    self.reload()
                    self.draw(screen)
                continue
            if key in (ord("q"), 27):
                return
            if self._act(screen, key):
                return
            self.reload()
            self.draw(screen)

    def _current(self) -> str | None:
        if not self.view.rows:
            return None
        return self.view.rows[self.selected].name

    def _act(self, screen: curses.window, key: int) -> bool:
        """Do what a key says; True to leave the dashboard."""
        if key in (curses.KEY_UP, ord("k")):
            self.selected = max(self.selected - 1, 0)
        elif key in (curses.KEY_DOWN, ord("j")):
            self.selected = min(self.selected + 1, max(len(self.view.rows) - 1, 0))
        elif key in _ANSWER_KEYS:
            self._answer(_ANSWER_KEYS[key])
        elif key == ord("s"):
            self._send(screen)
        elif key in (curses.KEY_ENTER, 10, 13):
            return self._jump()
        return False

    def _answer(self, choice: Choice) -> None:
        if not self.view.rows:
            return
        row = self.view.rows[self.selected]
        name, prompt = row.name, row.prompt_id  # the prompt shown, not whatever asks by now
        if row.state != "asking":
            self.note = f'"{name}" is {row.state} here, not asking: nothing was pressed'
            return
        self.note = f'answering "{name}"…'
        try:
            done = self.api.answer(name, choice, prompt)
            self.note = f'"{name}": {describe(done.choice)} ("{done.option.label}")'
        except ImessengerError as error:
            self.note = str(error)

    def _send(self, screen: curses.window) -> None:
        name = self._current()
        if name is None:
            return
        height, width = screen.getmaxyx()
        prompt = f"message to {name} (Enter sends, empty cancels): "
        screen.move(height - 2, 0)
        screen.clrtoeol()
        screen.addstr(height - 2, 0, _fit(prompt, width - 1))
        curses.echo()
        curses.curs_set(1)
        screen.timeout(-1)
        try:
            raw = screen.getstr(height - 2, min(len(prompt), width - 2), 4000)
        finally:
            curses.noecho()
            curses.curs_set(0)
            screen.timeout(self.interval_ms)
        body = raw.decode("utf-8", "replace").strip()
        if not body:
            self.note = "nothing sent"
            return
        try:
            result = self.api.send(name, body, wait=False)
            self.note = f"message {result.message.id} to {name}: {result.outcome.value}"
        except ImessengerError as error:
            self.note = str(error)

    def _jump(self) -> bool:
        name = self._current()
        if name is None:
            return False
        if ":" in name:  # another host's: its tmux is there
            self.note = f"{name} is on another host: attach with `isesh attach {name}`"
            return False
        try:
            client = self.client or self.api.popup_client()
            if client:
                self.api.switch(client, name)
                return True  # in a popup: leave it, the session is behind
            if os.environ.get("TMUX"):
                self.api.attach(name)  # switches this client
                return False
        except ImessengerError as error:
            self.note = str(error)
            return False
        curses.endwin()
        self.api.attach(name)  # outside tmux: becomes `tmux attach`
        return True


def run_dashboard(api: Api, client: str | None = None) -> None:
    """Run the dashboard in this terminal until the user quits."""
    os.environ.setdefault("ESCDELAY", "25")
    started = time.monotonic()
    curses.wrapper(Dashboard(api, client).run)
    logger.debug("dashboard ran %.1fs", time.monotonic() - started)
