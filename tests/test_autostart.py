"""The watcher starts itself, as tmux's server does ([watch] autostart).

`isesh start`, `isesh restore`, a `send` that leaves a message pending and `imessenger
mcp` start the watcher of their tmux server when none runs; it ends by itself once that
server is gone, and `watch --stop` stops it. After a restore, what waited for the
sessions is delivered by it, once, and their replies go where they would have. These
tests run with the shipped defaults (``default_config``: the other tests turn autostart
off); each stops, by its pid, every watcher its commands started.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    delivered,
    echoes,
    inbox_json,
    message_state,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    stays,
    the_pending,
    wait_for,
    watched_state,
    write_config,
)

from imessenger.adapters.status_cache import log_path, running_pid
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.api import Api
from imessenger.core.values import InboxKind, MessageState

pytestmark = pytest.mark.default_config


def autostarted(server: str) -> list[int]:
    """The pids of the watchers a command started for tmux server ``server`` of this test
    (``watch -L SERVER --autostarted``: the test's server has a name of its own), found in
    /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            parent = parent_of(int(entry))
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        # the watcher itself, not its first parent (python -c ..., gone in milliseconds)
        ours = argv[3:5] == [b"-L", server.encode()] and b"--autostarted" in argv
        if argv[1:3] == [b"-m", b"imessenger"] and ours:
            found[int(entry)] = parent
    # nor a child it is starting (a tmux client, forked and not run yet: the same argv)
    return sorted(pid for pid, parent in found.items() if parent not in found)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def watchers(tmux: Tmux) -> Iterator[Tmux]:
    """The test's tmux server; afterwards every watcher its commands started for it is
    ended, by its pid (SIGTERM, then SIGKILL), and its log printed."""
    yield tmux
    for pid in autostarted(tmux.label):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    log = log_path(tmux.label)
    if log.is_file():
        print(f"--- {log.name}\n{log.read_text(errors='replace')}")


def the_watcher(server: str) -> int:
    """Wait for the one watcher a command started for ``server`` to hold the pid file."""
    return wait_for(
        lambda: (pid := running_pid(server)) is not None and autostarted(server) == [pid] and pid,
        what="the watcher started by the command, holding the pid file",
    )


def test_isesh_start_starts_the_watcher_once_and_watch_stop_stops_it(watchers: Tmux) -> None:
    label = watchers.label
    assert running_pid(label) is None
    start_demo("w1", idle=False)
    pid = the_watcher(label)
    assert alive(pid)
    assert parent_of(pid) != os.getpid()  # out of the command's tree: the user's, not its
    wait_for(lambda: watched_state(label, "w1") == "idle", what="w1 followed by it")

    start_demo("w2", idle=False)  # one runs: no second one
    stays(lambda: autostarted(label) == [pid], 1.0, "one watcher")
    assert running_pid(label) == pid
    wait_for(lambda: watched_state(label, "w2") == "idle", what="w2 followed by the same one")
    assert log_path(label).read_text().count("INFO watching tmux server") == 1

    stopped = run_imessenger("watch", "--stop")
    assert stopped.exit_code == 0, stopped.output
    assert f"(pid {pid})" in stopped.stdout
    assert running_pid(label) is None
    wait_for(lambda: not alive(pid), what="the watcher gone")


def test_two_commands_at_once_leave_one_watcher_and_the_other_exits_quietly(
    watchers: Tmux,
) -> None:
    label = watchers.label
    watchers.run("new-session", "-d", "-s", "plain")  # a server for it (isesh started none)
    api = Api(watchers.socket_name)
    # each finds none running and starts one: the second finds the pid file held
    assert api.autostart_watcher() is True
    assert api.autostart_watcher() is True
    pid = wait_for(lambda: running_pid(label), what="one watcher holding the pid file")
    wait_for(lambda: autostarted(label) == [pid], seconds=5, what="the other one gone")
    stays(lambda: autostarted(label) == [pid] and running_pid(label) == pid, 1.0, "one watcher")
    log = log_path(label).read_text()
    assert log.count("INFO watching tmux server") == 1, log
    assert "already running" not in log  # the second one said nothing
    assert api.autostart_watcher() is False  # one runs


def test_autostart_off_starts_none(watchers: Tmux) -> None:
    write_config("[watch]\nautostart = false\n")
    start_demo("w1")
    sent = run_imessenger("send", "w1", "--no-reply", "ASK[touch x.txt] BUSY[50]")
    assert sent.exit_code == 0, sent.output
    wait_for(lambda: AgentPane.of(watchers, "w1").look().count("wants to run"), what="asking")
    pending = run_imessenger("send", "w1", "--no-reply", "left pending")
    assert pending.exit_code == 3, pending.output
    assert "imessenger deliver w1" in pending.stderr  # reported as ever: deliver it
    stays(lambda: running_pid(watchers.label) is None and not autostarted(watchers.label), 1.5,
          "no watcher")  # fmt: skip


def asking_with_no_watcher(tmux: Tmux, message: str) -> int:
    """Start demo agent w1 (which starts the watcher), stop that watcher, and have w1 ask
    with ``message``; return the pid the stopped watcher had."""
    start_demo("w1")
    first = the_watcher(tmux.label)
    assert run_imessenger("watch", "--stop").exit_code == 0  # from here on, none runs
    wait_for(lambda: not alive(first), what="the watcher gone")
    asked = run_imessenger("send", "w1", "--no-reply", message)
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: AgentPane.of(tmux, "w1").look().count("wants to run"), what="asking")
    return first


def test_a_message_left_pending_is_delivered_with_nobody_running_deliver(
    watchers: Tmux, store: Store
) -> None:
    label = watchers.label
    first = asking_with_no_watcher(watchers, "ASK[touch x.txt] BUSY[50]")
    # a send that is delivered needs no watcher: none was started
    stays(lambda: running_pid(label) is None, 1.0, "no watcher after a delivered message")

    # one left pending (never pasted into a prompt) starts it
    waiting = run_imessenger("send", "w1", "--no-reply", "after the prompt LINES[2]")
    assert waiting.exit_code == 3, waiting.output
    assert "is pending" in waiting.stderr  # reported as ever
    pending = the_pending(store, "w1")
    pid = the_watcher(label)
    assert pid != first
    AgentPane.of(watchers, "w1").press(["1"])  # answered in the pane, not by imessenger
    wait_for(lambda: delivered(store, pending.id), seconds=15, what="delivered by the watcher")
    assert log_path(label).read_text().count(f"message {pending.id}") >= 1


def test_approve_that_lets_a_turn_go_on_leaves_its_waiting_message_to_the_watcher(
    watchers: Tmux, store: Store
) -> None:
    label = watchers.label
    asking_with_no_watcher(watchers, "ASK[touch x.txt] AFTER[1500]")
    waiting = run_imessenger("send", "w1", "--no-reply", "after the turn")
    assert waiting.exit_code == 3, waiting.output
    pending = the_pending(store, "w1")
    assert run_imessenger("watch", "--stop").exit_code == 0  # the one that send started
    wait_for(lambda: running_pid(label) is None, what="no watcher")

    approved = run_imessenger("approve", "w1")
    assert approved.exit_code == 0, approved.output
    # the turn goes on for 1.5 s: approve does not wait for it, the watcher it starts does
    assert f"waiting message {pending.id}" in approved.stderr, approved.output
    assert "is busy" in approved.stderr, approved.output
    assert store.messages.get(pending.id).state is MessageState.PENDING
    the_watcher(label)
    wait_for(lambda: delivered(store, pending.id), seconds=15, what="delivered by the watcher")


def kill_the_server(tmux: Tmux, watcher: int) -> None:
    """Kill the tmux server; the watcher a command started for it ends by itself."""
    tmux.run("kill-server")
    wait_for(lambda: not alive(watcher), seconds=15, what="the watcher to end by itself")
    assert running_pid(tmux.label) is None


def restored(*names: str) -> dict[str, str]:
    """``isesh restore --json NAMES``, which must succeed: each session's outcome."""
    done = run_isesh("restore", "--json", *names)
    assert done.exit_code == 0, done.output
    return {r["name"]: r["outcome"] for r in json.loads(done.stdout)}


def test_a_message_pending_when_the_server_died_is_delivered_once_after_a_restore(
    watchers: Tmux, store: Store
) -> None:
    label = watchers.label
    start_demo("w1")
    first = the_watcher(label)
    asked = run_imessenger("send", "w1", "--no-reply", "the note before ASK[touch x.txt] BUSY[50]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: AgentPane.of(watchers, "w1").look().count("wants to run"), what="asking")
    waiting = run_imessenger("send", "w1", "--no-reply", "after the restore")
    assert waiting.exit_code == 3, waiting.output
    # the watcher may be trying it at this moment (claimed, then put back: w1 is asking)
    pending = the_pending(store, "w1")
    assert pending.body == "after the restore"
    kill_the_server(watchers, first)
    assert message_state(pending.id) is MessageState.PENDING

    # the restore starts a watcher for the new server, which delivers it: nobody runs deliver
    assert restored() == {"w1": "resumed"}
    second = the_watcher(label)
    assert second != first
    wait_for(lambda: message_state(pending.id) is MessageState.REPLIED, seconds=20,
             what="the pending message delivered and answered")  # fmt: skip
    about = [e for e in inbox_json("--peek")["entries"] if e["message_id"] == pending.id]
    assert [(e["kind"], e["body"]) for e in about if e["kind"] == "reply"] == [
        ("reply", "after the restore")
    ]  # the late reply, as it would have come had the server lived
    # once, in the conversation it was sent into (the resumed agent recalls the first one)
    stays(lambda: echoes(watchers, "w1", pending.id) == 1, 1.0, "delivered once")
    recall = run_imessenger("send", "w1", "RECALL")
    assert recall.exit_code == 0, recall.output
    assert recall.stdout.strip().splitlines() == [  # its record holds each message once
        "recall: the note before ASK[touch x.txt] BUSY[50]",
        "recall: after the restore",
    ]


def test_a_reply_to_a_session_restored_goes_to_that_sessions_inbox(
    watchers: Tmux, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    label = watchers.label
    start_demo("a")
    start_demo("b")
    first = the_watcher(label)
    asked = run_imessenger("send", "b", "--no-reply", "ASK[touch x.txt] BUSY[50]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: AgentPane.of(watchers, "b").look().count("wants to run"), what="b asking")
    with monkeypatch.context() as acting:
        acting.setenv("IMESSENGER_SESSION", "a")  # a test acting for session "a"
        waiting = run_imessenger("send", "b", "--no-reply", "from a, for a")
    assert waiting.exit_code == 3, waiting.output
    pending = the_pending(store, "b")
    assert pending.sender == "a"
    kill_the_server(watchers, first)

    assert restored() == {"a": "resumed", "b": "resumed"}
    the_watcher(label)
    wait_for(lambda: message_state(pending.id) is MessageState.REPLIED, seconds=20,
             what="the pending message delivered and answered")  # fmt: skip

    def replies() -> list[str]:
        for_a = store.inbox.read("a", peek=True)
        return [e.body for e in for_a if e.message_id == pending.id and e.kind is InboxKind.REPLY]

    # the late reply reaches the inbox a moment after the reply is recorded
    wait_for(replies, what="the reply in a's inbox")
    assert replies() == ["from a, for a"]
    for_the_person = store.inbox.read("user", peek=True, include_read=True)
    assert [e for e in for_the_person if e.message_id == pending.id] == []
    stays(lambda: echoes(watchers, "b", pending.id) == 1, 1.0, "delivered once")


def test_an_agents_send_starts_the_watcher_of_the_whole_server(
    watchers: Tmux, store: Store, tmp_path: Path
) -> None:
    label = watchers.label
    folder = tmp_path / "coord"
    folder.mkdir()
    started = run_isesh("start", "coord", "-d", str(folder), "--agent", "shell", "--", "sh")
    assert started.exit_code == 0, started.output
    start_demo("victim")
    the_watcher(label)
    assert run_imessenger("watch", "--stop").exit_code == 0
    asked = run_imessenger("send", "victim", "--no-reply", "ASK[touch x.txt] BUSY[50]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: AgentPane.of(watchers, "victim").look().count("wants to run"), what="asking")

    # the agent session's own `imessenger send` leaves its message pending: the watcher it
    # starts is the user's (an agent may not run one: [policy] managers), on the data folder
    # and config isesh started the agent with, whatever its environment says; it delivers it
    elsewhere = tmp_path / "elsewhere"
    send = shlex.join([
        "env", f"IMESSENGER_HOME={elsewhere}", f"IMESSENGER_CONFIG={elsewhere / 'config.toml'}",
        *python_cli(), "send", "victim", "--no-reply", "from coord",
    ])  # fmt: skip
    pane = AgentPane.of(watchers, "coord")
    pane.type(f"{send}; echo sent-$?")
    pane.press(["Enter"])
    wait_for(lambda: "sent-3" in pane.look(), what="the agent's send left pending (exit 3)")
    pending = the_pending(store, "victim")
    assert pending.sender == "coord"
    the_watcher(label)
    AgentPane.of(watchers, "victim").press(["1"])
    wait_for(lambda: delivered(store, pending.id), seconds=15, what="delivered by the watcher")
    assert "refused" not in log_path(label).read_text()
    assert not list(elsewhere.glob("watch-*"))  # its pid file and log are not there
    # nor its lock: every sender to "victim" meets the one beside the store
    assert not (elsewhere / "locks").exists()


def test_the_watcher_ends_when_its_tmux_server_is_gone(watchers: Tmux) -> None:
    label = watchers.label
    start_demo("w1", idle=False)
    pid = the_watcher(label)
    watchers.run("kill-server")
    wait_for(lambda: not alive(pid), seconds=15, what="the watcher to end by itself")
    assert running_pid(label) is None
    assert "is gone: the watcher started for it ends" in log_path(label).read_text()


def test_the_watcher_follows_a_server_killed_and_started_again_at_once(watchers: Tmux) -> None:
    label = watchers.label
    start_demo("w1", idle=False)
    pid = the_watcher(label)
    wait_for(lambda: watched_state(label, "w1") == "idle", what="w1 followed")
    watchers.run("kill-server")
    start_demo("w2", idle=False)  # a new server at once: the watcher goes on with it
    wait_for(lambda: watched_state(label, "w2") == "idle", seconds=15, what="w2 followed")
    stays(lambda: alive(pid) and running_pid(label) == pid, 3.0, "the same watcher")


def test_imessenger_mcp_starts_the_watcher(watchers: Tmux) -> None:
    watchers.run("new-session", "-d", "-s", "plain")  # a server for it
    mcp = subprocess.Popen([*python_cli(), "mcp"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        pid = the_watcher(watchers.label)
    finally:
        assert mcp.stdin is not None
        mcp.stdin.close()  # the client leaves: it ends
        mcp.wait(30)
    assert mcp.returncode == 0
    assert alive(pid)  # the server's watcher, not the MCP server's: it stays


def test_a_watcher_that_cannot_start_fails_no_command(watchers: Tmux) -> None:
    log_path(watchers.label).mkdir(parents=True)  # its log cannot be opened
    isesh = python_cli("imessenger.interfaces.cli.isesh")
    started = subprocess.run(
        [*isesh, "start", "w1", "--agent", "demo"], capture_output=True, text=True, check=False
    )
    assert started.returncode == 0, started.stderr
    assert 'started "w1"' in started.stdout
    assert "could not start the watcher" in started.stderr  # said, on stderr
    assert "imessenger watch --daemon" in started.stderr
    assert running_pid(watchers.label) is None


def test_the_tour_starts_no_watcher(watchers: Tmux) -> None:
    # it shows each step as its own call did it, in order, on a server it ends
    kept = run_imessenger("-L", watchers.label, "demo", "--keep")
    assert kept.exit_code == 0, kept.output
    assert "7. The demo keeps running" in kept.stdout
    assert watchers.session_names()  # its sessions run on: no watcher follows them
    stays(lambda: running_pid(watchers.label) is None, 1.0, "no watcher")
