"""The database file, open: one SQLite connection and the discipline every table keeps.

Every imessenger process (a ``send`` waiting for a reply, a watcher, an agent running
``imessenger reply``) opens the same file, so the connection is made for many writers
at once:

* the file is made with mode 0600 (its folder 0700); an existing one loses any group,
  other or execute bits;
* WAL journal and a 10 s busy timeout, so readers never block writers and a writer waits
  for another instead of failing;
* every write runs in its own ``BEGIN IMMEDIATE`` transaction (:meth:`Database.write`),
  which takes the write lock up front, so a read-then-write (claiming a pending message,
  reading an inbox, recording a reply) is atomic across processes; a row a write hands
  back comes from the write itself (``RETURNING``), never from a read after it;
* every :mod:`sqlite3` or file-system error becomes a
  :class:`~imessenger.core.errors.StoreError` naming what failed, the database path,
  SQLite's words and what to do (:func:`store_error`): nothing is dropped silently.

A connection belongs to the thread that opened it. Timestamps are float unix seconds
(:func:`time.time`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from imessenger.adapters.paths import ensure_data_dir, fault_advice, make_private_dir
from imessenger.core.errors import StoreError

logger = logging.getLogger(__name__)

#: File name of the database inside the data directory.
DB_FILENAME = "imessenger.db"

#: How long (seconds) a write waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 10.0

_FILE_MODE = 0o600


class Database:
    """One open connection to the database file: writes, reads and their errors.

    Make one with :meth:`open`; the tables (imessenger.adapters.store's modules) share
    it through :meth:`write` and :meth:`query`.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None) -> Database:
        """Open (creating as needed) the database file at ``path``, in WAL mode.

        ``None`` means ``imessenger.db`` in the data directory (created with mode 0700).
        Raises StoreError when the file cannot be created or opened.
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
            raise store_error("open the database", path, exc) from exc
        database = cls(conn, path)
        try:
            database._configure()
        except BaseException:
            conn.close()
            raise
        return database

    def close(self) -> None:
        """Close the connection; calling it again does nothing."""
        self._conn.close()

    # -- writes and reads

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn any sqlite3 error inside the block into a StoreError saying what failed."""
        try:
            yield
        except sqlite3.Error as exc:
            raise store_error(action, self.path, exc) from exc

    @contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        """Run the block in a BEGIN IMMEDIATE transaction: all of it commits, or none."""
        with self.guard(action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.rollback()
                raise

    def query(self, action: str, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows a read gives (outside any transaction of this connection's)."""
        with self.guard(action):
            rows: list[sqlite3.Row] = self._conn.execute(sql, params).fetchall()
            return rows

    def latest(
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
        return self.query(f"list {table}", sql, tuple(params))

    # -- opening

    def _configure(self) -> None:
        with self.guard("open the database"):
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


_E = TypeVar("_E", bound=StrEnum)


def enum_value(kind: type[_E], value: str, what: str) -> _E:
    """Return ``value`` as a member of ``kind`` or raise StoreError listing the valid values."""
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise StoreError(f'unknown {what} "{value}"; expected one of: {valid}') from None


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


def store_error(action: str, path: Path, exc: sqlite3.Error) -> StoreError:
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
