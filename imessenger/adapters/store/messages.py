"""The messages (table ``messages``): those sent on one tmux server, and any one by its id.

A message is sent on one tmux server, to one target on it: the queue of a target (its
pending messages, the claim of the oldest, the cancelling of what was never delivered)
and the log are of the server the table is bound to. A message id is unique across
servers, so what is done to one message by its id (read it, mark it, record its reply)
is done wherever it was sent.

Its life, each step a write that says whether it could be taken (a message never goes
back silently):

* ``pending`` until a process claims it (:meth:`MessageTable.claim_pending`: one
  claimer only, across processes), then ``delivering``;
* the claimer marks the paste before it pastes (:meth:`~MessageTable.mark_pasting`) and
  the submit key before it presses it (:meth:`~MessageTable.mark_submitting`), so that
  a claim left by a killed sender is settled from what lasts, never pasted again on a
  guess;
* then ``delivered`` or ``queued`` (:meth:`~MessageTable.mark_delivered`), ``failed``,
  or back to ``pending`` (:meth:`~MessageTable.release_claim`);
* the first reply recorded wins (:meth:`~MessageTable.record_reply`), and once it is
  recorded the state stays ``replied`` whatever is set later.

A sender that waits for the reply is recorded by its pid and start time: a waiter that
was killed cannot say it stopped waiting, so its flag counts only while that very
process runs.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from imessenger.adapters.procfs import is_alive, start_time
from imessenger.adapters.store import inbox
from imessenger.adapters.store.database import Database, enum_value
from imessenger.core.errors import StoreError
from imessenger.core.values import (
    REPLY_VIA,
    REPORTED_ONLY,
    InboxKind,
    MessageRecord,
    MessageState,
)

_COLUMNS = (
    "id, server, sender, target, body, raw, state, created_at, claimed_at, delivered_at, "
    "replied_at, reply, reply_via, waiting, error, waiter_pid, waiter_start, target_instance, "
    "pasted_at, submitted_at, sender_instance"
)


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


class MessageTable:
    """The messages sent on the tmux server ``server``; any message, by its id."""

    def __init__(self, database: Database, server: str) -> None:
        self._db = database
        self.server = server

    # -- one message, by its id (on any server)

    def add(
        self,
        message_id: str,
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
        """Store a new message, sent on this server, and return it.

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
            with self._db.write(f'add message "{message_id}"') as conn:
                row = conn.execute(
                    "INSERT INTO messages (id, server, sender, target, body, raw, state, "
                    "created_at, waiting, waiter_pid, waiter_start, target_instance, "
                    "sender_instance) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                    (
                        message_id,
                        self.server,
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
                raise DuplicateMessage(message_id, self._db.path) from cause
            raise
        return _message(row)

    def get(self, message_id: str) -> MessageRecord | None:
        """Return the message with this id, or None."""
        rows = self._db.query(
            f'read message "{message_id}"',
            f"SELECT {_COLUMNS} FROM messages WHERE id = ?",
            (message_id,),
        )
        return _message(rows[0]) if rows else None

    def set_state(
        self, message_id: str, state: MessageState | str, *, error: str | None = None
    ) -> MessageRecord:
        """Set a message's state (and ``error`` when given) and return the message.

        Once a reply is recorded the state stays ``replied``: a late "timed_out"
        or "failed" does not hide the reply. Raises UnknownMessage.
        """
        state = _stored_state(state)
        return self._update(
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
        state = enum_value(MessageState, state, "message state")
        if state not in (MessageState.DELIVERED, MessageState.QUEUED):
            raise StoreError(f'mark_delivered takes "delivered" or "queued", not "{state}"')
        return self._update(
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
        return self._update(
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
        with self._db.write(f'record the reply to message "{message_id}"') as conn:
            row = conn.execute(
                "UPDATE messages SET reply = ?, reply_via = ?, replied_at = ?, state = ? "
                f"WHERE id = ? AND reply IS NULL RETURNING {_COLUMNS}",
                (text, via, time.time(), MessageState.REPLIED, message_id),
            ).fetchone()
            if row is None:  # same transaction: nobody can reply in between
                existing = conn.execute(
                    "SELECT reply_via, replied_at FROM messages WHERE id = ?", (message_id,)
                ).fetchone()
        if row is not None:
            return _message(row)
        if existing is None:
            raise UnknownMessage(message_id, self._db.path)
        raise AlreadyReplied(message_id, existing["reply_via"], existing["replied_at"])

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

    def release_claim(self, message_id: str) -> MessageRecord:
        """Put a message claimed by :meth:`claim_pending` back to "pending".

        Its ``pasted_at`` stays: a message pasted once is submitted from the input box
        that holds it, or pasted again only once that box is seen without it.
        Raises UnknownMessage, and StoreError if the message is not being
        delivered (it was delivered, failed or answered meanwhile).
        """
        with self._db.write(f'release the claim on message "{message_id}"') as conn:
            row = conn.execute(
                "UPDATE messages SET state = ?, claimed_at = NULL WHERE id = ? AND state = ? "
                f"RETURNING {_COLUMNS}",
                (MessageState.PENDING, message_id, MessageState.DELIVERING),
            ).fetchone()
        if row is None:
            raise self._not_delivering(message_id, "there is no claim to release")
        return _message(row)

    # -- the queues of the targets on this server

    def in_state(self, target: str, state: MessageState | str) -> list[MessageRecord]:
        """Return the messages to one target in one state, oldest first."""
        state = enum_value(MessageState, state, "message state")
        rows = self._db.query(
            f'list {state} messages for "{target}"',
            f"SELECT {_COLUMNS} FROM messages "
            "WHERE server = ? AND target = ? AND state = ? ORDER BY created_at, rowid",
            (self.server, target, state),
        )
        return [_message(row) for row in rows]

    def took_any(self, target: str, instance: str) -> bool:
        """Whether run ``instance`` of session ``target`` was given any message."""
        rows = self._db.query(
            f'read whether "{target}" was given a message',
            "SELECT 1 FROM messages WHERE server = ? AND target = ? AND target_instance = ? "
            "AND (delivered_at IS NOT NULL OR submitted_at IS NOT NULL) LIMIT 1",
            (self.server, target, instance),
        )
        return bool(rows)

    def pending(self, target: str) -> list[MessageRecord]:
        """Return the pending messages for ``target``, oldest first."""
        return self.in_state(target, MessageState.PENDING)

    def claim_pending(self, target: str) -> MessageRecord | None:
        """Move the oldest pending message for ``target`` to "delivering" and return it.

        Atomic across processes: each pending message is claimed by one caller
        only. Returns None when nothing is pending. After the attempt, call
        :meth:`mark_delivered` or :meth:`mark_failed`, or :meth:`release_claim`
        to put the message back in the queue.
        """
        with self._db.write(f'claim a pending message for "{target}"') as conn:
            row = conn.execute(
                "UPDATE messages SET state = ?, claimed_at = ? WHERE rowid = ("
                "SELECT rowid FROM messages WHERE server = ? AND target = ? AND state = ? "
                f"ORDER BY created_at, rowid LIMIT 1) RETURNING {_COLUMNS}",
                (MessageState.DELIVERING, time.time(), self.server, target, MessageState.PENDING),
            ).fetchone()
        return _message(row) if row is not None else None

    def cancel_undelivered(
        self, target: str, reason: str, *, keep_instance: str | None = None
    ) -> list[MessageRecord]:
        """Cancel the target's pending and half-delivered messages, telling each sender.

        In one transaction, each message becomes "cancelled" with ``reason`` and a
        notice saying so goes to its sender's inbox. With ``keep_instance``, the
        messages for that session instance are kept (and those recorded before
        instances, with none): only an ended session's go. Returns the cancelled ones.
        """
        where = "server = ? AND target = ? AND state IN (?, ?)"
        params: list[Any] = [self.server, target, MessageState.PENDING, MessageState.DELIVERING]
        if keep_instance is not None:
            where += " AND target_instance NOT IN ('', ?)"
            params.append(keep_instance)
        now = time.time()
        with self._db.write(f'cancel the messages for "{target}"') as conn:
            rows = conn.execute(
                f"UPDATE messages SET state = ?, error = ? WHERE {where} RETURNING {_COLUMNS}",
                (MessageState.CANCELLED, reason, *params),
            ).fetchall()
            cancelled = sorted((_message(row) for row in rows), key=lambda m: m.created_at)
            for message in cancelled:
                owner, title = inbox.sender_inbox(
                    conn, message, f'message {message.id} to "{target}" was cancelled'
                )
                body = (
                    f"{reason}; it was not delivered and will not be. Send it again "
                    "if it is still wanted."
                )
                inbox.insert(conn, owner, InboxKind.NOTICE, message.id, title, body, now)
        return cancelled

    # -- the log

    def latest(self, session: str | None = None, limit: int | None = 100) -> list[MessageRecord]:
        """Return the latest messages sent on this server, newest first, for a log.

        ``session`` keeps those that the session sent or received. ``limit`` None
        returns all of them.
        """
        where = ["server = ?"]
        params: list[Any] = [self.server]
        if session is not None:
            where.append("(sender = ? OR target = ?)")
            params.extend([session, session])
        sql = f"SELECT {_COLUMNS} FROM messages WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._db.query("list messages", sql, tuple(params))
        return [_message(row) for row in rows]

    # -- plumbing

    def _update(
        self, action: str, message_id: str, assignments: str, params: tuple[Any, ...]
    ) -> MessageRecord:
        """Run ``UPDATE messages SET <assignments>`` on one message and return the new row."""
        with self._db.write(action) as conn:
            row = conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ? RETURNING {_COLUMNS}",
                (*params, message_id),
            ).fetchone()
        if row is None:
            raise UnknownMessage(message_id, self._db.path)
        return _message(row)

    def _mark_step(
        self, message_id: str, column: str, at: float | None, step: str
    ) -> MessageRecord:
        with self._db.write(f'mark message "{message_id}" as being {step}') as conn:
            row = conn.execute(
                f"UPDATE messages SET {column} = ? WHERE id = ? AND state = ? RETURNING {_COLUMNS}",
                (at, message_id, MessageState.DELIVERING),
            ).fetchone()
        if row is None:
            raise self._not_delivering(message_id, f"it cannot be {step}")
        return _message(row)

    def _not_delivering(self, message_id: str, so: str) -> StoreError:
        """The error for a step of delivery asked of a message that is not being delivered."""
        current = self.get(message_id)
        if current is None:
            return UnknownMessage(message_id, self._db.path)
        return StoreError(
            f'message "{message_id}" is not being delivered (its state is {current.state}), so {so}'
        )


def _stored_state(value: str) -> MessageState:
    """``value`` as a state the store may hold; StoreError for an unknown or report-only one."""
    state = enum_value(MessageState, value, "message state")
    if state in REPORTED_ONLY:
        raise StoreError(f'"{state}" is reported by send, never stored')
    return state


def _waiter(waiting: bool) -> tuple[int | None, int | None]:
    """This process as the waiter of a message (pid and start time), or none."""
    if not waiting:
        return None, None
    pid = os.getpid()
    return pid, start_time(pid)


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
