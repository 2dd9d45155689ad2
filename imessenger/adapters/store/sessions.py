"""The sessions isesh started (table ``sessions``), of one tmux server.

A record is keyed by the tmux server and the session's name, and says which run of the
session it is (``instance``, see :func:`~imessenger.core.values.instance_of`): a session
started again under its name is another run, and what belonged to the run that ended
goes with it, in the transaction that records or forgets it: its hook events, its MCP
connection, and its inbox, to the person (:func:`imessenger.adapters.store.inbox.hand_over`).
Whether a run is the current one is asked of the name on any tmux server
(:meth:`SessionTable.is_current`): the inbox of a name is shared by every server.
"""

from __future__ import annotations

import json
import sqlite3
import time

from imessenger.adapters.store import hook_events, inbox, remembered
from imessenger.adapters.store.database import Database
from imessenger.core.values import RememberedSession, SessionRecord

_COLUMNS = (
    "server, name, agent, directory, command, started_at, record_kind, record_ref, hooks, "
    "files_dir, mcp, mcp_connected_at, instance"
)


class SessionTable:
    """The session records of the tmux server ``server``."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    def record(
        self,
        name: str,
        agent: str,
        directory: str,
        command: list[str],
        *,
        record_kind: str = "",
        record_ref: str = "",
        hooks: str = "",
        files_dir: str = "",
        mcp: str = "",
        instance: str = "",
        remember: RememberedSession | None = None,
        continues: str | None = None,
    ) -> SessionRecord:
        """Record that isesh started a session, replacing any record with the same key.

        ``instance`` names this run of it (:func:`instance_of`). The hook events of an
        earlier session of the same name go, and so does its MCP connection: they were
        not this one's; so do the entries of its inbox, to the person
        (:func:`~imessenger.adapters.store.inbox.hand_over`). ``remember`` is what to
        remember of it (:mod:`.remembered`), in the same transaction.

        A run that ``continues`` another (the instance of the run ``isesh restore``
        brings back) is that session still: its inbox stays, and the messages to and
        from the earlier run are this one's, so that what waited for it is delivered and
        its replies go where they would have."""
        server = self.server
        record = SessionRecord(
            server,
            name,
            agent,
            directory,
            tuple(command),
            time.time(),
            record_kind,
            record_ref,
            hooks,
            files_dir,
            mcp,
            instance=instance,
        )
        with self._db.write(f'record session "{name}"') as conn:
            conn.execute("DELETE FROM sessions WHERE server = ? AND name = ?", (server, name))
            if continues is None:
                inbox.hand_over(conn, name)
            else:
                _carry_over(conn, server, name, continues, instance)
            conn.execute(
                f"INSERT INTO sessions ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    server,
                    name,
                    agent,
                    directory,
                    json.dumps(list(command)),
                    record.started_at,
                    record_kind,
                    record_ref,
                    hooks,
                    files_dir,
                    mcp,
                    instance,
                ),
            )
            hook_events.forget_session(conn, server, name)
            if remember is not None:
                remembered.keep(conn, remember)
        return record

    def set_record_ref(self, name: str, ref: str, *, was: str) -> bool:
        """Complete where session ``name``'s agent keeps its record, learned after its
        start (Codex names its record only once it has one): ``ref`` replaces ``was``,
        only while the session's ref is still ``was``, so that the first one learned is
        the one kept. Return whether it was set."""
        with self._db.write(f'record where "{name}" keeps its record') as conn:
            cursor = conn.execute(
                "UPDATE sessions SET record_ref = ? "
                "WHERE server = ? AND name = ? AND record_ref = ?",
                (ref, self.server, name, was),
            )
            if cursor.rowcount > 0:
                remembered.learned(conn, self.server, name, ref, was=was)
        return cursor.rowcount > 0

    def mark_mcp_connected(self, name: str, at: float | None = None) -> bool:
        """Record that session ``name``'s agent connected to imessenger's MCP server at
        ``at`` (now by default). Return whether the session is recorded (False: isesh did
        not start it, and nothing was written)."""
        with self._db.write(f'record that "{name}" connected to the MCP server') as conn:
            cursor = conn.execute(
                "UPDATE sessions SET mcp_connected_at = ? WHERE server = ? AND name = ?",
                (time.time() if at is None else at, self.server, name),
            )
        return cursor.rowcount > 0

    def get(self, name: str) -> SessionRecord | None:
        """Return the record of session ``name``, or None."""
        rows = self._db.query(
            f'read session "{name}"',
            f"SELECT {_COLUMNS} FROM sessions WHERE server = ? AND name = ?",
            (self.server, name),
        )
        return _session(rows[0]) if rows else None

    def all(self) -> list[SessionRecord]:
        """Return the recorded sessions, sorted by name."""
        rows = self._db.query(
            "list sessions",
            f"SELECT {_COLUMNS} FROM sessions WHERE server = ? ORDER BY name",
            (self.server,),
        )
        return [_session(row) for row in rows]

    def forget(self, name: str) -> bool:
        """Delete the record of a session; return whether there was one.

        Its run is over: its inbox goes to the person
        (:func:`~imessenger.adapters.store.inbox.hand_over`).
        """
        with self._db.write(f'forget session "{name}"') as conn:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE server = ? AND name = ?", (self.server, name)
            )
            inbox.hand_over(conn, name)
            return cursor.rowcount > 0

    def is_current(self, name: str, instance: str) -> bool:
        """Whether ``instance`` is the run of session ``name`` that is recorded now (on
        any tmux server): False once it was stopped, or another started under its name.
        A record older than instances counts as any run."""
        rows = self._db.query(
            f'read session "{name}"',
            "SELECT 1 FROM sessions WHERE name = ? AND instance IN ('', ?) LIMIT 1",
            (name, instance),
        )
        return bool(rows)


def _carry_over(conn: sqlite3.Connection, server: str, name: str, was: str, now: str) -> None:
    """The messages to and from run ``was`` of session ``name`` are run ``now``'s."""
    conn.execute(
        "UPDATE messages SET target_instance = ? "
        "WHERE server = ? AND target = ? AND target_instance = ?",
        (now, server, name, was),
    )
    conn.execute(
        "UPDATE messages SET sender_instance = ? WHERE sender = ? AND sender_instance = ?",
        (now, name, was),
    )


def _session(row: sqlite3.Row) -> SessionRecord:
    command = json.loads(row["command"])
    return SessionRecord(
        server=row["server"],
        name=row["name"],
        agent=row["agent"],
        directory=row["directory"],
        command=tuple(str(part) for part in command),
        started_at=row["started_at"],
        record_kind=row["record_kind"],
        record_ref=row["record_ref"],
        hooks=row["hooks"],
        files_dir=row["files_dir"],
        mcp=row["mcp"],
        mcp_connected_at=row["mcp_connected_at"],
        instance=row["instance"],
    )
