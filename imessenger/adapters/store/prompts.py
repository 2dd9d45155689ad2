"""The occurrences of the agents' permission prompts (table ``prompts``), of one tmux server.

A prompt on a session's screen is one occurrence from when it is first seen until it
is seen gone: every reader of the screen (approve, the inbox, the menu, the dashboard,
the watcher) finds the same one while it stays open (:meth:`PromptTable.observe`, atomic
across processes), and a later prompt, even one that reads the same, is another with
another id. An occurrence is answered once: it is claimed before the key is pressed
(:meth:`PromptTable.claim`: of two approvers, one claims it), and the claim released
when no key could be pressed after all. The latest :data:`PROMPTS_KEPT` closed ones of a
session are kept. An occurrence's id is unique across servers: what is done to one by
its id is done wherever it was seen.
"""

from __future__ import annotations

import sqlite3
import time

from imessenger.adapters.store.database import Database, enum_value
from imessenger.core.values import Choice, PromptRecord, prompt_id

#: How many closed prompt occurrences are kept per session (the oldest go first).
PROMPTS_KEPT = 200

_COLUMNS = (
    "id, server, session, instance, fingerprint, about, first_seen, closed_at, answered_at, "
    "answered_by, choice"
)


class PromptTable:
    """The prompt occurrences seen on the sessions of the tmux server ``server``; any one,
    by its id."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def observe(
        self,
        session: str,
        instance: str,
        fingerprint: str,
        about: str,
        at: float | None = None,
    ) -> PromptRecord:
        """The occurrence of the prompt a session shows now: the open one of that run of
        the session with this fingerprint, else a new one (first seen ``at``, now by
        default), which closes every other open one of the session.

        Atomic across processes: readers that see a new prompt at once make one
        occurrence. Costs no write while the occurrence is known.
        """
        server = self.server
        where = "server = ? AND session = ? AND instance = ? AND fingerprint = ?"
        key = (server, session, instance, fingerprint)
        found = self._db.query(
            f'read the prompt of "{session}"',
            f"SELECT {_COLUMNS} FROM prompts WHERE {where} AND closed_at IS NULL",
            key,
        )
        if found:
            return _prompt(found[0])
        now = time.time() if at is None else at
        with self._db.write(f'record the prompt of "{session}"') as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM prompts WHERE {where} AND closed_at IS NULL",
                key,
            ).fetchone()
            if row is not None:  # another reader made it meanwhile
                return _prompt(row)
            conn.execute(
                "UPDATE prompts SET closed_at = ? "
                "WHERE server = ? AND session = ? AND closed_at IS NULL",
                (now, server, session),
            )
            made = prompt_id(server, session, instance, fingerprint, now)
            while conn.execute("SELECT 1 FROM prompts WHERE id = ?", (made,)).fetchone():
                made = prompt_id(server, session, instance, fingerprint + made, now)
            row = conn.execute(
                "INSERT INTO prompts (id, server, session, instance, fingerprint, about, "
                f"first_seen) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (made, server, session, instance, fingerprint, about, now),
            ).fetchone()
            conn.execute(
                "DELETE FROM prompts WHERE server = ? AND session = ? AND closed_at IS NOT NULL "
                "AND id NOT IN (SELECT id FROM prompts WHERE server = ? AND session = ? "
                "ORDER BY first_seen DESC LIMIT ?)",
                (server, session, server, session, PROMPTS_KEPT),
            )
        return _prompt(row)

    def get(self, prompt: str) -> PromptRecord | None:
        """The prompt occurrence with this id (seen on any server), or None."""
        rows = self._db.query(
            f'read prompt "{prompt}"',
            f"SELECT {_COLUMNS} FROM prompts WHERE id = ?",
            (prompt,),
        )
        return _prompt(rows[0]) if rows else None

    def unclosed(self) -> dict[str, PromptRecord]:
        """The occurrences not seen closed yet, by session."""
        rows = self._db.query(
            "read the open prompts",
            f"SELECT {_COLUMNS} FROM prompts WHERE server = ? AND closed_at IS NULL "
            "ORDER BY first_seen",
            (self.server,),
        )
        return {row["session"]: _prompt(row) for row in rows}

    def mark_closed(self, prompt: str, at: float | None = None) -> None:
        """Record that the prompt occurrence was seen gone (once: the first time counts)."""
        with self._db.write(f'close prompt "{prompt}"') as conn:
            conn.execute(
                "UPDATE prompts SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                (time.time() if at is None else at, prompt),
            )

    def claim(self, prompt: str, by: str, choice: Choice | str) -> PromptRecord | None:
        """Record that ``by`` answers the prompt occurrence with ``choice``, now, unless it
        was answered already: then None, and nothing changes.

        Atomic across processes: of two approvers, one claims it. Claim it before the key
        is pressed; :meth:`release_claim` when the key could not be pressed after all.
        """
        choice = enum_value(Choice, choice, "approval choice")
        with self._db.write(f'claim prompt "{prompt}"') as conn:
            row = conn.execute(
                "UPDATE prompts SET answered_at = ?, answered_by = ?, choice = ? "
                f"WHERE id = ? AND answered_at IS NULL RETURNING {_COLUMNS}",
                (time.time(), by, choice, prompt),
            ).fetchone()
        return _prompt(row) if row is not None else None

    def release_claim(self, prompt: str) -> None:
        """Undo :meth:`claim`: no key was pressed after all."""
        with self._db.write(f'release prompt "{prompt}"') as conn:
            conn.execute(
                "UPDATE prompts SET answered_at = NULL, answered_by = NULL, choice = NULL "
                "WHERE id = ?",
                (prompt,),
            )


def _prompt(row: sqlite3.Row) -> PromptRecord:
    return PromptRecord(
        id=row["id"],
        server=row["server"],
        session=row["session"],
        instance=row["instance"],
        fingerprint=row["fingerprint"],
        about=row["about"],
        first_seen=row["first_seen"],
        closed_at=row["closed_at"],
        answered_at=row["answered_at"],
        answered_by=row["answered_by"],
        choice=Choice(row["choice"]) if row["choice"] is not None else None,
    )
