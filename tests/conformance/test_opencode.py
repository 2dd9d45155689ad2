"""OpenCode 1.18.33, run for real in tmux against a fake OpenAI Chat Completions API.

The scenarios live in scenarios.py; this module runs them on OpenCode. Its replies come
from its SQLite database (the session's id is reported by the plugin isesh gives it);
its prompts offer their options in a row, chosen with the arrow keys, and "Allow
always" asks to confirm, which approve 2 does too. It draws on the alternate screen:
tmux keeps no scrollback of it, and a reply longer than the pane is read from the
database only.
"""

from __future__ import annotations

import pytest
import scenarios
from real_agents import Agent

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


def tool(name: str) -> str:
    """How OpenCode names imessenger's MCP tools to the model."""
    return f"imessenger_{name}"


def test_start_states_first_message_and_exact_reply(opencode: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(opencode)


def test_markdown_reply_comes_back_byte_for_byte(opencode: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(opencode)


def test_message_while_busy_is_delivered_once(opencode: Agent) -> None:
    scenarios.message_while_busy_is_delivered_once(opencode)


def test_message_while_busy_is_queued_when_allowed(opencode: Agent) -> None:
    # send.queue_while_busy: OpenCode queues it ("QUEUED" under it), and runs it after the turn
    scenarios.message_while_busy_is_delivered_once(opencode, queue=True)


def test_prompt_holds_messages_and_approve_runs_once(opencode: Agent) -> None:
    # "Allow once" is selected when the prompt opens: approve presses Enter
    scenarios.prompt_holds_messages_and_approve_runs_once(opencode)


def test_approve_always_deny_and_nothing_asking(opencode: Agent) -> None:
    # approve 2: Right, Enter, then "Confirm" of "Always allow"; deny: Right, Right, Enter
    scenarios.approve_always_deny_and_nothing_asking(opencode)


def test_reply_command_needs_no_permission(opencode: Agent) -> None:
    # a bash rule for the reply command in its main agents' permissions
    scenarios.reply_command_needs_no_permission(opencode)


def test_hooks_agree_with_the_screen(opencode: Agent) -> None:
    # the plugin isesh gives it: a message taken, a permission asked, the session idle
    scenarios.hooks_agree_with_the_screen(
        opencode,
        [("chat.message", "busy"), ("permission.asked", "asking"), ("session.idle", "idle")],
    )


def test_a_coordinator_delegates_to_two_workers_through_the_tools(opencode: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(opencode, tool)


def test_restore_resumes_its_conversation_after_a_killed_server(opencode: Agent) -> None:
    # --session <id> with the id its plugin reported at the first message
    scenarios.resumes_its_conversation_after_a_killed_server(opencode)


def test_a_failed_turn_reads_as_error(opencode: Agent) -> None:
    # it shows the API's message in a box like a message's ("┃  invalid x-api-key"): its
    # plugin reports the error (session.error) when the turn ends, and the view reads it
    scenarios.failed_turn_reads_as_error(opencode, 401, "invalid x-api-key", "invalid x-api-key")
