"""``imessenger inbox`` and ``log``: auto-clear, --peek, --all, --json, live prompts, history."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from support import ask, inbox_json, python_cli, run_imessenger, start_demo, state_of, wait_for

from imessenger.actions.sessions import Sessions
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.screen import State
from imessenger.core.values import InboxKind


def titles(data: Any) -> list[str]:
    return [entry["title"] for entry in data["entries"]]


# --- the store's inbox through the command line -----------------------------------------


def test_reading_clears_peek_keeps_all_shows_read(store: Store) -> None:
    store.inbox.add("user", InboxKind.NOTICE, '"w1" is asking for permission', "touch x.txt")
    store.inbox.add("user", InboxKind.REPLY, 'reply from "w2" to message abcd1234', "done\nok")
    store.inbox.add("w9", InboxKind.NOTICE, "for someone else", "")

    peeked = run_imessenger("inbox", "--peek")
    assert peeked.exit_code == 0, peeked.output
    assert '"w1" is asking for permission' in peeked.stdout
    assert store.inbox.unread_counts() == {"user": 2, "w9": 1}

    first = run_imessenger("inbox")
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert "notice" in lines[0]
    assert '"w1" is asking for permission' in lines[0]
    assert "reply" in lines[2]
    assert "abcd1234" in lines[2]
    assert lines[3:5] == ["    done", "    ok"]
    assert "for someone else" not in first.stdout
    assert store.inbox.unread_counts() == {"w9": 1}

    second = run_imessenger("inbox")
    assert second.exit_code == 0
    assert second.stdout == ""
    assert 'no unread entries in the inbox of "user"' in second.stderr

    shown = run_imessenger("inbox", "--all")
    assert [line.split()[0] for line in shown.stdout.splitlines() if not line.startswith(" ")] == [
        "read",
        "read",
    ]


def test_json_lists_entries_and_marks_them_read(store: Store) -> None:
    entry = store.inbox.add("user", InboxKind.PENDING, "message m1 is pending", "why", "m1")
    data = inbox_json("--peek")
    assert data["owner"] == "user"
    assert data["entries"] == [
        {
            "host": None,  # this host's; another's is named
            "id": entry.id,
            "owner": "user",
            "kind": "pending",
            "message_id": "m1",
            "title": "message m1 is pending",
            "body": "why",
            "created_at": entry.created_at,
            "read_at": None,
            "unread": True,
        }
    ]
    assert titles(inbox_json()) == ["message m1 is pending"]
    assert titles(inbox_json()) == []
    [again] = inbox_json("--all")["entries"]
    assert again["unread"] is False
    assert again["read_at"] is not None


def test_inside_a_session_the_inbox_is_that_sessions(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.inbox.add("w1", InboxKind.REPLY, "for w1", "")
    store.inbox.add("user", InboxKind.REPLY, "for the user", "")
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")
    assert titles(inbox_json()) == ["for w1"]
    assert store.inbox.unread_counts() == {"user": 1}


def test_two_readers_of_one_inbox_get_each_entry_once(store: Store) -> None:
    expected = {store.inbox.add("user", InboxKind.NOTICE, f"n{i}", "").id for i in range(300)}
    argv = [*python_cli(), "inbox", "--json"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    seen: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        seen += [entry["id"] for entry in json.loads(out)["entries"]]
    assert sorted(seen) == sorted(expected)  # every entry once, none twice
    assert store.inbox.unread_counts() == {}


# --- with live sessions --------------------------------------------------------------------


def test_inbox_of_a_session_shows_its_prompt_and_leaves_entries_unread(
    tmux: Tmux, sessions: Sessions, store: Store
) -> None:
    start_demo("w1")
    store.inbox.add("w1", InboxKind.REPLY, "a reply for w1", "text")
    ask(sessions, "w1", "ASK[touch x.txt]")
    result = run_imessenger("inbox", "w1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "a reply for w1" in out
    assert '"w1" (demo) asks: Do you want to proceed?' in out
    assert "    touch x.txt" in out
    assert "key 1" in out
    assert "imessenger approve w1 1" in out
    assert "imessenger approve w1 2" in out
    assert "imessenger deny w1" in out
    assert store.inbox.unread_counts() == {"w1": 1}  # w1's entries are for w1 to read

    data = inbox_json("w1")
    session = data["session"]
    assert session["state"] == "asking"
    prompt = session["prompt"]
    assert prompt["subject"] == "touch x.txt"
    assert f"  prompt {prompt['id']}\n" in out  # the same prompt: the same id
    assert f"imessenger approve w1 1 --prompt {prompt['id']}" in out
    assert inbox_json("--waiting")["asking"][0]["prompt"]["id"] == prompt["id"]
    assert [(o["key"], o["keys"], o["answer"]) for o in prompt["options"]] == [
        ("1", ["1"], "yes-once"),
        ("2", ["2"], "yes-always"),
        ("3", ["3"], "no"),
    ]
    assert sessions.view("w1").state is State.ASKING  # looking pressed nothing


def test_inbox_of_a_two_option_prompt_offers_no_yes_always(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK2[rm y.txt]")
    prompt = inbox_json("w1")["session"]["prompt"]
    shown = prompt["id"]  # each command answers this prompt, and no later one
    assert [(o["label"], o["command"]) for o in prompt["options"]] == [
        ("Yes", f"imessenger approve w1 1 --prompt {shown}"),
        ("No", f"imessenger deny w1 --prompt {shown}"),
    ]


def test_inbox_of_an_idle_or_missing_session(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    idle = run_imessenger("inbox", "w1")
    assert idle.exit_code == 0
    assert '"w1" is not asking for permission (it is idle)' in idle.stderr
    missing = run_imessenger("inbox", "nosuch")
    assert missing.exit_code == 1
    assert 'no session named "nosuch"' in missing.stderr


def test_waiting_lists_every_asking_session(tmux: Tmux, sessions: Sessions) -> None:
    for name in ("a1", "a2", "idle1"):
        start_demo(name)
    ask(sessions, "a1", "ASK[touch one.txt]")
    ask(sessions, "a2", "ASK2[touch two.txt]")
    result = run_imessenger("inbox", "--waiting")
    assert result.exit_code == 0, result.output
    assert '"a1" (demo) asks' in result.stdout
    assert '"a2" (demo) asks' in result.stdout
    assert "touch one.txt" in result.stdout
    assert "touch two.txt" in result.stdout
    assert "idle1" not in result.stdout
    data = inbox_json("--waiting")
    assert [row["name"] for row in data["asking"]] == ["a1", "a2"]
    for name in ("a1", "a2"):
        assert run_imessenger("approve", name).exit_code == 0
    assert inbox_json("--waiting") == {"asking": []}
    none = run_imessenger("inbox", "--waiting")
    assert none.exit_code == 0
    assert "no session is asking" in none.stderr


def test_waiting_takes_no_session(tmux: Tmux) -> None:
    result = run_imessenger("inbox", "--waiting", "w1")
    assert result.exit_code == 2


def test_pending_message_and_late_reply_reach_the_inbox(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch x.txt]")
    pending = run_imessenger("send", "w1", "wait for me", "--no-reply")
    assert pending.exit_code == 3, pending.output
    assert run_imessenger("deny", "w1").exit_code == 0
    # the watcher (off in the tests) would deliver "wait for me" once the turn ends
    assert run_imessenger("deliver", "w1").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="its turn over")
    late = run_imessenger("send", "w1", "slow one BUSY[1500]", "--timeout", "200")
    assert late.exit_code == 124, late.output
    message_id = late.stderr.split("message ")[1].split()[0]
    wait_for(
        lambda: f"<<IMSG-END {message_id}>>" in AgentPane.of(tmux, "w1").look(history=200),
        what="the late reply on screen",
    )
    entries = inbox_json()["entries"]
    kinds = {(e["kind"], e["message_id"]) for e in entries}
    assert ("reply", message_id) in kinds
    assert "pending" in {e["kind"] for e in entries}
    [reply] = [e for e in entries if e["message_id"] == message_id]
    assert reply["body"] == "slow one BUSY[1500]"


def test_log_shows_messages_replies_and_approvals(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    start_demo("w2")
    ask(sessions, "w1", "ASK[touch x.txt]")
    assert run_imessenger("approve", "w1", "2").exit_code == 0
    assert run_imessenger("send", "w2", "hello w2").exit_code == 0
    events = json.loads(run_imessenger("log", "--json").stdout)
    kinds = [(e["kind"], e.get("to") or e.get("session")) for e in events]
    assert kinds == [
        ("message", "w1"),
        ("approval", "w1"),
        ("message", "w2"),
        ("reply", "user"),
    ]
    [approval] = [e for e in events if e["kind"] == "approval"]
    assert approval["choice"] == "yes-always"
    assert approval["key"] == "2"
    assert approval["closed"]
    assert approval["actor"] == "user"
    assert approval["subject"] == "touch x.txt"
    only_w1 = run_imessenger("log", "w1")
    assert only_w1.exit_code == 0, only_w1.output
    lines = only_w1.stdout.splitlines()
    assert len(lines) == 2
    assert "message   user -> w1" in lines[0]
    option = '"Yes, and don\'t ask again for: touch"'
    assert f"approval  user -> w1  yes-always {option} key 2" in lines[1]
    assert "(closed)" in lines[1]
    last = json.loads(run_imessenger("log", "-n", "1", "--json").stdout)
    assert [e["kind"] for e in last] == ["reply"]


def test_log_is_empty_at_first(tmux: Tmux) -> None:
    result = run_imessenger("log")
    assert result.exit_code == 0
    assert "nothing in the log yet" in result.stderr


def test_commands_have_help_with_an_example() -> None:
    for command in ("inbox", "log"):
        result = run_imessenger(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout
