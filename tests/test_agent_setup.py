"""What isesh adds to an agent's command line (imessenger.core.agent_setup), and what the
agents' hooks report (imessenger.core.hook_events): pure, on text alone."""

from __future__ import annotations

import json
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from imessenger.core.agent_setup import (
    CLAUDE_HOOK_EVENTS,
    COPILOT_HOOK_EVENTS,
    COPILOT_PLUGIN,
    hook_command,
    own_command,
    reply_command,
    setup,
)
from imessenger.core.hook_events import (
    ASKING,
    BUSY,
    IDLE,
    STARTED,
    WAITING,
    PayloadError,
    read_event,
)

FOLDER = Path("/data/sessions/w1-0123456789ab")


def settings_of(args: tuple[str, ...]) -> dict[str, object]:
    assert args[-2] == "--settings"
    value = json.loads(args[-1])
    assert isinstance(value, dict)
    return value


def test_the_own_command_is_absolute_and_the_reply_command_ends_in_reply() -> None:
    command = own_command()
    assert Path(command[0]).is_absolute()
    assert command == [str(Path(sys.executable).with_name("imessenger"))] or command == [
        sys.executable,
        "-m",
        "imessenger",
    ]
    assert shlex.split(reply_command()) == [*command, "reply"]


def test_the_hook_command_is_the_thin_client_run_as_a_file_without_site_packages() -> None:
    import imessenger

    thin = Path(imessenger.__file__).resolve().parent / "interfaces" / "cli" / "thin.py"
    assert thin.is_file()
    expected = [sys.executable, "-I", "-S", str(thin), "hook", "event", "claude"]
    assert shlex.split(hook_command("claude")) == expected


def test_claude_gets_one_settings_argument_with_the_reply_rule_and_four_hooks() -> None:
    done = setup("claude", "claude", ["claude", "--session-id", "x"], FOLDER)
    settings = settings_of(done.args)
    assert done.args[:-2] == ()
    assert settings["permissions"] == {"allow": [f"Bash({reply_command()}:*)"]}
    hooks = settings["hooks"]
    assert isinstance(hooks, dict)
    assert tuple(hooks) == CLAUDE_HOOK_EVENTS
    for entries in hooks.values():
        [entry] = entries
        [run] = entry["hooks"]
        assert run["type"] == "command"
        assert shlex.split(run["command"])[-3:] == ["hook", "event", "claude"]
    assert done.files == {}


def test_a_command_line_with_its_own_settings_keeps_them_without_ours() -> None:
    for given in (["claude", "--settings", "mine.json"], ["claude", "--settings=mine.json"]):
        done = setup("claude", "claude", given, FOLDER)
        assert done.args == ()
        assert "--settings" in done.skipped


def test_gemini_gets_a_policy_file_of_its_own_that_allows_the_reply_command_only() -> None:
    done = setup("gemini", "", ["gemini"], FOLDER)
    assert done.args == ("--policy", str(FOLDER / "policy.toml"))
    [rule] = tomllib.loads(done.files["policy.toml"])["rule"]
    assert rule == {
        "toolName": "run_shell_command",
        "commandPrefix": reply_command(),
        "decision": "allow",
        "priority": 500,
    }


def test_a_path_with_quotes_and_spaces_stays_one_word(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = "/opt/my tools/it's $(here)/python3"
    monkeypatch.setattr(sys, "executable", odd)
    assert shlex.split(reply_command()) == [odd, "-m", "imessenger", "reply"]
    [rule] = tomllib.loads(setup("gemini", "", [], FOLDER).files["policy.toml"])["rule"]
    assert rule["commandPrefix"] == reply_command()
    done = setup("", "aider", ["aider"], FOLDER)
    assert done.args[:2] == ("--notifications", "--notifications-command")
    [python, flags, isolated, thin, *rest] = shlex.split(done.args[2])
    assert (python, flags, isolated, rest) == (odd, "-I", "-S", ["hook", "event", "aider"])
    assert thin.endswith("/imessenger/interfaces/cli/thin.py")


def test_demo_codex_and_nothing() -> None:
    done = setup("demo", "demo", ["demo"], FOLDER)
    assert done.args == (
        "--allow",
        reply_command(),
        "--hook-command",
        hook_command("demo"),
    )
    assert setup("", "codex", ["codex"], FOLDER).args == ()  # its notify is the record's
    assert setup("", "", ["sh"], FOLDER) == setup("", "", [], FOLDER)
    assert setup("", "", ["sh"], FOLDER).args == ()


# --- what the hooks report ------------------------------------------------------------------


def claude_payload(event: str, **fields: object) -> str:
    return json.dumps({"session_id": "s", "hook_event_name": event, **fields})


@pytest.mark.parametrize(
    ("event", "state"),
    [
        ("SessionStart", STARTED),
        ("UserPromptSubmit", BUSY),
        ("Stop", IDLE),
        ("PreToolUse", ""),
        ("Notification", ""),
    ],
)
def test_claude_events_and_what_they_say(event: str, state: str) -> None:
    read = read_event("claude", claude_payload(event))
    assert (read.event, read.state, read.detail) == (event, state, "")


def test_a_permission_request_is_asking_about_its_command_or_its_tool() -> None:
    asked = read_event(
        "claude",
        claude_payload(
            "PermissionRequest", tool_name="Bash", tool_input={"command": "rm -rf build"}
        ),
    )
    assert (asked.state, asked.detail) == (ASKING, "rm -rf build")
    other = read_event("demo", claude_payload("PermissionRequest", tool_name="Edit"))
    assert (other.state, other.detail) == (ASKING, "Edit")
    huge = read_event(
        "claude", claude_payload("PermissionRequest", tool_input={"command": "x" * 5000})
    )
    assert len(huge.detail) == 2000


def test_codex_turn_end_and_aider_waiting() -> None:
    turn = read_event("codex", json.dumps({"type": "agent-turn-complete", "thread-id": "t"}))
    assert (turn.event, turn.state) == ("agent-turn-complete", IDLE)
    assert read_event("codex", json.dumps({"type": "approval-requested"})).state == ""
    assert read_event("aider", "") == read_event("aider", "ignored")
    assert read_event("aider", "").state == WAITING


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"session_id": "s"}', "no hook_event_name"),
        ('{"hook_event_name": 3}', "no hook_event_name"),
    ],
)
def test_a_payload_that_cannot_be_read_says_why(payload: str, why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        read_event("claude", payload)


def test_a_kind_without_hooks_is_refused() -> None:
    with pytest.raises(ValueError, match='"gemini" is not a kind of hooks'):
        read_event("gemini", "{}")


# --- imessenger's MCP server, registered per session ---------------------------------------


def test_claude_gets_the_mcp_server_and_its_tools_pre_allowed_but_approve() -> None:
    done = setup("claude", "", ["claude"], FOLDER, mcp="claude")
    assert done.args[0] == "--mcp-config"
    [server] = json.loads(done.args[1])["mcpServers"].values()
    assert [server["command"], *server["args"]] == [*own_command(), "mcp"]
    allowed = settings_of(done.args)["permissions"]["allow"]  # type: ignore[index]
    assert allowed == [
        f"Bash({reply_command()}:*)",
        "mcp__imessenger__sessions",
        "mcp__imessenger__send",
        "mcp__imessenger__reply",
        "mcp__imessenger__inbox",
    ]
    approver = setup("", "", ["claude"], FOLDER, mcp="claude", approver=True)
    allowed = settings_of(approver.args)["permissions"]["allow"]  # type: ignore[index]
    assert allowed[-2:] == ["mcp__imessenger__approve", "mcp__imessenger__deny"]


def test_codex_gets_the_mcp_server_through_config_overrides() -> None:
    done = setup("", "codex", ["codex"], FOLDER, mcp="codex")
    values = [done.args[i + 1] for i in range(0, len(done.args), 2)]
    assert all(done.args[i] == "-c" for i in range(0, len(done.args), 2))
    parsed = tomllib.loads("\n".join(values))
    server = parsed["mcp_servers"]["imessenger"]
    assert [server["command"], *server["args"]] == [*own_command(), "mcp"]
    assert {tool: t["approval_mode"] for tool, t in server["tools"].items()} == {
        "sessions": "approve",
        "send": "approve",
        "reply": "approve",
        "inbox": "approve",
    }


def test_gemini_gets_the_mcp_server_in_its_own_home_and_the_tools_in_its_policy() -> None:
    done = setup("gemini", "", ["gemini"], FOLDER, mcp="gemini", socket="s1")
    server = done.gemini_settings["mcpServers"]["imessenger"]  # type: ignore[index]
    assert [server["command"], *server["args"]] == [*own_command(), "-L", "s1", "mcp"]
    assert done.args == ("--policy", str(FOLDER / "policy.toml"))
    rules = tomllib.loads(done.files["policy.toml"])["rule"]
    assert rules[0]["commandPrefix"] == reply_command()  # one file holds both
    assert [(r.get("mcpName"), r.get("toolName")) for r in rules[1:]] == [
        ("imessenger", "sessions"),
        ("imessenger", "send"),
        ("imessenger", "reply"),
        ("imessenger", "inbox"),
    ]
    approver = setup("", "", ["gemini"], FOLDER, mcp="gemini", approver=True)
    tools = [r["toolName"] for r in tomllib.loads(approver.files["policy.toml"])["rule"]]
    assert tools[-2:] == ["approve", "deny"]
    assert setup("gemini", "", ["gemini"], FOLDER).gemini_settings == {}


def test_qwen_gets_hooks_reply_rule_and_mcp_server_in_settings_of_its_own() -> None:
    done = setup("qwen", "qwen", ["qwen"], FOLDER, mcp="qwen", socket="s1")
    assert (done.args, done.files, done.gemini_settings) == ((), {}, {})  # no flag: settings
    settings = done.qwen_settings
    hooks = settings["hooks"]
    assert isinstance(hooks, dict)
    assert list(hooks) == list(CLAUDE_HOOK_EVENTS)
    [entry] = hooks["PermissionRequest"][0]["hooks"]
    assert entry["command"] == hook_command("qwen")
    assert entry["async"] is True  # Qwen Code goes on at once
    server = settings["mcpServers"]["imessenger"]  # type: ignore[index]
    assert [server["command"], *server["args"]] == [*own_command(), "-L", "s1", "mcp"]
    # declared up front: else Qwen Code hides the tools behind its tool_search
    assert server["alwaysLoadTools"] is True
    assert settings["permissions"] == {
        "allow": [
            f"Bash({reply_command()} *)",
            "mcp__imessenger__sessions",
            "mcp__imessenger__send",
            "mcp__imessenger__reply",
            "mcp__imessenger__inbox",
        ]
    }
    # a suggestion would be drawn in the input box as typed text, and Enter takes it
    assert settings["ui"] == {"enableFollowupSuggestions": False}
    approver = setup("", "", ["qwen"], FOLDER, mcp="qwen", approver=True)
    allowed = approver.qwen_settings["permissions"]["allow"]  # type: ignore[index]
    assert allowed[-2:] == ["mcp__imessenger__approve", "mcp__imessenger__deny"]
    assert "hooks" not in approver.qwen_settings


def test_qwen_without_any_of_the_three_gets_no_settings() -> None:
    assert setup("", "", ["qwen"], FOLDER).qwen_settings == {}
    only_hooks = setup("", "qwen", ["qwen"], FOLDER).qwen_settings
    assert sorted(only_hooks) == ["hooks", "ui"]


def test_qwen_events_read_as_claude_codes() -> None:
    asked = read_event(
        "qwen",
        claude_payload(
            "PermissionRequest", tool_name="run_shell_command", tool_input={"command": "touch x"}
        ),
    )
    assert (asked.event, asked.state, asked.detail) == ("PermissionRequest", ASKING, "touch x")
    # after a tool's result the turn goes on with an empty prompt: still busy
    going_on = read_event("qwen", claude_payload("UserPromptSubmit", prompt=""))
    assert (going_on.state, going_on.detail) == (BUSY, "")
    assert read_event("qwen", claude_payload("Stop", last_assistant_message="x")).state == IDLE
    assert read_event("qwen", claude_payload("Notification")).state == ""


# --- GitHub Copilot CLI -------------------------------------------------------------------


def test_copilot_gets_a_plugin_of_its_own_with_its_hooks() -> None:
    done = setup("", "copilot", ["copilot"], FOLDER)
    assert done.args == ("--plugin-dir", str(FOLDER / COPILOT_PLUGIN))
    manifest = json.loads(done.files[f"{COPILOT_PLUGIN}/plugin.json"])
    assert manifest["name"] == "imessenger"
    hooks = json.loads(done.files[f"{COPILOT_PLUGIN}/hooks/hooks.json"])
    assert hooks["version"] == 1
    assert list(hooks["hooks"]) == list(COPILOT_HOOK_EVENTS)
    for [entry] in hooks["hooks"].values():
        assert entry["type"] == "command"
        # a failing PermissionRequest hook would deny the request: ours never fails
        assert entry["bash"] == f"{hook_command('copilot')} || true"
    assert not done.skipped


def test_copilot_runs_the_imessenger_program_without_asking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    program = tmp_path / "odd (dir)" / "imessenger"
    monkeypatch.setattr("imessenger.core.agent_setup.own_command", lambda: [str(program)])
    done = setup("copilot", "", ["copilot"], FOLDER)
    # Copilot CLI matches the program alone (and asks for a path outside the folder first)
    assert done.args == ("--add-dir", str(program.parent), f"--allow-tool=shell({program}:*)")
    # run as "python -m imessenger", a rule would let any Python run: none
    as_module = [sys.executable, "-m", "imessenger"]
    monkeypatch.setattr("imessenger.core.agent_setup.own_command", lambda: as_module)
    assert setup("copilot", "", ["copilot"], FOLDER).args == ()


def test_copilot_gets_the_mcp_server_and_its_tools_pre_allowed_but_approve() -> None:
    done = setup("", "", ["copilot"], FOLDER, mcp="copilot", socket="s1")
    assert done.args[0] == "--additional-mcp-config"
    [server] = json.loads(done.args[1])["mcpServers"].values()
    assert [server["command"], *server["args"]] == [*own_command(), "-L", "s1", "mcp"]
    assert done.args[2:] == (
        "--allow-tool=imessenger(sessions)",
        "--allow-tool=imessenger(send)",
        "--allow-tool=imessenger(reply)",
        "--allow-tool=imessenger(inbox)",
    )
    approver = setup("", "", ["copilot"], FOLDER, mcp="copilot", approver=True)
    assert approver.args[-2:] == (
        "--allow-tool=imessenger(approve)",
        "--allow-tool=imessenger(deny)",
    )


@pytest.mark.parametrize(
    ("payload", "event", "state", "detail"),
    [
        # hooks named the Claude Code way get Claude Code's payload...
        (
            {"hook_event_name": "UserPromptSubmit", "prompt": "first line\nsecond"},
            "UserPromptSubmit",
            BUSY,
            "first line",
        ),
        ({"hook_event_name": "Stop", "stop_reason": "end_turn"}, "Stop", IDLE, ""),
        # ...but PermissionRequest, in 1.0.102, its own camelCase one
        (
            {"hookName": "permissionRequest", "toolName": "bash", "toolInput": {"command": "ls"}},
            "PermissionRequest",
            ASKING,
            "ls",
        ),
        (
            {"hookName": "permissionRequest", "toolName": "write"},
            "PermissionRequest",
            ASKING,
            "write",
        ),
        # it starts a session at its first message: SessionStart says nothing of the start
        ({"hook_event_name": "SessionStart", "source": "new"}, "SessionStart", "", ""),
    ],
)
def test_copilot_events_and_what_they_say(
    payload: dict[str, object], event: str, state: str, detail: str
) -> None:
    read = read_event("copilot", json.dumps({"session_id": "s", **payload}))
    assert (read.event, read.state, read.detail) == (event, state, detail)


def test_a_copilot_payload_without_an_event_name_says_why() -> None:
    with pytest.raises(PayloadError, match="no hook_event_name"):
        read_event("copilot", '{"sessionId": "s"}')
