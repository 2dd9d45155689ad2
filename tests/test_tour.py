"""``imessenger demo``: the guided tour, run for real on a private tmux server per test.

Each test runs the tour with ``-L`` set to the socket of libtmux's ``server``
fixture, which reaps that server afterwards whatever the tour left.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from libtmux.server import Server
from support import python_cli, run_imessenger, run_isesh, write_config

from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux
from imessenger.core.values import Choice, MessageState
from imessenger.interfaces.tour import ASK_MESSAGE, GREETING, PROFILES

STEPS = [
    "1. Start a coordinator and two demo agents",
    "2. Send worker-1 a message on three lines",
    "3. Give worker-2 a task that needs permission",
    "4. See who is waiting for a permission answer",
    "5. Approve it",
    "6. worker-2 goes on and answers",
]


def socket_of(server: Server) -> str:
    assert server.socket_name
    return server.socket_name


def check_tour(out: str, socket: str) -> None:
    """Every step of the tour is in ``out``, with its command and that command's real output."""
    headers = [line for line in out.splitlines() if re.match(r"^\d\. ", line)]
    assert len(headers) == 7, headers
    for header, expected in zip(headers[:6], STEPS, strict=True):
        assert header.startswith(expected), (header, expected)
    for name, agent in PROFILES.items():
        assert f"$ isesh -L {socket} start {name} --agent {agent}\n" in out
        assert f'started "{name}" ({agent}) in ' in out
    # The reply is exactly what was sent, printed right under the command that sent it.
    send = shlex.join(["imessenger", "-L", socket, "send", "worker-1", GREETING])
    assert f"$ {send}\n{GREETING}\n" in out
    ask = shlex.join(["imessenger", "-L", socket, "send", "worker-2", "--no-reply", ASK_MESSAGE])
    assert re.search(re.escape(f"$ {ask}\n") + r"message \w+ delivered\n", out)
    # The prompt as the inbox shows it: the command asked for, options, keys, answers.
    inbox = out.split(f"$ imessenger -L {socket} inbox --waiting\n", 1)[1]
    asks = '"worker-2" (demo) asks: Do you want to proceed?\n    touch notes.txt\n'
    assert inbox.startswith(asks)
    shown = re.search(r"\n  prompt ([0-9a-f]{10})\n", inbox)
    assert shown, inbox
    prompt = shown[1]
    assert re.search(rf"1\. Yes +key 1 +imessenger approve worker-2 1 --prompt {prompt}\n", inbox)
    assert re.search(rf"3\. No +key 3 +imessenger deny worker-2 --prompt {prompt}\n", inbox)
    assert (
        f"$ imessenger -L {socket} approve worker-2 --prompt {prompt}\n"
        'approved "worker-2": touch notes.txt -- yes, this once (pressed 1: "Yes")\n'
    ) in out
    log = out.split(f"$ imessenger -L {socket} log worker-2 -n 3\n", 1)[1].splitlines()[:3]
    assert re.search(r"  message   \S+ -> worker-2  \w+  \[replied\]  Please create", log[0])
    assert re.search(r'  approval  \S+ -> worker-2  yes-once "Yes" key 1 \(closed\)', log[1])
    assert re.search(r"  reply     worker-2 -> \S+  \w+  \(via record\)  Please create", log[2])


def check_stopped(out: str, socket: str) -> None:
    assert "7. Clean up" in out
    assert f'$ isesh -L {socket} stop worker-1\nstopped "worker-1" (exited)\n' in out
    assert f'$ isesh -L {socket} stop worker-2\nstopped "worker-2" (exited)\n' in out
    assert f'$ isesh -L {socket} stop coordinator --force\nstopped "coordinator" (killed)\n' in out
    assert re.search(r"\nDone in \d+\.\ds\. `imessenger demo --keep`", out)
    assert not Tmux(socket).is_running(), "the tour left its tmux server running"
    with Store.open() as store:
        assert store.list_sessions(socket) == []


def test_tour_in_process_shows_every_step_and_leaves_no_server(server: Server) -> None:
    socket = socket_of(server)
    began = time.monotonic()
    result = run_imessenger("-L", socket, "demo")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - began < 20
    check_tour(result.stdout, socket)
    check_stopped(result.stdout, socket)
    assert result.stderr == ""
    with Store.open() as store:
        messages = store.list_messages(socket)
        approvals = store.list_approvals(server=socket)
    assert {m.target: (m.body, m.reply, m.state) for m in messages} == {
        "worker-1": (GREETING, GREETING, MessageState.REPLIED),
        "worker-2": (ASK_MESSAGE, ASK_MESSAGE, MessageState.REPLIED),
    }
    assert [(a.session, a.choice, a.closed) for a in approvals] == [
        ("worker-2", Choice.YES_ONCE, True)
    ]


def test_tour_as_a_real_process(server: Server) -> None:
    socket = socket_of(server)
    proc = subprocess.run(
        [*python_cli(), "-L", socket, "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_tour(proc.stdout, socket)
    check_stopped(proc.stdout, socket)


def test_keep_leaves_the_demo_running_then_refuses_then_restarts(server: Server) -> None:
    socket = socket_of(server)
    kept = run_imessenger("-L", socket, "demo", "--keep")
    assert kept.exit_code == 0, kept.output
    check_tour(kept.stdout, socket)
    assert "7. The demo keeps running" in kept.stdout
    assert f"$ tmux -L {socket} attach -t worker-1\n" in kept.stdout
    assert f"$ tmux -L {socket} kill-server\n" in kept.stdout
    assert "Clean up" not in kept.stdout

    listed = run_isesh("-L", socket, "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert {row["name"]: row["agent"] for row in json.loads(listed.stdout)} == PROFILES

    again = run_imessenger("-L", socket, "demo")
    assert again.exit_code == 1
    assert f'a demo is already running on tmux server "{socket}"' in again.stderr
    assert f"imessenger -L {socket} demo --restart" in again.stderr
    assert sorted(Tmux(socket).session_names()) == sorted(PROFILES)

    restarted = run_imessenger("-L", socket, "demo", "--restart")
    assert restarted.exit_code == 0, restarted.output
    assert restarted.stdout.startswith(f'stopped the earlier demo on "{socket}" (')
    check_tour(restarted.stdout, socket)
    check_stopped(restarted.stdout, socket)


@pytest.mark.parametrize("name", ["mywork", "worker-1"], ids=["other-name", "unrecorded-worker"])
@pytest.mark.parametrize("restart", [False, True], ids=["plain", "restart"])
def test_leaves_a_server_with_other_sessions_alone(
    server: Server, name: str, restart: bool
) -> None:
    socket = socket_of(server)
    server.new_session(session_name=name)
    result = run_imessenger("-L", socket, "demo", *(["--restart"] if restart else []))
    assert result.exit_code == 1
    assert f"runs sessions the demo did not start ({name})" in result.stderr
    assert Tmux(socket).session_names() == [name]


def test_a_failing_step_still_removes_the_server(server: Server) -> None:
    write_config('[agents.demo]\ncommand = ["{python}", "-c", "pass"]\n')
    socket = socket_of(server)
    result = run_imessenger("-L", socket, "demo")
    assert result.exit_code == 1
    assert 'session "worker-1" has exited' in result.stderr
    assert not Tmux(socket).is_running()


def test_ignores_the_socket_variable_and_uses_its_own_server(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = socket_of(server)
    monkeypatch.setattr("imessenger.interfaces.tour.DEFAULT_SOCKET", socket)
    elsewhere = f"imessenger-test-untouched-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("IMESSENGER_TMUX_SOCKET", elsewhere)
    result = run_imessenger("demo")
    assert result.exit_code == 0, result.output
    assert f'a guided tour on the private tmux server "{socket}"' in result.stdout
    check_tour(result.stdout, socket)
    assert not Tmux(elsewhere).is_running()


def test_refuses_the_default_server() -> None:
    result = run_imessenger("-L", "default", "demo")
    assert result.exit_code == 1
    assert "never on the default one" in result.stderr


def test_without_tmux_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    socket = f"imessenger-test-notmux-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [*python_cli(), "-L", socket, "demo"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PATH": str(empty)},
    )
    assert proc.returncode == 1
    assert "tmux is not installed" in proc.stderr
    assert "Traceback" not in proc.stderr
