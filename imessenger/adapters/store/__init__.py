"""The SQLite store: sessions, messages, inboxes, approvals and prompts, shared by every process.

``Store.open(path, server=LABEL)`` opens the database for one tmux server: one
connection, and on it one repository per table, each a small class of that table's
methods, bound to that server once so that no call names it again:

=================  ======================  ==========================================
``store.``         module                  what it holds
=================  ======================  ==========================================
``sessions``       :mod:`.sessions`        the sessions isesh started
``messages``       :mod:`.messages`        the messages sent, their queues and replies
``inbox``          :mod:`.inbox`           the inboxes, by owner name (every server)
``approvals``      :mod:`.approvals`       the answers given to prompts
``refusals``       :mod:`.refusals`        the actions the policy refused
``hook_events``    :mod:`.hook_events`     what the agents' own hooks reported
``prompts``        :mod:`.prompts`         the occurrences of permission prompts
``remembered``     :mod:`.remembered`      the sessions isesh remembers, to restore
=================  ======================  ==========================================

The rules, kept by every table:

* every process opens the same file (:mod:`.database`): WAL journal and a busy timeout,
  so that readers never block writers and a writer waits for another; every write in
  its own ``BEGIN IMMEDIATE`` transaction, its rows back with ``RETURNING``, so that a
  read-then-write (claiming a message, reading an inbox) is atomic across processes;
  a write that spans tables (recording a session hands its inbox over; cancelling a
  message tells its sender) is one transaction;
* the schema is an ordered list of migrations (:mod:`.schema`), recorded both in
  ``PRAGMA user_version`` and in a ``migrations`` table, applied when the file is opened;
* what spans tmux servers takes no server: the inbox (a name's inbox is shared by its
  sessions on every server), what is done to a message, a prompt occurrence or a hook
  event by its id (ids are unique across servers), whether a run of a session is the
  current one; everything else is of the server the store was opened for;
* nothing is dropped silently: every :mod:`sqlite3` or file-system error becomes a
  :class:`~imessenger.core.errors.StoreError` naming what failed, the database path and
  what to do.

The server is bound when the store is opened, not later, because a store and its
connection have one life: every process works on one tmux server (a command, the
watcher, each of its jobs), and two servers' records in one process are two stores on
the same file, as two processes are. A store belongs to the thread that opened it. It
knows nothing of tmux. Timestamps are float unix seconds (:func:`time.time`).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from imessenger.adapters.store import schema
from imessenger.adapters.store.approvals import ApprovalTable
from imessenger.adapters.store.database import DB_FILENAME, Database, default_path
from imessenger.adapters.store.hook_events import HookEventTable
from imessenger.adapters.store.inbox import InboxTable
from imessenger.adapters.store.messages import (
    AlreadyReplied,
    DuplicateMessage,
    MessageTable,
    UnknownMessage,
)
from imessenger.adapters.store.prompts import PromptTable
from imessenger.adapters.store.refusals import RefusalTable
from imessenger.adapters.store.remembered import RememberedTable
from imessenger.adapters.store.sessions import SessionTable

__all__ = [
    "DB_FILENAME",
    "AlreadyReplied",
    "DuplicateMessage",
    "Store",
    "UnknownMessage",
    "default_path",
]


class Store:
    """The imessenger database, open for the tmux server ``server``: its tables.

    Make one with :meth:`Store.open`; use it as a context manager or call
    :meth:`close`. A Store belongs to the thread that opened it.
    """

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.path = database.path
        #: the label of the tmux server whose records this store reads and writes
        self.server = server
        self.sessions = SessionTable(database, server)
        self.messages = MessageTable(database, server)
        self.inbox = InboxTable(database)
        self.approvals = ApprovalTable(database, server)
        self.refusals = RefusalTable(database, server)
        self.hook_events = HookEventTable(database, server)
        self.prompts = PromptTable(database, server)
        self.remembered = RememberedTable(database, server)

    @classmethod
    def open(cls, path: Path | None = None, *, server: str) -> Store:
        """Open (creating and migrating as needed) the database at ``path``, for the tmux
        server labelled ``server`` (:attr:`Tmux.label`).

        ``None`` means ``imessenger.db`` in the data directory (created with mode
        0700). A new file gets mode 0600; an existing one loses any group, other
        or execute bits. Raises StoreError when the file cannot be created,
        opened or migrated (for example it is damaged, read-only or was made by
        a newer imessenger); its message names the cause (a read-only file system,
        a full disk, a permission) and what to do.
        """
        database = Database.open(path)
        try:
            schema.migrate(database)
        except BaseException:
            database.close()
            raise
        return cls(database, server)

    def close(self) -> None:
        """Close the connection; calling it again does nothing."""
        self._db.close()

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
        return f"Store({str(self.path)!r}, server={self.server!r})"

    def schema_version(self) -> int:
        """Return the schema version (``PRAGMA user_version``) of the open database."""
        return schema.version(self._db)

    def applied_migrations(self) -> list[tuple[int, str, float]]:
        """Return ``(version, name, applied_at)`` for every recorded migration, in order."""
        return schema.applied(self._db)
