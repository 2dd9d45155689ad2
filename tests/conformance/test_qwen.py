"""Qwen Code 0.24.4, run for real in tmux against a fake OpenAI Chat Completions API.

The scenarios live in scenarios.py; this module runs them on Qwen Code. Its replies are
read from its own chat record (it renders Markdown on screen); its hooks, the reply
rule and imessenger's MCP server come from the settings file isesh gives the session.
"""

from __future__ import annotations

import json
from pathlib import Path

import fake_qwen
import pytest
import scenarios
from real_agents import Agent
from support import write_config

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


@pytest.fixture(autouse=True)
def slow_start(tests_configuration: None) -> None:
    """Qwen Code shows its input box 5 to 10 s after its start (it connects its MCP
    servers first), and two of them start at once in the delegation: the scenarios send
    right after the start, so send waits for it to be ready longer than the default 20 s,
    and for the reply too (docs/agents.md says so to users)."""
    write_config("[send]\nready_timeout_ms = 60000\ntimeout_ms = 90000\n")  # autostart off


def test_start_states_first_message_and_exact_reply(qwen: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(qwen)


def test_markdown_reply_comes_back_byte_for_byte(qwen: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(qwen)


def test_message_while_busy_is_delivered_once(qwen: Agent) -> None:
    # Enter while it works would steer the running turn: send waits until it is idle
    scenarios.message_while_busy_is_delivered_once(qwen)


def test_prompt_holds_messages_and_approve_runs_once(qwen: Agent) -> None:
    scenarios.prompt_holds_messages_and_approve_runs_once(qwen)


def test_approve_always_deny_and_nothing_asking(qwen: Agent) -> None:
    # approve 2 is "Always allow ... in this project", not "... for this user"
    scenarios.approve_always_deny_and_nothing_asking(qwen)


def test_reply_command_needs_no_permission(qwen: Agent) -> None:
    scenarios.reply_command_needs_no_permission(qwen)


def test_hooks_agree_with_the_screen(qwen: Agent) -> None:
    scenarios.hooks_agree_with_the_screen(
        qwen,
        [
            ("SessionStart", "started"),
            ("UserPromptSubmit", "busy"),
            ("PermissionRequest", "asking"),
            ("Stop", "idle"),
        ],
    )


def test_a_coordinator_delegates_to_two_workers_through_the_tools(qwen: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(qwen, "mcp__imessenger__{}".format)


def test_restore_resumes_its_conversation_after_a_killed_server(qwen: Agent) -> None:
    # --session-id becomes --resume: the same chat file goes on
    scenarios.resumes_its_conversation_after_a_killed_server(qwen)


def test_usage_is_read_from_its_chat(qwen: Agent) -> None:
    # its api_response telemetry event of each response: the cached input is counted in
    # the prompt, the reasoning in the completion
    usage = fake_qwen.USAGE
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    scenarios.usage_is_read_from_its_record(
        qwen,
        {
            "input_tokens": usage["prompt_tokens"] - cached,
            "output_tokens": usage["completion_tokens"],
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "model": "fake-model",
        },
    )


def test_a_coordinator_finds_the_tools_behind_tool_search(qwen: Agent, isolated_home: Path) -> None:
    """Where the machine's own settings defer imessenger's tools (they win over isesh's
    ``alwaysLoadTools``), the model still finds ``send`` with ``tool_search`` and calls it
    through ``tool_call``, and the allow rules still spare it the prompt."""
    system = {"mcpServers": {"imessenger": {"alwaysLoadTools": False}}}
    (isolated_home / "qwen-system.json").write_text(json.dumps(system))
    scenarios.coordinator_delegates_through_the_tools(qwen, "mcp__imessenger__{}".format)
    called = [
        call["function"]["name"]
        for request in qwen.script.requests
        for message in request.get("messages") or []
        for call in message.get("tool_calls") or []
    ]
    assert "tool_search" in called
    assert "tool_call" in called
    assert "mcp__imessenger__send" not in called  # never declared: reached through the bridge


def test_a_failed_turn_reads_as_error(qwen: Agent) -> None:
    # "✕ [API Error: 401 invalid x-api-key] (Press Ctrl+Y to retry)", at once: no retry
    scenarios.failed_turn_reads_as_error(
        qwen, 401, "invalid x-api-key", "API Error: 401 invalid x-api-key"
    )
