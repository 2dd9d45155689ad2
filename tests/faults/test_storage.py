"""A data folder that fills up or is read-only, on a real tmpfs, real SQLite and real tmux.

A running watcher outlives a full disk: it logs each kind of failure once, tries again,
and once there is room it catches up, losing nothing and repeating nothing. A command
that meets such a folder exits 1 with a message naming the cause and what to do, and
changes nothing (no session started, nothing pasted); ``imessenger watch`` does the same
when it cannot even start (see the docstring of imessenger.watcher).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Disk
from support import (
    Watching,
    delivered,
    demo_profile,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    the_pending,
    wait_for,
)

from imessenger.adapters.status_cache import running_pid
from imessenger.adapters.store import DB_FILENAME, Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.values import InboxEntry, InboxKind, MessageState

StartWatcher = Callable[[], Watching]


def prompts(store: Store, owner: str, subject: str) -> list[InboxEntry]:
    """The prompt notices of ``owner`` about ``subject``."""
    found = store.inbox.read(owner, peek=True, include_read=True)
    return [e for e in found if e.kind is InboxKind.PROMPT and e.title.endswith(subject)]


def test_a_full_disk_is_outlived_and_nothing_is_lost_or_repeated(
    tmux: Tmux, disk: Disk, watcher: StartWatcher, tmp_path: Path
) -> None:
    start_demo("w1", folder=tmp_path, idle=False)
    start_demo("w2", folder=tmp_path, idle=False)
    with Store.open(server=tmux.label) as store:
        watching = watcher()
        wait_for(lambda: watching.state("w1") == watching.state("w2") == "idle", what="both idle")
        assert run_imessenger("send", "w1", "--no-reply", "ASK[touch a.txt]").exit_code == 0
        wait_for(lambda: prompts(store, "user", "touch a.txt"), what="w1's prompt noticed")
        held = run_imessenger("send", "w1", "--no-reply", "held back")
        assert held.exit_code == 3, held.output  # w1 asks: the message waits
        pending = the_pending(store, "w1")

        disk.empty_journal(store.path)  # so that the store too needs room for any write
        filler = disk.fill()
        # While nothing can be written: a prompt appears in w2 (typed there, as a person
        # would), and w1's prompt is answered, so that w1 is ready for its pending message.
        AgentPane.of(tmux, "w2").type("ASK[touch b.txt]")
        AgentPane.of(tmux, "w2").press(["Enter"])
        AgentPane.of(tmux, "w1").press(["1"])
        for what in ("write the status file", "write inbox notices", 'deliver to "w1"'):
            wait_for(
                lambda what=what: watching.said("DEBUG", f"still cannot {what}") >= 3,
                what=f"the watcher trying again to {what}",
            )
            assert watching.said("WARNING", f"cannot {what}:") == 1  # logged once, not per try
        assert "is full: free some space" in watching.text()
        assert watching.proc.poll() is None
        assert not prompts(store, "user", "touch b.txt")
        message = store.messages.get(pending.id)
        assert message is not None
        assert message.state is MessageState.PENDING
        assert f"message {pending.id} from" not in scrollback(tmux, "w1")  # nothing pasted

        filler.unlink()
        wait_for(lambda: delivered(store, pending.id), what="the pending message delivered")
        wait_for(lambda: prompts(store, "w2", "touch b.txt"), what="w2's prompt noticed")
        wait_for(
            lambda: (e := watching.entry("w1")) and e["state"] == "idle" and not e["pending"],
            what="the status file written again",
        )
        assert watching.state("w2") == "asking"
        assert scrollback(tmux, "w1").count(f"message {pending.id} from") == 1
        assert len(prompts(store, "user", "touch a.txt")) == 1
        assert len(prompts(store, "user", "touch b.txt")) == 1
        assert len(prompts(store, "w2", "touch b.txt")) == 1
    for what in ("write the status file", "write inbox notices", 'deliver to "w1"'):
        assert watching.said("INFO", f"could {what} again") == 1
    assert "Traceback" not in watching.text()
    assert watching.proc.poll() is None


#: What the message says for each fault.
FAULTS = {
    "read-only": "is on a read-only file system: remount it read-write",
    "full": "is full: free some space on it",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_command_says_why_and_changes_nothing(
    tmux: Tmux, disk: Disk, tmp_path: Path, fault: str
) -> None:
    start_demo("w1", folder=tmp_path, idle=False)
    wait_for(lambda: "? for help" in AgentPane.of(tmux, "w1").look(), what="w1 idle")
    screen = scrollback(tmux, "w1")
    if fault == "read-only":
        disk.remount("ro")
    else:
        disk.empty_journal(disk.data / DB_FILENAME)
        disk.fill()
    says = FAULTS[fault]

    started = run_isesh("start", "w2", "-d", str(tmp_path), "--agent", "demo")
    assert started.exit_code == 1, started.output
    assert says in started.stderr
    assert str(disk.data) in started.stderr
    assert "could not create the imessenger data directory" not in started.stderr
    assert tmux.session_names() == ["w1"]  # w2 was not left running

    sent = run_imessenger("send", "w1", "hello while the disk is out")
    assert sent.exit_code == 1, sent.output
    assert says in sent.stderr
    assert scrollback(tmux, "w1") == screen  # nothing pasted

    watch = subprocess.run(
        [*python_cli(), "watch"], capture_output=True, text=True, timeout=60, check=False
    )
    assert watch.returncode == 1, watch.stderr
    assert watch.stderr.startswith("Error: ")
    assert says in watch.stderr
    assert "Traceback" not in watch.stderr
    assert running_pid(tmux.label) is None


def test_restore_on_a_read_only_disk_starts_nothing_and_says_why(
    tmux: Tmux, disk: Disk, tmp_path: Path
) -> None:
    start_demo("w1", folder=tmp_path)
    # (a click result keeps its command's store open: none is kept)
    assert run_imessenger("send", "w1", "said before the crash").exit_code == 0
    agent = AgentPane.of(tmux, "w1").info.pid
    assert agent is not None
    tmux.run("kill-server")
    wait_for(lambda: not tmux.is_running(), what="the tmux server gone")
    wait_for(lambda: not Path(f"/proc/{agent}").exists(), what="the agent gone")
    disk.remount("ro")
    try:
        restored = run_isesh("restore")
        assert restored.exit_code == 1, restored.output
        assert FAULTS["read-only"] in restored.stderr
        assert not tmux.is_running()  # nothing started that could not be recorded
    finally:
        disk.remount("rw")
    assert run_isesh("restore").output.strip() == "w1: resumed"
    wait_for(lambda: "? for help" in AgentPane.of(tmux, "w1").look(), what="w1 idle")
    recalled = run_imessenger("send", "w1", "RECALL")
    assert recalled.stdout.strip() == "recall: said before the crash"


@pytest.mark.parametrize(("agent", "what"), [("qwen", "Qwen Code settings")])
def test_a_session_whose_own_settings_cannot_be_written_is_not_started(
    tmux: Tmux, disk: Disk, tmp_path: Path, agent: str, what: str
) -> None:
    # the demo agent, given the settings files isesh writes for this agent
    demo_profile("fake", hooks=agent, mcp=agent, allow_reply=agent)
    start_demo("w1", folder=tmp_path, idle=False)  # the store is made on the disk
    disk.fill()
    started = run_isesh("start", "w2", "-d", str(tmp_path), "--agent", "fake")
    assert started.exit_code == 1, started.output
    assert f"could not write the session's {what} in {disk.data}" in started.stderr
    assert tmux.session_names() == ["w1"]
    made = disk.data / "sessions"
    assert not any(folder.name.startswith("w2-") for folder in made.glob("*"))  # removed
