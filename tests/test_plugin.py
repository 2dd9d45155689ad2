"""The tmux plugin (tmux/imessenger.tmux) loaded into a private tmux server.

Keys, notes and options are read back from tmux. Each menu item and popup command
is run directly (``source-file`` of the item's tmux command, the popup's script),
and the menu and the jump also on a real terminal client in a pseudo-terminal:
never on a control-mode client (seen on tmux 3.3a, a menu aimed at one ended the
server).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    Terminal,
    answer_by_hand,
    ask,
    attached,
    ids_on_any_server,
    inbox_json,
    prompt_id,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    state_of,
    stays,
    wait_for,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.status_cache import running_pid
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.screen import State
from imessenger.core.values import Choice, InboxKind

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tmux" / "imessenger.tmux"
COMMAND = shlex.join(python_cli())
KEYS = {
    "a": "imessenger: answer the sessions asking for permission",
    "A": "imessenger: jump to the next session asking for permission",
    "S": "imessenger: write a message and send it to a session",
    "N": "imessenger: show your inbox and the sessions asking",
    "W": "imessenger: the dashboard of all sessions",
}


@pytest.fixture
def server(tmux: Tmux, tmp_path: Path) -> Tmux:
    """The test's tmux server with a session "main" and the plugin's command option set."""
    tmux.new_session("main", tmp_path, ["sh"], environment={}, width=100, height=30)
    tmux.run("set-option", "-g", "@imessenger-command", COMMAND)
    tmux.run("set-option", "-g", "@imessenger-watch", "off")
    return tmux


def load(tmux: Tmux, **options: str) -> None:
    for name, value in options.items():
        tmux.run("set-option", "-g", f"@imessenger-{name.replace('_', '-')}", value)
    tmux.run("run-shell", str(PLUGIN))


def notes(tmux: Tmux) -> dict[str, str]:
    found = {}
    for line in tmux.run("list-keys", "-N", "-T", "prefix"):
        key, _, note = line.partition(" ")
        found[key] = note.strip()
    return found


def bound(tmux: Tmux, key: str) -> str:
    lines = tmux.run("list-keys", "-T", "prefix")
    return next((line for line in lines if line.split()[3:4] == [key]), "")


def tmux_env(tmux: Tmux) -> dict[str, str]:
    """The environment of a program tmux starts ($TMUX names the server)."""
    socket = tmux.socket_path()
    assert socket is not None
    return {**os.environ, "TMUX": f"{socket},1,0"}


@pytest.fixture
def terminal(server: Tmux) -> Iterator[Terminal]:
    """A terminal client attached to "main"; ended (by its pid) after the test."""
    with attached(server, "=main") as terminal:
        yield terminal


# --- loading -------------------------------------------------------------------------------


def test_plugin_binds_its_keys_with_notes_and_the_status_segment(server: Tmux) -> None:
    server.run("set-option", "-g", "status-right", "#{imessenger_status} %H:%M")
    load(server)
    assert {key: notes(server).get(key) for key in KEYS} == KEYS
    assert "approve-menu -c '#{client_name}'" in bound(server, "a")
    assert "display-popup" in bound(server, "S")
    [segment] = server.run("show-option", "-gqv", "@imessenger-status")
    assert segment.startswith("#(sh ")
    assert segment.endswith("run.sh' status)")
    assert server.run("show-option", "-gqv", "status-right") == [f"{segment} %H:%M"]
    shell = segment[2:-1]  # what tmux runs for the segment
    out = subprocess.run(["sh", "-c", shell], env=tmux_env(server), capture_output=True, text=True)
    assert out.stdout == "imessenger: not watching\n", out.stderr


def test_options_change_the_keys(server: Tmux) -> None:
    load(server, menu_key="M-a", inbox_key="none", popup_width="50%")
    found = notes(server)
    assert found.get("M-a") == KEYS["a"]
    assert "a" not in found
    assert "N" not in found
    assert '-w "50%"' in bound(server, "S")


def test_plugin_starts_the_watcher_when_asked(server: Tmux) -> None:
    try:
        load(server, watch="on")
        pid = wait_for(lambda: running_pid(server.label), what="the watcher started by the plugin")
        assert pid > 0
    finally:
        run_imessenger("watch", "--stop")
    assert running_pid(server.label) is None


def test_tmux_conf_prints_lines_that_load_the_plugin(server: Tmux, tmp_path: Path) -> None:
    result = run_imessenger("tmux-conf")
    assert result.exit_code == 0, result.output
    assert f"run-shell 'sh {PLUGIN}'" in result.stdout.splitlines()
    assert "set -g @imessenger-command" in result.stdout
    conf = tmp_path / "tmux.conf"
    conf.write_text(result.stdout, encoding="utf-8")
    server.run("source-file", str(conf))
    assert notes(server).get("a") == KEYS["a"]
    [command] = server.run("show-option", "-gqv", "@imessenger-command")
    assert command == f"{sys.executable} -m imessenger"


def test_the_top_level_file_tpm_runs_loads_the_plugin(server: Tmux) -> None:
    server.run("run-shell", f"sh {shlex.quote(str(ROOT / 'imessenger.tmux'))}")
    assert {key: notes(server).get(key) for key in KEYS} == KEYS


# --- restoring the sessions when the tmux server starts (@imessenger-restore) -----------------


def reply(name: str, text: str) -> str:
    sent = run_imessenger("send", name, text)
    assert sent.exit_code == 0, sent.output
    return sent.stdout.strip()


def started_again(tmux: Tmux, tmp_path: Path, *options: str) -> None:
    """Kill the tmux server, then start a new one on the same socket with a session "main",
    which loads the plugin from ~/.tmux.conf as it starts (the lines `imessenger tmux-conf`
    prints), after ``options`` ("@imessenger-restore on")."""
    tmux.run("kill-server")
    wait_for(lambda: not tmux.is_running(), what="the tmux server gone")
    conf = run_imessenger("tmux-conf")
    assert conf.exit_code == 0, conf.output
    lines = ["set -g @imessenger-watch off", *(f"set -g {option}" for option in options)]
    (Path.home() / ".tmux.conf").write_text("\n".join([*lines, conf.stdout]), encoding="utf-8")
    tmux.new_session("main", tmp_path, ["sh"], environment={}, width=120, height=30)


def remembered() -> dict[str, str]:
    """The state of each session isesh started or remembers (``isesh list --all``)."""
    listed = run_isesh("list", "--all", "--json")
    assert listed.exit_code == 0, listed.output
    return {r["name"]: r["state"] for r in json.loads(listed.stdout) if r["managed"]}


def restore_notices() -> list[dict[str, str]]:
    entries = inbox_json("--peek")["entries"]
    return [e for e in entries if e["kind"] == "notice" and e["title"].startswith("restored ")]


def test_the_plugin_restores_the_sessions_when_its_server_starts(
    server: Tmux, tmp_path: Path
) -> None:
    folders = {name: tmp_path / name for name in ("w1", "w2", "w3")}
    for name, folder in folders.items():
        folder.mkdir()
        start_demo(name, folder=folder)
        assert reply(name, f"the note of {name}") == f"the note of {name}"
    assert run_isesh("stop", "w2").exit_code == 0  # stopped on purpose: not brought back
    folders["w3"].rmdir()  # w3 cannot come back
    started_again(server, tmp_path, "@imessenger-restore on")

    with attached(server, "=main") as terminal:
        wait_for(restore_notices, seconds=20, what="the restore's notice in the inbox")
        [notice] = restore_notices()
        assert notice["title"] == (f"restored 1 session, 1 failed (tmux server {server.label})")
        assert notice["body"].startswith(f"w1: resumed\nw3: failed (its folder {folders['w3']}")
        wait_for(
            lambda: terminal.shows(
                "imessenger: restored 1 session, 1 failed: `imessenger inbox` says why"
            ),
            what="the summary on the client",
        )
    assert sorted(server.session_names()) == ["main", "w1"]
    wait_for(lambda: state_of(server, "w1") is State.IDLE, what="w1 idle")
    assert reply("w1", "RECALL") == "recall: the note of w1"  # in its own conversation
    assert remembered() == {"w1": "idle", "w2": "restorable", "w3": "restorable"}

    # loaded again: nothing is restored a second time
    [marker] = server.run("show-option", "-gqv", "@imessenger-restored")
    assert marker.isdigit()
    server.run("kill-session", "-t", "=w1")  # it ended: a second restore would bring it back
    server.run("source-file", str(Path.home() / ".tmux.conf"))
    stays(lambda: not server.has_session("w1"), 3.0, "w1 not restored again")
    assert len(restore_notices()) == 1


def test_the_plugin_restores_nothing_unless_asked(server: Tmux, tmp_path: Path) -> None:
    start_demo("w1")
    started_again(server, tmp_path)  # @imessenger-restore is off by default
    assert notes(server).get("a") == KEYS["a"]  # the plugin was loaded
    stays(lambda: not server.has_session("w1"), 3.0, "w1 not restored")
    assert server.run("show-option", "-gqv", "@imessenger-restored") == []
    assert restore_notices() == []
    assert remembered() == {"w1": "restorable"}


def test_a_server_that_started_a_while_ago_restores_nothing(
    server: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_demo("w1")
    # the clock the plugin reads says two minutes have gone by since the server started
    # (tmux's programs get the PATH the server started with)
    later = tmp_path / "later"
    later.mkdir()
    date = later / "date"
    real = shutil.which("date")
    assert real is not None
    date.write_text(f"#!/bin/sh\necho $(( $({shlex.quote(real)} +%s) + 120 ))\n")
    date.chmod(0o755)
    monkeypatch.setenv("PATH", f"{later}{os.pathsep}{os.environ['PATH']}")
    started_again(server, tmp_path, "@imessenger-restore on")
    assert notes(server).get("a") == KEYS["a"]  # the plugin was loaded
    stays(lambda: not server.has_session("w1"), 3.0, "w1 not restored")
    assert server.run("show-option", "-gqv", "@imessenger-restored") == []
    assert restore_notices() == []


def test_restore_on_start_says_nothing_when_nothing_ended(server: Tmux) -> None:
    start_demo("w1")
    done = run_imessenger("restore-on-start")
    assert done.exit_code == 0, done.output
    assert done.stdout == "w1: running\n"
    assert restore_notices() == []
    assert run_isesh("stop", "w1").exit_code == 0
    done = run_imessenger("restore-on-start")
    assert (done.exit_code, done.stdout) == (0, "")
    assert not server.has_session("w1")


# --- the menu, run item by item ---------------------------------------------------------------


def menu_items(client: str = "nobody") -> dict[str, list[tuple[str, str, str]]]:
    """The approval menu, by session: (label, key, command) of each answer and of Show."""
    result = run_imessenger("approve-menu", "-c", client, "--print")
    assert result.exit_code == 0, result.output
    by_session: dict[str, list[tuple[str, str, str]]] = {}
    current = ""
    for line in result.stdout.splitlines()[1:]:
        if not line:
            continue
        label, key, command = line.split("\t")
        if label.startswith("-"):
            current = label[1:].split(" ")[0]
            by_session[current] = []
        else:
            by_session[current].append((label.strip(), key, command))
    return by_session


def run_item(tmux: Tmux, command: str, tmp_path: Path) -> None:
    """Run a menu item's command as tmux would: expand its formats once, then parse it."""
    item = tmp_path / "item.conf"
    item.write_text(command.replace("##", "#") + "\n", encoding="utf-8")
    tmux.run("source-file", str(item))


def test_each_menu_item_answers_its_session(
    server: Tmux, sessions: Sessions, tmp_path: Path
) -> None:
    start_demo("w1", idle=False)
    start_demo("w2", idle=False)
    ask(sessions, "w1", "ASK[touch one.txt] BUSY[50]")
    ask(sessions, "w2", "ASK2[rm two.txt] BUSY[50]")
    menu = menu_items()
    assert [item[:2] for item in menu["w1"]] == [
        ("Yes", "y"),
        ("Yes, don't ask again", "a"),
        ("No", "n"),
        ("Show", "s"),
    ]
    assert [item[:2] for item in menu["w2"]] == [("Yes", ""), ("No", ""), ("Show", "")]
    assert menu["w1"][3][2] == f"switch-client -t '{server.session_id('w1')}'"

    run_item(server, menu["w1"][1][2], tmp_path)  # "Yes, don't ask again"
    run_item(server, menu["w2"][1][2], tmp_path)  # "No"
    with Store.open(server=server.socket_name) as store:
        wait_for(lambda: len(store.approvals.latest()) == 2, what="both answered")
        answers = {r.session: (r.actor, r.choice, r.closed) for r in store.approvals.latest()}
    assert answers == {
        "w1": ("user", Choice.YES_ALWAYS, True),
        "w2": ("user", Choice.NO, True),
    }
    after = run_imessenger("approve-menu", "-c", "nobody", "--print").stdout
    assert after.splitlines()[1:] == ["-no session is asking\t\t"]


def test_a_menu_item_answers_only_the_prompt_the_menu_showed(
    server: Tmux, terminal: Terminal, sessions: Sessions, tmp_path: Path
) -> None:
    start_demo("w1", idle=False)
    ask(sessions, "w1", "ASK[touch one.txt] BUSY[50]")
    first = prompt_id("w1")
    menu = menu_items(terminal.name)
    for label, _, command in menu["w1"][:3]:
        assert f"--prompt {first}" in command, (label, command)
    # the prompt changes before an item is picked: answered in its pane, and another asks
    answer_by_hand(server, sessions, "w1", "3", "● Did not run touch one.txt")
    ask(sessions, "w1", "ASK[touch two.txt] BUSY[50]")
    before = AgentPane.of(server, "w1").look()
    run_item(server, menu["w1"][0][2], tmp_path)  # "Yes", as the menu showed it
    wait_for(lambda: terminal.shows(f"imessenger: the prompt {first} of"), what="the refusal")
    assert AgentPane.of(server, "w1").look() == before
    assert sessions.view("w1").state is State.ASKING
    with Store.open(server=server.socket_name) as store:
        assert ids_on_any_server(store, "approvals") == []
    # shown on the client, the refusal leaves the panes alone (no exit status over them)
    panes = server.run("list-panes", "-a", "-F", "#{session_name} #{pane_in_mode}")
    assert sorted(panes) == ["main 0", "w1 0"]
    # the menu built anew shows the new prompt, and its item answers it
    again = menu_items(terminal.name)["w1"][0][2]
    assert f"--prompt {prompt_id('w1')}" in again
    run_item(server, again, tmp_path)
    wait_for(lambda: terminal.shows('"w1": yes, this once'), what="the answer shown")
    wait_for(lambda: "● Ran touch two.txt" in AgentPane.of(server, "w1").look(), what="ran")
    assert "● Ran touch one.txt" not in AgentPane.of(server, "w1").look(history=200)


def test_menu_and_jump_on_a_terminal_client(
    server: Tmux, terminal: Terminal, sessions: Sessions
) -> None:
    start_demo("w1", idle=False)
    ask(sessions, "w1", "ASK[touch t.txt] BUSY[50]")
    jumped = run_imessenger("jump", "-c", terminal.name)
    assert jumped.exit_code == 0, jumped.output
    assert jumped.stdout == "w1\n"
    wait_for(lambda: [c.session for c in server.clients() if c.name == terminal.name] == ["w1"])

    # display-menu returns when the menu closes: run it beside the test, as run-shell -b does
    menu = subprocess.Popen([*python_cli(), "approve-menu", "-c", terminal.name])
    try:
        wait_for(lambda: terminal.shows("imessenger: 1 asking"), what="the menu drawn")
        terminal.type(b"y")  # the menu's key for "Yes" of the first session
        assert menu.wait(20) == 0
    finally:
        if menu.poll() is None:
            menu.terminate()
            menu.wait()
    with Store.open(server=server.socket_name) as store:
        wait_for(lambda: store.approvals.latest("w1"), what="the answer given from the menu")
        [record] = store.approvals.latest("w1")
    assert (record.choice, record.closed) == (Choice.YES_ONCE, True)
    wait_for(lambda: terminal.shows('"w1": yes, this once'), what="the outcome shown")
    nothing = run_imessenger("jump", "-c", terminal.name)
    assert "no session is asking" in nothing.stderr


# --- the popups' commands ---------------------------------------------------------------------


def test_send_popup_sends_a_multi_line_message(server: Tmux) -> None:
    start_demo("w1", idle=False)
    wait_for(lambda: "demo>" in AgentPane.of(server, "w1").look(), what="w1 ready")
    result = run_imessenger("compose", stdin="1\nfirst line\nsecond line\n.\n")
    assert result.exit_code == 0, result.output
    assert "1. w1" in result.stdout
    assert "to w1: delivered" in result.stdout or "to w1: queued" in result.stdout
    with Store.open(server=server.socket_name) as store:
        [message] = store.messages.latest(session="w1")
    assert (message.sender, message.body) == ("user", "first line\nsecond line")


def test_inbox_popup_shows_the_inbox_and_who_is_asking(server: Tmux, sessions: Sessions) -> None:
    load(server)
    start_demo("w1", idle=False)
    ask(sessions, "w1", "ASK[touch i.txt] BUSY[50]")
    with Store.open(server=server.socket_name) as store:
        store.inbox.add("user", InboxKind.NOTICE, "a notice for you", "its body")
    script = PLUGIN.parent / "scripts" / "inbox.sh"
    out = subprocess.run(
        ["sh", str(script)], env=tmux_env(server), input="\n", capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "a notice for you" in out.stdout
    assert '"w1" (demo) asks: Do you want to proceed?' in out.stdout
    assert "[press Enter to close]" in out.stdout
