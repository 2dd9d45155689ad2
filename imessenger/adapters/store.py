"""The SQLite store: sessions, messages, inboxes, approvals and prompts, shared by every process.

Every imessenger process (a ``send`` waiting for a reply, a watcher, an agent
running ``imessenger reply``) opens the same database file, so the store is
built for many writers at once:

* WAL journal and a 10 s busy timeout, so readers never block writers and a
  writer waits for another instead of failing;
* every write runs in its own ``BEGIN IMMEDIATE`` transaction, which takes the
  write lock up front, so a read-then-write (claiming a pending message,
  reading an inbox, recording a reply) is atomic across processes;
* the schema is an ordered list of migration functions, recorded both in
  ``PRAGMA user_version`` and in a ``migrations`` table.

Nothing is dropped silently: every :mod:`sqlite3` or file-system error becomes
a :class:`~imessenger.core.errors.StoreError` naming what failed and the database
path. Timestamps are float unix seconds (:func:`time.time`).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from imessenger.adapters.paths import ensure_data_dir, fault_advice, make_private_dir
from imessenger.adapters.procfs import is_alive, start_time
from imessenger.core.errors import StoreError
from imessenger.core.names import PERSON
from imessenger.core.values import (
    REPLY_VIA,
    REPORTED_ONLY,
    ApprovalRecord,
    Choice,
    HookEventRecord,
    InboxEntry,
    InboxKind,
    MessageRecord,
    MessageState,
    PromptRecord,
    RefusalRecord,
    SessionRecord,
    ended_for,
    prompt_id,
)

logger = logging.getLogger(__name__)

#: File name of the database inside the data directory.
DB_FILENAME = "imessenger.db"

#: How long (seconds) a write waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 10.0

_FILE_MODE = 0o600


class UnknownMessage(StoreError):
    """No message with this id is in the store."""

    def __init__(self, message_id: str, path: Path) -> None:
        super().__init__(
            f'no message with id "{message_id}" in {path}: check the id '
            "(it is printed when the message is sent and shown in the message log)"
        )
        self.message_id = message_id


class AlreadyReplied(StoreError):
    """A reply to this message is already recorded; the first reply wins."""

    def __init__(self, message_id: str, via: str | None, at: float | None) -> None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "earlier"
        super().__init__(
            f'message "{message_id}" already has a reply (recorded {when} via {via}); '
            "a message takes one reply: send a new message to say more"
        )
        self.message_id = message_id


class DuplicateMessage(StoreError):
    """A message with this id already exists; the caller should make a new id."""

    def __init__(self, message_id: str, path: Path) -> None:
        super().__init__(
            f'a message with id "{message_id}" already exists in {path}: use a new message id'
        )
        self.message_id = message_id


# --- schema migrations ----------------------------------------------------------------------

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
]


def migration_name(migration: Migration) -> str:
    """Return the name a migration is recorded under (its function name, no leading ``_``)."""
    return migration.__name__.lstrip("_")


# --- columns and row conversion -------------------------------------------------------------

_SESSION_COLUMNS = (
    "server, name, agent, directory, command, started_at, record_kind, record_ref, hooks, "
    "files_dir, mcp, mcp_connected_at, instance"
)
_HOOK_EVENT_COLUMNS = "id, at, server, session, kind, event, state, detail, screen"
#: How many hook events are kept per session (the oldest go first).
HOOK_EVENTS_KEPT = 200
_MESSAGE_COLUMNS = (
    "id, server, sender, target, body, raw, state, created_at, claimed_at, delivered_at, "
    "replied_at, reply, reply_via, waiting, error, waiter_pid, waiter_start, target_instance, "
    "pasted_at, submitted_at, sender_instance"
)
_PROMPT_COLUMNS = (
    "id, server, session, instance, fingerprint, about, first_seen, closed_at, answered_at, "
    "answered_by, choice"
)
#: How many closed prompt occurrences are kept per session (the oldest go first).
PROMPTS_KEPT = 200
_INBOX_COLUMNS = "id, owner, kind, message_id, title, body, created_at, read_at"
_APPROVAL_COLUMNS = (
    "id, at, actor, server, session, prompt, subject, choice, option_label, key, closed"
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


def _hook_event(row: sqlite3.Row) -> HookEventRecord:
    return HookEventRecord(**{key: row[key] for key in row.keys()})  # noqa: SIM118


def _message(row: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        id=row["id"],
        server=row["server"],
        sender=row["sender"],
        target=row["target"],
        body=row["body"],
        raw=bool(row["raw"]),
        state=MessageState(row["state"]),
        created_at=row["created_at"],
        claimed_at=row["claimed_at"],
        delivered_at=row["delivered_at"],
        replied_at=row["replied_at"],
        reply=row["reply"],
        reply_via=row["reply_via"],
        # A waiter that was killed (even with SIGKILL) cannot say it stopped waiting:
        # its flag counts only while that very process runs.
        waiting=bool(row["waiting"]) and is_alive(row["waiter_pid"], row["waiter_start"]),
        error=row["error"],
        target_instance=row["target_instance"],
        pasted_at=row["pasted_at"],
        submitted_at=row["submitted_at"],
        sender_instance=row["sender_instance"],
    )


def _inbox(row: sqlite3.Row) -> InboxEntry:
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


_REFUSAL_COLUMNS = "id, at, actor, server, action, subject, rule"


def _waiter(waiting: bool) -> tuple[int | None, int | None]:
    """This process as the waiter of a message (pid and start time), or none."""
    if not waiting:
        return None, None
    pid = os.getpid()
    return pid, start_time(pid)


def _sender_inbox(conn: sqlite3.Connection, message: MessageRecord, title: str) -> tuple[str, str]:
    """Whose inbox an entry about ``message`` goes to, and its title: its sender's, or,
    once the run of the session that sent it has ended, the person's (see
    :meth:`Store.add_for_sender`)."""
    if not message.sender_instance:
        return message.sender, title  # the person sent it, or it predates instances
    running = conn.execute(
        "SELECT 1 FROM sessions WHERE name = ? AND instance IN ('', ?) LIMIT 1",
        (message.sender, message.sender_instance),
    ).fetchone()
    if running:
        return message.sender, title
    return PERSON, title + ended_for(message.sender)


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


_E = TypeVar("_E", bound=StrEnum)


def _enum_value(kind: type[_E], value: str, what: str) -> _E:
    """Return ``value`` as a member of ``kind`` or raise StoreError listing the valid values."""
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise StoreError(f'unknown {what} "{value}"; expected one of: {valid}') from None


def _stored_state(value: str) -> MessageState:
    """``value`` as a state the store may hold; StoreError for an unknown or report-only one."""
    state = _enum_value(MessageState, value, "message state")
    if state in REPORTED_ONLY:
        raise StoreError(f'"{state}" is reported by send, never stored')
    return state


# --- error reporting and file handling ------------------------------------------------------


def _hint(exc: sqlite3.Error, path: Path) -> str:
    """Return advice for a sqlite3 error, or "" when there is nothing useful to say.

    SQLite says "unable to open database file" or "attempt to write a readonly
    database" whether the file system is read-only, the disk is full or the folder
    is not ours, so for those errors the folder itself says which it is.
    """

    name = getattr(exc, "sqlite_errorname", None) or ""
    text = str(exc).lower()
    folder_errors = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")
    if name.startswith(folder_errors) or "readonly" in text or "disk is full" in text:
        advice = fault_advice(path.parent)
        if advice:
            return f": {advice}"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return f": the database is read-only; make {path} and its directory writable"
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text:
        return (
            f": {path} is damaged or is not an imessenger database; move it away "
            "(imessenger then creates a new, empty one)"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (
            f": another process kept the database locked for more than {BUSY_TIMEOUT_S:g} s; "
            "try again"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return f": check that {path.parent} exists and is writable"
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return ": the disk is full: free some space on it, then try again"
    return ""


def _store_error(action: str, path: Path, exc: sqlite3.Error) -> StoreError:
    """The StoreError for a sqlite3 error: what failed, where, SQLite's words, what to do."""
    name = getattr(exc, "sqlite_errorname", None)
    code = f" [{name}]" if name else ""
    return StoreError(f"could not {action} in {path}: {exc}{code}{_hint(exc, path)}")


def _tighten_mode(path: Path) -> None:
    """Remove group/other/exec bits from an existing file; a read-only file stays read-only."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & ~_FILE_MODE:
        path.chmod(mode & _FILE_MODE)


def _prepare_file(path: Path) -> None:
    """Create the database file with mode 0600, or fix the mode of an existing one."""
    try:
        if not path.parent.exists():
            make_private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            for suffix in ("", "-wal", "-shm"):
                _tighten_mode(path.with_name(path.name + suffix))
        else:
            try:
                os.fchmod(fd, _FILE_MODE)  # the umask may have taken bits away
            finally:
                os.close(fd)
            logger.info("created database %s", path)
    except OSError as exc:
        advice = fault_advice(path.parent, exc)
        raise StoreError(
            f"could not create or set the permissions of the database file {path}: {exc}; "
            + (advice or "check that its directory is writable and the file belongs to you")
        ) from exc


def default_path() -> Path:
    """Return the default database path, creating the data directory (mode 0700)."""
    return ensure_data_dir() / DB_FILENAME


# --- the store ------------------------------------------------------------------------------


class Store:
    """An open connection to the imessenger database.

    Make one with :meth:`Store.open`; use it as a context manager or call
    :meth:`close`. A Store belongs to the thread that opened it.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # -- opening and closing

    @classmethod
    def open(cls, path: Path | None = None) -> Store:
        """Open (creating and migrating as needed) the database at ``path``.

        ``None`` means ``imessenger.db`` in the data directory (created with mode
        0700). A new file gets mode 0600; an existing one loses any group, other
        or execute bits. Raises StoreError when the file cannot be created,
        opened or migrated (for example it is damaged, read-only or was made by
        a newer imessenger); its message names the cause (a read-only file system,
        a full disk, a permission) and what to do.
        """
        if path is None:
            try:
                path = default_path()
            except OSError as exc:
                from imessenger.adapters.paths import data_dir

                folder = data_dir()
                advice = fault_advice(folder, exc) or "set IMESSENGER_HOME to a writable directory"
                raise StoreError(
                    f"could not set up the imessenger data directory {folder}: {exc}; {advice}"
                ) from exc
        _prepare_file(path)
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as exc:
            raise _store_error("open the database", path, exc) from exc
        store = cls(conn, path)
        try:
            store._configure()
            store._migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection; calling it again does nothing."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- plumbing

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any sqlite3 error inside the block into a StoreError saying what failed."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _store_error(action, self.path, exc) from exc

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """Run the block in a BEGIN IMMEDIATE transaction: all of it commits, or none."""
        with self._guard(action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.rollback()
                raise

    def _query(self, action: str, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._guard(action):
            rows: list[sqlite3.Row] = self._conn.execute(sql, params).fetchall()
            return rows

    def _configure(self) -> None:
        with self._guard("open the database"):
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = self._enable_wal()
            if mode != "wal":
                logger.warning(
                    "%s: SQLite refused WAL mode (journal mode is %s); "
                    "concurrent processes will wait for each other more",
                    self.path,
                    mode,
                )
            self._conn.execute("PRAGMA synchronous = NORMAL")

    def _enable_wal(self) -> str:
        """Switch the database to WAL mode if needed; return the journal mode in effect.

        Switching fails at once with SQLITE_BUSY (the busy timeout does not
        apply) while another process is switching too, as happens when several
        processes open a new database together, so it is retried for up to
        the busy timeout.
        """
        mode = str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode == "wal":
            return mode
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.002
        while True:
            try:
                return str(self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorname", None) or "").startswith("SQLITE_BUSY")
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _user_version(self) -> int:
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _migrate(self) -> None:
        """Apply the migrations this database lacks, in order, each recorded."""
        migrations = list(MIGRATIONS)
        latest = len(migrations)
        with self._guard("read the schema version"):
            current = self._user_version()
        if current == latest:
            return
        if current > latest:
            raise StoreError(
                f"{self.path} has schema version {current}, but this imessenger knows only "
                f"up to {latest}: upgrade imessenger, or point IMESSENGER_HOME elsewhere"
            )
        with self._write("apply schema migrations") as conn:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at REAL NOT NULL
                )"""
            )
            current = self._user_version()  # another process may have migrated meanwhile
            for version, migration in enumerate(migrations[current:], start=current + 1):
                name = migration_name(migration)
                logger.info("%s: applying migration %d (%s)", self.path, version, name)
                migration(conn)
                conn.execute(
                    "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                conn.execute(f"PRAGMA user_version = {version:d}")

    def schema_version(self) -> int:
        """Return the schema version (``PRAGMA user_version``) of the open database."""
        with self._guard("read the schema version"):
            return self._user_version()

    def applied_migrations(self) -> list[tuple[int, str, float]]:
        """Return ``(version, name, applied_at)`` for every recorded migration, in order."""
        rows = self._query(
            "read the migrations table",
            "SELECT version, name, applied_at FROM migrations ORDER BY version",
        )
        return [(row["version"], row["name"], row["applied_at"]) for row in rows]

    # -- sessions

    def record_session(
        self,
        server: str,
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
    ) -> SessionRecord:
        """Record that isesh started a session, replacing any record with the same key.

        ``instance`` names this run of it (:func:`instance_of`). The hook events of an
        earlier session of the same name go, and so does its MCP connection: they were
        not this one's; so do the entries of its inbox, to the person's
        (:meth:`_hand_over_inbox`)."""
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
        with self._write(f'record session "{name}"') as conn:
            conn.execute("DELETE FROM sessions WHERE server = ? AND name = ?", (server, name))
            self._hand_over_inbox(conn, name)
            conn.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) "
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
            conn.execute("DELETE FROM hook_events WHERE server = ? AND session = ?", (server, name))
        return record

    @staticmethod
    def _hand_over_inbox(conn: sqlite3.Connection, name: str) -> int:
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

    def set_record_ref(self, server: str, name: str, ref: str, *, was: str) -> bool:
        """Complete where session ``name``'s agent keeps its record, learned after its
        start (Codex names its record only once it has one): ``ref`` replaces ``was``,
        only while the session's ref is still ``was``, so that the first one learned is
        the one kept. Return whether it was set."""
        with self._write(f'record where "{name}" keeps its record') as conn:
            cursor = conn.execute(
                "UPDATE sessions SET record_ref = ? "
                "WHERE server = ? AND name = ? AND record_ref = ?",
                (ref, server, name, was),
            )
        return cursor.rowcount > 0

    def mark_mcp_connected(self, server: str, name: str, at: float | None = None) -> bool:
        """Record that session ``name``'s agent connected to imessenger's MCP server at
        ``at`` (now by default). Return whether the session is recorded (False: isesh did
        not start it, and nothing was written)."""
        with self._write(f'record that "{name}" connected to the MCP server') as conn:
            cursor = conn.execute(
                "UPDATE sessions SET mcp_connected_at = ? WHERE server = ? AND name = ?",
                (time.time() if at is None else at, server, name),
            )
        return cursor.rowcount > 0

    def get_session(self, server: str, name: str) -> SessionRecord | None:
        """Return the record of session ``name`` on ``server``, or None."""
        rows = self._query(
            f'read session "{name}"',
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE server = ? AND name = ?",
            (server, name),
        )
        return _session(rows[0]) if rows else None

    def list_sessions(self, server: str) -> list[SessionRecord]:
        """Return the recorded sessions of ``server``, sorted by name."""
        rows = self._query(
            "list sessions",
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE server = ? ORDER BY name",
            (server,),
        )
        return [_session(row) for row in rows]

    def forget_session(self, server: str, name: str) -> bool:
        """Delete the record of a session; return whether there was one.

        Its run is over: its inbox goes to the person (:meth:`_hand_over_inbox`).
        """
        with self._write(f'forget session "{name}"') as conn:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE server = ? AND name = ?", (server, name)
            )
            self._hand_over_inbox(conn, name)
            return cursor.rowcount > 0

    def is_current(self, name: str, instance: str) -> bool:
        """Whether ``instance`` is the run of session ``name`` that is recorded now (on
        any tmux server): False once it was stopped, or another started under its name.
        A record older than instances counts as any run."""
        rows = self._query(
            f'read session "{name}"',
            "SELECT 1 FROM sessions WHERE name = ? AND instance IN ('', ?) LIMIT 1",
            (name, instance),
        )
        return bool(rows)

    # -- messages

    def add_message(
        self,
        message_id: str,
        server: str,
        sender: str,
        target: str,
        body: str,
        *,
        raw: bool = False,
        state: MessageState | str = MessageState.PENDING,
        waiting: bool = False,
        target_instance: str = "",
        sender_instance: str = "",
    ) -> MessageRecord:
        """Store a new message and return it.

        With ``waiting``, this process is recorded as the one waiting for the reply.
        ``target_instance`` is the target session it is for, ``sender_instance`` the
        agent session that sends it ("" for the person; see :func:`instance_of`).
        Raises DuplicateMessage if the id is taken (make a new id and retry) and
        StoreError for an unknown state.
        """
        state = _stored_state(state)
        now = time.time()
        pid, started = _waiter(waiting)
        try:
            with self._write(f'add message "{message_id}"') as conn:
                row = conn.execute(
                    "INSERT INTO messages (id, server, sender, target, body, raw, state, "
                    "created_at, waiting, waiter_pid, waiter_start, target_instance, "
                    "sender_instance) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_MESSAGE_COLUMNS}",
                    (
                        message_id,
                        server,
                        sender,
                        target,
                        body,
                        int(raw),
                        state,
                        now,
                        int(waiting),
                        pid,
                        started,
                        target_instance,
                        sender_instance,
                    ),
                ).fetchone()
        except StoreError as exc:
            cause = exc.__cause__
            if getattr(cause, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise DuplicateMessage(message_id, self.path) from cause
            raise
        return _message(row)

    def get_message(self, message_id: str) -> MessageRecord | None:
        """Return the message with this id, or None."""
        rows = self._query(
            f'read message "{message_id}"',
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?",
            (message_id,),
        )
        return _message(rows[0]) if rows else None

    def _update_message(
        self, action: str, message_id: str, assignments: str, params: tuple[Any, ...]
    ) -> MessageRecord:
        """Run ``UPDATE messages SET <assignments>`` on one message and return the new row."""
        with self._write(action) as conn:
            row = conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ? RETURNING {_MESSAGE_COLUMNS}",
                (*params, message_id),
            ).fetchone()
        if row is None:
            raise UnknownMessage(message_id, self.path)
        return _message(row)

    def set_state(
        self, message_id: str, state: MessageState | str, *, error: str | None = None
    ) -> MessageRecord:
        """Set a message's state (and ``error`` when given) and return the message.

        Once a reply is recorded the state stays ``replied``: a late "timed_out"
        or "failed" does not hide the reply. Raises UnknownMessage.
        """
        state = _stored_state(state)
        return self._update_message(
            f'set the state of message "{message_id}" to {state}',
            message_id,
            "state = CASE WHEN reply IS NULL THEN ? ELSE 'replied' END, error = COALESCE(?, error)",
            (state, error),
        )

    def mark_delivered(
        self, message_id: str, state: MessageState | str = MessageState.DELIVERED
    ) -> MessageRecord:
        """Record that a message was submitted (``state``: "delivered" or "queued").

        Sets ``delivered_at`` the first time. A message that already has its
        reply keeps the state ``replied``. Raises UnknownMessage.
        """
        state = _enum_value(MessageState, state, "message state")
        if state not in (MessageState.DELIVERED, MessageState.QUEUED):
            raise StoreError(f'mark_delivered takes "delivered" or "queued", not "{state}"')
        return self._update_message(
            f'mark message "{message_id}" {state}',
            message_id,
            "state = CASE WHEN reply IS NULL THEN ? ELSE 'replied' END, "
            "delivered_at = COALESCE(delivered_at, ?)",
            (state, time.time()),
        )

    def mark_failed(self, message_id: str, error: str) -> MessageRecord:
        """Record that a message could not be delivered, and why. Raises UnknownMessage."""
        return self.set_state(message_id, MessageState.FAILED, error=error)

    def set_waiting(self, message_id: str, waiting: bool) -> MessageRecord:
        """Record whether this process waits for this message's reply."""
        pid, started = _waiter(waiting)
        return self._update_message(
            f'set "waiting" of message "{message_id}"',
            message_id,
            "waiting = ?, waiter_pid = ?, waiter_start = ?",
            (int(waiting), pid, started),
        )

    def record_reply(self, message_id: str, text: str, via: str) -> MessageRecord:
        """Record the reply to a message (``via``: one of REPLY_VIA) and return it.

        Atomic: of two processes recording a reply to one message, exactly one
        succeeds. Raises UnknownMessage for an unknown id and AlreadyReplied
        when a reply is already recorded.
        """
        if via not in REPLY_VIA:
            raise StoreError(
                f'unknown reply source "{via}"; expected one of: {", ".join(REPLY_VIA)}'
            )
        existing: sqlite3.Row | None = None
        with self._write(f'record the reply to message "{message_id}"') as conn:
            row = conn.execute(
                "UPDATE messages SET reply = ?, reply_via = ?, replied_at = ?, state = ? "
                f"WHERE id = ? AND reply IS NULL RETURNING {_MESSAGE_COLUMNS}",
                (text, via, time.time(), MessageState.REPLIED, message_id),
            ).fetchone()
            if row is None:  # same transaction: nobody can reply in between
                existing = conn.execute(
                    "SELECT reply_via, replied_at FROM messages WHERE id = ?", (message_id,)
                ).fetchone()
        if row is not None:
            return _message(row)
        if existing is None:
            raise UnknownMessage(message_id, self.path)
        raise AlreadyReplied(message_id, existing["reply_via"], existing["replied_at"])

    def messages_in_state(
        self, server: str, target: str, state: MessageState | str
    ) -> list[MessageRecord]:
        """Return the messages to one target in one state, oldest first."""
        state = _enum_value(MessageState, state, "message state")
        rows = self._query(
            f'list {state} messages for "{target}"',
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            "WHERE server = ? AND target = ? AND state = ? ORDER BY created_at, rowid",
            (server, target, state),
        )
        return [_message(row) for row in rows]

    def pending_messages(self, server: str, target: str) -> list[MessageRecord]:
        """Return the pending messages for ``target`` on ``server``, oldest first."""
        return self.messages_in_state(server, target, MessageState.PENDING)

    def cancel_undelivered(
        self, server: str, target: str, reason: str, *, keep_instance: str | None = None
    ) -> list[MessageRecord]:
        """Cancel the target's pending and half-delivered messages, telling each sender.

        In one transaction, each message becomes "cancelled" with ``reason`` and a
        notice saying so goes to its sender's inbox. With ``keep_instance``, the
        messages for that session instance are kept (and those recorded before
        instances, with none): only an ended session's go. Returns the cancelled ones.
        """
        where = "server = ? AND target = ? AND state IN (?, ?)"
        params: list[Any] = [server, target, MessageState.PENDING, MessageState.DELIVERING]
        if keep_instance is not None:
            where += " AND target_instance NOT IN ('', ?)"
            params.append(keep_instance)
        now = time.time()
        with self._write(f'cancel the messages for "{target}"') as conn:
            rows = conn.execute(
                f"UPDATE messages SET state = ?, error = ? WHERE {where} "
                f"RETURNING {_MESSAGE_COLUMNS}",
                (MessageState.CANCELLED, reason, *params),
            ).fetchall()
            cancelled = sorted((_message(row) for row in rows), key=lambda m: m.created_at)
            for message in cancelled:
                owner, title = _sender_inbox(
                    conn, message, f'message {message.id} to "{target}" was cancelled'
                )
                conn.execute(
                    "INSERT INTO inbox (owner, kind, message_id, title, body, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        owner,
                        InboxKind.NOTICE,
                        message.id,
                        title,
                        f"{reason}; it was not delivered and will not be. Send it again "
                        "if it is still wanted.",
                        now,
                    ),
                )
        return cancelled

    def claim_pending(self, server: str, target: str) -> MessageRecord | None:
        """Move the oldest pending message for ``target`` to "delivering" and return it.

        Atomic across processes: each pending message is claimed by one caller
        only. Returns None when nothing is pending. After the attempt, call
        :meth:`mark_delivered` or :meth:`mark_failed`, or :meth:`release_claim`
        to put the message back in the queue.
        """
        with self._write(f'claim a pending message for "{target}"') as conn:
            row = conn.execute(
                "UPDATE messages SET state = ?, claimed_at = ? WHERE rowid = ("
                "SELECT rowid FROM messages WHERE server = ? AND target = ? AND state = ? "
                f"ORDER BY created_at, rowid LIMIT 1) RETURNING {_MESSAGE_COLUMNS}",
                (MessageState.DELIVERING, time.time(), server, target, MessageState.PENDING),
            ).fetchone()
        return _message(row) if row is not None else None

    def mark_pasting(self, message_id: str) -> MessageRecord:
        """Record that the paste of a claimed message begins now (before the paste itself).

        Raises UnknownMessage, and StoreError if the message is not being delivered.
        """
        return self._mark_step(message_id, "pasted_at", time.time(), "pasted")

    def mark_submitting(self, message_id: str, pressing: bool = True) -> MessageRecord:
        """Record that the submit key of a claimed message is about to be pressed (before
        the key), or, with ``pressing`` False, that the screen refused it after all.

        Raises UnknownMessage, and StoreError if the message is not being delivered.
        """
        at = time.time() if pressing else None
        return self._mark_step(message_id, "submitted_at", at, "submitted")

    def _mark_step(
        self, message_id: str, column: str, at: float | None, step: str
    ) -> MessageRecord:
        with self._write(f'mark message "{message_id}" as being {step}') as conn:
            row = conn.execute(
                f"UPDATE messages SET {column} = ? WHERE id = ? AND state = ? "
                f"RETURNING {_MESSAGE_COLUMNS}",
                (at, message_id, MessageState.DELIVERING),
            ).fetchone()
        if row is not None:
            return _message(row)
        current = self.get_message(message_id)
        if current is None:
            raise UnknownMessage(message_id, self.path)
        raise StoreError(
            f'message "{message_id}" is not being delivered (its state is {current.state}), '
            f"so it cannot be {step}"
        )

    def release_claim(self, message_id: str) -> MessageRecord:
        """Put a message claimed by :meth:`claim_pending` back to "pending".

        Its ``pasted_at`` stays: a message pasted once is submitted from the input box
        that holds it, or pasted again only once that box is seen without it.
        Raises UnknownMessage, and StoreError if the message is not being
        delivered (it was delivered, failed or answered meanwhile).
        """
        with self._write(f'release the claim on message "{message_id}"') as conn:
            row = conn.execute(
                "UPDATE messages SET state = ?, claimed_at = NULL WHERE id = ? AND state = ? "
                f"RETURNING {_MESSAGE_COLUMNS}",
                (MessageState.PENDING, message_id, MessageState.DELIVERING),
            ).fetchone()
        if row is not None:
            return _message(row)
        current = self.get_message(message_id)
        if current is None:
            raise UnknownMessage(message_id, self.path)
        raise StoreError(
            f'message "{message_id}" is not being delivered (its state is {current.state}), '
            "so there is no claim to release"
        )

    def list_messages(
        self, server: str | None = None, session: str | None = None, limit: int | None = 100
    ) -> list[MessageRecord]:
        """Return the latest messages, newest first, for a log.

        ``server`` keeps one tmux server's messages; ``session`` keeps those that
        the session sent or received. ``limit`` None returns all of them.
        """
        where: list[str] = []
        params: list[Any] = []
        if server is not None:
            where.append("server = ?")
            params.append(server)
        if session is not None:
            where.append("(sender = ? OR target = ?)")
            params.extend([session, session])
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._query("list messages", sql, tuple(params))
        return [_message(row) for row in rows]

    # -- inbox

    def add_inbox(
        self,
        owner: str,
        kind: InboxKind | str,
        title: str,
        body: str,
        message_id: str | None = None,
    ) -> InboxEntry:
        """Add an entry to ``owner``'s inbox (a session name, or "user") and return it."""
        kind = _enum_value(InboxKind, kind, "inbox entry kind")
        with self._write(f'add to the inbox of "{owner}"') as conn:
            row = conn.execute(
                "INSERT INTO inbox (owner, kind, message_id, title, body, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_INBOX_COLUMNS}",
                (owner, kind, message_id, title, body, time.time()),
            ).fetchone()
        return _inbox(row)

    def add_for_sender(
        self, message: MessageRecord, kind: InboxKind | str, title: str, body: str
    ) -> InboxEntry:
        """Add an entry about ``message`` to the inbox of its sender, and return it.

        That is the sender's own while the run of the session that sent it is the one
        recorded; once it has ended (stopped, or another started under its name) the
        entry is the person's, its title saying whom it was for: a session started
        again under the name is not the one that sent the message.
        """
        kind = _enum_value(InboxKind, kind, "inbox entry kind")
        with self._write(f'add to the inbox of "{message.sender}"') as conn:
            owner, titled = _sender_inbox(conn, message, title)
            row = conn.execute(
                "INSERT INTO inbox (owner, kind, message_id, title, body, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_INBOX_COLUMNS}",
                (owner, kind, message.id, titled, body, time.time()),
            ).fetchone()
        return _inbox(row)

    def read_inbox(
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
            rows = self._query(
                action,
                f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE owner = ?{condition} ORDER BY id",
                (owner,),
            )
            return [_inbox(row) for row in rows]
        entries: list[InboxEntry] = []
        with self._write(action) as conn:
            if include_read:
                read = conn.execute(
                    f"SELECT {_INBOX_COLUMNS} FROM inbox "
                    "WHERE owner = ? AND read_at IS NOT NULL ORDER BY id",
                    (owner,),
                ).fetchall()
                entries.extend(_inbox(row) for row in read)
            fresh = conn.execute(
                "UPDATE inbox SET read_at = ? WHERE owner = ? AND read_at IS NULL "
                f"RETURNING {_INBOX_COLUMNS}",
                (time.time(), owner),
            ).fetchall()
        entries.extend(replace(_inbox(row), read_at=None) for row in fresh)
        entries.sort(key=lambda entry: entry.id)
        return entries

    def unread_counts(self) -> dict[str, int]:
        """Return the number of unread inbox entries of every owner that has any."""
        rows = self._query(
            "count unread inbox entries",
            "SELECT owner, COUNT(*) AS unread FROM inbox WHERE read_at IS NULL "
            "GROUP BY owner ORDER BY owner",
        )
        return {row["owner"]: row["unread"] for row in rows}

    # -- approvals

    def add_approval(
        self,
        *,
        actor: str,
        server: str,
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
        choice = _enum_value(Choice, choice, "approval choice")
        when = time.time() if at is None else at
        with self._write(f'record an approval for "{session}"') as conn:
            row = conn.execute(
                "INSERT INTO approvals (at, actor, server, session, prompt, subject, choice, "
                "option_label, key, closed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"RETURNING {_APPROVAL_COLUMNS}",
                (
                    when,
                    actor,
                    server,
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

    def list_approvals(
        self, session: str | None = None, limit: int | None = 100, *, server: str | None = None
    ) -> list[ApprovalRecord]:
        """Return the latest approvals, newest first, optionally of one session/server."""
        rows = self._latest(
            "approvals", _APPROVAL_COLUMNS, {"session": session, "server": server}, limit
        )
        return [_approval(row) for row in rows]

    def _latest(
        self, table: str, columns: str, equal: dict[str, str | None], limit: int | None
    ) -> list[sqlite3.Row]:
        """The latest rows of ``table`` (by ``at``), newest first, whose columns have the
        values ``equal`` gives (None: any value)."""
        where = [f"{column} = ?" for column, value in equal.items() if value is not None]
        params: list[Any] = [value for value in equal.values() if value is not None]
        sql = f"SELECT {columns} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._query(f"list {table}", sql, tuple(params))

    # -- prompt occurrences

    def observe_prompt(
        self,
        server: str,
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
        where = "server = ? AND session = ? AND instance = ? AND fingerprint = ?"
        key = (server, session, instance, fingerprint)
        found = self._query(
            f'read the prompt of "{session}"',
            f"SELECT {_PROMPT_COLUMNS} FROM prompts WHERE {where} AND closed_at IS NULL",
            key,
        )
        if found:
            return _prompt(found[0])
        now = time.time() if at is None else at
        with self._write(f'record the prompt of "{session}"') as conn:
            row = conn.execute(
                f"SELECT {_PROMPT_COLUMNS} FROM prompts WHERE {where} AND closed_at IS NULL",
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
                f"first_seen) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_PROMPT_COLUMNS}",
                (made, server, session, instance, fingerprint, about, now),
            ).fetchone()
            conn.execute(
                "DELETE FROM prompts WHERE server = ? AND session = ? AND closed_at IS NOT NULL "
                "AND id NOT IN (SELECT id FROM prompts WHERE server = ? AND session = ? "
                "ORDER BY first_seen DESC LIMIT ?)",
                (server, session, server, session, PROMPTS_KEPT),
            )
        return _prompt(row)

    def get_prompt(self, prompt: str) -> PromptRecord | None:
        """The prompt occurrence with this id, or None."""
        rows = self._query(
            f'read prompt "{prompt}"',
            f"SELECT {_PROMPT_COLUMNS} FROM prompts WHERE id = ?",
            (prompt,),
        )
        return _prompt(rows[0]) if rows else None

    def open_prompts(self, server: str) -> dict[str, PromptRecord]:
        """The occurrences of ``server`` not seen closed yet, by session."""
        rows = self._query(
            "read the open prompts",
            f"SELECT {_PROMPT_COLUMNS} FROM prompts WHERE server = ? AND closed_at IS NULL "
            "ORDER BY first_seen",
            (server,),
        )
        return {row["session"]: _prompt(row) for row in rows}

    def close_prompt(self, prompt: str, at: float | None = None) -> None:
        """Record that the prompt occurrence was seen gone (once: the first time counts)."""
        with self._write(f'close prompt "{prompt}"') as conn:
            conn.execute(
                "UPDATE prompts SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                (time.time() if at is None else at, prompt),
            )

    def claim_prompt(self, prompt: str, by: str, choice: Choice | str) -> PromptRecord | None:
        """Record that ``by`` answers the prompt occurrence with ``choice``, now, unless it
        was answered already: then None, and nothing changes.

        Atomic across processes: of two approvers, one claims it. Claim it before the key
        is pressed; :meth:`release_prompt` when the key could not be pressed after all.
        """
        choice = _enum_value(Choice, choice, "approval choice")
        with self._write(f'claim prompt "{prompt}"') as conn:
            row = conn.execute(
                "UPDATE prompts SET answered_at = ?, answered_by = ?, choice = ? "
                f"WHERE id = ? AND answered_at IS NULL RETURNING {_PROMPT_COLUMNS}",
                (time.time(), by, choice, prompt),
            ).fetchone()
        return _prompt(row) if row is not None else None

    def release_prompt(self, prompt: str) -> None:
        """Undo :meth:`claim_prompt`: no key was pressed after all."""
        with self._write(f'release prompt "{prompt}"') as conn:
            conn.execute(
                "UPDATE prompts SET answered_at = NULL, answered_by = NULL, choice = NULL "
                "WHERE id = ?",
                (prompt,),
            )

    # -- refusals

    def add_refusal(
        self, *, actor: str, server: str, action: str, subject: str, rule: str
    ) -> RefusalRecord:
        """Record that the policy refused ``actor`` an action, and return the record."""
        with self._write(f'record a refusal for "{actor}"') as conn:
            row = conn.execute(
                "INSERT INTO refusals (at, actor, server, action, subject, rule) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_REFUSAL_COLUMNS}",
                (time.time(), actor, server, action, subject, rule),
            ).fetchone()
        return _refusal(row)

    def list_refusals(
        self, actor: str | None = None, limit: int | None = 100, *, server: str | None = None
    ) -> list[RefusalRecord]:
        """Return the latest refusals, newest first, optionally of one actor and server."""
        rows = self._latest("refusals", _REFUSAL_COLUMNS, {"actor": actor, "server": server}, limit)
        return [_refusal(row) for row in rows]

    # -- hook events

    def add_hook_event(
        self,
        server: str,
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
        with self._write(f'record a hook event of "{session}"') as conn:
            row = conn.execute(
                "INSERT INTO hook_events (at, server, session, kind, event, state, detail) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_HOOK_EVENT_COLUMNS}",
                (time.time() if at is None else at, server, session, kind, event, state, detail),
            ).fetchone()
            conn.execute(
                "DELETE FROM hook_events WHERE server = ? AND session = ? AND id <= ?",
                (server, session, row["id"] - HOOK_EVENTS_KEPT),
            )
        return _hook_event(row)

    def hook_events(
        self, server: str, session: str | None = None, *, after: int = 0, limit: int = 20
    ) -> list[HookEventRecord]:
        """The hook events of ``server`` (of one session) with an id above ``after``: the
        latest ``limit`` of them, in the order they happened (hooks that run side by side
        may record theirs in another order)."""
        where, params = "server = ? AND id > ?", [server, after]
        if session is not None:
            where += " AND session = ?"
            params.append(session)
        rows = self._query(
            "read hook events",
            f"SELECT {_HOOK_EVENT_COLUMNS} FROM hook_events WHERE {where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return sorted((_hook_event(row) for row in rows), key=lambda e: (e.at, e.id))

    def check_hook_event(self, event_id: int, screen: str) -> None:
        """Record what the screen showed when the event was checked against it."""
        with self._write("record a hook event's check") as conn:
            conn.execute("UPDATE hook_events SET screen = ? WHERE id = ?", (screen, event_id))
