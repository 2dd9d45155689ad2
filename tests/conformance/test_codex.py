"""Codex CLI 0.169.0, run for real in tmux against a fake OpenAI Responses API.

The scenarios live in scenarios.py; this module runs each of them on Codex.
"""

from __future__ import annotations

from typing import Any

import fake_openai
import pytest
import scenarios
from real_agents import Agent

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


def test_start_states_first_message_and_exact_reply(codex: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(codex)


def test_busy_while_it_works(codex: Agent) -> None:
    scenarios.busy_while_it_works(codex)


def test_message_while_busy_is_delivered_once(codex: Agent) -> None:
    scenarios.message_while_busy_is_delivered_once(codex)


def test_markdown_reply_comes_back_byte_for_byte(codex: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(codex)


def test_long_reply_comes_back_whole(codex: Agent) -> None:
    scenarios.long_reply_comes_back_whole(codex)
    assert codex.tmux.run(
        "display-message", "-p", "-t", f"={scenarios.NAME}:", "#{alternate_on}"
    ) == ["0"]


def test_prompt_holds_messages_and_approve_runs_once(codex: Agent) -> None:
    scenarios.prompt_holds_messages_and_approve_runs_once(codex)


def test_approve_always_deny_and_nothing_asking(codex: Agent) -> None:
    scenarios.approve_always_deny_and_nothing_asking(codex)


def test_reply_command_reaches_the_sender(codex: Agent) -> None:
    scenarios.reply_command_reaches_the_sender(codex)


def test_question_marks_reach_the_model(codex: Agent) -> None:
    scenarios.question_marks_reach_the_model(codex)


def test_hooks_agree_with_the_screen(codex: Agent) -> None:
    # its notify program: the end of each turn
    scenarios.hooks_agree_with_the_screen(codex, [("agent-turn-complete", "idle")])


def test_a_coordinator_delegates_to_two_workers_through_the_tools(codex: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(codex, "mcp__imessenger__{}".format)


def test_approve_through_the_tools_needs_the_policy(codex: Agent) -> None:
    scenarios.approve_through_the_tools_needs_the_policy(codex, "mcp__imessenger__{}".format)


def test_restore_resumes_its_conversation_after_a_killed_server(codex: Agent) -> None:
    # `resume THREAD` once the notify program named the thread: the same rollout goes on
    scenarios.resumes_its_conversation_after_a_killed_server(codex)
    # on the normal screen still, where tmux keeps its scrollback
    assert codex.tmux.run(
        "display-message", "-p", "-t", f"={scenarios.NAME}:", "#{alternate_on}"
    ) == ["0"]


def test_usage_is_read_from_its_rollout(codex: Agent) -> None:
    # token_usage_record of each response: the cached input is counted in its input
    usage: dict[str, Any] = fake_openai.USAGE
    cached = usage["input_tokens_details"]["cached_tokens"]
    scenarios.usage_is_read_from_its_record(
        codex,
        {
            "input_tokens": usage["input_tokens"] - cached,
            "output_tokens": usage["output_tokens"],
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "model": "fake-model",
        },
    )


def test_a_failed_turn_reads_as_error(codex: Agent) -> None:
    scenarios.failed_turn_reads_as_error(
        codex, 401, "invalid x-api-key", "unexpected status 401 Unauthorized: invalid x-api-key"
    )
