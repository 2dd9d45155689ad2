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
from imessenger.adapters import store as store_module
from imessenger.adapters.store import (
    DB_FILENAME,
    MIGRATIONS,
    AlreadyReplied,
    DuplicateMessage,
    Store,
    UnknownMessage,
)
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

    The ``store`` fixture (conftest.py) is the store at the default location inside it.
    """
    return paths.data_dir()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add(store: Store, message_id: str, target: str = "worker", *, state: str = "pending") -> None:
    """Add a message from "user" to ``target`` on the default server."""
    store.add_message(message_id, "default", "user", target, f"body of {message_id}", state=state)


# --- files, modes, journal, migrations ------------------------------------------------------


def test_open_creates_private_directory_and_file(home: Path) -> None:
    assert not home.exists()
    with Store.open() as store:
        assert store.path == home / DB_FILENAME
    assert mode_of(home) == 0o700
    assert mode_of(home / DB_FILENAME) == 0o600


def test_new_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would make a new file read-only for its owner
    try:
        Store.open(tmp_path / "store.db").close()
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
    Store.open(path).close()
    path.chmod(before)
    Store.open(path).close()
    assert mode_of(path) == after


def test_explicit_path_creates_missing_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    Store.open(path).close()
    assert path.is_file()
    assert mode_of(path.parent) == 0o700


def test_journal_mode_is_wal(store: Store) -> None:
    store.add_inbox("user", "notice", "hello", "world")
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_recorded(store: Store) -> None:
    assert store.schema_version() == len(MIGRATIONS) == 9
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
    ]
    assert all(applied_at > 0 for _, _, applied_at in applied)
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == 9
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    expected = {"sessions", "messages", "inbox", "approvals", "refusals", "migrations"}
    assert {*expected, "hook_events", "prompts"} <= tables


def test_reopening_applies_nothing_twice(home: Path) -> None:
    with Store.open() as first:
        applied = first.applied_migrations()
        first.add_message("m1", "default", "user", "worker", "kept")
    with Store.open() as second, Store.open() as third:
        assert second.applied_migrations() == applied
        assert third.schema_version() == len(MIGRATIONS)
        message = second.get_message("m1")
        assert message is not None
        assert message.body == "kept"


def test_new_migration_is_applied_in_order_on_reopen(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open().close()

    def _add_notes(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, _add_notes])
    with Store.open() as store:
        assert store.schema_version() == 10
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
            (10, "add_notes"),
        ]
    with sqlite3.connect(home / DB_FILENAME) as other:
        assert other.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


def test_failing_migration_leaves_database_unchanged(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open().close()

    def _broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (id INTEGER)")
        conn.execute("THIS IS NOT SQL")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, _broken])
    with pytest.raises(StoreError, match="apply schema migrations"):
        Store.open()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store.open() as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert len(store.applied_migrations()) == len(MIGRATIONS)
    with sqlite3.connect(home / DB_FILENAME) as other:
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables


def test_database_from_newer_version_is_refused(home: Path) -> None:
    Store.open().close()
    with sqlite3.connect(home / DB_FILENAME) as other:
        other.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"schema version 99.*upgrade imessenger"):
        Store.open()


def test_context_manager_closes(home: Path) -> None:
    with Store.open() as store:
        pass
    with pytest.raises(StoreError, match="closed"):
        store.get_message("m1")
    store.close()  # a second close does nothing


# --- sessions -------------------------------------------------------------------------------


def test_sessions(store: Store) -> None:
    assert store.get_session("default", "w1") is None
    first = store.record_session("default", "w1", "claude", "/src", ["claude", "--verbose"])
    assert isinstance(first, SessionRecord)
    assert first.command == ("claude", "--verbose")
    assert store.get_session("default", "w1") == first

    store.record_session("default", "a0", "shell", "/tmp", ["bash"])
    store.record_session("other", "w1", "codex", "/x", ["codex"])
    assert [s.name for s in store.list_sessions("default")] == ["a0", "w1"]
    assert [s.agent for s in store.list_sessions("other")] == ["codex"]

    again = store.record_session("default", "w1", "gemini", "/new", ["gemini", "a b"])
    assert store.get_session("default", "w1") == again
    assert again.command == ("gemini", "a b")
    assert len(store.list_sessions("default")) == 2

    assert store.forget_session("default", "w1") is True
    assert store.forget_session("default", "w1") is False
    assert store.get_session("default", "w1") is None
    assert store.get_session("other", "w1") is not None


def test_a_session_keeps_where_its_agent_records_its_answers(store: Store) -> None:
    pinned = store.record_session(
        "default", "w1", "claude", "/src", ["claude"], record_kind="claude", record_ref="/t.jsonl"
    )
    assert store.get_session("default", "w1") == pinned
    assert (pinned.record_kind, pinned.record_ref) == ("claude", "/t.jsonl")
    # learned later (Codex names its record at the first turn): the first one learned stays
    store.record_session(
        "default", "w2", "codex", "/src", ["codex"], record_kind="codex", record_ref="home"
    )
    assert store.set_record_ref("default", "w2", "home+first", was="home") is True
    assert store.set_record_ref("default", "w2", "home+second", was="home") is False
    learned = store.get_session("default", "w2")
    assert learned is not None
    assert (learned.record_kind, learned.record_ref) == ("codex", "home+first")
    assert store.set_record_ref("default", "nobody", "x", was="") is False


def test_a_session_recorded_before_records_reads_with_none(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database of schema 3 (before migrations 4 and 5) with a session in it
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])
        Store.open().close()
    with sqlite3.connect(home / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO sessions (server, name, agent, directory, command, started_at) "
            "VALUES ('default', 'old', 'claude', '/src', '[\"claude\"]', 1.0)"
        )
    with Store.open() as store:
        assert store.schema_version() == len(MIGRATIONS)
        old = store.get_session("default", "old")
        assert old is not None
        assert (old.record_kind, old.record_ref, old.hooks, old.files_dir) == ("", "", "", "")
        assert old.mcp_connected_at is None
        assert store.hook_events("default", "old") == []


def test_an_mcp_connection_is_marked_until_the_session_is_recorded_anew(store: Store) -> None:
    assert store.mark_mcp_connected("default", "w1") is False  # isesh did not start it
    store.record_session("default", "w1", "claude", "/src", ["claude"])
    fresh = store.get_session("default", "w1")
    assert fresh is not None
    assert fresh.mcp_connected_at is None
    assert store.mark_mcp_connected("default", "w1", at=1234.5) is True
    marked = store.get_session("default", "w1")
    assert marked is not None
    assert marked.mcp_connected_at == 1234.5
    assert store.mark_mcp_connected("other-server", "w1") is False
    store.record_session("default", "w1", "claude", "/src", ["claude"])  # started again
    again = store.get_session("default", "w1")
    assert again is not None
    assert again.mcp_connected_at is None


def test_the_inbox_of_a_name_goes_to_the_person_once_no_session_of_it_is_recorded(
    store: Store,
) -> None:
    store.record_session("a", "w1", "demo", "/src", ["demo"], instance="$1:100")
    store.add_inbox("w1", "reply", "reply from w2", "done")
    # the same name on another tmux server shares the inbox: nothing moves
    store.record_session("b", "w1", "demo", "/src", ["demo"], instance="$1:200")
    assert store.forget_session("b", "w1") is True
    assert [e.title for e in store.read_inbox("w1", peek=True)] == ["reply from w2"]
    assert store.is_current("w1", "$1:100")
    assert not store.is_current("w1", "$1:200")
    assert store.forget_session("a", "w1") is True
    assert store.read_inbox("w1", peek=True, include_read=True) == []
    [moved] = store.read_inbox("user", peek=True)
    assert (moved.title, moved.body) == ('reply from w2 (for "w1", which has ended)', "done")
    assert not store.is_current("w1", "$1:100")


def test_a_message_for_a_session_named_by_its_pane_reads_as_for_any(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database of schema 6, whose instances named a pane ("%3@...")
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "MIGRATIONS", MIGRATIONS[:6])
        Store.open().close()
    with sqlite3.connect(home / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO messages (id, server, sender, target, body, state, created_at, "
            "target_instance) VALUES ('m1', 'default', 'user', 'w1', 'hi', 'pending', 1.0, "
            "'%3@1733040000')"
        )
    with Store.open() as store:
        message = store.get_message("m1")
        assert message is not None
        assert (message.target_instance, message.sender_instance) == ("", "")
        cancelled = store.cancel_undelivered("default", "w1", "ended", keep_instance="$0:1")
        assert cancelled == []  # not taken for another session's


# --- messages -------------------------------------------------------------------------------


def test_add_and_get_message(store: Store) -> None:
    message = store.add_message("m1", "sock", "w1", "w2", "hello\nworld", raw=True, waiting=True)
    assert message == store.get_message("m1")
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
    assert store.get_message("nope") is None


def test_duplicate_message_id_is_refused(store: Store) -> None:
    add(store, "m1")
    with pytest.raises(DuplicateMessage, match='"m1" already exists'):
        add(store, "m1")
    assert len(store.list_messages()) == 1


def test_unknown_state_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match='unknown message state "lost"'):
        add(store, "m1", state="lost")
    add(store, "m2")
    with pytest.raises(StoreError, match="expected one of"):
        store.set_state("m2", "lost")


@pytest.mark.parametrize("state", sorted(REPORTED_ONLY))
def test_a_state_send_only_reports_is_never_stored(store: Store, state: MessageState) -> None:
    with pytest.raises(StoreError, match="never stored"):
        add(store, "m1", state=state)
    add(store, "m2")
    with pytest.raises(StoreError, match="never stored"):
        store.set_state("m2", state)
    record = store.get_message("m2")
    assert record is not None
    assert record.state is MessageState.PENDING


def test_mark_delivered_and_queued(store: Store) -> None:
    add(store, "m1")
    delivered = store.mark_delivered("m1")
    assert delivered.state == MessageState.DELIVERED
    assert delivered.delivered_at is not None
    queued = store.mark_delivered("m1", "queued")
    assert queued.state == MessageState.QUEUED
    assert queued.delivered_at == delivered.delivered_at
    with pytest.raises(StoreError, match='"delivered" or "queued"'):
        store.mark_delivered("m1", "failed")


def test_mark_failed_set_state_and_waiting(store: Store) -> None:
    add(store, "m1")
    failed = store.mark_failed("m1", "pane is gone")
    assert (failed.state, failed.error) == (MessageState.FAILED, "pane is gone")
    add(store, "m2")
    assert store.set_state("m2", "timed_out").state == MessageState.TIMED_OUT
    assert store.set_waiting("m2", True).waiting is True
    message = store.set_waiting("m2", False)
    assert message.waiting is False
    assert store.get_message("m2") == message


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.set_state("zz", "failed"), id="set_state"),
        pytest.param(lambda s: s.mark_delivered("zz"), id="mark_delivered"),
        pytest.param(lambda s: s.mark_failed("zz", "x"), id="mark_failed"),
        pytest.param(lambda s: s.set_waiting("zz", True), id="set_waiting"),
        pytest.param(lambda s: s.record_reply("zz", "x", "command"), id="record_reply"),
        pytest.param(lambda s: s.release_claim("zz"), id="release_claim"),
    ],
)
def test_unknown_message_id(store: Store, call: Callable[[Store], MessageRecord]) -> None:
    with pytest.raises(UnknownMessage, match='no message with id "zz"') as info:
        call(store)
    assert str(store.path) in str(info.value)
    assert isinstance(info.value, StoreError)


def test_record_reply(store: Store) -> None:
    add(store, "m1")
    store.mark_delivered("m1")
    replied = store.record_reply("m1", "done: 3 files", "command")
    assert replied.state == MessageState.REPLIED
    assert (replied.reply, replied.reply_via) == ("done: 3 files", "command")
    assert replied.replied_at is not None
    assert store.get_message("m1") == replied


def test_record_reply_twice_keeps_the_first(store: Store) -> None:
    add(store, "m1")
    store.record_reply("m1", "first", "screen")
    with pytest.raises(AlreadyReplied, match=r'"m1" already has a reply.*via screen'):
        store.record_reply("m1", "second", "command")
    message = store.get_message("m1")
    assert message is not None
    assert (message.reply, message.reply_via) == ("first", "screen")


def test_record_reply_refuses_unknown_source(store: Store) -> None:
    add(store, "m1")
    with pytest.raises(StoreError, match='unknown reply source "mail"'):
        store.record_reply("m1", "x", "mail")


def test_late_reply_after_timeout_is_recorded(store: Store) -> None:
    add(store, "m1")
    store.set_state("m1", "timed_out")
    assert store.record_reply("m1", "late", "screen").state == MessageState.REPLIED


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.set_state("m1", "timed_out"), id="timed_out"),
        pytest.param(lambda s: s.mark_failed("m1", "x"), id="failed"),
        pytest.param(lambda s: s.mark_delivered("m1", "queued"), id="queued"),
    ],
)
def test_state_stays_replied_once_a_reply_is_recorded(
    store: Store, call: Callable[[Store], MessageRecord]
) -> None:
    add(store, "m1")
    store.record_reply("m1", "answer", "command")
    after = call(store)
    assert after.state == MessageState.REPLIED
    assert after.reply == "answer"


def test_pending_messages_oldest_first(store: Store) -> None:
    for message_id in ["p1", "p2", "p3"]:
        add(store, message_id)
    add(store, "other-target", target="w9")
    store.add_message("other-server", "sock", "user", "worker", "x")
    add(store, "done")
    store.mark_delivered("done")
    assert [m.id for m in store.pending_messages("default", "worker")] == ["p1", "p2", "p3"]
    assert [m.id for m in store.pending_messages("sock", "worker")] == ["other-server"]
    assert store.pending_messages("default", "nobody") == []


def test_claim_pending_and_release(store: Store) -> None:
    for message_id in ["p1", "p2"]:
        add(store, message_id)
    first = store.claim_pending("default", "worker")
    assert first is not None
    assert first.id == "p1"
    assert first.state == MessageState.DELIVERING
    assert first.claimed_at is not None
    assert [m.id for m in store.pending_messages("default", "worker")] == ["p2"]

    released = store.release_claim("p1")
    assert released.state == MessageState.PENDING
    assert released.claimed_at is None
    with pytest.raises(StoreError, match="not being delivered"):
        store.release_claim("p1")

    claimed = [store.claim_pending("default", "worker") for _ in range(3)]
    assert [m.id if m else None for m in claimed] == ["p1", "p2", None]
    assert store.claim_pending("default", "nobody") is None


def test_list_messages(store: Store) -> None:
    store.add_message("a", "default", "user", "w1", "x")
    store.add_message("b", "default", "w1", "w2", "x")
    store.add_message("c", "default", "w2", "w3", "x")
    store.add_message("d", "sock", "user", "w1", "x")
    assert [m.id for m in store.list_messages()] == ["d", "c", "b", "a"]
    assert [m.id for m in store.list_messages(limit=2)] == ["d", "c"]
    assert [m.id for m in store.list_messages(limit=None)] == ["d", "c", "b", "a"]
    assert [m.id for m in store.list_messages(server="default")] == ["c", "b", "a"]
    assert [m.id for m in store.list_messages(session="w1")] == ["d", "b", "a"]
    assert [m.id for m in store.list_messages(server="default", session="w1")] == ["b", "a"]


# --- inbox ----------------------------------------------------------------------------------


def test_inbox_read_marks_entries_read(store: Store) -> None:
    first = store.add_inbox("w1", "reply", "Reply from w2", "done", message_id="m1")
    second = store.add_inbox("w1", InboxKind.NOTICE, "w2 exited", "")
    store.add_inbox("user", "prompt", "w3 asks", "Do you want to proceed?")
    assert first.kind == InboxKind.REPLY
    assert first.message_id == "m1"
    assert first.read_at is None
    assert store.unread_counts() == {"user": 1, "w1": 2}

    assert store.read_inbox("w1", peek=True) == [first, second]
    assert store.unread_counts() == {"user": 1, "w1": 2}

    assert store.read_inbox("w1") == [first, second]  # read_at as before this call
    assert store.read_inbox("w1") == []
    assert store.unread_counts() == {"user": 1}

    third = store.add_inbox("w1", "pending", "queued for w2", "m9 waits")
    everything = store.read_inbox("w1", include_read=True)
    assert [e.id for e in everything] == [first.id, second.id, third.id]
    assert everything[0].read_at is not None
    assert everything[2].read_at is None  # first read by this call
    assert all(e.read_at is not None for e in store.read_inbox("w1", peek=True, include_read=True))
    assert store.unread_counts() == {"user": 1}


def test_inbox_refuses_unknown_kind(store: Store) -> None:
    with pytest.raises(StoreError, match='unknown inbox entry kind "spam"'):
        store.add_inbox("w1", "spam", "t", "b")


# --- approvals ------------------------------------------------------------------------------


def test_approvals(store: Store) -> None:
    def approve(session: str, choice: str, at: float) -> ApprovalRecord:
        return store.add_approval(
            actor="user",
            server="default",
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
    assert [a.at for a in store.list_approvals()] == [300.0, 200.0, 100.0]
    assert store.list_approvals(session="w1") == [third, first]
    assert store.list_approvals(limit=1) == [third]
    assert store.list_approvals(server="other") == []
    now = store.add_approval(
        actor="w9",
        server="sock",
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
    with pytest.raises(StoreError, match='unknown approval choice "maybe"'):
        approve("w1", "maybe", 1.0)


# --- prompt occurrences ---------------------------------------------------------------------


def test_a_prompt_is_one_occurrence_while_it_stays_open(store: Store) -> None:
    first = store.observe_prompt("sock", "w1", "%1@100", "fp-a", "touch a.txt", at=1000.0)
    assert (first.session, first.about, first.first_seen) == ("w1", "touch a.txt", 1000.0)
    assert len(first.id) == 10
    assert int(first.id, 16) >= 0
    assert (first.closed_at, first.answered, first.answered_by, first.choice) == (
        None,
        False,
        None,
        None,
    )
    assert store.observe_prompt("sock", "w1", "%1@100", "fp-a", "touch a.txt") == first
    assert store.get_prompt(first.id) == first
    assert store.open_prompts("sock") == {"w1": first}
    # another prompt in the session closes the first
    other = store.observe_prompt("sock", "w1", "%1@100", "fp-b", "touch b.txt", at=1001.0)
    assert other.id != first.id
    closed = store.get_prompt(first.id)
    assert closed is not None
    assert closed.closed_at == 1001.0
    assert store.open_prompts("sock") == {"w1": other}
    # the first prompt again, once closed, is a new occurrence
    again = store.observe_prompt("sock", "w1", "%1@100", "fp-a", "touch a.txt", at=1002.0)
    assert again.id not in (first.id, other.id)
    store.close_prompt(again.id, at=1003.0)
    store.close_prompt(again.id, at=1004.0)  # the first time it was seen gone counts
    assert store.open_prompts("sock") == {}
    reread = store.get_prompt(again.id)
    assert reread is not None
    assert reread.closed_at == 1003.0
    # a new run of the session, another session, another server: each its own
    assert store.observe_prompt("sock", "w1", "%4@200", "fp-a", "a").id != again.id
    assert store.observe_prompt("sock", "w2", "%1@100", "fp-a", "a").session == "w2"
    assert store.observe_prompt("other", "w1", "%1@100", "fp-a", "a").server == "other"
    assert set(store.open_prompts("sock")) == {"w1", "w2"}
    assert store.get_prompt("0000000000") is None


def test_a_prompt_is_claimed_once(store: Store) -> None:
    seen = store.observe_prompt("sock", "w1", "%1@100", "fp", "touch x.txt")
    claimed = store.claim_prompt(seen.id, "coord", Choice.YES_ALWAYS)
    assert claimed is not None
    assert (claimed.answered, claimed.answered_by, claimed.choice) == (
        True,
        "coord",
        Choice.YES_ALWAYS,
    )
    assert store.claim_prompt(seen.id, "user", Choice.NO) is None
    assert store.get_prompt(seen.id) == claimed
    # answered and still on screen: every reader still finds that (answered) occurrence
    assert store.observe_prompt("sock", "w1", "%1@100", "fp", "touch x.txt") == claimed
    store.release_prompt(seen.id)  # no key could be pressed after all
    assert store.claim_prompt(seen.id, "user", "no") is not None
    with pytest.raises(StoreError, match='unknown approval choice "maybe"'):
        store.claim_prompt(seen.id, "user", "maybe")


def test_closed_prompts_are_kept_up_to_a_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PROMPTS_KEPT", 3)
    made = [
        store.observe_prompt("sock", "w1", "%1@100", f"fp-{i}", f"p{i}", at=float(i)).id
        for i in range(6)
    ]
    other = store.observe_prompt("sock", "w2", "%2@100", "fp", "p", at=0.5).id
    kept = [identity for identity in made if store.get_prompt(identity) is not None]
    assert kept == made[-3:]
    assert store.get_prompt(other) is not None


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
    with Store.open() as store:
        add(store, "m1")
    with make_read_only(path):
        with Store.open() as store:
            assert store.get_message("m1") is not None  # reading still works
            with pytest.raises(StoreError) as info:
                add(store, "m2")
            with pytest.raises(StoreError):
                store.add_inbox("user", "notice", "t", "b")
        message = str(info.value)
        assert str(path) in message
        assert 'could not add message "m2"' in message
        assert "read-only" in message
    with Store.open() as store:
        assert store.get_message("m2") is None


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
        Store.open()
    message = str(info.value)
    assert str(path) in message
    assert "could not open the database" in message
    assert "damaged or is not an imessenger database; move it away" in message
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_unwritable_directory_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="could not create or set the permissions"):
        Store.open(blocker / "store.db")


# --- several processes at once --------------------------------------------------------------

CHILD = r"""
import json, sys, time
from pathlib import Path
from imessenger.adapters.store import AlreadyReplied, Store

path, job, tag, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
open_late = sys.argv[5] == "late"  # open the store after the start signal, not before
store = None if open_late else Store.open(path)
print("ready", flush=True)
sys.stdin.readline()
result = []
with store or Store.open(path) as store:
    if job == "write":
        for i in range(count):
            store.add_message(f"{tag}-{i}", "default", tag, "target", f"message {i} from {tag}")
            result.append(f"{tag}-{i}")
    elif job == "fill-inbox":
        for i in range(count):
            result.append(store.add_inbox("shared", "notice", f"entry {i}", "").id)
        store.add_inbox("control", "notice", "all written", "")
    elif job == "read-inbox":
        deadline = time.monotonic() + 60
        while True:
            finished = bool(store.read_inbox("control", peek=True))
            result.extend(entry.id for entry in store.read_inbox("shared"))
            if finished:
                break
            if time.monotonic() > deadline:
                sys.exit("the writer did not finish within 60 s")
    elif job == "claim":
        while (message := store.claim_pending("default", "target")) is not None:
            store.mark_delivered(message.id)
            result.append(message.id)
    elif job == "prompts":
        for i in range(count):
            seen = store.observe_prompt("default", f"s{i}", "%1@1", "fp", f"touch {i}")
            claimed = store.claim_prompt(seen.id, tag, "yes-once") is not None
            result.append([seen.id, claimed])
    elif job == "reply":
        for i in range(count):
            try:
                store.record_reply(f"m-{i}", f"reply from {tag}", "command")
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
    with Store.open(path) as store:
        stored = store.list_messages(limit=None)
        assert len(stored) == 400
        assert {m.id for m in stored} == {*first, *second}
        assert len(store.applied_migrations()) == len(MIGRATIONS)


def test_two_processes_read_one_inbox_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    written, read_a, read_b = run_together(
        path, [("fill-inbox", "w", 300), ("read-inbox", "a", 0), ("read-inbox", "b", 0)]
    )
    assert len(written) == 300
    seen = Counter([*read_a, *read_b])
    assert set(seen) == set(written)
    assert max(seen.values()) == 1
    with Store.open(path) as store:
        assert store.unread_counts() == {"control": 1}


def test_two_processes_claim_pending_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path) as store:
        for i in range(200):
            store.add_message(f"p-{i}", "default", "user", "target", f"message {i}")
    first, second = run_together(path, [("claim", "a", 0), ("claim", "b", 0)])
    assert not set(first) & set(second)
    assert len(first) + len(second) == 200
    with Store.open(path) as store:
        assert store.pending_messages("default", "target") == []
        states = {m.state for m in store.list_messages(limit=None)}
        assert states == {MessageState.DELIVERED}


def test_two_processes_see_and_claim_the_same_prompts_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(path).close()
    first, second = run_together(path, [("prompts", "a", 150), ("prompts", "b", 150)])
    assert [entry[0] for entry in first] == [entry[0] for entry in second]  # one id each
    assert all(a[1] != b[1] for a, b in zip(first, second, strict=True))  # one claim each
    with Store.open(path) as store:
        opened = store.open_prompts("default")
        assert len(opened) == 150
        assert {p.answered_by for p in opened.values()} <= {"a", "b"}
        assert all(p.answered for p in opened.values())


def test_two_processes_reply_to_the_same_messages(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path) as store:
        for i in range(100):
            store.add_message(f"m-{i}", "default", "user", "target", f"message {i}")
    first, second = run_together(path, [("reply", "a", 100), ("reply", "b", 100)])
    assert not set(first) & set(second)
    assert len(first) + len(second) == 100
    with Store.open(path) as store:
        for message in store.list_messages(limit=None):
            winner = "a" if message.id in first else "b"
            assert message.reply == f"reply from {winner}"


def test_a_claim_left_by_an_earlier_version_counts_as_pasted_and_submitted(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before paste_marks, the paste and the key went in one tmux call: a claim left then
    # may have been both, and must never be taken for one that was not (pasted again).
    before = MIGRATIONS.index(store_module._paste_marks)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:before])
    with Store.open() as old:
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
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store.open() as new:
        claimed = new.get_message("0ld0c1a1")
        pending = new.get_message("0ld0f1e1")
    assert claimed is not None
    assert claimed.pasted_at == claimed.submitted_at == claimed.claimed_at
    assert pending is not None
    assert pending.pasted_at is None
    assert pending.submitted_at is None
