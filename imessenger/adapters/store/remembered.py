"""The sessions isesh remembers (table ``remembered``), of one tmux server, for restoring.

A session isesh starts is remembered in the transaction that records it (see
:meth:`~imessenger.adapters.store.sessions.SessionTable.record`): its name, profile,
folder, command as given, the variables passed on to it, its git worktree, and what
locates its agent's conversation (its record ref), which is kept up to date as the run
learns it (Codex names its thread after the first turn). Unlike a session's record,
the memory outlives the run: ``isesh stop`` marks it stopped, a killed tmux server
leaves it as it was, and only ``isesh forget`` (:meth:`RememberedTable.forget`) drops it.
"""

from __future__ import annotations

import json
import sqlite3
import time

from imessenger.adapters.store.database import Database
from imessenger.core.values import RememberedSession

_COLUMNS = (
    "server, name, agent, directory, command, environment, record_kind, record_ref, "
    "started_at, stopped_at, instance, worktree, repo, branch, base, base_commit"
)


def keep(conn: sqlite3.Connection, session: RememberedSession) -> None:
    """Remember ``session`` (replacing what was remembered under its name), in the
    caller's transaction."""
    conn.execute(
        f"INSERT OR REPLACE INTO remembered ({_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session.server,
            session.name,
            session.agent,
            session.directory,
            json.dumps(list(session.command)),
            json.dumps(dict(session.environment), sort_keys=True),
            session.record_kind,
            session.record_ref,
            session.started_at,
            session.stopped_at,
            session.instance,
            session.worktree,
            session.repo,
            session.branch,
            session.base,
            session.base_commit,
        ),
    )


def learned(conn: sqlite3.Connection, server: str, name: str, ref: str, *, was: str) -> None:
    """What locates session ``name``'s conversation is ``ref`` now (it was ``was``), in the
    caller's transaction."""
    conn.execute(
        "UPDATE remembered SET record_ref = ? WHERE server = ? AND name = ? AND record_ref = ?",
        (ref, server, name, was),
    )


class RememberedTable:
    """The remembered sessions of the tmux server ``server``."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def get(self, name: str) -> RememberedSession | None:
        """What is remembered of session ``name``, or None."""
        rows = self._db.query(
            f'read what is remembered of "{name}"',
            f"SELECT {_COLUMNS} FROM remembered WHERE server = ? AND name = ?",
            (self.server, name),
        )
        return _remembered(rows[0]) if rows else None

    def all(self) -> list[RememberedSession]:
        """Every remembered session, sorted by name."""
        rows = self._db.query(
            "list the remembered sessions",
            f"SELECT {_COLUMNS} FROM remembered WHERE server = ? ORDER BY name",
            (self.server,),
        )
        return [_remembered(row) for row in rows]

    def stopped(self, name: str, instance: str) -> bool:
        """Note that the run ``instance`` of session ``name`` was stopped (by ``isesh stop``),
        now. Return whether that run is the one remembered."""
        with self._db.write(f'remember that "{name}" was stopped') as conn:
            cursor = conn.execute(
                "UPDATE remembered SET stopped_at = ? "
                "WHERE server = ? AND name = ? AND instance IN ('', ?)",
                (time.time(), self.server, name, instance),
            )
        return cursor.rowcount > 0

    def forget(self, name: str) -> RememberedSession | None:
        """Forget session ``name``; return what was remembered (None: nothing was)."""
        with self._db.write(f'forget "{name}"') as conn:
            row = conn.execute(
                f"DELETE FROM remembered WHERE server = ? AND name = ? RETURNING {_COLUMNS}",
                (self.server, name),
            ).fetchone()
        return _remembered(row) if row is not None else None


def _remembered(row: sqlite3.Row) -> RememberedSession:
    environment = json.loads(row["environment"])
    return RememberedSession(
        server=row["server"],
        name=row["name"],
        agent=row["agent"],
        directory=row["directory"],
        command=tuple(str(part) for part in json.loads(row["command"])),
        environment=tuple(sorted((str(k), str(v)) for k, v in environment.items())),
        record_kind=row["record_kind"],
        record_ref=row["record_ref"],
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        instance=row["instance"],
        worktree=row["worktree"],
        repo=row["repo"],
        branch=row["branch"],
        base=row["base"],
        base_commit=row["base_commit"],
    )
