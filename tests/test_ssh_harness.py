"""The remote-host harness itself (remote_host.py): a real sshd, a second user, real ssh."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from remote_host import PATH, RemoteHost
from support import wait_for

import imessenger

# the remote host is the machine's one user and sshd: one worker (docs/development.md)
pytestmark = [pytest.mark.ssh, pytest.mark.xdist_group("remote-host")]


def test_ssh_logs_in_as_the_remote_user(remote_host: RemoteHost) -> None:
    done = remote_host.ssh("id", "-un")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{remote_host.user}\n", "")
    assert remote_host.ssh("pwd").stdout == f"{remote_host.home}\n"


def test_plain_ssh_with_the_ssh_args_runs_a_command(remote_host: RemoteHost) -> None:
    argv = ["ssh", *remote_host.ssh_args, remote_host.destination, "echo", "hello"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")


def test_ssh_and_as_user_give_the_same_environment(remote_host: RemoteHost) -> None:
    over_ssh = remote_host.ssh("printenv", "LANG", "PATH", "HOME", "USER")
    direct = remote_host.as_user("printenv", "LANG", "PATH", "HOME", "USER")
    expected = f"C.UTF-8\n{PATH}\n{remote_host.home}\n{remote_host.user}\n"
    assert over_ssh.stdout == direct.stdout == expected


def test_the_remote_user_runs_this_checkout_of_imessenger(remote_host: RemoteHost) -> None:
    for program, name in ((remote_host.command, "imessenger"), (remote_host.isesh, "isesh")):
        done = remote_host.ssh(program, "--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{name}, version {imessenger.__version__}\n"


def test_reset_removes_a_tmux_session_started_over_ssh(remote_host: RemoteHost) -> None:
    started = remote_host.ssh("tmux", "new-session", "-d", "-s", "harness", "sleep 600")
    assert started.returncode == 0, started.stderr
    assert remote_host.ssh("tmux", "has-session", "-t", "harness").returncode == 0
    assert remote_host.as_user("tmux", "has-session", "-t", "harness").returncode == 0

    remote_host.reset()

    assert remote_host.as_user("tmux", "has-session", "-t", "harness").returncode != 0
    assert remote_host.ssh("tmux", "has-session", "-t", "harness").returncode != 0


def test_reset_ends_the_users_processes_and_empties_its_home(remote_host: RemoteHost) -> None:
    script = "mkdir -p .local/share/imessenger && touch notes && sleep 600 >/dev/null 2>&1 &"
    assert remote_host.ssh("sh", "-c", script).returncode == 0
    assert remote_host.processes()
    assert sorted(path.name for path in remote_host.home.iterdir()) == [".local", ".ssh", "notes"]

    remote_host.reset()

    assert remote_host.processes() == []
    assert [path.name for path in remote_host.home.iterdir()] == [".ssh"]
    assert remote_host.ssh("true").returncode == 0  # its key still lets it in


def test_a_stopped_sshd_refuses_at_once_and_comes_back_on_its_port(
    remote_host: RemoteHost,
) -> None:
    port = remote_host.port
    assert remote_host.ssh("tmux", "new-session", "-d", "-s", "kept", "sleep 600").returncode == 0

    remote_host.stop_sshd()

    argv = ["ssh", *remote_host.ssh_args, "-o", "ConnectTimeout=5", remote_host.destination]
    started = time.monotonic()
    done = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 255
    assert time.monotonic() - started < 5
    # The host's state lives on while nobody can reach it.
    assert remote_host.as_user("tmux", "has-session", "-t", "kept").returncode == 0

    remote_host.start_sshd()

    assert remote_host.port == port
    back = remote_host.ssh("tmux", "has-session", "-t", "kept")
    assert (back.returncode, back.stderr) == (0, "")


def test_stopping_sshd_drops_an_open_connection(remote_host: RemoteHost) -> None:
    argv = ["ssh", *remote_host.ssh_args, remote_host.destination, "echo ready; sleep 600"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as session:
        try:
            assert session.stdout is not None
            assert session.stdout.readline() == "ready\n"
            remote_host.stop_sshd()
            assert session.wait(timeout=10) == 255
        finally:
            session.kill()


def test_a_message_comes_back_byte_for_byte(remote_host: RemoteHost) -> None:
    message = "$(touch pwned); rm -rf ~ ; echo 'single' \"double\" `id`\nline 2\r\ttab é ✓ \\n\n"
    done = remote_host.ssh("cat", input=message)
    assert (done.returncode, done.stdout, done.stderr) == (0, message, "")
    assert [path.name for path in remote_host.home.iterdir()] == [".ssh"]


def test_arguments_reach_the_remote_program_unchanged(remote_host: RemoteHost) -> None:
    argument = "$(touch pwned); echo 'single' \"double\" `id`\nline 2 * ~"
    done = remote_host.ssh("printf", "%s", argument)
    assert (done.returncode, done.stdout) == (0, argument)
    assert [path.name for path in remote_host.home.iterdir()] == [".ssh"]


def test_many_logins_at_once_all_get_in(remote_host: RemoteHost) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        done = list(pool.map(lambda n: remote_host.ssh("echo", str(n)), range(20)))
    assert [(d.returncode, d.stdout) for d in done] == [(0, f"{n}\n") for n in range(20)]


def test_one_shared_connection_carries_many_sessions_at_once(remote_host: RemoteHost) -> None:
    # A socket's path is short (about 100 bytes): not under pytest's long tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="cm-"))
    shared = [*remote_host.ssh_args, "-o", f"ControlPath={folder}/%C"]
    master = subprocess.Popen(
        ["ssh", *shared, "-o", "ControlMaster=yes", "-N", remote_host.destination],
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(folder.iterdir()), what="the control socket")
        logins = remote_host.sshd_log().count("Accepted publickey")

        def session(n: int) -> subprocess.CompletedProcess[str]:
            argv = ["ssh", *shared, "-o", "ControlMaster=no", remote_host.destination]
            argv.append(f"sleep 1; echo {n}")  # each lasts a second: 30 at once take about one
            return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=30) as pool:
            done = list(pool.map(session, range(30)))
        assert [(d.returncode, d.stdout) for d in done] == [(0, f"{n}\n") for n in range(30)]
        assert time.monotonic() - started < 15  # side by side, not one after the other
        assert master.poll() is None
        # No session fell back to a connection of its own (ssh does when the master's is refused).
        assert remote_host.sshd_log().count("Accepted publickey") == logins
    finally:
        master.terminate()
        master.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
