"""``isesh restore``, ``isesh forget`` and ``isesh list --all``: sessions isesh remembers,
brought back each in its own conversation (the demo agent's ``--resume`` and ``RECALL``),
after a killed tmux server, killed agents, a stop; and the faults: a folder gone, a
conversation gone, two restores at once (a read-only store: tests/faults/test_storage.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from support import (
    open_store,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    state_of,
    wait_for,
)

from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.errors import NoTmuxServer
from imessenger.core.screen import State


def restore(*args: str) -> dict[str, tuple[str, str]]:
    """``isesh restore --json ARGS``: each session's outcome and detail, by name."""
    result = run_isesh("restore", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return {r["name"]: (r["outcome"], r["detail"]) for r in json.loads(result.stdout)}


def listed(*args: str) -> dict[str, dict[str, object]]:
    result = run_isesh("list", "--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def reply(name: str, text: str) -> str:
    sent = run_imessenger("send", name, text)
    assert sent.exit_code == 0, sent.output
    return sent.stdout.strip()


def kill_server(tmux: Tmux) -> None:
    tmux.run("kill-server")
    wait_for(lambda: not tmux.is_running(), what="the tmux server gone")


def agent_pid(tmux: Tmux, name: str) -> int:
    pid = AgentPane.of(tmux, name).info.pid
    assert pid is not None
    return pid


def idle(tmux: Tmux, name: str) -> None:
    wait_for(lambda: state_of(tmux, name) is State.IDLE, what=f"{name} idle")


def test_restore_after_a_killed_server_resumes_each_conversation(
    tmux: Tmux, tmp_path: Path
) -> None:
    folders = {}
    for name in ("w1", "w2"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        start_demo(name, folder=folders[name])
        assert reply(name, f"the note of {name}") == f"the note of {name}"
    kill_server(tmux)

    rows = listed("--all")
    assert {n: r["state"] for n, r in rows.items()} == {"w1": "restorable", "w2": "restorable"}
    assert rows["w1"]["restorable"] is True
    assert listed() == {}  # without --all: only what runs

    assert restore() == {"w1": ("resumed", ""), "w2": ("resumed", "")}
    for name in ("w1", "w2"):
        idle(tmux, name)
        # its own conversation, not the other's, not a fresh one
        assert reply(name, "RECALL") == f"recall: the note of {name}"
        [path] = tmux.run("display-message", "-p", "-t", f"={name}:", "#{pane_current_path}")
        assert path == str(folders[name])
    rows = listed("--all")
    assert {n: r["state"] for n, r in rows.items()} == {"w1": "idle", "w2": "idle"}


def test_restore_twice_starts_nothing_twice(tmux: Tmux) -> None:
    start_demo("w1")
    assert reply("w1", "first") == "first"
    kill_server(tmux)
    assert restore() == {"w1": ("resumed", "")}
    pid = agent_pid(tmux, "w1")
    assert restore() == {"w1": ("running", "")}
    assert restore("w1") == {"w1": ("running", "")}
    assert agent_pid(tmux, "w1") == pid
    assert tmux.run("list-sessions", "-F", "#{session_name}") == ["w1"]


def test_two_restores_at_once_start_each_session_once(tmux: Tmux) -> None:
    names = [f"w{n}" for n in range(1, 5)]
    for name in names:
        start_demo(name, idle=False)
    for name in names:
        idle(tmux, name)
        assert reply(name, f"note {name}") == f"note {name}"
    kill_server(tmux)
    argv = [*python_cli("imessenger.interfaces.cli.isesh"), "restore", "--json"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    for name in names:
        seen = sorted(o["outcome"] for out in outcomes for o in out if o["name"] == name)
        assert seen == ["resumed", "running"], (name, outcomes)
    assert sorted(tmux.run("list-sessions", "-F", "#{session_name}")) == names
    for name in names:
        idle(tmux, name)
        assert reply(name, "RECALL") == f"recall: note {name}"


def test_restore_after_the_agents_were_killed(tmux: Tmux) -> None:
    start_demo("w1")
    assert reply("w1", "kept across a crash") == "kept across a crash"
    os.kill(agent_pid(tmux, "w1"), signal.SIGKILL)
    wait_for(lambda: AgentPane.of(tmux, "w1").dead, what="the agent dead")
    assert listed()["w1"]["state"] == "exited"

    assert restore() == {"w1": ("resumed", "")}
    idle(tmux, "w1")
    assert reply("w1", "RECALL") == "recall: kept across a crash"


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (an ended one that no one reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_what_outlived_a_killed_server_is_ended_before_the_restore(
    tmux: Tmux, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    # a program that ignores its pane's hang-up and so outlives its server, as Gemini
    # CLI 0.61 does (it would go on writing the conversation beside the restored one)
    script = f"trap '' HUP; echo $$ >> {pids}; exec sleep 120"
    assert run_isesh("start", "w1", "--agent", "shell", "--", "sh", "-c", script).exit_code == 0
    [old] = wait_for(lambda: pids.exists() and pids.read_text().split(), what="its pid")
    kill_server(tmux)
    try:
        assert running(int(old))
        assert restore()["w1"][0] == "restarted"
        assert not running(int(old))
        [_, new] = wait_for(lambda: pids.read_text().split()[1:] and pids.read_text().split())
        assert running(int(new))
    finally:  # they outlive the test's tmux server
        for pid in pids.read_text().split():
            if running(int(pid)):
                os.kill(int(pid), signal.SIGKILL)


def test_a_stopped_session_stays_restorable_until_it_is_forgotten(tmux: Tmux) -> None:
    start_demo("w1")
    assert reply("w1", "before the stop") == "before the stop"
    stopped = run_isesh("stop", "w1")
    assert stopped.exit_code == 0
    assert "isesh restore w1" in stopped.output
    row = listed("--all")["w1"]
    assert row["state"] == "restorable"
    assert isinstance(row["stopped_at"], float)

    assert restore("w1") == {"w1": ("resumed", "")}
    idle(tmux, "w1")
    assert reply("w1", "RECALL") == "recall: before the stop"
    assert listed("--all")["w1"]["state"] == "idle"

    refused = run_isesh("forget", "w1")
    assert refused.exit_code == 1
    assert "is running: stop it first" in refused.output
    assert run_isesh("stop", "w1").exit_code == 0
    assert run_isesh("forget", "w1").exit_code == 0
    assert listed("--all") == {}
    assert restore() == {}
    unknown = run_isesh("forget", "w1")
    assert unknown.exit_code == 1
    assert 'isesh remembers no session "w1"' in unknown.output


def test_a_folder_gone_is_reported_and_the_others_are_restored(tmux: Tmux, tmp_path: Path) -> None:
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    gone.mkdir()
    kept.mkdir()
    start_demo("w1", folder=gone)
    start_demo("w2", folder=kept)
    kill_server(tmux)
    gone.rmdir()

    result = run_isesh("restore")
    assert result.exit_code == 1
    assert f"w1: failed (its folder {gone} is gone" in result.output
    assert "w2: resumed" in result.output
    assert tmux.run("list-sessions", "-F", "#{session_name}") == ["w2"]
    assert listed("--all")["w1"]["state"] == "restorable"  # still remembered


def test_a_conversation_gone_is_started_anew_only_when_asked(tmux: Tmux) -> None:
    start_demo("w1")
    assert reply("w1", "lost") == "lost"
    with open_store() as store:
        remembered = store.remembered.get("w1")
    assert remembered is not None
    record = Path(json.loads(remembered.record_ref)["path"])
    kill_server(tmux)
    record.unlink()

    outcome, detail = restore()["w1"]
    assert outcome == "failed"
    assert "cannot be resumed" in detail
    assert "--fresh" in detail
    with pytest.raises(NoTmuxServer):
        tmux.run("list-sessions")  # nothing was started

    outcome, detail = restore("--fresh", "w1")["w1"]
    assert (outcome, detail.startswith("started anew")) == ("fresh", True)
    idle(tmux, "w1")
    assert reply("w1", "RECALL") == "recall: nothing"


def test_a_program_with_no_conversation_is_started_again_as_it_was(tmux: Tmux) -> None:
    assert run_isesh("start", "s1", "--agent", "shell", "--", "cat").exit_code == 0
    kill_server(tmux)
    outcome, detail = restore()["s1"]
    assert outcome == "restarted"
    assert "no conversation" in detail
    assert AgentPane.of(tmux, "s1").info.current_command == "cat"


def test_restore_refuses_a_name_it_does_not_remember(tmux: Tmux) -> None:
    result = run_isesh("restore", "nobody")
    assert result.exit_code == 1
    assert 'nobody: failed (isesh remembers no session "nobody"' in result.output
    bad = run_isesh("restore", "$(touch x)")
    assert bad.exit_code == 2
    assert not Path("x").exists()


def test_a_new_session_under_a_remembered_name_replaces_it(tmux: Tmux) -> None:
    start_demo("w1")
    assert reply("w1", "the old conversation") == "the old conversation"
    assert run_isesh("stop", "w1").exit_code == 0
    with open_store() as store:
        old = store.remembered.get("w1")
    assert old is not None
    old_record = Path(json.loads(old.record_ref)["path"])
    assert old_record.is_file()

    start_demo("w1")  # not restored: another session, with a conversation of its own
    assert reply("w1", "RECALL") == "recall: nothing"
    assert not old_record.exists()  # the old one's file went with it
    with open_store() as store:
        new = store.remembered.get("w1")
    assert new is not None
    assert new.record_ref != old.record_ref
