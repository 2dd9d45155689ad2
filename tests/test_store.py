"""Tests of the SQLite store, on real SQLite files in a temporary IMESSENGER_HOME.

The concurrency tests start real Python processes that open the same
database file and wait on their standard input, so that they all start
their work at the same moment.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import imessenger
from imessenger.adapters import paths
from imessenger.adapters.store import (
    DB_FILENAME,
    AlreadyReplied,
    DuplicateMessage,
    Store,
    UnknownMessage,
    prompts,
    schema,
)
from imessenger.adapters.store.schema import MIGRATIONS
from imessenger.core.errors import StoreError
from imessenger.core.values import (
    REPORTED_ONLY,
    ApprovalRecord,
    Choice,
    InboxKind,
    MessageRecord,
    MessageState,
    SessionRecord,
)


@pytest.fixture
def home() -> Path:
    """The test's data directory (IMESSENGER_HOME, see conftest.py): it does not exist yet.

    The ``store`` fixture is the store at the default location inside it.
    """
    return paths.data_dir()


@pytest.fixture
def store() -> Iterator[Store]:
    """The store of the test's data folder, opened for the tmux server "default" (no tmux
    server runs: the records are made by hand)."""
    with Store.open(server="default") as opened:
        yield opened


@pytest.fixture
def on(store: Store) -> Iterator[Callable[[str], Store]]:
    """``on(LABEL)``: the store's file opened for another tmux server, as a process working
    on that server opens it; closed after the test."""
    opened: list[Store] = []

    def open_for(server: str) -> Store:
        opened.append(Store.open(store.path, server=server))
        return opened[-1]

    yield open_for
    for other in opened:
        other.close()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add(store: Store, message_id: str, target: str = "worker", *, state: str = "pending") -> None:
    """Add a message from "user" to ``target`` on the store's server."""
    store.messages.add(message_id, "user", target, f"body of {message_id}", state=state)


# --- files, modes, journal, migrations ------------------------------------------------------


def test_open_creates_private_directory_and_file(home: Path) -> None:
    assert not home.exists()
    with Store.open(server="default") as store:
        assert store.path == home / DB_FILENAME
    assert mode_of(home) == 0o700
    assert mode_of(home / DB_FILENAME) == 0o600


def test_new_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would make a new file read-only for its owner
    try:
        Store.open(tmp_path / "store.db", server="default").close()
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "store.db") == 0o600


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(0o644, 0o600, id="world-readable"),
        pytest.param(0o666, 0o600, id="world-writable"),
        pytest.param(0o755, 0o600, id="executable"),
        pytest.param(0o600, 0o600, id="already-private"),
    ],
)
def test_open_fixes_mode_of_existing_file(tmp_path: Path, before: int, after: int) -> None:
    path = tmp_path / "store.db"
    Store.open(path, server="default").close()
    path.chmod(before)
    Store.open(path, server="default").close()
    assert mode_of(path) == after


def test_explicit_path_creates_missing_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    Store.open(path, server="default").close()
    assert path.is_file()
    assert mode_of(path.parent) == 0o700


def test_journal_mode_is_wal(store: Store) -> None:
    store.inbox.add("user", "notice", "hello", "world")
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_recorded(store: Store) -> None:
    assert store.schema_version() == len(MIGRATIONS) == 10
    applied = store.applied_migrations()
    assert [(version, name) for version, name, _ in applied] == [
        (1, "initial_schema"),
        (2, "refusals"),
        (3, "waiters_and_instances"),
        (4, "agent_records"),
        (5, "hook_events"),
        (6, "mcp_connections"),
        (7, "paste_marks"),
        (8, "session_instances"),
        (9, "prompts"),
        (10, "remembered_sessions"),
    ]
    assert all(applied_at > 0 for _, _, applied_at in applied)
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == 10
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    expected = {"sessions", "messages", "inbox", "approvals", "refusals", "migrations"}
    assert {*expected, "hook_events", "prompts", "remembered"} <= tables


def test_reopening_applies_nothing_twice(home: Path) -> None:
    with Store.open(server="default") as first:
        applied = first.applied_migrations()
        first.messages.add("m1", "user", "worker", "kept")
    with Store.open(server="default") as second, Store.open(server="default") as third:
        assert second.applied_migrations() == applied
        assert third.schema_version() == len(MIGRATIONS)
        message = second.messages.get("m1")
        assert message is not None
        assert message.body == "kept"


def test_new_migration_is_applied_in_order_on_reopen(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(server="default").close()

    def _add_notes(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, _add_notes])
    with Store.open(server="default") as store:
        assert store.schema_version() == 11
        assert [(v, n) for v, n, _ in store.applied_migrations()] == [
            (1, "initial_schema"),
            (2, "refusals"),
            (3, "waiters_and_instances"),
            (4, "agent_records"),
            (5, "hook_events"),
            (6, "mcp_connections"),
            (7, "paste_marks"),
            (8, "session_instances"),
            (9, "prompts"),
            (10, "remembered_sessions"),
            (11, "add_notes"),
        ]
    with sqlite3.connect(home / DB_FILENAME) as other:
        assert other.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


def test_failing_migration_leaves_database_unchanged(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(server="default").close()

    def _broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (id INTEGER)")
        conn.execute("THIS IS NOT SQL")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, _broken])
    with pytest.raises(StoreError, match="apply schema migrations"):
        Store.open(server="default")
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS)
    with Store.open(server="default") as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert len(store.applied_migrations()) == len(MIGRATIONS)
    with sqlite3.connect(home / DB_FILENAME) as other:
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables


def test_database_from_newer_version_is_refused(home: Path) -> None:
    Store.open(server="default").close()
    with sqlite3.connect(home / DB_FILENAME) as other:
        other.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"schema version 99.*upgrade imessenger"):
        Store.open(server="default")


def test_context_manager_closes(home: Path) -> None:
    with Store.open(server="default") as store:
        pass
    with pytest.raises(StoreError, match="closed"):
        store.messages.get("m1")
    store.close()  # a second close does nothing


# --- sessions -------------------------------------------------------------------------------


def test_sessions(store: Store, on: Callable[[str], Store]) -> None:
    other = on("other")
    assert store.sessions.get("w1") is None
    first = store.sessions.record("w1", "claude", "/src", ["claude", "--verbose"])
    assert isinstance(first, SessionRecord)
    assert first.command == ("claude", "--verbose")
    assert store.sessions.get("w1") == first

    store.sessions.record("a0", "shell", "/tmp", ["bash"])
    other.sessions.record("w1", "codex", "/x", ["codex"])
    assert [s.name for s in store.sessions.all()] == ["a0", "w1"]
    assert [s.agent for s in other.sessions.all()] == ["codex"]

    again = store.sessions.record("w1", "gemini", "/new", ["gemini", "a b"])
    assert store.sessions.get("w1") == again
    assert again.command == ("gemini", "a b")
    assert len(store.sessions.all()) == 2

    assert store.sessions.forget("w1") is True
    assert store.sessions.forget("w1") is False
    assert store.sessions.get("w1") is None
    assert other.sessions.get("w1") is not None


def test_a_session_keeps_where_its_agent_records_its_answers(store: Store) -> None:
    pinned = store.sessions.record(
        "w1", "claude", "/src", ["claude"], record_kind="claude", record_ref="/t.jsonl"
    )
    assert store.sessions.get("w1") == pinned
    assert (pinned.record_kind, pinned.record_ref) == ("claude", "/t.jsonl")
    # learned later (Codex names its record at the first turn): the first one learned stays
    store.sessions.record("w2", "codex", "/src", ["codex"], record_kind="codex", record_ref="home")
    assert store.sessions.set_record_ref("w2", "home+first", was="home") is True
    assert store.sessions.set_record_ref("w2", "home+second", was="home") is False
    learned = store.sessions.get("w2")
    assert learned is not None
    assert (learned.record_kind, learned.record_ref) == ("codex", "home+first")
    assert store.sessions.set_record_ref("nobody", "x", was="") is False


def test_a_session_recorded_before_records_reads_with_none(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database of schema 3 (before migrations 4 and 5) with a session in it
    with monkeypatch.context() as patched:
        patched.setattr(schema, "MIGRATIONS", MIGRATIONS[:3])
        Store.open(server="default").close()
    with sqlite3.connect(home / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO sessions (server, name, agent, directory, command, started_at) "
            "VALUES ('default', 'old', 'claude', '/src', '[\"claude\"]', 1.0)"
        )
    with Store.open(server="default") as store:
        assert store.schema_version() == len(MIGRATIONS)
        old = store.sessions.get("old")
        assert old is not None
        assert (old.record_kind, old.record_ref, old.hooks, old.files_dir) == ("", "", "", "")
        assert old.mcp_connected_at is None
        assert store.hook_events.recent("old") == []


def test_an_mcp_connection_is_marked_until_the_session_is_recorded_anew(
    store: Store, on: Callable[[str], Store]
) -> None:
    assert store.sessions.mark_mcp_connected("w1") is False  # isesh did not start it
    store.sessions.record("w1", "claude", "/src", ["claude"])
    fresh = store.sessions.get("w1")
    assert fresh is not None
    assert fresh.mcp_connected_at is None
    assert store.sessions.mark_mcp_connected("w1", at=1234.5) is True
    marked = store.sessions.get("w1")
    assert marked is not None
    assert marked.mcp_connected_at == 1234.5
    assert on("other-server").sessions.mark_mcp_connected("w1") is False
    store.sessions.record("w1", "claude", "/src", ["claude"])  # started again
    again = store.sessions.get("w1")
    assert again is not None
    assert again.mcp_connected_at is None


def test_the_inbox_of_a_name_goes_to_the_person_once_no_session_of_it_is_recorded(
    store: Store, on: Callable[[str], Store]
) -> None:
    a, b = on("a"), on("b")
    a.sessions.record("w1", "demo", "/src", ["demo"], instance="$1:100")
    store.inbox.add("w1", "reply", "reply from w2", "done")
    # the same name on another tmux server shares the inbox: nothing moves
    b.sessions.record("w1", "demo", "/src", ["demo"], instance="$1:200")
    assert b.sessions.forget("w1") is True
    assert [e.title for e in store.inbox.read("w1", peek=True)] == ["reply from w2"]
    assert store.sessions.is_current("w1", "$1:100")
    assert not store.sessions.is_current("w1", "$1:200")
    assert a.sessions.forget("w1") is True
    assert store.inbox.read("w1", peek=True, include_read=True) == []
    [moved] = store.inbox.read("user", peek=True)
    assert (moved.title, moved.body) == ('reply from w2 (for "w1", which has ended)', "done")
    assert not store.sessions.is_current("w1", "$1:100")


def test_a_message_for_a_session_named_by_its_pane_reads_as_for_any(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database of schema 6, whose instances named a pane ("%3@...")
    with monkeypatch.context() as patched:
        patched.setattr(schema, "MIGRATIONS", MIGRATIONS[:6])
        Store.open(server="default").close()
    with sqlite3.connect(home / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO messages (id, server, sender, target, body, state, created_at, "
            "target_instance) VALUES ('m1', 'default', 'user', 'w1', 'hi', 'pending', 1.0, "
            "'%3@1733040000')"
        )
    with Store.open(server="default") as store:
        message = store.messages.get("m1")
        assert message is not None
        assert (message.target_instance, message.sender_instance) == ("", "")
        cancelled = store.messages.cancel_undelivered("w1", "ended", keep_instance="$0:1")
        assert cancelled == []  # not taken for another session's


# --- messages -------------------------------------------------------------------------------


def test_add_and_get_message(store: Store, on: Callable[[str], Store]) -> None:
    message = on("sock").messages.add("m1", "w1", "w2", "hello\nworld", raw=True, waiting=True)
    assert message == store.messages.get("m1")  # by its id, whatever its server
    assert (message.id, message.server, message.sender, message.target) == (
        "m1",
        "sock",
        "w1",
        "w2",
    )
    assert message.body == "hello\nworld"
    assert message.raw is True
    assert message.waiting is True
    assert message.state == MessageState.PENDING
    assert message.state.value == "pending"
    assert message.created_at > 0
    assert message.delivered_at is None
    assert message.replied_at is None
    assert message.reply is None
    assert message.error is None
    assert store.messages.get("nope") is None


def test_duplicate_message_id_is_refused(store: Store) -> None:
    add(store, "m1")
    with pytest.raises(DuplicateMessage, match='"m1" already exists'):
        add(store, "m1")
    assert len(store.messages.latest()) == 1


def test_unknown_state_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match='unknown message state "lost"'):
        add(store, "m1", state="lost")
    add(store, "m2")
    with pytest.raises(StoreError, match="expected one of"):
        store.messages.set_state("m2", "lost")


@pytest.mark.parametrize("state", sorted(REPORTED_ONLY))
def test_a_state_send_only_reports_is_never_stored(store: Store, state: MessageState) -> None:
    with pytest.raises(StoreError, match="never stored"):
        add(store, "m1", state=state)
    add(store, "m2")
    with pytest.raises(StoreError, match="never stored"):
        store.messages.set_state("m2", state)
    record = store.messages.get("m2")
    assert record is not None
    assert record.state is MessageState.PENDING


def test_mark_delivered_and_queued(store: Store) -> None:
    add(store, "m1")
    delivered = store.messages.mark_delivered("m1")
    assert delivered.state == MessageState.DELIVERED
    assert delivered.delivered_at is not None
    queued = store.messages.mark_delivered("m1", "queued")
    assert queued.state == MessageState.QUEUED
    assert queued.delivered_at == delivered.delivered_at
    with pytest.raises(StoreError, match='"delivered" or "queued"'):
        store.messages.mark_delivered("m1", "failed")


def test_mark_failed_set_state_and_waiting(store: Store) -> None:
    add(store, "m1")
    failed = store.messages.mark_failed("m1", "pane is gone")
    assert (failed.state, failed.error) == (MessageState.FAILED, "pane is gone")
    add(store, "m2")
    assert store.messages.set_state("m2", "timed_out").state == MessageState.TIMED_OUT
    assert store.messages.set_waiting("m2", True).waiting is True
    message = store.messages.set_waiting("m2", False)
    assert message.waiting is False
    assert store.messages.get("m2") == message


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.messages.set_state("zz", "failed"), id="set_state"),
        pytest.param(lambda s: s.messages.mark_delivered("zz"), id="mark_delivered"),
        pytest.param(lambda s: s.messages.mark_failed("zz", "x"), id="mark_failed"),
        pytest.param(lambda s: s.messages.set_waiting("zz", True), id="set_waiting"),
        pytest.param(lambda s: s.messages.record_reply("zz", "x", "command"), id="record_reply"),
        pytest.param(lambda s: s.messages.release_claim("zz"), id="release_claim"),
    ],
)
def test_unknown_message_id(store: Store, call: Callable[[Store], MessageRecord]) -> None:
    with pytest.raises(UnknownMessage, match='no message with id "zz"') as info:
        call(store)
    assert str(store.path) in str(info.value)
    assert isinstance(info.value, StoreError)


def test_record_reply(store: Store) -> None:
    add(store, "m1")
    store.messages.mark_delivered("m1")
    replied = store.messages.record_reply("m1", "done: 3 files", "command")
    assert replied.state == MessageState.REPLIED
    assert (replied.reply, replied.reply_via) == ("done: 3 files", "command")
    assert replied.replied_at is not None
    assert store.messages.get("m1") == replied


def test_record_reply_twice_keeps_the_first(store: Store) -> None:
    add(store, "m1")
    store.messages.record_reply("m1", "first", "screen")
    with pytest.raises(AlreadyReplied, match=r'"m1" already has a reply.*via screen'):
        store.messages.record_reply("m1", "second", "command")
    message = store.messages.get("m1")
    assert message is not None
    assert (message.reply, message.reply_via) == ("first", "screen")


def test_record_reply_refuses_unknown_source(store: Store) -> None:
    add(store, "m1")
    with pytest.raises(StoreError, match='unknown reply source "mail"'):
        store.messages.record_reply("m1", "x", "mail")


def test_late_reply_after_timeout_is_recorded(store: Store) -> None:
    add(store, "m1")
    store.messages.set_state("m1", "timed_out")
    assert store.messages.record_reply("m1", "late", "screen").state == MessageState.REPLIED


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.messages.set_state("m1", "timed_out"), id="timed_out"),
        pytest.param(lambda s: s.messages.mark_failed("m1", "x"), id="failed"),
        pytest.param(lambda s: s.messages.mark_delivered("m1", "queued"), id="queued"),
    ],
)
def test_state_stays_replied_once_a_reply_is_recorded(
    store: Store, call: Callable[[Store], MessageRecord]
) -> None:
    add(store, "m1")
    store.messages.record_reply("m1", "answer", "command")
    after = call(store)
    assert after.state == MessageState.REPLIED
    assert after.reply == "answer"


def test_pending_messages_oldest_first(store: Store, on: Callable[[str], Store]) -> None:
    sock = on("sock")
    for message_id in ["p1", "p2", "p3"]:
        add(store, message_id)
    add(store, "other-target", target="w9")
    sock.messages.add("other-server", "user", "worker", "x")
    add(store, "done")
    store.messages.mark_delivered("done")
    assert [m.id for m in store.messages.pending("worker")] == ["p1", "p2", "p3"]
    assert [m.id for m in sock.messages.pending("worker")] == ["other-server"]
    assert store.messages.pending("nobody") == []


def test_claim_pending_and_release(store: Store) -> None:
    for message_id in ["p1", "p2"]:
        add(store, message_id)
    first = store.messages.claim_pending("worker")
    assert first is not None
    assert first.id == "p1"
    assert first.state == MessageState.DELIVERING
    assert first.claimed_at is not None
    assert [m.id for m in store.messages.pending("worker")] == ["p2"]

    released = store.messages.release_claim("p1")
    assert released.state == MessageState.PENDING
    assert released.claimed_at is None
    with pytest.raises(StoreError, match="not being delivered"):
        store.messages.release_claim("p1")

    claimed = [store.messages.claim_pending("worker") for _ in range(3)]
    assert [m.id if m else None for m in claimed] == ["p1", "p2", None]
    assert store.messages.claim_pending("nobody") is None


def test_list_messages(store: Store, on: Callable[[str], Store]) -> None:
    sock = on("sock")
    store.messages.add("a", "user", "w1", "x")
    store.messages.add("b", "w1", "w2", "x")
    store.messages.add("c", "w2", "w3", "x")
    sock.messages.add("d", "user", "w1", "x")
    # each server's log is its own, newest first
    assert [m.id for m in store.messages.latest()] == ["c", "b", "a"]
    assert [m.id for m in store.messages.latest(limit=2)] == ["c", "b"]
    assert [m.id for m in store.messages.latest(limit=None)] == ["c", "b", "a"]
    assert [m.id for m in sock.messages.latest()] == ["d"]
    assert [m.id for m in store.messages.latest(session="w1")] == ["b", "a"]
    assert [m.id for m in sock.messages.latest(session="w1")] == ["d"]
    assert [m.id for m in sock.messages.latest(session="w2")] == []


# --- inbox ----------------------------------------------------------------------------------


def test_inbox_read_marks_entries_read(store: Store) -> None:
    first = store.inbox.add("w1", "reply", "Reply from w2", "done", message_id="m1")
    second = store.inbox.add("w1", InboxKind.NOTICE, "w2 exited", "")
    store.inbox.add("user", "prompt", "w3 asks", "Do you want to proceed?")
    assert first.kind == InboxKind.REPLY
    assert first.message_id == "m1"
    assert first.read_at is None
    assert store.inbox.unread_counts() == {"user": 1, "w1": 2}

    assert store.inbox.read("w1", peek=True) == [first, second]
    assert store.inbox.unread_counts() == {"user": 1, "w1": 2}

    assert store.inbox.read("w1") == [first, second]  # read_at as before this call
    assert store.inbox.read("w1") == []
    assert store.inbox.unread_counts() == {"user": 1}

    third = store.inbox.add("w1", "pending", "queued for w2", "m9 waits")
    everything = store.inbox.read("w1", include_read=True)
    assert [e.id for e in everything] == [first.id, second.id, third.id]
    assert everything[0].read_at is not None
    assert everything[2].read_at is None  # first read by this call
    assert all(e.read_at is not None for e in store.inbox.read("w1", peek=True, include_read=True))
    assert store.inbox.unread_counts() == {"user": 1}


def test_inbox_refuses_unknown_kind(store: Store) -> None:
    with pytest.raises(StoreError, match='unknown inbox entry kind "spam"'):
        store.inbox.add("w1", "spam", "t", "b")


# --- approvals ------------------------------------------------------------------------------


def test_approvals(store: Store, on: Callable[[str], Store]) -> None:
    def approve(session: str, choice: str, at: float) -> ApprovalRecord:
        return store.approvals.add(
            actor="user",
            session=session,
            prompt="Bash command",
            subject="touch x.txt",
            choice=choice,
            option_label="Yes",
            key="1",
            closed=True,
            at=at,
        )

    first = approve("w1", "yes-once", 100.0)
    assert first.choice == Choice.YES_ONCE
    assert first.closed is True
    assert (first.subject, first.option_label, first.key) == ("touch x.txt", "Yes", "1")
    approve("w2", "no", 200.0)
    third = approve("w1", "yes-always", 300.0)
    assert [a.at for a in store.approvals.latest()] == [300.0, 200.0, 100.0]
    assert store.approvals.latest(session="w1") == [third, first]
    assert store.approvals.latest(limit=1) == [third]
    assert on("other").approvals.latest() == []
    now = on("sock").approvals.add(
        actor="w9",
        session="w1",
        prompt="p",
        subject="s",
        choice=Choice.NO,
        option_label="No",
        key="3",
        closed=False,
    )
    assert now.at > 300.0
    assert now.closed is False
    assert (now.server, first.server) == ("sock", "default")
    assert store.approvals.latest(limit=1) == [third]  # the one on "sock" is not this server's
    with pytest.raises(StoreError, match='unknown approval choice "maybe"'):
        approve("w1", "maybe", 1.0)


# --- prompt occurrences ---------------------------------------------------------------------


def test_a_prompt_is_one_occurrence_while_it_stays_open(
    store: Store, on: Callable[[str], Store]
) -> None:
    sock = on("sock")
    first = sock.prompts.observe("w1", "%1@100", "fp-a", "touch a.txt", at=1000.0)
    assert (first.session, first.about, first.first_seen) == ("w1", "touch a.txt", 1000.0)
    assert len(first.id) == 10
    assert int(first.id, 16) >= 0
    assert (first.closed_at, first.answered, first.answered_by, first.choice) == (
        None,
        False,
        None,
        None,
    )
    assert sock.prompts.observe("w1", "%1@100", "fp-a", "touch a.txt") == first
    assert store.prompts.get(first.id) == first
    assert sock.prompts.unclosed() == {"w1": first}
    # another prompt in the session closes the first
    other = sock.prompts.observe("w1", "%1@100", "fp-b", "touch b.txt", at=1001.0)
    assert other.id != first.id
    closed = store.prompts.get(first.id)
    assert closed is not None
    assert closed.closed_at == 1001.0
    assert sock.prompts.unclosed() == {"w1": other}
    # the first prompt again, once closed, is a new occurrence
    again = sock.prompts.observe("w1", "%1@100", "fp-a", "touch a.txt", at=1002.0)
    assert again.id not in (first.id, other.id)
    store.prompts.mark_closed(again.id, at=1003.0)
    store.prompts.mark_closed(again.id, at=1004.0)  # the first time it was seen gone counts
    assert sock.prompts.unclosed() == {}
    reread = store.prompts.get(again.id)
    assert reread is not None
    assert reread.closed_at == 1003.0
    # a new run of the session, another session, another server: each its own
    assert sock.prompts.observe("w1", "%4@200", "fp-a", "a").id != again.id
    assert sock.prompts.observe("w2", "%1@100", "fp-a", "a").session == "w2"
    assert on("other").prompts.observe("w1", "%1@100", "fp-a", "a").server == "other"
    assert set(sock.prompts.unclosed()) == {"w1", "w2"}
    assert store.prompts.get("0000000000") is None


def test_a_prompt_is_claimed_once(store: Store, on: Callable[[str], Store]) -> None:
    sock = on("sock")
    seen = sock.prompts.observe("w1", "%1@100", "fp", "touch x.txt")
    claimed = store.prompts.claim(seen.id, "coord", Choice.YES_ALWAYS)
    assert claimed is not None
    assert (claimed.answered, claimed.answered_by, claimed.choice) == (
        True,
        "coord",
        Choice.YES_ALWAYS,
    )
    assert store.prompts.claim(seen.id, "user", Choice.NO) is None
    assert store.prompts.get(seen.id) == claimed
    # answered and still on screen: every reader still finds that (answered) occurrence
    assert sock.prompts.observe("w1", "%1@100", "fp", "touch x.txt") == claimed
    store.prompts.release_claim(seen.id)  # no key could be pressed after all
    assert store.prompts.claim(seen.id, "user", "no") is not None
    with pytest.raises(StoreError, match='unknown approval choice "maybe"'):
        store.prompts.claim(seen.id, "user", "maybe")


def test_closed_prompts_are_kept_up_to_a_limit(
    store: Store, on: Callable[[str], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = on("sock")
    monkeypatch.setattr(prompts, "PROMPTS_KEPT", 3)
    made = [
        sock.prompts.observe("w1", "%1@100", f"fp-{i}", f"p{i}", at=float(i)).id for i in range(6)
    ]
    other = sock.prompts.observe("w2", "%2@100", "fp", "p", at=0.5).id
    kept = [identity for identity in made if store.prompts.get(identity) is not None]
    assert kept == made[-3:]
    assert store.prompts.get(other) is not None


# --- failures are reported, never dropped ---------------------------------------------------


@contextmanager
def make_read_only(path: Path) -> Iterator[None]:
    """Make a file read-only; as root (which ignores file modes) also make it immutable."""
    path.chmod(0o400)
    if os.geteuid() != 0:
        yield
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root, which ignores file modes, and chattr is not available")
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(
            f"running as root, which ignores file modes, and chattr failed: {result.stderr}"
        )
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_database_raises_on_write(home: Path) -> None:
    path = home / DB_FILENAME
    with Store.open(server="default") as store:
        add(store, "m1")
    with make_read_only(path):
        with Store.open(server="default") as store:
            assert store.messages.get("m1") is not None  # reading still works
            with pytest.raises(StoreError) as info:
                add(store, "m2")
            with pytest.raises(StoreError):
                store.inbox.add("user", "notice", "t", "b")
        message = str(info.value)
        assert str(path) in message
        assert 'could not add message "m2"' in message
        assert "read-only" in message
    with Store.open(server="default") as store:
        assert store.messages.get("m2") is None


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a database, just some text\n" * 200, id="text"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 4000, id="damaged-header"),
    ],
)
def test_corrupt_database_raises_clear_error(home: Path, content: bytes) -> None:
    home.mkdir(mode=0o700)
    path = home / DB_FILENAME
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store.open(server="default")
    message = str(info.value)
    assert str(path) in message
    assert "could not open the database" in message
    assert "damaged or is not an imessenger database; move it away" in message
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_unwritable_directory_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="could not create or set the permissions"):
        Store.open(blocker / "store.db", server="default")


# --- several processes at once --------------------------------------------------------------

CHILD = r"""
import json, sys, time
from pathlib import Path
from imessenger.adapters.store import AlreadyReplied, Store

path, job, tag, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
open_late = sys.argv[5] == "late"  # open the store after the start signal, not before
store = None if open_late else Store.open(path, server="default")
print("ready", flush=True)
sys.stdin.readline()
result = []
with store or Store.open(path, server="default") as store:
    if job == "write":
        for i in range(count):
            store.messages.add(f"{tag}-{i}", tag, "target", f"message {i} from {tag}")
            result.append(f"{tag}-{i}")
    elif job == "fill-inbox":
        for i in range(count):
            result.append(store.inbox.add("shared", "notice", f"entry {i}", "").id)
        store.inbox.add("control", "notice", "all written", "")
    elif job == "read-inbox":
        deadline = time.monotonic() + 60
        while True:
            finished = bool(store.inbox.read("control", peek=True))
            result.extend(entry.id for entry in store.inbox.read("shared"))
            if finished:
                break
            if time.monotonic() > deadline:
                sys.exit("the writer did not finish within 60 s")
    elif job == "claim":
        while (message := store.messages.claim_pending("target")) is not None:
            store.messages.mark_delivered(message.id)
            result.append(message.id)
    elif job == "prompts":
        for i in range(count):
            seen = store.prompts.observe(f"s{i}", "%1@1", "fp", f"touch {i}")
            claimed = store.prompts.claim(seen.id, tag, "yes-once") is not None
            result.append([seen.id, claimed])
    elif job == "reply":
        for i in range(count):
            try:
                store.messages.record_reply(f"m-{i}", f"reply from {tag}", "command")
            except AlreadyReplied:
                continue
            result.append(f"m-{i}")
print(json.dumps(result))
"""


def run_together(
    path: Path, jobs: list[tuple[str, str, int]], *, open_late: bool = False
) -> list[list[object]]:
    """Start one process per (job, tag, count), release them at once, return their results.

    Each process opens the store before it waits for the start signal, or with
    ``open_late`` after it, so that all of them open it at the same moment.
    """
    root = str(Path(imessenger.__file__).resolve().parent.parent)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(path),
                job,
                tag,
                str(count),
                "late" if open_late else "early",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for job, tag, count in jobs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline() != "ready\n":
                _, err = proc.communicate(timeout=30)
                pytest.fail(f"a child process failed to start: {err}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results: list[list[object]] = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(json.loads(out.splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize(
    "open_late",
    [
        pytest.param(False, id="open-then-write"),
        pytest.param(True, id="create-and-write"),  # both create and migrate the file at once
    ],
)
def test_two_processes_write_at_once(tmp_path: Path, open_late: bool) -> None:
    path = tmp_path / "fresh" / "store.db"
    first, second = run_together(
        path, [("write", "a", 200), ("write", "b", 200)], open_late=open_late
    )
    assert len(first) == len(second) == 200
    with Store.open(path, server="default") as store:
        stored = store.messages.latest(limit=None)
        assert len(stored) == 400
        assert {m.id for m in stored} == {*first, *second}
        assert len(store.applied_migrations()) == len(MIGRATIONS)


def test_two_processes_read_one_inbox_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path, server="default").close()
    written, read_a, read_b = run_together(
        path, [("fill-inbox", "w", 300), ("read-inbox", "a", 0), ("read-inbox", "b", 0)]
    )
    assert len(written) == 300
    seen = Counter([*read_a, *read_b])
    assert set(seen) == set(written)
    assert max(seen.values()) == 1
    with Store.open(path, server="default") as store:
        assert store.inbox.unread_counts() == {"control": 1}


def test_two_processes_claim_pending_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path, server="default") as store:
        for i in range(200):
            store.messages.add(f"p-{i}", "user", "target", f"message {i}")
    first, second = run_together(path, [("claim", "a", 0), ("claim", "b", 0)])
    assert not set(first) & set(second)
    assert len(first) + len(second) == 200
    with Store.open(path, server="default") as store:
        assert store.messages.pending("target") == []
        states = {m.state for m in store.messages.latest(limit=None)}
        assert states == {MessageState.DELIVERED}


def test_two_processes_see_and_claim_the_same_prompts_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path, server="default").close()
    first, second = run_together(path, [("prompts", "a", 150), ("prompts", "b", 150)])
    assert [entry[0] for entry in first] == [entry[0] for entry in second]  # one id each
    assert all(a[1] != b[1] for a, b in zip(first, second, strict=True))  # one claim each
    with Store.open(path, server="default") as store:
        opened = store.prompts.unclosed()
        assert len(opened) == 150
        assert {p.answered_by for p in opened.values()} <= {"a", "b"}
        assert all(p.answered for p in opened.values())


def test_two_processes_reply_to_the_same_messages(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path, server="default") as store:
        for i in range(100):
            store.messages.add(f"m-{i}", "user", "target", f"message {i}")
    first, second = run_together(path, [("reply", "a", 100), ("reply", "b", 100)])
    assert not set(first) & set(second)
    assert len(first) + len(second) == 100
    with Store.open(path, server="default") as store:
        for message in store.messages.latest(limit=None):
            winner = "a" if message.id in first else "b"
            assert message.reply == f"reply from {winner}"


def test_a_claim_left_by_an_earlier_version_counts_as_pasted_and_submitted(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before paste_marks, the paste and the key went in one tmux call: a claim left then
    # may have been both, and must never be taken for one that was not (pasted again).
    before = MIGRATIONS.index(schema._paste_marks)
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:before])
    with Store.open(server="default") as old:
        path = old.path
    with sqlite3.connect(path) as conn:  # as the earlier version wrote them
        for message_id, state, claimed in (
            ("0ld0c1a1", "delivering", 5.0),
            ("0ld0f1e1", "pending", None),
        ):
            conn.execute(
                "INSERT INTO messages (id, server, sender, target, body, raw, state, "
                "created_at, claimed_at) VALUES (?, 'default', 'user', 'w1', 'm', 0, ?, 1.0, ?)",
                (message_id, state, claimed),
            )
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS)
    with Store.open(server="default") as new:
        claimed = new.messages.get("0ld0c1a1")
        pending = new.messages.get("0ld0f1e1")
    assert claimed is not None
    assert claimed.pasted_at == claimed.submitted_at == claimed.claimed_at
    assert pending is not None
    assert pending.pasted_at is None
    assert pending.submitted_at is None
