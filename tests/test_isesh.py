"""``isesh`` on real tmux: start, list, attach, stop, logs, and every refusal."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import run_imessenger, run_isesh, start_demo, wait_for, write_config

from imessenger.actions.sessions import end_process_group
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux


def states(*args: str) -> dict[str, str]:
    result = run_isesh("list", "--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row["state"] for row in json.loads(result.stdout)}


def test_start_shell_and_demo_then_list_and_stop(tmux: Tmux, tmp_path: Path) -> None:
    w1 = tmp_path / "w1"
    w1.mkdir()
    started = run_isesh("start", "w1", "-d", str(w1), "--agent", "shell", "--", "cat")
    assert started.exit_code == 0, started.output
    assert "attach with: isesh" in started.stdout
    start_demo("w2", idle=False)

    wait_for(lambda: states() == {"w1": "idle", "w2": "idle"}, what="both idle")
    table = run_isesh("list").stdout
    assert table.splitlines()[0].split() == ["NAME", "AGENT", "DIRECTORY", "STATE", "AGE"]
    assert str(w1) in table
    assert tmux.environment("w1", "IMESSENGER_SESSION") == "w1"
    assert tmux.pane("w1").current_command == "cat"

    stopped = run_isesh("stop", "w1")
    assert stopped.exit_code == 0, stopped.output
    assert not tmux.has_session("w1")
    assert states() == {"w2": "idle"}
    assert "exited" in run_isesh("stop", "w2").stdout  # the demo agent leaves on /exit
    assert tmux.session_names() == []


def test_start_without_dir_uses_the_current_folder(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_isesh("start", "coordinator", "--agent", "shell", "--", "cat").exit_code == 0
    rows = json.loads(run_isesh("list", "--json").stdout)
    assert rows[0]["directory"] == str(tmp_path.resolve())


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # a name outside the alphabet is a usage error (2)
        pytest.param(["", "--agent", "shell"], "must not be empty", 2, id="empty-name"),
        pytest.param(["a:b", "--agent", "shell"], 'no host "a"', 1, id="colon"),
        pytest.param(["a.b", "--agent", "shell"], "'.'", 2, id="dot"),
        pytest.param(["a b", "--agent", "shell"], "' '", 2, id="space"),
        pytest.param(["a\tb", "--agent", "shell"], "'\\t'", 2, id="tab"),
        pytest.param(["a\x1bb", "--agent", "shell"], "'\\x1b'", 2, id="escape"),
        pytest.param(["-x", "--agent", "shell"], 'start with "-"', 2, id="dash"),
        # what cannot be started: an error (1)
        pytest.param(
            ["w", "-d", "/nonexistent/x", "--agent", "shell"], "does not exist", 1, id="missing-dir"
        ),
        pytest.param(["w", "--agent", "nosuch"], "known profiles", 1, id="unknown-profile"),
        pytest.param(
            ["w", "--agent", "shell", "--", "no-such-program-x"], "not found", 1, id="no-command"
        ),
        pytest.param(["w", "--agent", "claude"], None, 1, id="profile-command-missing"),
    ],
)
def test_start_refusals(
    tmux: Tmux, args: list[str], message: str | None, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if message is None:
        monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `claude` there
        message = 'command "claude" was not found'
    result = run_isesh("start", *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert tmux.session_names() == []


def test_name_in_use_is_refused(tmux: Tmux) -> None:
    assert run_isesh("start", "w1", "--agent", "shell", "--", "cat").exit_code == 0
    again = run_isesh("start", "w1", "--agent", "shell", "--", "cat")
    assert again.exit_code == 1
    assert 'a session named "w1" already exists' in again.stderr


def test_list_all_shows_sessions_isesh_did_not_start(tmux: Tmux) -> None:
    tmux.run("new-session", "-d", "-s", "handmade")
    assert run_isesh("start", "w1", "--agent", "shell", "--", "cat").exit_code == 0
    assert set(states()) == {"w1"}
    assert set(states("--all")) == {"w1", "handmade"}
    assert "shell?" in run_isesh("list", "--all").stdout


def test_exited_agent_shows_as_exited(tmux: Tmux) -> None:
    assert run_isesh("start", "w1", "--agent", "shell", "--", "sh", "-c", "exit 0").exit_code == 0
    wait_for(lambda: states() == {"w1": "exited"}, what="exited state")
    assert run_isesh("stop", "w1").exit_code == 0
    assert tmux.session_names() == []


def test_stop_kills_an_agent_that_does_not_exit(tmux: Tmux) -> None:
    write_config("[stop]\ngrace_ms = 200\n")
    # Ignores ^C and ^D (the shell profile's way to ask); tmux's SIGHUP still ends it.
    stubborn = ["sh", "-c", "trap '' INT; exec sleep 60"]
    assert run_isesh("start", "w1", "--agent", "shell", "--", *stubborn).exit_code == 0
    wait_for(lambda: tmux.pane("w1").current_command == "sleep", what="sleep running")
    result = run_isesh("stop", "w1")
    assert result.exit_code == 0, result.output
    assert "killed" in result.stdout
    assert tmux.session_names() == []


def test_stop_force_and_missing(tmux: Tmux) -> None:
    start_demo("w1", idle=False)
    assert run_isesh("start", "other", "--agent", "shell", "--", "cat").exit_code == 0
    assert "killed" in run_isesh("stop", "w1", "--force").stdout
    missing = run_isesh("stop", "w1")
    assert missing.exit_code == 1
    assert 'no session named "w1"' in missing.stderr


def test_logs_include_scrollback(tmux: Tmux) -> None:
    assert (
        run_isesh(
            "start", "w1", "--agent", "shell", "--", "sh", "-c", "seq 1 300; exec cat"
        ).exit_code
        == 0
    )
    wait_for(lambda: "300" in AgentPane.of(tmux, "w1").look(), what="seq output")
    logs = run_isesh("logs", "w1", "-n", "1000").stdout.split()
    assert logs[:3] == ["1", "2", "3"]
    short = run_isesh("logs", "w1", "-n", "5").stdout.split()
    assert "1" not in short


def test_attach_missing_session_is_refused(tmux: Tmux) -> None:
    result = run_isesh("attach", "nope")
    assert result.exit_code == 1
    assert 'no session named "nope"' in result.stderr


def test_socket_option_and_environment(server: object, tmp_path: Path) -> None:
    socket = server.socket_name
    result = run_isesh("-L", socket, "start", "w1", "--agent", "shell", "--", "cat")
    assert result.exit_code == 0, result.output
    assert Tmux(socket).has_session("w1")
    assert "isesh -L" in result.stdout


def test_no_server_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMESSENGER_TMUX_SOCKET", "imessenger-test-no-such-server")
    result = run_isesh("stop", "w1")
    assert result.exit_code == 1
    assert 'no tmux server "imessenger-test-no-such-server" is running' in result.stderr


@pytest.mark.parametrize(("program", "module"), [("isesh", "isesh"), ("imessenger", "main")])
def test_version_and_help(program: str, module: str) -> None:
    code = f"from imessenger.interfaces.cli.{module} import cli; cli(prog_name='{program}')"
    for flag in ("--version", "-V"):
        out = subprocess.run(
            [sys.executable, "-c", code, flag], capture_output=True, text=True, check=True
        )
        assert out.stdout.startswith(f"{program}, version ")
    for flag in ("-h", "--help"):
        out = subprocess.run(
            [sys.executable, "-c", code, flag], capture_output=True, text=True, check=True
        )
        assert "Usage:" in out.stdout


def test_python_dash_m_runs_imessenger() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "imessenger", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("imessenger, version ")


def test_profile_environment_reaches_the_agent(tmux: Tmux) -> None:
    write_config('[agents.shell]\nenvironment = ["GREETING=hello world"]\n')
    assert run_isesh("start", "w1", "--agent", "shell", "--", "cat").exit_code == 0
    assert tmux.environment("w1", "GREETING") == "hello world"
    write_config('[agents.shell]\nenvironment = ["no equals sign"]\n')
    bad = run_isesh("start", "w2", "--agent", "shell", "--", "cat")
    assert bad.exit_code == 1
    assert "environment" in bad.stderr
    assert "NAME=VALUE" in bad.stderr


def test_start_pins_the_record_the_agent_keeps(tmux: Tmux, tmp_path: Path) -> None:
    # a stand-in for Claude Code that prints the arguments it was started with
    shown = tmp_path / "argv.json"
    fake = tmp_path / "fake_claude.py"
    fake.write_text(
        f"import json, sys, time\nopen({str(shown)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "time.sleep(60)\n"
    )
    program = [sys.executable, str(fake)]
    assert run_isesh("start", "w1", "--agent", "claude", "--", *program).exit_code == 0
    # the file is made, then written: wait for its text, not only for the file
    args = wait_for(
        lambda: shown.is_file() and json.loads(shown.read_text() or "null"), what="argv"
    )
    assert args[0] == "--session-id"
    with Store.open(server=tmux.label) as store:
        record = store.sessions.get("w1")
    assert record is not None
    assert record.record_kind == "claude"
    assert record.command[len(program) : len(program) + 2] == ("--session-id", args[1])
    assert args[1] in json.loads(record.record_ref)["path"]
    # the MCP server, then the pre-allowed reply command and tools and the hooks
    assert (args[2], args[4]) == ("--mcp-config", "--settings")
    # a command line that resumes a session of its own is left as it is
    resumed = [*program, "--resume", "abc"]
    assert run_isesh("start", "w2", "--agent", "claude", "--", *resumed).exit_code == 0
    with Store.open(server=tmux.label) as store:
        left = store.sessions.get("w2")
    assert left is not None
    assert (left.record_kind, left.command[: len(resumed)]) == ("", tuple(resumed))
    assert "--session-id" not in left.command


def test_forget_removes_the_record_file_isesh_made(tmux: Tmux, tmp_path: Path) -> None:
    # stopped, the session is restorable: the file holds the conversation restore resumes
    start_demo("w1", idle=False)
    mine = tmp_path / "mine.jsonl"
    start_demo("w2", "--record", str(mine), idle=False)
    with Store.open(server=tmux.label) as store:
        record = store.sessions.get("w1")
        assert record is not None
        made = Path(json.loads(record.record_ref)["path"])
    wait_for(lambda: states().get("w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "hello").exit_code == 0
    assert made.is_file()
    assert run_isesh("stop", "w1").exit_code == 0
    assert made.is_file()
    assert run_isesh("forget", "w1").exit_code == 0
    assert not made.exists()
    # a file the command line named is the user's: it stays
    wait_for(lambda: states().get("w2") == "idle", what="w2 idle")
    assert run_imessenger("send", "w2", "hello").exit_code == 0
    assert run_isesh("stop", "w2").exit_code == 0
    assert run_isesh("forget", "w2").exit_code == 0
    assert mine.is_file()


def test_stop_ends_processes_that_ignore_the_hang_up(tmux: Tmux, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # A child that ignores SIGHUP and outlives its parent's pane, as Gemini CLI did.
    script = f"trap '' HUP; sleep 120 & echo $! > {pid_file}; wait"
    assert run_isesh("start", "w1", "--agent", "shell", "--", "sh", "-c", script).exit_code == 0
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="pid"))
    assert run_isesh("stop", "w1", "--force").exit_code == 0

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie that is not ours to reap counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_for(gone, what="the child to end")


def test_a_process_group_that_ended_is_not_waited_for_until_it_is_reaped() -> None:
    # Its process ended and is not reaped yet, as when the parent of an agent that
    # outlived its tmux server is an init that never reaps (a container's): ending the
    # group does not wait out the grace for it.
    child = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        began = time.monotonic()
        end_process_group(child.pid, grace=5.0)
        took = time.monotonic() - began
        assert Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        assert took < 2.5, f"waited {took:.2f} s for a process that had ended"
    finally:
        child.kill()
        child.wait()


def test_an_old_tmux_is_refused(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("tmux")
    fake = tmp_path / "bin" / "tmux"
    fake.parent.mkdir()
    # Reports an old version, and is the real tmux for everything else.
    script = 'for a; do [ "$a" = -V ] && echo "tmux 3.0a" && exit 0; done'
    fake.write_text(f'#!/bin/sh\n{script}\nexec {real} "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    result = run_isesh("start", "w1", "--agent", "shell", "--", "cat")
    assert result.exit_code == 1
    assert "tmux 3.0a is too old: imessenger needs tmux >= 3.2" in result.stderr
    assert tmux.session_names() == []


def test_a_qwen_code_prompt_in_a_session_isesh_did_not_start_reads_as_qwen_asking(
    tmux: Tmux,
) -> None:
    # its "⠏ Waiting for user confirmation..." line is Aider's busy marker too
    capture = Path(__file__).parent / "fixtures" / "qwen-code-0.24.4" / "q07_shell_prompt.txt"
    tmux.run(
        "new-session",
        "-d",
        "-s",
        "handmade",
        "-x",
        "200",
        "-y",
        "50",
        f"cat {shlex.quote(str(capture))}; exec sleep 60",
    )
    wait_for(lambda: "Waiting for user" in AgentPane.of(tmux, "handmade").look(), what="shown")
    assert states("--all") == {"handmade": "asking"}
    assert "qwen?" in run_isesh("list", "--all").stdout
