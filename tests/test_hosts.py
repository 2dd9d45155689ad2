"""Sessions on other hosts (``HOST:SESSION``) over real ssh, and what needs no sshd.

The remote host is a second local user behind a real sshd on 127.0.0.1
(``remote_host``, tests/remote_host.py), with its own tmux server and data folder;
the local side is the test's private tmux server, as everywhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from remote_host import RemoteHost
from support import (
    AUTOSTART_OFF,
    Watching,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    wait_for,
    write_config,
)

from imessenger.adapters import ssh
from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux
from imessenger.core import wire
from imessenger.core.errors import UsageError
from imessenger.core.names import InvalidName
from imessenger.core.targets import Host, host_of, split_target
from imessenger.core.values import MessageState, SendResult

# the remote host is the machine's one user and sshd: one worker (docs/development.md)
pytestmark = pytest.mark.xdist_group("remote-host")

HOST = Host("box", "someone@127.0.0.1")


def write_hosts(**hosts: Host) -> None:
    lines = []
    for name, host in hosts.items():
        lines += [
            f"[hosts.{name}]",
            f"destination = {json.dumps(host.destination)}",
            f"ssh_args = {json.dumps(list(host.ssh_args))}",
            f"command = {json.dumps(host.command)}",
        ]
    write_config("\n".join(lines) + "\n")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again once the block ends


def dead_host() -> Host:
    return Host("dead", "nobody@127.0.0.1", ("-p", str(closed_port()), "-F", "/dev/null"))


# --- names, the policy's table, the ssh command line: no sshd needed -----------------------


def test_a_target_names_a_host_or_is_local() -> None:
    hosts = {"box": HOST}
    assert split_target("box:w1") == ("box", "w1")
    assert host_of("w1", hosts) is None
    assert host_of("box:w1", hosts) == HOST
    with pytest.raises(UsageError, match=r'no host "gpu" in the config \(known: box\)'):
        host_of("gpu:w1", hosts)
    for bad in ("box:$(id)", "#(id):w1", "box:w1:x", "box:"):
        with pytest.raises(InvalidName):
            host_of(bad, hosts)


def test_the_ssh_command_line_holds_fixed_words_and_shares_the_connection() -> None:
    host = Host("box", "me@buildbox", ("-p", "2222"), "~/bin/imessenger")
    command = ssh.remote_command(host, wire.PROTOCOL)
    assert command == "~/bin/imessenger remote --protocol 3 --caller-version 0.1.0"
    argv = ssh.ssh_argv(host, command)
    assert argv[-3:] == ["--", "me@buildbox", command]  # "--": a destination is no option
    assert "BatchMode=yes" in argv
    assert "ControlMaster=auto" in argv
    control = Path(next(a for a in argv if a.startswith("ControlPath=")).split("=", 1)[1])
    assert oct(control.parent.stat().st_mode & 0o777) == "0o700"
    assert argv[argv.index("-p") + 1] == "2222"
    # what to do goes on stdin, where no shell reads it
    body = "$(touch x); `id` 'q\" \\ #{session_name}\n"
    line = wire.call_line("send", {"target": "w1", "body": body}, "0.1.0")
    assert json.loads(line)["args"] == {"target": "w1", "body": body}
    assert ssh.tty_command(host, 2, "isesh", ["attach", "w1"]).endswith(" isesh attach w1")
    with pytest.raises(ValueError, match="not a plain word"):
        ssh.tty_command(host, 2, "isesh", ["attach", "w1;id"])


def remote_call(call: str, **args: object) -> tuple[int, object]:
    """Run ``imessenger remote`` here with one call; its exit status and what it answered."""
    line = wire.call_line(call, args, "0.1.0")
    done = subprocess.run(
        [*python_cli(), "remote", "--protocol", str(wire.PROTOCOL)],
        input=line,
        capture_output=True,
        text=True,
    )
    return done.returncode, json.loads(done.stdout)


def test_the_remote_side_reads_its_call_from_stdin_and_answers_in_kind(tmux: Tmux) -> None:
    code, started = remote_call("start", name="w1", directory=".", agent="demo", command=[])
    assert code == 0, started
    wait_for(lambda: '"idle"' in run_isesh("list", "--json").stdout)
    body = "line one\n$(touch pwned) 'q\" \\ end"
    code, sent = remote_call("send", target="w1", body=body, raw=False, wait=True, timeout_ms=None)
    assert code == 0, sent
    assert isinstance(sent, dict)
    assert sent["result"]["reply"] == body
    assert wire.read_answer(json.dumps(sent), SendResult).reply == body
    code, refused = remote_call("send", target="box:w1", body="hop", raw=False, wait=False)
    assert code == 2  # another host's session: no call goes on to a third host
    assert "error" in refused  # type: ignore[operator]
    bad = subprocess.run(
        [*python_cli(), "remote", "--protocol", str(wire.PROTOCOL)],
        input="not json\n",
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "not JSON" in json.loads(bad.stdout)["error"]["message"]


def test_another_protocol_is_refused_and_names_the_version_to_install() -> None:
    done = subprocess.run(
        [*python_cli(), "remote", "--protocol", "99", "--caller-version", "9.9", "isesh", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == wire.EXIT_INCOMPATIBLE
    assert "protocol 99" in done.stderr
    assert "pip install imessenger==" in done.stderr


def test_a_host_that_is_down_is_named_and_the_others_still_answer(tmux: Tmux) -> None:
    write_hosts(dead=dead_host())
    start_demo("w1", idle=False)
    listed = run_isesh("list")
    assert listed.exit_code == 1
    assert "w1" in listed.stdout  # this host's sessions are still listed
    assert 'cannot reach host "dead"' in listed.stderr
    sent = run_imessenger("send", "dead:w1", "hello")
    assert sent.exit_code == 1
    assert 'cannot reach host "dead"' in sent.stderr
    assert "check that it is up" in sent.stderr


def test_an_agent_session_gets_no_more_on_a_host_than_here(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the host is down: a refusal that came from it would read "cannot reach host"
    write_hosts(dead=dead_host())
    start_demo("coord", idle=False)
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    for args in (["approve", "dead:w1"], ["deny", "dead:w1"], ["inbox", "dead:w1"]):
        refused = run_imessenger(*args)
        assert refused.exit_code == 77, (args, refused.output)
        assert "approvers" in refused.stderr or "readers" in refused.stderr
    assert run_isesh("stop", "dead:w1").exit_code == 77
    # and its own inbox shows this host's entries only: no host is asked
    assert run_imessenger("inbox").exit_code == 0


# --- over real ssh --------------------------------------------------------------------------


@pytest.fixture
def box(remote_host: RemoteHost, tmux: Tmux) -> Iterator[Host]:
    """The remote host as ``[hosts.box]`` of the local config; its shared connection is
    closed afterwards."""
    host = Host("box", remote_host.destination, tuple(remote_host.ssh_args), remote_host.command)
    write_hosts(box=host)
    # there too, the commands start no watcher by themselves (as here: support.AUTOSTART_OFF)
    folder = remote_host.home / ".config" / "imessenger"
    made = remote_host.as_user("mkdir", "-p", str(folder))
    assert made.returncode == 0, made.stderr
    wrote = remote_host.as_user("tee", str(folder / "config.toml"), input=AUTOSTART_OFF)
    assert wrote.returncode == 0, wrote.stderr
    yield load_config().settings.hosts["box"]
    ssh.close(host)


def remote_json(remote_host: RemoteHost, *args: str) -> object:
    done = remote_host.as_user(remote_host.command, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.ssh
def test_sessions_on_two_hosts_from_one_terminal(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("w1", idle=False)
    started = run_isesh("start", "box:w2", "--agent", "demo")
    assert started.exit_code == 0, started.output
    assert 'started "box:w2" (demo)' in started.stdout

    listed = run_isesh("list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {(row["host"], row["name"]) for row in json.loads(listed.stdout)}
    assert rows == {(None, "w1"), ("box", "w2")}
    text = run_isesh("list").stdout
    assert "box:w2" in text
    assert "HOST" in text

    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    body = "hello from here: $(touch pwned) #(touch pwned) #{session_name}; 'q\" `id`"
    answered = run_imessenger("send", "--json", "box:w2", body)
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout)["reply"] == body
    assert not list(remote_host.home.rglob("pwned"))  # nothing of it ran there
    local = run_imessenger("send", "w1", "and to this host")
    assert local.exit_code == 0, local.output

    # a prompt there: seen from here, approved from here, recorded on both sides
    asked = run_imessenger("send", "--no-reply", "box:w2", "ASK[touch granted.txt]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: "asks:" in run_imessenger("inbox", "box:w2").stdout, what="the prompt")
    waiting = json.loads(run_imessenger("inbox", "--waiting", "--json").stdout)
    assert [(s["host"], s["name"]) for s in waiting["asking"]] == [("box", "w2")]
    approved = run_imessenger("approve", "box:w2")
    assert approved.exit_code == 0, approved.output
    assert 'approved "box:w2": touch granted.txt -- yes, this once' in approved.stdout
    there = remote_json(remote_host, "log", "--json")
    assert any(e.get("choice") == "yes-once" for e in there)  # type: ignore[union-attr]
    with Store.open(server=tmux.label) as store:
        [here] = store.approvals.latest("box:w2")
    assert (here.actor, here.choice) == ("user", "yes-once")

    stopped = run_isesh("stop", "box:w2")
    assert stopped.exit_code == 0, stopped.output
    rows_left = {row["name"] for row in json.loads(run_isesh("list", "--json").stdout)}
    assert rows_left == {"w1"}


@pytest.mark.ssh
def test_the_usage_of_a_session_on_another_host_is_read_there(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    """The record is that host's file: it reads it, and the wire brings the counts; the cost
    is this side's, by its own prices (the demo agent's counts: see its docstring)."""
    from imessenger.adapters import paths

    config = paths.user_config_path()
    write_config(config.read_text() + "[prices.demo]\ninput = 100000\noutput = 100000\n")
    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    [plain] = json.loads(run_isesh("list", "--json").stdout)
    assert "usage" not in plain  # not read unless asked
    sent = run_imessenger("send", "--raw", "--no-reply", "box:w2", "hello there")
    assert sent.exit_code == 0, sent.output

    def usage() -> dict[str, object] | None:
        listed = run_isesh("list", "--usage", "--json")
        assert listed.exit_code == 0, listed.output
        [row] = json.loads(listed.stdout)
        return row["usage"] if row["usage"] and row["usage"]["turns"] else None

    found = wait_for(usage, what="the answer counted there")
    assert [share["model"] for share in found.pop("models")] == ["demo"]  # type: ignore[attr-defined]
    assert found == {
        "model": "demo",
        "input_tokens": len("hello there"),
        "output_tokens": len("demo got 1 line(s)"),
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "total_tokens": 11 + 18,
        "turns": 1,
        "estimated_cost": pytest.approx(29 * 0.1),
    }
    table = run_isesh("list", "--usage").stdout.splitlines()
    assert table[1].split()[0] == "box:w2"
    assert table[1].split()[-4:] == ["11", "18", "0", "2.90"]


def waiting_on(host: str, name: str, about: str) -> str | None:
    """The id of the prompt ``HOST:NAME`` shows, once it asks about ``about``."""
    shown = run_imessenger("inbox", "--waiting", "--json")
    for row in json.loads(shown.stdout)["asking"] if shown.exit_code == 0 else []:
        if (row["host"], row["name"], row["prompt"]["subject"]) == (host, name, about):
            return str(row["prompt"]["id"])
    return None


@pytest.mark.ssh
def test_a_prompt_on_another_host_is_answered_by_its_id(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("box:w2", idle=False)
    assert run_imessenger("send", "--no-reply", "box:w2", "ASK[touch one.txt]").exit_code == 0
    first = wait_for(lambda: waiting_on("box", "w2", "touch one.txt"), what="the prompt there")
    shown = run_imessenger("inbox", "box:w2").stdout
    assert f"imessenger approve box:w2 1 --prompt {first}" in shown  # as it is given here
    approved = run_imessenger("approve", "box:w2", "--prompt", first)
    assert approved.exit_code == 0, approved.output
    assert 'approved "box:w2": touch one.txt -- yes, this once' in approved.stdout

    assert run_imessenger("send", "--no-reply", "box:w2", "ASK[touch one.txt]").exit_code == 0
    second = wait_for(lambda: waiting_on("box", "w2", "touch one.txt"), what="the same again")
    assert second != first
    again = run_imessenger("approve", "box:w2", "--prompt", first)
    assert again.exit_code == 6, again.output  # that host's exit status, relayed
    assert f'the prompt {first} of "w2" (touch one.txt) was already answered by' in again.stderr
    unknown = run_imessenger("deny", "box:w2", "--prompt", "0123456789")
    assert unknown.exit_code == 1, unknown.output
    assert 'no prompt "0123456789" was seen in "w2"' in unknown.stderr
    malformed = run_imessenger("deny", "box:w2", "--prompt", "$(touch x)")
    assert malformed.exit_code == 2, malformed.output  # refused here, never sent there
    assert waiting_on("box", "w2", "touch one.txt") == second  # nothing was pressed
    denied = run_imessenger("deny", "box:w2", "--prompt", second)
    assert denied.exit_code == 0, denied.output
    there = remote_json(remote_host, "log", "--json")
    answers = [e["choice"] for e in there if "choice" in e]  # type: ignore[union-attr]
    assert answers == ["yes-once", "no"]  # one answer a prompt, recorded there


@pytest.mark.ssh
def test_a_host_that_goes_down_is_named_and_comes_back(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("box:w2", idle=False)
    ssh.close(box)  # a shared connection outlives sshd's listener
    remote_host.stop_sshd()
    began = time.monotonic()
    listed = run_isesh("list")
    assert time.monotonic() - began < ssh.CONNECT_TIMEOUT_S + 5  # an error, not a hang
    assert listed.exit_code == 1
    assert 'cannot reach host "box"' in listed.stderr
    remote_host.start_sshd()
    back = run_isesh("list", "--json")
    assert back.exit_code == 0, back.output
    assert [row["name"] for row in json.loads(back.stdout)] == ["w2"]


def ssh_child_of(pid: int) -> int:
    """The ssh process ``pid`` started (found by its parent, never by name alone)."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        for child in listing.read().split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/comm").read_text().strip() == "ssh":
                    return int(child)
    raise LookupError(f"process {pid} has no ssh child")


@pytest.mark.ssh
def test_ssh_killed_mid_send_is_settled_there_and_never_sent_twice(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    sender = subprocess.Popen(
        [*python_cli(), "send", "box:w2", "BUSY[4000] the slow one"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )

    def delivered_there() -> bool:
        messages = remote_json(remote_host, "log", "--json")
        return any(m.get("state") == "delivered" for m in messages)  # type: ignore[union-attr]

    wait_for(delivered_there, what="the message to be delivered there")
    os.kill(ssh_child_of(sender.pid), signal.SIGKILL)
    _, err = sender.communicate(timeout=30)
    assert sender.returncode == 4, err
    assert "may have been delivered; it is not sent again" in err

    # there: the message was taken once, and its late reply waits in the user's inbox
    def replied_to_the_inbox() -> bool:
        found = run_imessenger("inbox", "--peek", "--json")
        entries = json.loads(found.stdout)["entries"]
        return any(e["host"] == "box" and e["kind"] == "reply" for e in entries)

    wait_for(replied_to_the_inbox, seconds=30, what="the late reply in the inbox there")

    def pasted() -> int:  # the envelope's first line, once per paste (the reply echoes the body)
        screen = remote_host.as_user("tmux", "capture-pane", "-p", "-S", "-200", "-t", "w2")
        return screen.stdout.count("[imessenger] message ")

    assert pasted() == 1
    assert run_imessenger("deliver", "box:w2").exit_code == 0
    assert pasted() == 1
    state = {m.get("state") for m in remote_json(remote_host, "log", "--json")}  # type: ignore[union-attr]
    assert MessageState.DELIVERED.value not in state


def box_idle() -> bool:
    return '"idle"' in run_isesh("list", "--json", "--host", "box").stdout


def box_rows(*args: str) -> dict[str, dict[str, object]]:
    """``isesh list --json ARGS``: the rows of the sessions on box, by HOST:NAME."""
    listed = run_isesh("list", "--json", *args)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    return {f"{r['host']}:{r['name']}": r for r in rows if r["host"] == "box"}


@pytest.mark.ssh
def test_a_session_on_a_host_is_restored_in_its_own_conversation(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("box:w2", idle=False)
    wait_for(box_idle, what="box:w2 idle")
    noted = run_imessenger("send", "box:w2", "the note kept there")
    assert noted.exit_code == 0, noted.output
    assert noted.stdout.strip() == "the note kept there"

    def kill_the_server_there() -> None:
        killed = remote_host.as_user("tmux", "kill-server")
        assert killed.returncode == 0, killed.stderr
        wait_for(lambda: box_rows("--all").get("box:w2", {}).get("state") == "restorable")

    kill_the_server_there()
    row = box_rows("--all")["box:w2"]
    assert (row["restorable"], row["agent"], row["stopped_at"]) == (True, "demo", None)
    assert box_rows() == {}  # without --all: only what runs

    restored = run_isesh("restore", "--json", "box:w2")
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout) == [
        {"host": "box", "name": "w2", "outcome": "resumed", "detail": ""}
    ]
    wait_for(box_idle, what="box:w2 idle again")
    recalled = run_imessenger("send", "box:w2", "RECALL")
    assert recalled.exit_code == 0, recalled.output
    assert recalled.stdout.strip() == "recall: the note kept there"  # its own conversation

    # with no name: every host's remembered sessions, box's among them
    kill_the_server_there()
    everything = run_isesh("restore")
    assert everything.exit_code == 0, everything.output
    assert "box:w2: resumed" in everything.stdout
    wait_for(box_idle, what="box:w2 idle once more")
    again = run_imessenger("send", "box:w2", "RECALL")
    assert again.stdout.strip() == "recall: the note kept there\nrecall: RECALL"
    twice = run_isesh("restore")
    assert twice.exit_code == 0, twice.output
    assert "box:w2: running" in twice.stdout
    assert box_rows("--all")["box:w2"]["state"] == "idle"

    refused = run_isesh("forget", "box:w2")
    assert refused.exit_code == 1
    assert "is running: stop it first" in refused.output
    assert run_isesh("stop", "box:w2").exit_code == 0
    assert box_rows("--all")["box:w2"]["state"] == "restorable"
    forgot = run_isesh("forget", "box:w2")
    assert forgot.exit_code == 0, forgot.output
    assert 'forgot "box:w2"' in forgot.stdout
    assert box_rows("--all") == {}
    nothing = run_isesh("restore", "box:w2")
    assert nothing.exit_code == 1
    assert 'box:w2: failed (isesh remembers no session "w2"' in nothing.output
    unknown = run_isesh("forget", "box:w2")
    assert unknown.exit_code == 1, unknown.output  # that host's error, relayed
    assert 'isesh remembers no session "w2"' in unknown.output
    bad = run_isesh("restore", "box:$(touch x)")
    assert bad.exit_code == 2  # refused here, never sent there
    assert not list(remote_host.home.rglob("x"))


# --- the watcher, the status line, the dashboard, the menu and the tools, over ssh ---------


def host_status(tmux: Tmux) -> dict[str, object]:
    from imessenger.adapters.status_cache import read_status

    hosts = read_status(tmux.label).data.get("hosts", {})
    return dict(hosts.get("box", {}))


@pytest.mark.ssh
def test_the_watcher_follows_a_host_and_the_status_line_counts_it(
    tmux: Tmux, box: Host, remote_host: RemoteHost, watching: Watching
) -> None:
    from imessenger.adapters.status_cache import read_status
    from imessenger.app.api import Api

    start_demo("box:w2", idle=False)
    # its stream started that host's watcher, which follows w2 there
    wait_for(lambda: host_status(tmux).get("watching") is True, what="the watcher there")
    asked = run_imessenger("send", "--no-reply", "box:w2", "ASK[touch granted.txt]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: host_status(tmux).get("asking") == 1, what="the prompt there, counted here")
    status = read_status(tmux.label)
    assert status.asking == 1  # the status line's count adds every host's
    assert "1 asking" in run_imessenger("status", "--plain").stdout

    rows = {row.name: row for row in Api(tmux.socket_name).overview().rows}  # the dashboard's
    assert "box:w2" in rows, (rows, host_status(tmux))
    assert rows["box:w2"].asking == "touch granted.txt"
    menu = run_imessenger("approve-menu", "-c", "/dev/null", "--print")
    assert "box:w2 (demo): touch granted.txt" in menu.stdout
    shown = rows["box:w2"].prompt_id  # that host's watcher published it
    assert shown is not None
    assert menu.stdout.count(f"--answer box:w2 yes-once --prompt {shown}") == 1, menu.stdout
    answered = run_imessenger(
        "approve-menu", "-c", "/dev/null", "--answer", "box:w2", "yes-once", "--prompt", shown
    )
    assert '"box:w2": yes, this once' in answered.stderr
    wait_for(lambda: host_status(tmux).get("asking") == 0, what="the prompt answered there")

    # the link goes down: the host reads unreachable, then it is followed again
    ssh.close(box)
    remote_host.stop_sshd()
    wait_for(lambda: host_status(tmux).get("reachable") is False, seconds=30, what="down")
    remote_host.start_sshd()
    wait_for(lambda: host_status(tmux).get("reachable") is True, seconds=40, what="back")


@pytest.mark.ssh
def test_an_agent_sees_no_prompt_of_a_session_on_a_host_it_may_not_read(
    tmux: Tmux,
    box: Host,
    remote_host: RemoteHost,
    watching: Watching,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imessenger.app.api import Api

    start_demo("coord", idle=False)
    start_demo("box:w2", idle=False)
    wait_for(lambda: host_status(tmux).get("watching") is True, what="the watcher there")
    asked = run_imessenger("send", "--no-reply", "box:w2", "ASK[touch secret-plan.txt]")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: host_status(tmux).get("asking") == 1, what="the prompt there, seen here")
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")  # an agent session, without grants
    status = json.loads(run_imessenger("status", "--json").stdout)
    [there] = status["hosts"]["box"]["sessions"]
    assert (there["state"], there["asking"], there["question"]) == ("asking", None, None)
    listed = json.loads(run_isesh("list", "--json").stdout)
    assert [(r["name"], r["state"], r["asking"]) for r in listed if r["host"] == "box"] == [
        ("w2", "asking", None)
    ]
    assert "secret-plan" not in run_imessenger("approve-menu", "-c", "/dev/null", "--print").stdout
    rows = {row.name: row for row in Api(tmux.socket_name).overview().rows}
    assert (rows["box:w2"].state, rows["box:w2"].asking) == ("asking", None)
    monkeypatch.delenv("IMESSENGER_SESSION")  # the user sees it all
    listed = json.loads(run_isesh("list", "--json").stdout)
    assert [r["asking"] for r in listed if r["host"] == "box"] == ["touch secret-plan.txt"]


@pytest.mark.ssh
@pytest.mark.anyio
async def test_the_send_tool_reaches_a_session_on_a_host(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    from mcp import Client

    from imessenger.app.api import Api
    from imessenger.interfaces.mcp.server import build_server

    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    async with Client(build_server(Api(tmux.socket_name))) as client:
        result = await client.call_tool("send", {"target": "box:w2", "message": "tools too"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["reply"] == "tools too"
    assert result.structured_content["target"] == "box:w2"


@pytest.mark.ssh
@pytest.mark.anyio
async def test_the_inbox_approve_deny_and_reply_tools_reach_a_session_on_a_host(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    from mcp import Client

    from imessenger.app.api import Api
    from imessenger.interfaces.mcp.server import build_server

    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)

    def there() -> str:
        screen = remote_host.as_user("tmux", "capture-pane", "-p", "-S", "-200", "-t", "w2")
        return screen.stdout

    async with Client(build_server(Api(tmux.socket_name))) as client:
        for command, tool, extra in (
            ("touch yes.txt", "approve", {"choice": 1}),
            ("touch no.txt", "deny", {}),
        ):
            message = f"ASK[{command}] NOREPLY"
            sent = await client.call_tool("send", {"target": "box:w2", "message": message})
            assert not sent.is_error, sent.content

            async def prompt_id(command: str = command) -> str | None:
                read = await client.call_tool("inbox", {"session": "box:w2", "peek": True})
                assert not read.is_error, read.content
                assert read.structured_content is not None
                prompt = read.structured_content.get("prompt")
                return str(prompt["id"]) if prompt and prompt["subject"] == command else None

            shown = None
            for _ in range(200):
                shown = await prompt_id()
                if shown:
                    break
                await anyio.sleep(0.05)
            assert shown, "the prompt there, through the inbox tool"
            answered = await client.call_tool(
                tool, {"session": "box:w2", "prompt_id": shown, **extra}
            )
            assert not answered.is_error, answered.content
            assert answered.structured_content is not None
            assert answered.structured_content["session"] == "box:w2"
        wait_for(lambda: "Ran touch yes.txt" in there(), what="approved there")
        wait_for(lambda: "Did not run touch no.txt" in there(), what="denied there")

        # w2 answers with its reply command there (the demo agent runs it): the send
        # waiting here, through that host, gets the reply
        sent = await client.call_tool(
            "send", {"target": "box:w2", "message": "REPLYCMD answered there"}
        )
        assert not sent.is_error, sent.content
        assert sent.structured_content is not None
        assert sent.structured_content["reply"] == "REPLYCMD answered there"  # its body, echoed
        assert sent.structured_content["reply_via"] == "command"
        # a reply in w2's name from here is refused there, as it is here: only the
        # session a message went to replies to it
        pending = await client.call_tool(
            "send", {"target": "box:w2", "message": "NOREPLY not yours", "wait": False}
        )
        assert pending.structured_content is not None
        message_id = str(pending.structured_content["id"])
        assert message_id.startswith("box:")
        refused = await client.call_tool("reply", {"message_id": message_id, "text": "forged"})
        assert refused.is_error
        assert "reply-to-own" in str(refused.content)
    replies = [e for e in remote_json(remote_host, "log", "--json") if e.get("kind") == "reply"]  # type: ignore[union-attr]
    assert [e["text"] for e in replies] == ["REPLYCMD answered there"]  # type: ignore[index]


@pytest.mark.ssh
def test_compose_sends_to_a_session_on_a_host(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    composed = run_imessenger("compose", "box:w2", stdin="NOREPLY written in the popup\n.\n")
    assert composed.exit_code == 0, composed.output
    assert "to box:w2: delivered" in composed.stdout

    def shown_there() -> bool:
        screen = remote_host.as_user("tmux", "capture-pane", "-p", "-S", "-200", "-t", "w2")
        return "written in the popup" in screen.stdout

    wait_for(shown_there, what="the message there")
    nowhere = run_imessenger("compose", "elsewhere:w2", stdin="x\n.\n")
    assert nowhere.exit_code == 1
    assert 'no host "elsewhere" in the config' in nowhere.stderr


@pytest.mark.ssh
def test_a_host_without_imessenger_says_what_to_install(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    write_hosts(box=Host("box", box.destination, box.ssh_args, "/nowhere/imessenger"))
    listed = run_isesh("list")
    assert listed.exit_code == 1
    assert 'host "box" has no imessenger at `/nowhere/imessenger`' in listed.stderr
    assert "pip install imessenger==" in listed.stderr


@pytest.mark.ssh
def test_a_host_that_answers_nothing_is_a_timeout_not_a_hang(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    # sshd frozen: the connection is taken by the kernel, and then nothing comes back
    ssh.close(box)
    process = remote_host.daemon.process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        listed = run_isesh("list")
        took = time.monotonic() - began
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert listed.exit_code == 1
    assert 'host "box"' in listed.stderr
    assert took < ssh.CONNECT_TIMEOUT_S + 10, took


@pytest.mark.ssh
def test_what_a_host_prints_of_an_agent_is_shown_safely_here(
    tmux: Tmux, box: Host, remote_host: RemoteHost
) -> None:
    from test_hostile_text import ALL_NAMED, assert_shown_safely, escaped, on_terminal

    start_demo("box:w2", idle=False)
    wait_for(lambda: '"idle"' in run_isesh("list", "--json", "--host", "box").stdout)
    message = f"UNESCAPE {escaped(ALL_NAMED)}"
    # the command there prints to a pipe, exactly; here, to a terminal, made visible
    code, shown = on_terminal("send", "box:w2", message)
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "osc52: ␛]52;c;cm0gLXJmIH4K␇" in shown
    assert "bidi: \\u202etxt.exe\\u202c" in shown
    piped = subprocess.run([*python_cli(), "send", "box:w2", message], capture_output=True)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == f"UNESCAPE {ALL_NAMED}\n".encode()
    # what every host printed (the log there, under its name)
    code, shown = on_terminal("inbox", "--waiting")
    assert_shown_safely(shown)
    code, shown = on_terminal("log", "box:w2")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "UNESCAPE osc52: ␛]52;c;" in shown
