"""Faults around one delivery, on real tmux with the demo agent: every message arrives at
most once and whole, none is reported delivered that was not, none is lost without a word.

Processes are killed for real (SIGKILL, SIGTERM, SIGHUP), the tmux server is killed,
a person's copy mode is entered with tmux's own command, and the store fails the way
SQLite fails on a full disk.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    demo_profile,
    echoes,
    inbox_json,
    message_with,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    state_of,
    stays,
    wait_for,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.screen import State
from imessenger.core.values import MessageRecord, MessageState

#: States in which a message was pasted and taken (or may still answer).
TAKEN = {MessageState.DELIVERED, MessageState.QUEUED, MessageState.REPLIED, MessageState.TIMED_OUT}


def spawn_send(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*python_cli(), "send", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# --- a killed sender ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signum",
    [
        pytest.param(signal.SIGKILL, id="kill"),
        pytest.param(signal.SIGTERM, id="term"),
        pytest.param(signal.SIGHUP, id="hup"),
    ],
)
def test_the_reply_of_a_killed_sender_reaches_its_inbox(tmux: Tmux, signum: int) -> None:
    start_demo()
    sender = spawn_send("w1", "BUSY[1200] answer me later")

    def waiting_for_the_reply() -> MessageRecord | None:
        found = message_with("answer me later")
        return found if found and found.waiting and found.state in TAKEN else None

    record = wait_for(waiting_for_the_reply, what="the sender waiting for the reply")
    sender.send_signal(signum)
    sender.wait(10)
    assert sender.returncode != 0
    wait_for(lambda: f"<<IMSG-END {record.id}>>" in AgentPane.of(tmux, "w1").look(history=200))
    entries = inbox_json()["entries"]
    assert [(e["kind"], e["message_id"]) for e in entries] == [("reply", record.id)]
    assert "answer me later" in entries[0]["body"]


def test_a_reply_given_with_the_command_after_the_sender_was_killed_reaches_its_inbox(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_demo()
    sender = spawn_send("w1", "NOREPLY tell me later")
    record = wait_for(lambda: (m := message_with("tell me later")) and m.waiting and m)
    sender.kill()
    sender.wait(10)
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")  # as the agent would, from its pane
    assert run_imessenger("reply", record.id, "here it is").exit_code == 0
    monkeypatch.delenv("IMESSENGER_SESSION")
    entries = inbox_json()["entries"]
    assert [(e["kind"], e["body"]) for e in entries] == [("reply", "here it is")]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delay_ms=st.integers(min_value=0, max_value=700))
def test_send_killed_at_any_point_delivers_at_most_once_and_says_so(
    tmux: Tmux, delay_ms: int
) -> None:
    if not tmux.has_session("w1"):
        start_demo()
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle")
    body = f"NOREPLY killed after {delay_ms} ms {time.monotonic_ns()}"
    sender = spawn_send("--no-reply", "w1", body)
    time.sleep(delay_ms / 1000)  # the drawn delay: where the kill lands is what is tested
    sender.kill()
    sender.wait(10)
    record = message_with(body)
    if record is None:
        return  # killed before it recorded anything: nothing pasted, nothing to settle
    settled = run_imessenger("deliver", "w1")  # settles a claim the sender left behind
    assert settled.exit_code in (0, 3), settled.output
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle again")
    final = message_with(body)
    assert final is not None
    shown = echoes(tmux, "w1", final.id)
    assert shown <= 1, f"pasted {shown} times"
    assert final.state is not MessageState.DELIVERING
    if final.state in TAKEN:
        assert shown == 1, f"recorded {final.state} but never shown as submitted"
    if shown == 0:
        # never pasted (pending), or killed between saying it pastes and pasting: then
        # nothing shows whether it arrived, and it is unconfirmed, not pasted on a guess
        assert final.state in (MessageState.PENDING, MessageState.UNCONFIRMED), final
    if final.state in (MessageState.FAILED, MessageState.UNCONFIRMED):
        assert final.error  # a word on what happened and what to do


# --- tmux dies, sessions end and come back -----------------------------------------------------


def test_the_tmux_server_killed_while_send_waits_is_not_reported_as_not_sent(
    tmux: Tmux,
) -> None:
    start_demo()
    sender = spawn_send("--json", "w1", "BUSY[5000] last words")
    wait_for(
        lambda: (m := message_with("last words")) and m.state is MessageState.DELIVERED,
        what="delivered, the sender waiting for the reply",
    )
    tmux.run("kill-server")
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 5, err  # delivered, then the session ended: not "1, not sent"
    assert json.loads(out)["state"] == "ended"


def test_a_pending_message_never_reaches_a_new_session_of_the_same_name(tmux: Tmux) -> None:
    start_demo()
    assert run_imessenger("send", "--no-reply", "w1", "ASK[touch x] first").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.ASKING, what="asking")
    pending = run_imessenger("send", "--json", "--no-reply", "w1", "for the old w1 only")
    assert pending.exit_code == 3
    message_id = json.loads(pending.stdout)["id"]
    tmux.run("kill-server")  # no `isesh stop`: the session just ends
    start_demo()  # another w1, on a new server
    assert run_imessenger("deliver", "w1").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="the new w1 idle")
    assert echoes(tmux, "w1", message_id) == 0
    record = message_with("for the old w1 only")
    assert record is not None
    assert record.state is MessageState.CANCELLED
    entries = inbox_json()["entries"]
    assert any(e["message_id"] == message_id and e["kind"] == "notice" for e in entries)


def test_a_stopped_sessions_pending_messages_are_cancelled_with_a_notice(tmux: Tmux) -> None:
    start_demo()
    asked = run_imessenger("send", "--no-reply", "w1", "ASK[touch x] first")
    assert asked.exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.ASKING, what="asking")
    pending = run_imessenger("send", "--json", "--no-reply", "w1", "waits behind the prompt")
    assert pending.exit_code == 3
    message_id = json.loads(pending.stdout)["id"]
    assert run_isesh("stop", "--force", "w1").exit_code == 0
    start_demo()  # another w1
    assert run_imessenger("deliver", "w1").exit_code == 0
    assert echoes(tmux, "w1", message_id) == 0
    record = message_with("waits behind the prompt")
    assert record is not None
    assert record.state is MessageState.CANCELLED
    entries = inbox_json()["entries"]
    notices = [e for e in entries if e["message_id"] == message_id and e["kind"] == "notice"]
    assert len(notices) == 1
    assert "cancelled" in notices[0]["title"]


# --- a person in copy mode ---------------------------------------------------------------------


def test_a_pane_in_copy_mode_gets_the_message_whole_once_the_mode_ends(tmux: Tmux) -> None:
    start_demo()
    pane = tmux.pane("w1")
    tmux.run("copy-mode", "-t", pane.pane_id)
    body = "NOREPLY first line\nsecond line\nthird line"
    sent = run_imessenger("send", "--json", "--no-reply", "w1", body)
    assert sent.exit_code == 3, sent.output
    message_id = json.loads(sent.stdout)["id"]
    assert "copy mode" in json.loads(sent.stdout)["why"]
    assert tmux.pane("w1").in_mode  # the person's scroll position is left alone
    AgentPane(tmux, pane).press(["q"])
    wait_for(lambda: not tmux.pane("w1").in_mode, what="copy mode ended")
    assert run_imessenger("deliver", "w1").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="answered")
    assert echoes(tmux, "w1", message_id) == 1
    screen = AgentPane.of(tmux, "w1").look(history=200)
    assert "demo got 3 line" not in screen  # never split into several messages


# --- long replies -----------------------------------------------------------------------------


def test_a_reply_of_ten_thousand_lines_comes_back_whole(tmux: Tmux) -> None:
    start_demo()
    result = run_imessenger("send", "--timeout", "60000", "w1", "LINES[10000]")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "line 1"
    assert lines[-1] == "line 10000"
    assert len(lines) == 10000


# --- the store fails after the paste ----------------------------------------------------------


def test_a_store_that_fails_after_the_paste_is_reported_and_never_pasted_again(
    tmux: Tmux,
) -> None:
    start_demo()
    with Store.open() as store:
        path = store.path
    with sqlite3.connect(path) as conn:  # what SQLite says when the disk is full
        conn.execute(
            "CREATE TRIGGER full BEFORE UPDATE OF delivered_at ON messages "
            "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
        )
    sent = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY written on a full disk")
    assert sent.exit_code == 4, sent.output
    data = json.loads(sent.stdout)
    assert data["state"] == "not_recorded"
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER full")
    assert run_imessenger("deliver", "w1").exit_code == 0  # settles it from the screen
    record = message_with("written on a full disk")
    assert record is not None
    assert record.state is MessageState.DELIVERED
    assert echoes(tmux, "w1", record.id) == 1


# --- bytes that are not UTF-8 -----------------------------------------------------------------


def test_a_message_that_is_not_utf8_is_refused_clearly(tmux: Tmux, tmp_path: Path) -> None:
    start_demo()
    bad = b"caf\xe9 au lait"
    as_argument = subprocess.run(
        [os.fsencode(part) for part in python_cli()] + [b"send", b"w1", bad],
        capture_output=True,
        check=False,
    )
    from_stdin = subprocess.run(
        [*python_cli(), "send", "w1", "-"], input=bad, capture_output=True, check=False
    )
    file = tmp_path / "message.txt"
    file.write_bytes(bad)
    from_file = subprocess.run(
        [*python_cli(), "send", "w1", "--file", str(file)], capture_output=True, check=False
    )
    for done in (as_argument, from_stdin, from_file):
        assert done.returncode == 1
        assert b"not valid UTF-8" in done.stderr
        assert b"Traceback" not in done.stderr
    with Store.open() as store:
        assert store.list_messages(limit=None) == []  # nothing recorded, nothing pasted


# --- the tmux server and the watcher killed at any point --------------------------------------

RECORDER = Path(__file__).resolve().parent.parent / "programs" / "raw_recorder.py"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delay_ms=st.integers(min_value=0, max_value=250))
def test_the_tmux_server_killed_at_any_point_of_a_send_leaves_the_truth(
    tmux: Tmux, tmp_path: Path, delay_ms: int
) -> None:
    # The target records every byte it reads, in a file that outlives the server.
    received = tmp_path / f"received-{delay_ms}-{time.monotonic_ns()}"
    started = run_isesh(
        "start", "rec", "--agent", "shell", "--", "python3", str(RECORDER), str(received)
    )
    assert started.exit_code == 0, started.output
    wait_for(received.exists, what="the recorder listening")
    body = f"marker-{time.monotonic_ns()}"
    sender = spawn_send("--no-reply", "--json", "rec", body)
    time.sleep(delay_ms / 1000)  # the drawn delay: where the kill lands is what is tested
    tmux.run("kill-server")
    _, err = sender.communicate(timeout=30)
    arrived = body.encode() in received.read_bytes()
    if sender.returncode == 0:  # reported delivered: it was
        assert arrived, err
    elif sender.returncode == 1:  # reported nothing pasted: nothing arrived
        assert not arrived, err
    else:
        assert sender.returncode in (3, 4), err  # pending, or pasted and not confirmed
    record = message_with(body)
    if record is not None:
        assert record.state is not MessageState.DELIVERING or sender.returncode not in (0, 1)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delay_ms=st.integers(min_value=0, max_value=400))
def test_a_watcher_killed_while_it_delivers_leaves_each_message_delivered_once(
    tmux: Tmux, tmp_path: Path, delay_ms: int
) -> None:
    if not tmux.has_session("w1"):
        start_demo()
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle")
    assert run_imessenger("send", "--no-reply", "w1", "ASK[touch k] hold").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.ASKING, what="asking")
    body = f"NOREPLY behind the prompt {time.monotonic_ns()}"
    assert run_imessenger("send", "--no-reply", "w1", body).exit_code == 3
    log = tmp_path / f"watch-{time.monotonic_ns()}.log"
    with open(log, "wb") as output:
        watcher = subprocess.Popen([*python_cli(), "watch"], stdout=output, stderr=output)
    try:
        AgentPane.of(tmux, "w1").press(["1"])  # the person answers: the watcher delivers
        time.sleep(delay_ms / 1000)  # the drawn delay: where the kill lands is what is tested
    finally:
        watcher.kill()
        watcher.wait()
    wait_for(lambda: state_of(tmux, "w1") is not State.ASKING, what="the prompt closed")
    assert run_imessenger("deliver", "w1").exit_code == 0  # settles what the watcher left
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, seconds=20, what="w1 idle")
    record = message_with(body)
    assert record is not None
    assert echoes(tmux, "w1", record.id) == 1, record
    assert record.state in TAKEN


def test_a_paste_the_agent_took_but_has_not_drawn_yet_is_not_pasted_again(tmux: Tmux) -> None:
    # The agent runs a slow hook of its own when it takes a message (as Claude Code runs
    # its UserPromptSubmit hooks), drawing nothing meanwhile. A sender killed right
    # after its paste leaves a claim; the screen shows nothing of the message yet.
    from imessenger.actions.delivery import Courier

    command = load_config().values["agents"]["demo"]["command"]
    slow = [*command, "--hook-command", "sleep 1.5", "--hook-sync"]
    demo_profile("slow", command=slow, hooks="")  # the slow hook above is the only one
    assert run_isesh("start", "w1", "--agent", "slow").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle", seconds=20)
    with Store.open() as store:
        courier = Courier(Sessions(tmux, store, load_config()))
        store.add_message("5ca1ab1e", tmux.label, "user", "w1", "NOREPLY taken late")
        claimed = store.claim_pending(tmux.label, "w1")
        assert claimed is not None
        # what the killed sender did before it died: the paste and the submit key
        store.mark_pasting(claimed.id)
        store.mark_submitting(claimed.id)
        AgentPane.of(tmux, "w1").paste(courier._envelope(claimed), ["Enter"])
    settled = run_imessenger("deliver", "w1")
    assert settled.exit_code == 0, settled.output
    wait_for(lambda: echoes(tmux, "w1", "5ca1ab1e") >= 1, what="the message shown")
    # a second paste would show within 2 s
    stays(lambda: echoes(tmux, "w1", "5ca1ab1e") == 1, 2, what="the message shown once")
    final = message_with("NOREPLY taken late")
    assert final is not None
    assert final.state is MessageState.DELIVERED


# --- a killed sender, settled from what lasts ----------------------------------------------


def left_by_a_killed_sender(tmux: Tmux, body: str, *, submitted: bool) -> str:
    """Record, claim and paste a message as a sender does, then stop as a killed one.

    The store was told that the paste began, as a real sender tells it first.
    """
    from imessenger.actions.delivery import Courier

    with Store.open() as store:
        courier = Courier(Sessions(tmux, store, load_config()))
        store.add_message("5ca1ab1e", tmux.label, "user", "w1", body)
        claimed = store.claim_pending(tmux.label, "w1")
        assert claimed is not None
        store.mark_pasting(claimed.id)
        if submitted:
            store.mark_submitting(claimed.id)
        AgentPane.of(tmux, "w1").paste(courier._envelope(claimed), ["Enter"] if submitted else [])
    return "5ca1ab1e"


def scrolled_off(tmux: Tmux, message_id: str) -> None:
    """Push the message out of the pane: a person's long request, then history cleared."""
    pane = AgentPane.of(tmux, "w1")
    wait_for(lambda: echoes(tmux, "w1", message_id) == 1, what="the message taken")
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle")
    pane.type("LINES[80]")
    pane.press(["Enter"])
    wait_for(lambda: "line 80" in pane.look(), what="the long answer")
    tmux.run("clear-history", "-t", pane.info.pane_id)
    assert message_id not in pane.look(history=5000)


def taken_in_record(tmux: Tmux, message_id: str) -> int:
    """How many times the demo agent's own record says it took message ``message_id``."""
    with Store.open() as store:
        session = store.get_session(tmux.label, "w1")
    assert session is not None
    assert session.record_ref
    path = Path(json.loads(session.record_ref)["path"])
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(1 for e in entries if e["type"] == "message" and message_id in e["text"])


def test_a_killed_senders_message_gone_from_the_screen_is_settled_from_the_agents_record(
    tmux: Tmux,
) -> None:
    start_demo()
    message_id = left_by_a_killed_sender(tmux, "NOREPLY taken, then scrolled off", submitted=True)
    scrolled_off(tmux, message_id)
    settled = run_imessenger("deliver", "w1")
    assert settled.exit_code == 0, settled.output
    final = message_with("taken, then scrolled off")
    assert final is not None
    assert final.state is MessageState.DELIVERED  # the record says so
    stays(  # a second paste would show within 1 s
        lambda: (
            taken_in_record(tmux, message_id) == 1
            and message_id not in scrollback(tmux, "w1", 5000)
        ),
        1,
        what="taken once, and not pasted again",
    )


def test_a_killed_senders_message_nothing_accounts_for_is_unconfirmed_not_pasted_again(
    tmux: Tmux,
) -> None:
    demo_profile("plain", record="", hooks="")  # no record, no hook to ask
    assert run_isesh("start", "w1", "--agent", "plain").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle", seconds=20)
    message_id = left_by_a_killed_sender(tmux, "NOREPLY taken, nothing says so", submitted=True)
    scrolled_off(tmux, message_id)
    settled = run_imessenger("deliver", "w1")
    assert settled.exit_code == 0, settled.output
    final = message_with("taken, nothing says so")
    assert final is not None
    assert final.state is MessageState.UNCONFIRMED
    assert final.error is not None
    assert "not pasted again" in final.error
    # a second paste would show within 1 s
    stays(lambda: message_id not in scrollback(tmux, "w1", 5000), 1, what="not pasted again")
    assert run_imessenger("deliver", "w1").exit_code == 0  # and not later either
    stays(lambda: message_id not in scrollback(tmux, "w1", 5000), 0.5, what="not pasted later")


def test_a_killed_senders_paste_the_agent_has_not_read_yet_is_submitted_once_it_shows(
    tmux: Tmux,
) -> None:
    from support import start_demo_in_shell

    agent = start_demo_in_shell(tmux, "w1")
    os.kill(agent, signal.SIGSTOP)  # starved of CPU: it reads nothing
    try:
        message_id = left_by_a_killed_sender(tmux, "NOREPLY read late", submitted=False)
        wait_for(lambda: AgentPane.of(tmux, "w1").unread_input(), what="the paste unread")
        early = run_imessenger("deliver", "w1")
        assert early.exit_code == 0, early.output
        record = message_with("read late")
        assert record is not None
        assert record.state is MessageState.DELIVERING  # left for later: nothing pasted
    finally:
        os.kill(agent, signal.SIGCONT)
    wait_for(lambda: message_id in AgentPane.of(tmux, "w1").look(), what="the paste shown")
    settled = run_imessenger("deliver", "w1")
    assert settled.exit_code == 0, settled.output
    wait_for(lambda: echoes(tmux, "w1", message_id) == 1, what="submitted from the box")
    final = message_with("read late")
    assert final is not None
    assert final.state is MessageState.DELIVERED
    stays(lambda: echoes(tmux, "w1", message_id) == 1, 1, what="submitted once, not twice")


# --- the store fails while the reply is awaited --------------------------------------------


def test_a_store_that_fails_while_the_reply_is_awaited_is_no_exit_1(tmux: Tmux) -> None:
    start_demo()
    with Store.open() as store:
        path = store.path
    with sqlite3.connect(path) as conn:  # what SQLite says when the disk is full
        conn.execute(
            "CREATE TRIGGER full BEFORE UPDATE OF reply ON messages "
            "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
        )
    sent = run_imessenger("send", "--json", "w1", "the reply meets a full disk")
    assert sent.exit_code == 4, sent.output  # pasted: never 1, "nothing was sent"
    data = json.loads(sent.stdout)
    assert data["state"] == "not_recorded"
    assert data["reply"] == "the reply meets a full disk"  # found, so given
    assert "delivered" in data["why"]
    plain = run_imessenger("send", "w1", "again, printed")
    assert plain.exit_code == 4, plain.output
    assert plain.stdout == "again, printed\n"
    assert "store" in plain.stderr


# --- a hung agent and --timeout ----------------------------------------------------------------


def test_timeout_bounds_a_send_to_a_hung_agent(tmux: Tmux) -> None:
    from support import start_demo_in_shell

    agent = start_demo_in_shell(tmux, "w1")
    os.kill(agent, signal.SIGSTOP)
    try:
        began = time.monotonic()
        sent = run_imessenger("send", "--json", "--timeout", "3000", "w1", "are you there")
        took = time.monotonic() - began
        assert sent.exit_code == 3, sent.output  # pending: pasted, not read, not submitted
        assert took < 6, took  # near 3 s, not the 20 s an unread paste is otherwise given
        data = json.loads(sent.stdout)
        assert "not read" in data["why"]
    finally:
        os.kill(agent, signal.SIGCONT)
    message_id = str(data["id"])
    wait_for(lambda: message_id in AgentPane.of(tmux, "w1").look(), what="the paste shown")
    assert run_imessenger("deliver", "w1").exit_code == 0
    wait_for(lambda: echoes(tmux, "w1", message_id) == 1, what="submitted once")
    stays(lambda: echoes(tmux, "w1", message_id) == 1, 0.5, what="submitted once, not twice")


def test_timeout_bounds_a_send_to_an_agent_that_never_becomes_ready(tmux: Tmux) -> None:
    start_demo("w1", "--startup-ms", "60000", idle=False)
    began = time.monotonic()
    sent = run_imessenger("send", "--json", "--timeout", "1500", "w1", "hello")
    took = time.monotonic() - began
    assert sent.exit_code == 3, sent.output
    assert took < 4, took
    assert "not ready" in json.loads(sent.stdout)["why"]
