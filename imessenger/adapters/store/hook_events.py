"""The events the agents' own hooks report (table ``hook_events``), of one tmux server.

``imessenger hook event`` adds them; the watcher reads the new ones (by id) and records
what the screen showed when it checked each against it. The latest
:data:`HOOK_EVENTS_KEPT` of a session are kept, and none of an earlier run of it (see
:meth:`imessenger.adapters.store.sessions.SessionTable.record`).
"""

from __future__ import annotations

import sqlite3
import time

from imessenger.adapters.store.database import Database
from imessenger.core.values import HookEventRecord

#: How many hook events are kept per session (the oldest go first).
HOOK_EVENTS_KEPT = 200

_COLUMNS = "id, at, server, session, kind, event, state, detail, screen"


class HookEventTable:
    """The hook events of the sessions of the tmux server ``server``."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def add(
        self,
        session: str,
        *,
        kind: str,
        event: str,
        state: str,
        detail: str,
        at: float | None = None,
    ) -> HookEventRecord:
        """Record an event that session ``session``'s own hook reported at ``at`` (now by
        default); keep the latest :data:`HOOK_EVENTS_KEPT` of the session."""
        server = self.server
        with self._db.write(f'record a hook event of "{session}"') as conn:
            row = conn.execute(
                "INSERT INTO hook_events (at, server, session, kind, event, state, detail) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (time.time() if at is None else at, server, session, kind, event, state, detail),
            ).fetchone()
            conn.execute(
                "DELETE FROM hook_events WHERE server = ? AND session = ? AND id <= ?",
                (server, session, row["id"] - HOOK_EVENTS_KEPT),
            )
        return _hook_event(row)

    def recent(
        self, session: str | None = None, *, after: int = 0, limit: int = 20
    ) -> list[HookEventRecord]:
        """The hook events (of one session) with an id above ``after``: the latest
        ``limit`` of them, in the order they happened (hooks that run side by side may
        record theirs in another order)."""
        where, params = "server = ? AND id > ?", [self.server, after]
        if session is not None:
            where += " AND session = ?"
            params.append(session)
        rows = self._db.query(
            "read hook events",
            f"SELECT {_COLUMNS} FROM hook_events WHERE {where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return sorted((_hook_event(row) for row in rows), key=lambda e: (e.at, e.id))

    def record_check(self, event_id: int, screen: str) -> None:
        """Record what the screen showed when the event was checked against it."""
        with self._db.write("record a hook event's check") as conn:
            conn.execute("UPDATE hook_events SET screen = ? WHERE id = ?", (screen, event_id))


def forget_session(conn: sqlite3.Connection, server: str, session: str) -> None:
    """Delete the events of ``session``, inside the transaction of ``conn`` (a session
    recorded anew is another run: they were not its own)."""
    conn.execute("DELETE FROM hook_events WHERE server = ? AND session = ?", (server, session))


def _hook_event(row: sqlite3.Row) -> HookEventRecord:
    return HookEventRecord(**{key: row[key] for key in row.keys()})  # noqa: SIM118
