"""The dashboard: every session at a glance, in a terminal (a tmux window or popup).

It shows each session's agent, state, what it asks about, its last message and
reply, and unread counts; keys answer a prompt, send a message or jump to the
session. The screen is redrawn when something changed: the watcher's status
cache or the database (their size and time are looked at every
``watch.interval_ms``; nothing is redrawn while they stay the same). Without a
watcher the dashboard reads the panes itself at that interval.

:func:`rows` and :func:`render` are plain functions (data in, text lines out);
:class:`Dashboard` is the curses loop around them.
"""

from __future__ import annotations

import contextlib
import curses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from imessenger.errors import ImessengerError
from imessenger.sessions import Sessions
from imessenger.status import Status, read_status, render_plain, status_path
from imessenger.store import Choice, MessageRecord

logger = logging.getLogger(__name__)

#: The keys of the dashboard and what they do, as its footer lists them.
KEYS = "↑↓ pick  y yes  a yes always  n no  s send  ⏎ jump  q quit"
_ANSWER_KEYS = {ord("y"): Choice.YES_ONCE, ord("a"): Choice.YES_ALWAYS, ord("n"): Choice.NO}


@dataclass(frozen=True)
class Row:
    """One session as the dashboard shows it."""

    name: str
    agent: str
    state: str
    asking: str | None = None
    choices: tuple[str, ...] = ()
    last_message: str = ""
    last_reply: str = ""
    unread: int = 0
    pending: bool = False


@dataclass
class View:
    """What the dashboard shows: the rows and the counts of the header."""

    rows: list[Row] = field(default_factory=list)
    watching: bool = False
    user_unread: int = 0


def first_line(text: str | None, width: int = 60) -> str:
    """The first non-blank line of ``text``, cut to ``width`` (with "…" when cut or longer)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line, more = lines[0], len(lines) > 1
    if len(line) > width:
        line, more = line[: width - 1], True
    return line + ("…" if more else "")


def _last_exchange(messages: list[MessageRecord], name: str) -> tuple[str, str]:
    """The last message to ``name`` and its reply (or what became of it), newest first list."""
    for message in messages:
        if message.target != name:
            continue
        reply = f"({message.state})" if message.reply is None else first_line(message.reply)
        return first_line(message.body), reply
    return "", ""


def rows(sessions: Sessions, status: Status | None = None) -> View:
    """Gather the dashboard's rows: states from the watcher (else the panes), the rest
    from the store."""
    status = status if status is not None else read_status(sessions.tmux.label)
    store = sessions.store
    entries: list[dict[str, Any]]
    if status.watching:
        entries = list(status.data.get("sessions", []))
    else:
        from imessenger.approval import answers

        entries = []
        for view in sessions.views():
            prompt = view.screen.prompt
            entries.append(
                {
                    "name": view.name,
                    "agent": view.agent,
                    "state": str(view.state),
                    "asking": prompt.about() if prompt is not None else None,
                    "choices": [str(c) for c in answers(view.name, prompt).values()]
                    if prompt is not None
                    else [],
                }
            )
    messages = store.list_messages(sessions.tmux.label, limit=500)
    pending = {m.target for m in messages if m.state == "pending"}
    unread = store.unread_counts()
    found = []
    for entry in entries:
        name = str(entry["name"])
        last, reply = _last_exchange(messages, name)
        found.append(
            Row(
                name=name,
                agent=str(entry.get("agent", "")),
                state=str(entry.get("state", "unknown")),
                asking=entry.get("asking"),
                choices=tuple(entry.get("choices") or ()),
                last_message=last,
                last_reply=reply,
                unread=unread.get(name, 0),
                pending=name in pending,
            )
        )
    return View(found, status.watching, unread.get("user", 0))


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render(view: View, width: int, height: int, selected: int, note: str = "") -> list[str]:
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

    def __init__(self, sessions: Sessions, client: str | None = None) -> None:
        self.sessions = sessions
        self.client = client
        self.view = View()
        self.selected = 0
        self.note = ""
        self.interval_ms = max(int(sessions.config.get("watch.interval_ms")), 20)
        self._marks: tuple[Any, ...] | None = None

    def _changed(self) -> bool:
        """True when the status cache or the database changed (always, without a watcher)."""
        if not self.view.watching:
            return True
        marks: list[tuple[int, int] | None] = []
        db = self.sessions.store.path
        for path in (status_path(self.sessions.tmux.label), db, db.with_name(db.name + "-wal")):
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
            self.view = rows(self.sessions)
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
        from imessenger.approval import answer, describe

        name = self._current()
        if name is None:
            return
        self.note = f'answering "{name}"…'
        try:
            done = answer(self.sessions, name, choice)
            self.note = f'"{name}": {describe(done.choice)} ("{done.option.label}")'
        except ImessengerError as error:
            self.note = str(error)

    def _send(self, screen: curses.window) -> None:
        from imessenger.caller import identify
        from imessenger.delivery import Courier

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
            result = Courier(self.sessions).send(
                name, body, sender=identify(self.sessions.tmux).name, wait=False
            )
            self.note = f"message {result.message.id} to {name}: {result.outcome.value}"
        except ImessengerError as error:
            self.note = str(error)

    def _jump(self) -> bool:
        name = self._current()
        if name is None:
            return False
        tmux = self.sessions.tmux
        try:
            client = self.client or popup_client(self.sessions)
            if client:
                tmux.switch_client(client, name)
                return True  # in a popup: leave it, the session is behind
            if os.environ.get("TMUX"):
                tmux.attach(name)  # switches this client
                return False
        except ImessengerError as error:
            self.note = str(error)
            return False
        curses.endwin()
        tmux.attach(name)  # outside tmux: becomes `tmux attach`
        return True


def popup_client(sessions: Sessions) -> str | None:
    """In a tmux popup (``$TMUX`` set, no pane), the terminal client that opened it.

    That is the terminal client with the latest input: the key that opened the popup.
    """
    if not os.environ.get("TMUX") or os.environ.get("TMUX_PANE"):
        return None
    terminals = [c for c in sessions.tmux.clients() if not c.control]
    if not terminals:
        return None
    return max(terminals, key=lambda c: c.activity).name


def run_dashboard(sessions: Sessions, client: str | None = None) -> None:
    """Run the dashboard in this terminal until the user quits."""
    os.environ.setdefault("ESCDELAY", "25")
    started = time.monotonic()
    curses.wrapper(Dashboard(sessions, client).run)
    logger.debug("dashboard ran %.1fs", time.monotonic() - started)
