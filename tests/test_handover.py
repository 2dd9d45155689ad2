"""Commands handed over to the watcher's command server (imessenger.interfaces.cli.thin).

Each test runs the command as its own process, as a person or an agent does, with a
watcher running (which runs the command server), and checks that the command ran in
the server (the client never loaded imessenger's application layer: ``-X importtime``
says what a process loaded) and that the outcome is the one the command has when it
runs in its own process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    Watching,
    message_state,
    message_with,
    python_cli,
    run_isesh,
    scrollback,
    start_demo,
    wait_for,
    write_config,
)

from imessenger.adapters import command_socket
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux
from imessenger.core.agent_setup import hook_command
from imessenger.core.values import MessageState

#: A module only the full command line loads: a client that handed over never does.
APP = "imessenger.app.api"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``python -X importtime -m imessenger ARGS`` as its own process."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "imessenger", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def handed_over(done: subprocess.CompletedProcess[str]) -> bool:
    return "import time" in done.stderr and APP not in done.stderr


def server_of(watching: Watching) -> int:
    """The pid of the command server the watcher runs."""

    def find() -> int | None:
        pid = watching.proc.pid
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            for child in listing.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                    if b"command_server" in cmdline.read():
                        return int(child)
        return None

    return wait_for(find, what="the command server")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


def served(watching: Watching) -> str:
    """The socket of the command server of the watcher (once it listens)."""
    path = command_socket.socket_path(watching.server)
    wait_for(lambda: os.path.exists(path), what="the command server's socket")
    return path


def test_send_and_inbox_run_in_the_server(tmux: Tmux, watching: Watching) -> None:
    start_demo("w1")
    served(watching)
    sent = run("send", "w1", "hello from afar")
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "hello from afar" in sent.stdout
    assert handed_over(sent)
    inbox = run("inbox", "--json")
    assert inbox.returncode == 0
    assert handed_over(inbox)
    assert json.loads(inbox.stdout) == json.loads(
        subprocess.run(
            [*python_cli(), "inbox", "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "IMESSENGER_NO_SERVER": "1"},
            check=True,
        ).stdout
    )


def test_without_a_server_the_command_runs_in_its_own_process(tmux: Tmux) -> None:
    start_demo("w1")
    sent = run("send", "w1", "nobody serves")
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "nobody serves" in sent.stdout
    assert APP in sent.stderr


def test_errors_keep_their_exit_status_and_words(tmux: Tmux, watching: Watching) -> None:
    start_demo("w1")
    served(watching)
    there = run("send", "nosuch", "hi")
    here = run("send", "nosuch", "hi", env={**os.environ, "IMESSENGER_NO_SERVER": "1"})
    assert handed_over(there)
    assert not handed_over(here)
    assert there.returncode == here.returncode != 0
    assert there.stdout == here.stdout
    assert "no session named" in there.stderr


def test_a_reply_from_inside_the_agents_pane_is_the_agents(tmux: Tmux, watching: Watching) -> None:
    """The demo agent runs `imessenger reply` from its pane, handed over like any command."""
    start_demo("w1", "--allow", "")
    served(watching)
    sent = run("send", "w1", "REPLYCMD answer by command")
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "answer by command" in sent.stdout
    wait_for(
        lambda: "ran imessenger reply" in scrollback(tmux, "w1"), what="the reply command's end"
    )
    message = message_with("REPLYCMD answer by command")
    assert message is not None
    assert message.reply_via == "command"


def test_a_claim_to_be_someone_else_is_refused_as_in_its_own_process(
    tmux: Tmux, watching: Watching, tmp_path: Path
) -> None:
    """A process in an agent's pane that says it is the user is refused, through the server too."""
    start_demo("w1")
    served(watching)
    out = tmp_path / "out.txt"
    command = shlex.join([sys.executable, "-X", "importtime", "-m", "imessenger"])
    script = (
        f"IMESSENGER_SESSION=user {command} send w1 NOREPLY --no-reply > {out} 2>&1; "
        f"echo status=$? >> {out}; sleep 60"
    )
    result = run_isesh("start", "sh1", "--agent", "shell", "--", "sh", "-c", script)
    assert result.exit_code == 0, result.output
    text = wait_for(lambda: out.exists() and "status=" in out.read_text() and out.read_text())
    assert "claims to be the user" in text
    assert "status=0" not in text
    assert APP not in text  # the server refused it, not a process of its own


def test_ctrl_c_reaches_the_command(tmux: Tmux, watching: Watching) -> None:
    """Ctrl-C on a waiting send: the command in the server gets it, the message is
    recorded as no longer waited for, the exit status is the one it has in its own process."""
    start_demo("w1")
    served(watching)
    statuses = []
    for handover in (True, False):
        env = {**os.environ} if handover else {**os.environ, "IMESSENGER_NO_SERVER": "1"}
        body = f"BUSY[20000] interrupted {handover}"
        proc = subprocess.Popen(
            [*python_cli(), "send", "w1", body],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wait_for(
            lambda body=body: (
                ((m := message_with(body)) is not None and m.state is MessageState.DELIVERED)
                or None
            ),
            what="the message delivered",
        )
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        statuses.append(proc.returncode)
        message = message_with(body)
        assert message is not None
        assert message_state(message.id) is MessageState.TIMED_OUT
        tmux_cmd = ["tmux", "-L", tmux.label, "send-keys", "-t", "w1", "Escape"]
        subprocess.run(tmux_cmd, check=True)
    assert statuses[0] == statuses[1] != 0


def test_a_killed_client_takes_its_command_with_it(tmux: Tmux, watching: Watching) -> None:
    start_demo("w1")
    served(watching)
    server = server_of(watching)
    proc = subprocess.Popen([*python_cli(), "send", "w1", "BUSY[20000] killed client"])
    [worker] = wait_for(lambda: children(server) or None, what="the command's process")
    wait_for(lambda: message_with("killed client") is not None, what="the message")
    proc.kill()
    proc.wait()
    wait_for(
        lambda: (
            (worker not in children(server) and not os.path.exists(f"/proc/{worker}/stat")) or None
        ),
        what="the command's end",
    )


def test_a_killed_server_still_lets_the_command_finish(tmux: Tmux, watching: Watching) -> None:
    """The command's process outlives its server: it says how it ended itself."""
    start_demo("w1")
    path = served(watching)
    server = server_of(watching)
    proc = subprocess.Popen(
        [*python_cli(), "send", "w1", "BUSY[1500] outlives"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: children(server) or None, what="the command's process")
    os.kill(server, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    with contextlib.suppress(FileNotFoundError):  # a killed server leaves its socket's file
        os.unlink(path)
    assert proc.returncode == 0, err
    assert "outlives" in out


def test_the_server_ends_with_the_watcher(tmux: Tmux, watching: Watching) -> None:
    path = served(watching)
    server = server_of(watching)
    watching.proc.terminate()
    watching.proc.wait(15)
    wait_for(lambda: not os.path.exists(f"/proc/{server}/stat") or None, what="the server's end")
    assert not os.path.exists(path)
    start_demo("w1")
    sent = run("send", "w1", "after the watcher")
    assert sent.returncode == 0
    assert APP in sent.stderr


def test_the_server_refuses_another_version(tmux: Tmux, watching: Watching) -> None:
    path = served(watching)
    request = command_socket.request_fields("0.0.0-other", "/elsewhere", "/", [""] * 6, ["inbox"])
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
        socket.send_fds(client, [command_socket.number(len(request)) + request], [0, 1, 2])
        assert client.recv(1) == command_socket.REFUSED


def test_the_socket_is_private(tmux: Tmux, watching: Watching) -> None:
    path = served(watching)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    folder = os.path.dirname(path)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert os.stat(folder).st_uid == os.getuid()


def test_a_runtime_folder_open_to_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    (runtime / "imessenger").mkdir(parents=True)
    os.chmod(runtime / "imessenger", 0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.raises(command_socket.UnsafeFolder):
        command_socket.make_runtime_dir()


def test_the_hook_script_without_a_server_is_the_whole_command(tmux: Tmux) -> None:
    """An agent's hook command (the thin client as a file) runs ``imessenger hook event``
    itself when no server runs: same status, same words, its input read by it."""
    payload = '{"hook_event_name": "Stop", "session_id": "s"}'
    hook = shlex.split(hook_command("claude"))
    whole = [*python_cli(), "hook", "event", "claude"]
    done = [
        subprocess.run(argv, input=payload, capture_output=True, text=True, timeout=30)
        for argv in (hook, whole)
    ]
    assert (done[0].returncode, done[0].stderr) == (done[1].returncode, done[1].stderr)
    bad = [
        subprocess.run(argv, input="not json", capture_output=True, text=True, timeout=30)
        for argv in (hook, whole)
    ]
    assert bad[0].returncode == bad[1].returncode == 1
    assert "not JSON" in bad[0].stderr
    assert bad[0].stderr == bad[1].stderr


def test_an_agents_hooks_are_handed_over(tmux: Tmux, watching: Watching) -> None:
    """The demo agent reports its events with the hook command isesh gives it: with a
    server running, the server runs them, as the agent's (the caller read from the
    hook's own process)."""
    start_demo("w1")
    served(watching)
    sent = run("send", "w1", "hello hooks")
    assert sent.returncode == 0, sent.stderr[-2000:]
    wait_for(lambda: watching.said("DEBUG", "ran hook event"), what="a hook handed over")
    with Store.open(server=tmux.label) as store:
        events = wait_for(
            lambda: [e for e in store.hook_events.recent("w1") if e.event == "Stop"] or None,
            what="the Stop hook event",
        )
    assert events[0].session == "w1"


def test_a_command_outlives_a_watcher_stopped_meanwhile(tmux: Tmux, watching: Watching) -> None:
    """``watch --stop`` while a send waits for its reply: the send goes on to its reply."""
    start_demo("w1")
    served(watching)
    server = server_of(watching)
    proc = subprocess.Popen(
        [*python_cli(), "send", "w1", "BUSY[1500] across a stop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: children(server) or None, what="the command's process")
    watching.proc.terminate()
    watching.proc.wait(15)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "across a stop" in out


def test_the_users_config_is_read_again_by_each_command(tmux: Tmux, watching: Watching) -> None:
    """The server keeps the shipped defaults parsed; the user's file is read at each command."""
    served(watching)
    write_config("[send]\nno_such_key = 1\n")
    broken = run("inbox")
    assert handed_over(broken)
    assert broken.returncode != 0
    assert "no_such_key" in broken.stderr
    write_config("")
    fixed = run("inbox")
    assert handed_over(fixed)
    assert fixed.returncode == 0, fixed.stderr[-2000:]


def test_the_servers_log_shows_a_commands_words_with_their_control_characters_visible() -> None:
    from imessenger.interfaces.cli.command_server import _command_words

    shown = _command_words(["send", "\x1b]52;c;cm0gLXJmIH4K\x07", "the message"])
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert shown.startswith("send ")
    assert "the message" not in shown
    assert _command_words(["hook", "event", "claude"]) == "hook event"
    assert "\n" not in _command_words(["send", "w1\n2026-12-07 INFO forged line"])
