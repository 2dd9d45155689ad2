"""The schema: an ordered list of migration functions, and applying them.

Migration N (1-based) brings the database to ``PRAGMA user_version`` N, and each one
applied is recorded in the ``migrations`` table too (its version, name and time). They
run in order, all of those a database lacks in one ``BEGIN IMMEDIATE`` transaction, so
that processes opening a new database at once migrate it once, and a migration that
fails leaves the database as it was. Append new migrations; never edit or reorder the
ones already released: the schema is exactly what they make.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from imessenger.adapters.store.database import Database
from imessenger.core.errors import StoreError

logger = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]


def _initial_schema(conn: sqlite3.Connection) -> None:
    """Create the sessions, messages, inbox and approvals tables."""
    statements = [
        """CREATE TABLE sessions (
            server TEXT NOT NULL,
            name TEXT NOT NULL,
            agent TEXT NOT NULL,
            directory TEXT NOT NULL,
            command TEXT NOT NULL,
            started_at REAL NOT NULL,
            PRIMARY KEY (server, name)
        )""",
        """CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            server TEXT NOT NULL,
            sender TEXT NOT NULL,
            target TEXT NOT NULL,
            body TEXT NOT NULL,
            raw INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            claimed_at REAL,
            delivered_at REAL,
            replied_at REAL,
            reply TEXT,
            reply_via TEXT,
            waiting INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )""",
        "CREATE INDEX messages_by_target ON messages (server, target, state, created_at)",
        "CREATE INDEX messages_by_created ON messages (created_at)",
        """CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            kind TEXT NOT NULL,
            message_id TEXT,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            read_at REAL
        )""",
        "CREATE INDEX inbox_by_owner ON inbox (owner, read_at)",
        """CREATE TABLE approvals (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            server TEXT NOT NULL,
            session TEXT NOT NULL,
            prompt TEXT NOT NULL,
            subject TEXT NOT NULL,
            choice TEXT NOT NULL,
            option_label TEXT NOT NULL,
            key TEXT NOT NULL,
            closed INTEGER NOT NULL
        )""",
        "CREATE INDEX approvals_by_session ON approvals (session, at)",
    ]
    for statement in statements:
        conn.execute(statement)


def _refusals(conn: sqlite3.Connection) -> None:
    """Add the table of actions the policy refused."""
    conn.execute(
        """CREATE TABLE refusals (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            server TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            rule TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX refusals_by_actor ON refusals (actor, at)")


def _waiters_and_instances(conn: sqlite3.Connection) -> None:
    """Record which process waits for a reply, and which session instance a message is for."""
    conn.execute("ALTER TABLE messages ADD COLUMN waiter_pid INTEGER")
    conn.execute("ALTER TABLE messages ADD COLUMN waiter_start INTEGER")
    conn.execute("ALTER TABLE messages ADD COLUMN target_instance TEXT NOT NULL DEFAULT ''")


def _agent_records(conn: sqlite3.Connection) -> None:
    """Record where a session's agent keeps its own record of its answers."""
    conn.execute("ALTER TABLE sessions ADD COLUMN record_kind TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE sessions ADD COLUMN record_ref TEXT NOT NULL DEFAULT ''")


def _hook_events(conn: sqlite3.Connection) -> None:
    """Record the events the agents' own hooks report, and the files isesh made."""
    conn.execute("ALTER TABLE sessions ADD COLUMN hooks TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE sessions ADD COLUMN files_dir TEXT NOT NULL DEFAULT ''")
    conn.execute(
        """CREATE TABLE hook_events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            server TEXT NOT NULL,
            session TEXT NOT NULL,
            kind TEXT NOT NULL,
            event TEXT NOT NULL,
            state TEXT NOT NULL,
            detail TEXT NOT NULL,
            screen TEXT NOT NULL DEFAULT ''
        )"""
    )
    conn.execute("CREATE INDEX hook_events_by_session ON hook_events (server, session, id)")


def _mcp_connections(conn: sqlite3.Connection) -> None:
    """Record when a session's agent connected to imessenger's MCP server."""
    conn.execute("ALTER TABLE sessions ADD COLUMN mcp TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE sessions ADD COLUMN mcp_connected_at REAL")


def _paste_marks(conn: sqlite3.Connection) -> None:
    """Record when a message's paste began, so that a claim left by a killed sender is
    settled from what lasts, never by pasting it again on a guess."""
    conn.execute("ALTER TABLE messages ADD COLUMN pasted_at REAL")
    conn.execute("ALTER TABLE messages ADD COLUMN submitted_at REAL")
    # a claim left by an earlier version may have been pasted and submitted (its paste
    # and key went in one call): never take it for one that was not
    conn.execute(
        "UPDATE messages SET pasted_at = claimed_at, submitted_at = claimed_at "
        "WHERE state = 'delivering'"
    )


def _session_instances(conn: sqlite3.Connection) -> None:
    """Record which run of a session each session record is, and which sent each message.

    Instances were named by pane before; a message's old name is no longer comparable,
    so it reads as unknown.
    """
    conn.execute("ALTER TABLE sessions ADD COLUMN instance TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE messages ADD COLUMN sender_instance TEXT NOT NULL DEFAULT ''")
    conn.execute("UPDATE messages SET target_instance = '' WHERE target_instance LIKE '%@%'")


def _prompts(conn: sqlite3.Connection) -> None:
    """Record each occurrence of a permission prompt, and whether it was answered."""
    conn.execute(
        """CREATE TABLE prompts (
            id TEXT PRIMARY KEY,
            server TEXT NOT NULL,
            session TEXT NOT NULL,
            instance TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            about TEXT NOT NULL,
            first_seen REAL NOT NULL,
            closed_at REAL,
            answered_at REAL,
            answered_by TEXT,
            choice TEXT
        )"""
    )
    conn.execute("CREATE INDEX prompts_by_session ON prompts (server, session, closed_at)")


def _remembered_sessions(conn: sqlite3.Connection) -> None:
    """Remember the sessions isesh started, past their end, for ``isesh restore``."""
    conn.execute(
        """CREATE TABLE remembered (
            server TEXT NOT NULL,
            name TEXT NOT NULL,
            agent TEXT NOT NULL,
            directory TEXT NOT NULL,
            command TEXT NOT NULL,
            environment TEXT NOT NULL,
            record_kind TEXT NOT NULL,
            record_ref TEXT NOT NULL,
            started_at REAL NOT NULL,
            stopped_at REAL,
            instance TEXT NOT NULL,
            worktree TEXT NOT NULL,
            repo TEXT NOT NULL,
            branch TEXT NOT NULL,
            base TEXT NOT NULL,
            base_commit TEXT NOT NULL,
            PRIMARY KEY (server, name)
        )"""
    )


#: The schema, in order: migration N (1-based) brings the database to ``user_version`` N.
#: Append new migrations; never edit or reorder the ones already released.
MIGRATIONS: list[Migration] = [
    _initial_schema,
    _refusals,
    _waiters_and_instances,
    _agent_records,
    _hook_events,
    _mcp_connections,
    _paste_marks,
    _session_instances,
    _prompts,
    _remembered_sessions,
]


def migration_name(migration: Migration) -> str:
    """Return the name a migration is recorded under (its function name, no leading ``_``)."""
    return migration.__name__.lstrip("_")


#: The table that records the migrations applied (its text as databases hold it: keep it).
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS migrations (\n"
    "                    version INTEGER PRIMARY KEY,\n"
    "                    name TEXT NOT NULL,\n"
    "                    applied_at REAL NOT NULL\n"
    "                )"
)


def migrate(database: Database) -> None:
    """Apply the migrations ``database`` lacks, in order, each recorded.

    Raises StoreError when one fails (nothing of them is kept) or when the database was
    made by a newer imessenger.
    """
    migrations = list(MIGRATIONS)
    latest = len(migrations)
    current = version(database)
    if current == latest:
        return
    if current > latest:
        raise StoreError(
            f"{database.path} has schema version {current}, but this imessenger knows only "
            f"up to {latest}: upgrade imessenger, or point IMESSENGER_HOME elsewhere"
        )
    with database.write("apply schema migrations") as conn:
        conn.execute(_MIGRATIONS_TABLE)
        current = _user_version(conn)  # another process may have migrated meanwhile
        for number, migration in enumerate(migrations[current:], start=current + 1):
            name = migration_name(migration)
            logger.info("%s: applying migration %d (%s)", database.path, number, name)
            migration(conn)
            conn.execute(
                "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, time.time()),
            )
            conn.execute(f"PRAGMA user_version = {number:d}")


def version(database: Database) -> int:
    """The schema version (``PRAGMA user_version``) of the open database."""
    [row] = database.query("read the schema version", "PRAGMA user_version")
    number: int = row[0]
    return number


def applied(database: Database) -> list[tuple[int, str, float]]:
    """``(version, name, applied_at)`` for every recorded migration, in order."""
    rows = database.query(
        "read the migrations table",
        "SELECT version, name, applied_at FROM migrations ORDER BY version",
    )
    return [(row["version"], row["name"], row["applied_at"]) for row in rows]


def _user_version(conn: sqlite3.Connection) -> int:
    number: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return number
