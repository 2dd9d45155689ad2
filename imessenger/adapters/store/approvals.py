"""The answers given to the agents' permission prompts (table ``approvals``), of one tmux
server: who answered which session's prompt, with which option and key, and whether the
prompt closed afterwards. Each answer is recorded whether the prompt closed or not; an
answer given on another host is recorded there, and here as the caller's.
"""

from __future__ import annotations

import sqlite3
import time

from imessenger.adapters.store.database import Database, enum_value
from imessenger.core.values import ApprovalRecord, Choice

_COLUMNS = "id, at, actor, server, session, prompt, subject, choice, option_label, key, closed"


class ApprovalTable:
    """The answers given to the prompts of the sessions of the tmux server ``server``."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def add(
        self,
        *,
        actor: str,
        session: str,
        prompt: str,
        subject: str,
        choice: Choice | str,
        option_label: str,
        key: str,
        closed: bool,
        at: float | None = None,
    ) -> ApprovalRecord:
        """Record an answer to a permission prompt and return it.

        ``actor`` is who answered (a session name, or "user"); ``choice`` is
        "yes-once", "yes-always" or "no"; ``key`` the key pressed; ``closed``
        whether the prompt closed afterwards. ``at`` defaults to now.
        """
        choice = enum_value(Choice, choice, "approval choice")
        when = time.time() if at is None else at
        with self._db.write(f'record an approval for "{session}"') as conn:
            row = conn.execute(
                "INSERT INTO approvals (at, actor, server, session, prompt, subject, choice, "
                "option_label, key, closed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"RETURNING {_COLUMNS}",
                (
                    when,
                    actor,
                    self.server,
                    session,
                    prompt,
                    subject,
                    choice,
                    option_label,
                    key,
                    int(closed),
                ),
            ).fetchone()
        return _approval(row)

    def latest(self, session: str | None = None, limit: int | None = 100) -> list[ApprovalRecord]:
        """Return the latest approvals, newest first, optionally of one session."""
        rows = self._db.latest(
            "approvals", _COLUMNS, {"session": session, "server": self.server}, limit
        )
        return [_approval(row) for row in rows]


def _approval(row: sqlite3.Row) -> ApprovalRecord:
    return ApprovalRecord(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        server=row["server"],
        session=row["session"],
        prompt=row["prompt"],
        subject=row["subject"],
        choice=Choice(row["choice"]),
        option_label=row["option_label"],
        key=row["key"],
        closed=bool(row["closed"]),
    )
