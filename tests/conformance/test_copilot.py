"""GitHub Copilot CLI 1.0.102, run for real in tmux against a fake Chat Completions API.

Copilot CLI runs with a model of its own (bring your own key, ``COPILOT_PROVIDER_*``),
offline. The scenarios live in scenarios.py; this module runs those the agents share,
on Copilot CLI. Left out for the time they take (Copilot takes seconds to start, and
waits for each of its hooks): ``approve_through_the_tools_needs_the_policy``, whose
screen, Copilot's "Do you want to use this tool?", is a fixture of test_screen.py, and
whose policy is the same for every agent.
"""

from __future__ import annotations

import fake_copilot
import pytest
import scenarios
from real_agents import Agent

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


def test_start_states_first_message_and_exact_reply(copilot: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(copilot)


def test_markdown_reply_comes_back_byte_for_byte(copilot: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(copilot)


def test_message_while_busy_is_delivered_once(copilot: Agent) -> None:
    scenarios.message_while_busy_is_delivered_once(copilot)


def test_message_while_busy_is_queued_when_allowed(copilot: Agent) -> None:
    # send.queue_while_busy: Copilot CLI queues it, and runs it after the turn
    scenarios.message_while_busy_is_delivered_once(copilot, queue=True)


def test_prompt_holds_messages_and_approve_runs_once(copilot: Agent) -> None:
    scenarios.prompt_holds_messages_and_approve_runs_once(copilot)


def test_approve_always_deny_and_nothing_asking(copilot: Agent) -> None:
    scenarios.approve_always_deny_and_nothing_asking(copilot)


def test_reply_command_needs_no_permission(copilot: Agent) -> None:
    scenarios.reply_command_needs_no_permission(copilot)


def test_hooks_agree_with_the_screen(copilot: Agent) -> None:
    scenarios.hooks_agree_with_the_screen(
        copilot,
        [("UserPromptSubmit", "busy"), ("PermissionRequest", "asking"), ("Stop", "idle")],
    )


def test_a_coordinator_delegates_to_two_workers_through_the_tools(copilot: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(copilot, "imessenger-{}".format)


def test_restore_resumes_its_conversation_after_a_killed_server(copilot: Agent) -> None:
    # --session-id becomes --resume=<id>: the same events file goes on
    scenarios.resumes_its_conversation_after_a_killed_server(copilot)


def test_a_failed_turn_reads_as_error(copilot: Agent) -> None:
    # a 400 shows the API's message (a 401 or 403 "Authentication failed with provider ..."
    # and not the message), at once: no retry
    scenarios.failed_turn_reads_as_error(
        copilot,
        400,
        "model fake-model is not supported",
        "400 model fake-model is not supported",
    )


def test_usage_is_read_from_its_events(copilot: Agent) -> None:
    # its session.usage_record receipt of each call: the cached input is counted in its
    # input, the reasoning in its output
    usage = fake_copilot.USAGE
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    scenarios.usage_is_read_from_its_record(
        copilot,
        {
            "input_tokens": usage["prompt_tokens"] - cached,
            "output_tokens": usage["completion_tokens"],
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "model": "fake-model",
        },
    )
