"""The watcher and what it publishes: run it, start and stop it, read its status, the overview."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imessenger.app.prompts import note_closed, prompt_view
from imessenger.app.services import Services
from imessenger.app.values import Overview, Row, first_line

if TYPE_CHECKING:
    from imessenger.adapters.status_cache import Status
    from imessenger.core.values import MessageRecord
    from imessenger.watcher.daemon import Daemon, Stopped


class WatchActions(Services):
    """What watch, status and the dashboard do."""

    def watch(self, log_file: Path | None = None, *, verbose: bool = False) -> None:
        """Follow every session of the server until stopped (SIGTERM, SIGINT, SIGHUP).

        Logs to ``log_file`` (else stderr). Raises WatcherRunning when a watcher runs
        already for this server.
        """
        from imessenger.watcher.daemon import log_to, run_watcher

        log_to(log_file, verbose=verbose)
        run_watcher(self.server, self.sessions)

    def start_watcher(self, *, verbose: bool = False) -> Daemon:
        """Start the watcher in the background, logging to its file; say whether it started."""
        from imessenger.watcher.daemon import start_daemon

        return start_daemon(self.server, self.socket_name, verbose=verbose)

    def stop_watcher(self) -> Stopped:
        """Stop the watcher of this server, and wait until it has."""
        from imessenger.watcher.daemon import stop_watcher

        return stop_watcher(self.server)

    def status(self) -> Status:
        """What the watcher last published (no pane is read; the user's needs no database)."""
        from imessenger.adapters.status_cache import read_status

        return read_status(self.server)

    def follow_status(
        self, interval_s: float = 0.2, read: Callable[[], Status] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The status (as :meth:`Status.as_json`, from ``read``, else :meth:`status`), once
        now and again each time it changes.

        What another host's watcher follows this host through: one small file read per
        interval, here, never a pane.
        """
        shown: dict[str, Any] | None = None
        read = read if read is not None else self.status
        while True:
            now = {k: v for k, v in read().as_json().items() if k != "updated_at"}
            if now != shown:
                shown = now
                yield now
            time.sleep(interval_s)

    def overview(self, reads: Callable[[str], bool], sees: Callable[[str], bool]) -> Overview:
        """Every session at a glance: states from the watcher (else the panes), the rest from
        the store; with a watcher, the sessions of the other hosts too (HOST:SESSION), as
        their own watchers published them.

        Every session's state and unread count are shown; the prompt a session waits on
        only where ``sees`` says the caller may see it, and the last exchange only where
        ``reads`` says the caller may read that session's messages, or when it sent or
        received them itself (the door decides both).
        """
        status = self.status()
        entries: list[dict[str, Any]]
        if status.watching:
            entries = list(status.data.get("sessions", []))
            for host, seen in sorted(status.data.get("hosts", {}).items()):
                # what that host's watcher published, named HOST:SESSION
                sessions = seen.get("sessions", []) if seen.get("reachable") else []
                entries += [{**e, "name": f"{host}:{e['name']}", "host": host} for e in sessions]
        else:
            entries = []
            views = self.sessions.views()
            note_closed(self.sessions, views)
            for view in views:
                prompt = prompt_view(self.sessions, view)
                entries.append(
                    {
                        "name": view.name,
                        "agent": view.agent,
                        "state": str(view.state),
                        "asking": prompt.about() if prompt is not None else None,
                        "choices": [str(o.answer) for o in prompt.options if o.answer]
                        if prompt is not None
                        else [],
                        "prompt_id": prompt.id if prompt is not None else None,
                    }
                )
        messages = self.store.messages.latest(limit=500)
        pending = {m.target for m in messages if m.state == "pending"}
        unread = self.store.inbox.unread_counts()
        me = self.caller.name
        own = [m for m in messages if me in (m.sender, m.target)]
        rows = []
        for entry in entries:
            name = str(entry["name"])
            sees_prompt = sees(name)
            last, reply = _last_exchange(messages if reads(name) else own, name)
            there = "host" in entry  # its counts are that host's
            shown = entry.get("prompt_id") if sees_prompt else None
            rows.append(
                Row(
                    name=name,
                    agent=str(entry.get("agent", "")),
                    state=str(entry.get("state", "unknown")),
                    asking=entry.get("asking") if sees_prompt else None,
                    choices=tuple(entry.get("choices") or ()) if sees_prompt else (),
                    last_message=last,
                    last_reply=reply,
                    unread=int(entry.get("unread", 0)) if there else unread.get(name, 0),
                    pending=bool(entry.get("pending")) if there else name in pending,
                    prompt_id=str(shown) if shown else None,
                )
            )
        return Overview(rows, status.watching, unread.get("user", 0))


def _last_exchange(messages: list[MessageRecord], name: str) -> tuple[str, str]:
    """The last message to ``name`` and its reply (or what became of it), newest first list."""
    for message in messages:
        if message.target != name:
            continue
        reply = f"({message.state})" if message.reply is None else first_line(message.reply)
        return first_line(message.body), reply
    return "", ""
