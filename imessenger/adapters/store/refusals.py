"""The actions the policy refused (table ``refusals``), of one tmux server: who was
refused what, on which subject, by which rule (see imessenger.app.access, which records
them, and ``imessenger log``, which shows them).
"""

from __future__ import annotations

import sqlite3
import time

from imessenger.adapters.store.database import Database
from imessenger.core.values import RefusalRecord

_COLUMNS = "id, at, actor, server, action, subject, rule"


class RefusalTable:
    """The refusals of callers on the tmux server ``server``."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def add(self, *, actor: str, action: str, subject: str, rule: str) -> RefusalRecord:
        """Record that the policy refused ``actor`` an action, and return the record."""
        with self._db.write(f'record a refusal for "{actor}"') as conn:
            row = conn.execute(
                "INSERT INTO refusals (at, actor, server, action, subject, rule) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (time.time(), actor, self.server, action, subject, rule),
            ).fetchone()
        return _refusal(row)

    def latest(self, actor: str | None = None, limit: int | None = 100) -> list[RefusalRecord]:
        """Return the latest refusals, newest first, optionally of one actor."""
        rows = self._db.latest("refusals", _COLUMNS, {"actor": actor, "server": self.server}, limit)
        return [_refusal(row) for row in rows]


def _refusal(row: sqlite3.Row) -> RefusalRecord:
    return RefusalRecord(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        server=row["server"],
        action=row["action"],
        subject=row["subject"],
        rule=row["rule"],
    )
