"""The inboxes (table ``inbox``): entries by owner name, across tmux servers.

An inbox belongs to a name, a session's or the person's ("user"), not to a tmux server:
sessions of one name on two servers share it, so nothing here is bound to one. Whose
inbox an entry goes to is decided here, in the transaction that writes it:

* an entry about a message goes to its sender while the run of the session that sent it
  is the one recorded; once that run has ended, to the person, its title saying whom
  it was for (:func:`sender_inbox`);
* the inbox of a name no session holds any more goes to the person the same way
  (:func:`hand_over`), so that a session started again under the name reads none of it
  and nothing is lost.

Reading an inbox marks its entries read in the same transaction, so that processes
reading one inbox at once each get every entry at most once.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

from imessenger.adapters.store.database import Database, enum_value
from imessenger.core.names import PERSON
from imessenger.core.values import InboxEntry, InboxKind, MessageRecord, ended_for

_COLUMNS = "id, owner, kind, message_id, title, body, created_at, read_at"


class InboxTable:
    """Every owner's inbox."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(
        self,
        owner: str,
        kind: InboxKind | str,
        title: str,
        body: str,
        message_id: str | None = None,
    ) -> InboxEntry:
        """Add an entry to ``owner``'s inbox (a session name, or "user") and return it."""
        kind = enum_value(InboxKind, kind, "inbox entry kind")
        with self._db.write(f'add to the inbox of "{owner}"') as conn:
            row = insert(conn, owner, kind, message_id, title, body, time.time())
        return _entry(row)

    def add_for_sender(
        self, message: MessageRecord, kind: InboxKind | str, title: str, body: str
    ) -> InboxEntry:
        """Add an entry about ``message`` to the inbox of its sender, and return it.

        That is the sender's own while the run of the session that sent it is the one
        recorded; once it has ended (stopped, or another started under its name) the
        entry is the person's, its title saying whom it was for: a session started
        again under the name is not the one that sent the message.
        """
        kind = enum_value(InboxKind, kind, "inbox entry kind")
        with self._db.write(f'add to the inbox of "{message.sender}"') as conn:
            owner, titled = sender_inbox(conn, message, title)
            row = insert(conn, owner, kind, message.id, titled, body, time.time())
        return _entry(row)

    def read(
        self, owner: str, *, peek: bool = False, include_read: bool = False
    ) -> list[InboxEntry]:
        """Return ``owner``'s unread inbox entries (all with ``include_read``), oldest first.

        Unless ``peek``, the unread entries are marked read in the same
        transaction, so processes reading one inbox at once each get every
        entry at most once. The entries carry ``read_at`` as it was before this
        call: None marks an entry this call is the first to read.
        """
        action = f'read the inbox of "{owner}"'
        if peek:
            condition = "" if include_read else " AND read_at IS NULL"
            rows = self._db.query(
                action,
                f"SELECT {_COLUMNS} FROM inbox WHERE owner = ?{condition} ORDER BY id",
                (owner,),
            )
            return [_entry(row) for row in rows]
        entries: list[InboxEntry] = []
        with self._db.write(action) as conn:
            if include_read:
                read = conn.execute(
                    f"SELECT {_COLUMNS} FROM inbox "
                    "WHERE owner = ? AND read_at IS NOT NULL ORDER BY id",
                    (owner,),
                ).fetchall()
                entries.extend(_entry(row) for row in read)
            fresh = conn.execute(
                "UPDATE inbox SET read_at = ? WHERE owner = ? AND read_at IS NULL "
                f"RETURNING {_COLUMNS}",
                (time.time(), owner),
            ).fetchall()
        entries.extend(replace(_entry(row), read_at=None) for row in fresh)
        entries.sort(key=lambda entry: entry.id)
        return entries

    def unread_counts(self) -> dict[str, int]:
        """Return the number of unread inbox entries of every owner that has any."""
        rows = self._db.query(
            "count unread inbox entries",
            "SELECT owner, COUNT(*) AS unread FROM inbox WHERE read_at IS NULL "
            "GROUP BY owner ORDER BY owner",
        )
        return {row["owner"]: row["unread"] for row in rows}


# --- inside another table's transaction -------------------------------------------------------


def insert(
    conn: sqlite3.Connection,
    owner: str,
    kind: InboxKind,
    message_id: str | None,
    title: str,
    body: str,
    at: float,
) -> sqlite3.Row:
    """Add an entry, inside the transaction of ``conn``; return its row."""
    row: sqlite3.Row = conn.execute(
        "INSERT INTO inbox (owner, kind, message_id, title, body, created_at) "
        f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (owner, kind, message_id, title, body, at),
    ).fetchone()
    return row


def sender_inbox(conn: sqlite3.Connection, message: MessageRecord, title: str) -> tuple[str, str]:
    """Whose inbox an entry about ``message`` goes to, and its title: its sender's, or,
    once the run of the session that sent it has ended, the person's (see
    :meth:`InboxTable.add_for_sender`)."""
    if not message.sender_instance:
        return message.sender, title  # the person sent it, or it predates instances
    running = conn.execute(
        "SELECT 1 FROM sessions WHERE name = ? AND instance IN ('', ?) LIMIT 1",
        (message.sender, message.sender_instance),
    ).fetchone()
    if running:
        return message.sender, title
    return PERSON, title + ended_for(message.sender)


def hand_over(conn: sqlite3.Connection, name: str) -> int:
    """Give the inbox of session ``name``, whose run has ended, to the person.

    Its entries (read or not) become the person's, each title saying whom it was for,
    so that a session started again under the name reads none of them and nothing is
    lost. A prompt notice is the person's already (the watcher gives one to both),
    so its copy comes read. Nothing moves while a session of that name is recorded
    (one on another tmux server, which shares the inbox of the name). Returns how many
    entries moved.
    """
    if name == PERSON:
        return 0
    if conn.execute("SELECT 1 FROM sessions WHERE name = ? LIMIT 1", (name,)).fetchone():
        return 0
    cursor = conn.execute(
        "UPDATE inbox SET owner = ?, title = title || ?, "
        "read_at = CASE WHEN kind = ? THEN COALESCE(read_at, ?) ELSE read_at END "
        "WHERE owner = ?",
        (PERSON, ended_for(name), InboxKind.PROMPT, time.time(), name),
    )
    return cursor.rowcount


def _entry(row: sqlite3.Row) -> InboxEntry:
    return InboxEntry(
        id=row["id"],
        owner=row["owner"],
        kind=InboxKind(row["kind"]),
        message_id=row["message_id"],
        title=row["title"],
        body=row["body"],
        created_at=row["created_at"],
        read_at=row["read_at"],
    )
