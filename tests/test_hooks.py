"""``imessenger hook ...``, run from inside a session on real tmux, as the agents run it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from support import (
    ask,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    stays,
    wait_for,
    write_config,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.hook_events import read_event
from imessenger.core.screen import State
from imessenger.core.values import SessionRecord

THREAD = "01a23156-51fe-7732-b652-e78f3ec07f09"
TITLE_THREAD = "01a23156-0000-7000-8000-000000000000"


def rollout(codex_home: Path, thread: str) -> Path:
    day = codex_home / "sessions" / "2026" / "12" / "01"
    path = day / f"rollout-2026-12-01T10-00-{thread}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def notify(thread: str) -> str:
    payload = {"type": "agent-turn-complete", "thread-id": thread, "input-messages": []}
    return shlex.join([*python_cli(), "hook", "codex-notify", json.dumps(payload)])


def record_ref(tmux: Tmux, name: str) -> dict[str, str]:
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get(name)
    assert session is not None
    return dict(json.loads(session.record_ref)) if session.record_ref else {}


def test_codex_notify_names_the_rollout_of_the_session(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    path = rollout(codex_home, THREAD)
    done = tmp_path / "done"
    # the side thread that names the session comes first: it has no rollout, and is
    # not the session's; then the session's own thread
    log = shlex.quote(str(tmp_path / "hook.log"))
    script = (
        f"{notify(TITLE_THREAD)} 2>>{log}; {notify(THREAD)} 2>>{log}; "
        f"touch {shlex.quote(str(done))}; sleep 60"
    )
    started = run_isesh("start", "w1", "--agent", "codex", "--", "sh", "-c", script)
    assert started.exit_code == 0, started.output
    wait_for(done.exists, what="the notify programs to have run")
    assert (tmp_path / "hook.log").read_text() == ""
    assert record_ref(tmux, "w1")["thread_id"] == THREAD
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get("w1")
    assert session is not None
    [ours] = [arg for arg in session.command if arg.startswith("notify=")]
    assert session.command[session.command.index(ours) - 1] == "-c"
    assert path.exists()


def test_the_users_own_notify_runs_after_with_the_payload(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    got = tmp_path / "got.json"
    mine = ["sh", "-c", f'printf %s "$1" > {shlex.quote(str(got))}', "notify"]
    (codex_home / "config.toml").write_text(f"notify = {json.dumps(mine)}\n")
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    rollout(codex_home, THREAD)
    started = run_isesh("start", "w1", "--agent", "codex", "--", "sh", "-c", "sleep 60")
    assert started.exit_code == 0, started.output
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get("w1")
    assert session is not None
    [ours] = [arg for arg in session.command if arg.startswith("notify=")]
    given = json.loads(ours.removeprefix("notify="))
    assert given[-len(mine) :] == mine
    # what Codex would run at the end of a turn: our program, the user's after it
    payload = json.dumps({"type": "agent-turn-complete", "thread-id": THREAD})
    result = run_imessenger("hook", "codex-notify", *mine, payload)
    assert result.exit_code == 0, result.output
    # the file exists before the program wrote it: wait for its text
    wait_for(lambda: got.exists() and got.read_text(), what="the user's notify program")
    assert json.loads(got.read_text()) == json.loads(payload)
    # run outside the session (here, by the test), it speaks for no session
    assert record_ref(tmux, "w1").get("thread_id") is None


def test_a_payload_that_is_not_json_is_refused(tmux: Tmux) -> None:
    result = run_imessenger("hook", "codex-notify", "not json")
    assert result.exit_code == 1
    assert "not JSON" in result.stderr


# --- the demo agent's hooks, as Claude Code's: the events and what they say ----------------


def events(tmux: Tmux, name: str) -> list[tuple[str, str, str]]:
    with Store.open(server=tmux.label) as store:
        found = store.hook_events.recent(name, limit=100)
    return [(e.event, e.state, e.detail) for e in found]


def test_the_demo_agents_hooks_report_start_message_asking_and_done(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get("w1")
    assert session is not None
    assert session.hooks == "demo"
    wait_for(lambda: events(tmux, "w1"), what="the SessionStart event")
    assert events(tmux, "w1") == [("SessionStart", "started", "")]
    ask(sessions, "w1", "ASK[touch it's $(here).txt] please")
    asking = ("PermissionRequest", "asking", "touch it's $(here).txt")
    wait_for(lambda: asking in events(tmux, "w1"), what="the PermissionRequest event")
    [(submit, state, head), found] = events(tmux, "w1")[1:]
    assert (submit, state, found) == ("UserPromptSubmit", "busy", asking)
    # the first line of the message taken, which names its id: lasting evidence of it
    [message] = [m for m in sessions.store.messages.latest(session="w1") if "ASK" in m.body]
    assert head == f"[imessenger] message {message.id} from user:"
    approved = run_imessenger("approve", "w1")
    assert approved.exit_code == 0, approved.output
    done = ("Stop", "idle", "")
    wait_for(lambda: done in events(tmux, "w1"), what="the Stop event")
    assert events(tmux, "w1")[3:] == [done]
    # stopped and started again, the new session starts with none of the old one's events
    assert run_isesh("stop", "w1").exit_code == 0
    start_demo("w1")
    wait_for(lambda: events(tmux, "w1"), what="the new SessionStart event")
    assert events(tmux, "w1") == [("SessionStart", "started", "")]


def test_a_hook_run_outside_the_sessions_records_nothing(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    wait_for(lambda: events(tmux, "w1"), what="the SessionStart event")
    forged = json.dumps({"hook_event_name": "PermissionRequest", "tool_input": {"command": "x"}})
    result = run_imessenger("hook", "event", "demo", stdin=forged)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert events(tmux, "w1") == [("SessionStart", "started", "")]


@pytest.mark.parametrize(
    ("args", "payload", "said"),
    [
        (("demo",), "not json", "payload cannot be read: the payload is not JSON"),
        (("gemini",), "{}", '"gemini" is not a kind of hooks: use one of claude, codex'),
    ],
)
def test_a_hook_that_fails_exits_1_never_2(
    tmux: Tmux, args: tuple[str, ...], payload: str, said: str
) -> None:
    # Claude Code takes a hook's exit status 2 as "deny the tool": a fault of ours must not
    result = run_imessenger("hook", "event", *args, stdin=payload)
    assert result.exit_code == 1
    assert said in result.stderr
    assert result.stdout == ""


def test_aider_s_hook_does_not_read_its_terminal(tmux: Tmux, tmp_path: Path) -> None:
    # Aider runs it with the pane's terminal as stdin: reading would hang Aider
    command = shlex.join([*python_cli(), "hook", "event", "aider"])
    marker = tmp_path / "ran"
    started = run_isesh(
        "start",
        "w1",
        "--agent",
        "aider",
        "--",
        "sh",
        "-c",
        f"{command}; echo $? > {shlex.quote(str(marker))}; sleep 60",
    )
    assert started.exit_code == 0, started.output
    wait_for(marker.exists, what="the hook to return without input")
    assert marker.read_text().strip() == "0"
    wait_for(lambda: events(tmux, "w1"), what="the aider event")
    assert events(tmux, "w1") == [("Notification", "waiting", "")]


#: A stand-in for GitHub Copilot CLI: it runs the hooks of the plugin it is given
#: (``--plugin-dir``) as Copilot CLI 1.0.102 does, through bash with the payload on stdin,
#: and writes their exit statuses to the file named first.
FAKE_COPILOT = """
import json, subprocess, sys, time
statuses, argv = sys.argv[1], sys.argv[2:]
plugin = argv[argv.index("--plugin-dir") + 1]
hooks = json.load(open(plugin + "/hooks/hooks.json"))["hooks"]
payloads = [
    ("UserPromptSubmit", {"hook_event_name": "UserPromptSubmit", "prompt": "first\\nsecond"}),
    ("PermissionRequest", {"hookName": "permissionRequest", "toolInput": {"command": "ls"}}),
    ("PermissionRequest", "not json: a hook of ours that fails"),
    ("Stop", {"hook_event_name": "Stop", "stop_reason": "end_turn"}),
]
done = []
for event, payload in payloads:
    given = payload if isinstance(payload, str) else json.dumps(payload)
    [entry] = hooks[event]
    ran = subprocess.run(["bash", "-c", entry["bash"]], input=given, text=True)
    done.append(ran.returncode)
open(statuses, "w").write(json.dumps(done))
time.sleep(60)
"""


def test_copilot_s_plugin_hooks_report_its_events_and_never_fail(
    tmux: Tmux, tmp_path: Path
) -> None:
    statuses = tmp_path / "statuses.json"
    program = [sys.executable, "-c", FAKE_COPILOT, str(statuses)]
    started = run_isesh("start", "w1", "--agent", "copilot", "--", *program)
    assert started.exit_code == 0, started.output
    record = session_record(tmux, "w1")
    assert record is not None
    plugin = Path(record.files_dir) / "copilot-plugin"
    assert str(plugin) == record.command[record.command.index("--plugin-dir") + 1]
    wait_for(statuses.exists, what="the hooks to have run")
    # Copilot CLI takes a PermissionRequest hook that fails for "deny": ours exit 0
    assert json.loads(statuses.read_text()) == [0, 0, 0, 0]
    expected = [
        ("UserPromptSubmit", "busy", "first"),
        ("PermissionRequest", "asking", "ls"),
        ("Stop", "idle", ""),
    ]
    wait_for(lambda: events(tmux, "w1") == expected, what=f"the events {expected}")
    # the plugin is the session's own, private, and goes with it
    for path in (plugin, plugin / "hooks"):
        assert oct(path.stat().st_mode & 0o777) == "0o700"
    for path in (plugin / "plugin.json", plugin / "hooks" / "hooks.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert run_isesh("stop", "--force", "w1").exit_code == 0
    assert not plugin.exists()


# --- the reply command, pre-allowed by the profile -----------------------------------------


def demo_that_asks() -> None:
    """A user profile ``asker``: the demo agent without a pre-allowed reply command."""
    write_config(
        "[agents.asker]\n"
        'command = ["{python}", "-m", "imessenger.demo.agent", "--startup-ms", "0"]\n'
        'record = "demo"\n'
        'allow_reply = ""\n'
        'hooks = ""\n'
        'exit_text = "/exit"\n'
        + "".join(
            f"{key} = {json.dumps(value)}\n"
            for key, value in load_config().values["agents"]["demo"].items()
            if key.endswith("_patterns") or key == "marker_lines"
        )
    )


def test_the_reply_command_runs_without_a_prompt_where_the_profile_allows_it(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    answered = run_imessenger("send", "--json", "w1", "REPLYCMD: it's `done` $(now)")
    assert answered.exit_code == 0, answered.output
    data = json.loads(answered.stdout)
    assert data["reply"] == "REPLYCMD: it's `done` $(now)"
    assert data["reply_via"] == "command"
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="w1 idle again")
    assert "wants to run a command" not in scrollback(tmux, "w1")  # it never asked


def test_without_the_profiles_allowance_the_reply_command_asks_first(tmux: Tmux) -> None:
    demo_that_asks()
    store = Store.open(server=tmux.label)
    sessions = Sessions(tmux, store, load_config())
    try:
        started = run_isesh("start", "w1", "--agent", "asker")
        assert started.exit_code == 0, started.output
        wait_for(lambda: sessions.view("w1").state is State.IDLE, what="w1 idle")
        sent = run_imessenger("send", "--no-reply", "--json", "w1", "REPLYCMD: hello")
        assert sent.exit_code == 0, sent.output
        message_id = json.loads(sent.stdout)["id"]
        prompt = wait_for(lambda: sessions.view("w1").screen.prompt, what="the prompt")
        assert f" reply {message_id} " in prompt.subject
        stays(lambda: store.messages.get(message_id).reply is None, 0.5, "no reply yet")
        assert run_imessenger("approve", "w1").exit_code == 0
        wait_for(lambda: store.messages.get(message_id).reply, what="the reply")
        assert store.messages.get(message_id).reply_via == "command"
    finally:
        store.close()


def session_record(tmux: Tmux, name: str) -> SessionRecord | None:
    with Store.open(server=tmux.label) as store:
        return store.sessions.get(name)


def test_the_sessions_own_files_go_when_it_stops(tmux: Tmux) -> None:
    started = run_isesh("start", "w1", "--agent", "gemini", "--", "sh", "-c", "sleep 60")
    assert started.exit_code == 0, started.output
    record = session_record(tmux, "w1")
    assert record is not None
    policy = Path(record.files_dir) / "policy.toml"
    assert record.command[-2:] == ("--policy", str(policy))
    assert "commandPrefix" in policy.read_text()
    assert oct(policy.stat().st_mode & 0o777) == "0o600"
    assert run_isesh("stop", "w1").exit_code == 0
    assert not policy.parent.exists()


def test_session_files_that_cannot_be_written_start_nothing(tmux: Tmux, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "sessions").write_text("a file where the folder should be")
    started = run_isesh("start", "w1", "--agent", "gemini", "--", "sh", "-c", "sleep 60")
    assert started.exit_code == 1
    assert "could not write the agent's session files" in started.stderr
    assert not tmux.has_session("w1")
    assert session_record(tmux, "w1") is None


def test_the_console_script_answers_a_hook_without_click(tmux: Tmux) -> None:
    # what the agents run: the script's fast path, as its own process
    import subprocess

    code = (
        "import sys; from imessenger.interfaces.cli import entry; "
        "sys.argv[1:] = ['hook', 'event', 'demo']; "
        "entry.main()"
    )
    bad = subprocess.run(
        [sys.executable, "-c", code], input="not json", capture_output=True, text=True
    )
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "payload cannot be read" in bad.stderr
    check = code.replace(
        "entry.main()",
        "\ntry:\n    entry.main()\nfinally:\n    print('click' in sys.modules)",
    )
    good = subprocess.run(
        [sys.executable, "-c", check],
        input='{"hook_event_name": "Stop"}',
        capture_output=True,
        text=True,
    )
    assert (good.returncode, good.stdout) == (0, "False\n"), good.stderr


def test_an_agent_with_imessengers_mcp_server_is_ready_once_the_server_connected(
    tmux: Tmux, sessions: Sessions
) -> None:
    write_config("[send]\nready_timeout_ms = 1000\n")
    start_demo("w1")
    with Store.open(server=tmux.label) as store:
        # as if its profile registered the server (the demo agent runs none)
        with store._db.write("test") as conn:
            conn.execute("UPDATE sessions SET mcp = 'claude' WHERE name = 'w1'")
        assert sessions.view("w1").state is State.STARTING
        sent = run_imessenger("send", "--no-reply", "--timeout", "300", "w1", "too early")
        assert sent.exit_code != 0  # not pasted before its tools are there
        assert store.sessions.mark_mcp_connected("w1")
    assert sessions.view("w1").state is State.IDLE
    sent = run_imessenger("send", "--no-reply", "w1", "now")
    assert sent.exit_code == 0, sent.output


def test_a_gemini_session_gets_a_home_of_its_own_and_keeps_what_it_changed(
    tmux: Tmux, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = Path.home() / ".gemini"
    user.mkdir()
    (user / "settings.json").write_text('{"ui": {"theme": "mine"}}\n')
    # a stand-in for Gemini CLI that changes a setting, as /theme does
    change = (
        'read go; cd "$GEMINI_CLI_HOME/.gemini" && sed "s/mine/changed/" settings.json > s.new && '
        "cat s.new > settings.json && rm s.new && echo changed && sleep 60"
    )
    started = run_isesh("start", "w1", "--agent", "gemini", "--", "sh", "-c", change)
    assert started.exit_code == 0, started.output
    record = session_record(tmux, "w1")
    assert record is not None
    assert record.mcp == "gemini"
    own = Path(record.files_dir) / "gemini-home" / ".gemini"
    settings = json.loads((own / "settings.json").read_text())
    assert settings["ui"] == {"theme": "mine"}
    assert "imessenger" in settings["mcpServers"]
    pane = AgentPane.of(tmux, "w1")
    pane.type("go")
    pane.press(["Enter"])
    wait_for(lambda: "changed" in scrollback(tmux, "w1"), what="the setting changed")
    stopped = run_isesh("stop", "w1")
    assert stopped.exit_code == 0, stopped.output
    [kept] = (tmp_path / "data" / "kept").iterdir()
    assert f"they are kept in {kept}" in caplog.text  # on stderr, for the user
    assert '"changed"' in (kept / "settings.json").read_text()
    assert not own.exists()
    assert (user / "settings.json").read_text() == '{"ui": {"theme": "mine"}}\n'


def test_a_gemini_session_in_the_home_folder_gets_no_mcp_server(
    tmux: Tmux, caplog: pytest.LogCaptureFixture
) -> None:
    started = run_isesh(
        "start", "w1", "--agent", "gemini", "-d", str(Path.home()), "--", "sh", "-c", "sleep 60"
    )
    assert started.exit_code == 0, started.output
    assert "no imessenger MCP server in a session whose folder is ~" in caplog.text
    record = session_record(tmux, "w1")
    assert record is not None
    assert record.mcp == ""


# --- a failed turn that only the hooks report ----------------------------------------------------


#: The demo agent with OpenCode's hooks: no hook of its own runs; the test reports what
#: OpenCode's plugin would (its screen shows its errors as it shows its messages).
OPENCODE_HOOKS = '[agents.demo]\nhooks = "opencode"\n'


def report(store: Store, name: str, payload: dict[str, object]) -> None:
    """Record what ``imessenger hook event opencode`` records for ``payload``."""
    event = read_event("opencode", json.dumps(payload))
    store.hook_events.add(
        name, kind="opencode", event=event.event, state=event.state, detail=event.detail
    )


def test_a_failed_turn_the_hooks_report_reads_as_the_error_until_the_next_turn(
    tmux: Tmux, store: Store
) -> None:
    """An idle screen that shows no error has the one the session's hooks said its last
    turn ended on: in its view (``Screen.error``) and in ``isesh explain``, with the
    API's control bytes shown as pictures, until the hooks say a turn began again."""
    write_config(OPENCODE_HOOKS)
    sessions = Sessions(tmux, store, load_config())
    start_demo("w1")
    assert sessions.view("w1").screen.error is None
    taken = {"type": "chat.message", "properties": {"sessionID": "ses_1", "text": "hi"}}
    report(store, "w1", taken)
    hostile = "no\x1b]0;owned\x07 #{pane_id} $(touch x) 'q"
    error = {"name": "APIError", "data": {"message": hostile, "statusCode": 401}}
    report(store, "w1", {"type": "session.error", "properties": {"error": error}})
    shown = "no\u241b]0;owned\u2407 #{pane_id} $(touch x) 'q"
    view = sessions.view("w1")
    assert (view.state, view.screen.error) == (State.IDLE, shown)
    assert sessions.look(view)[0].screen.error == shown
    explained = run_isesh("explain", "w1")
    assert explained.exit_code == 0, explained.output
    said = "error     the last turn failed, as its hooks said (session.error at "
    assert said in explained.stdout, explained.stdout
    assert f'its text: "{shown}"' in explained.stdout
    assert "\x1b" not in explained.stdout
    assert "\x07" not in explained.stdout
    data = json.loads(run_isesh("explain", "w1", "--json").stdout)
    assert data["explanation"]["screen"]["error"] == shown
    assert data["reported_error"]["event"] == "session.error"
    # the next turn: the plugin reports the message taken, and the error is over
    assert run_imessenger("send", "w1", "--no-reply", "again").exit_code == 0
    report(store, "w1", {"type": "chat.message", "properties": {"sessionID": "ses_1"}})
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="w1 idle again")
    assert sessions.view("w1").screen.error is None
    assert "error     none" in run_isesh("explain", "w1").stdout
