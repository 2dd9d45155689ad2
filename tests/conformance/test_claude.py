"""Claude Code 2.1.332, run for real in tmux against a fake Anthropic Messages API.

The scenarios live in scenarios.py; this module runs each of them on Claude Code.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import fake_anthropic
import pytest
import scenarios
from real_agents import Agent
from support import open_store, run_isesh

from imessenger.adapters.records.pinning import locate

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


def test_start_states_first_message_and_exact_reply(claude: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(claude)


def test_busy_while_it_works(claude: Agent) -> None:
    scenarios.busy_while_it_works(claude)


def test_message_while_busy_is_delivered_once(claude: Agent) -> None:
    scenarios.message_while_busy_is_delivered_once(claude)


def test_message_while_busy_is_queued_when_allowed(claude: Agent) -> None:
    # send.queue_while_busy: Claude Code queues it, and runs it after the turn
    scenarios.message_while_busy_is_delivered_once(claude, queue=True)


def test_markdown_reply_comes_back_byte_for_byte(claude: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(claude)


def test_long_reply_comes_back_whole(claude: Agent) -> None:
    # ~/.claude.json says Claude Code was started before, where 2.1.332 would pick its
    # alternate-screen renderer; the profile's environment keeps it on the normal screen
    scenarios.long_reply_comes_back_whole(claude)
    assert claude.tmux.run(
        "display-message", "-p", "-t", f"={scenarios.NAME}:", "#{alternate_on}"
    ) == ["0"]


def test_prompt_holds_messages_and_approve_runs_once(claude: Agent) -> None:
    scenarios.prompt_holds_messages_and_approve_runs_once(claude)


def test_approve_always_deny_and_nothing_asking(claude: Agent) -> None:
    scenarios.approve_always_deny_and_nothing_asking(claude)


def test_question_marks_reach_the_model(claude: Agent) -> None:
    scenarios.question_marks_reach_the_model(claude)


def test_reply_command_needs_no_permission(claude: Agent) -> None:
    scenarios.reply_command_needs_no_permission(claude)


def test_hooks_agree_with_the_screen(claude: Agent) -> None:
    scenarios.hooks_agree_with_the_screen(
        claude,
        [
            ("SessionStart", "started"),
            ("UserPromptSubmit", "busy"),
            ("PermissionRequest", "asking"),
            ("Stop", "idle"),
        ],
    )


def test_a_coordinator_delegates_to_two_workers_through_the_tools(claude: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(
        claude, lambda name: f"mcp__imessenger__{name}"
    )


def test_approve_through_the_tools_needs_the_policy(claude: Agent) -> None:
    scenarios.approve_through_the_tools_needs_the_policy(claude, "mcp__imessenger__{}".format)


def test_restore_resumes_its_conversation_after_a_killed_server(claude: Agent) -> None:
    # --session-id becomes --resume: the same transcript goes on
    scenarios.resumes_its_conversation_after_a_killed_server(claude)
    # on the normal screen still, where tmux keeps its scrollback
    assert claude.tmux.run(
        "display-message", "-p", "-t", f"={scenarios.NAME}:", "#{alternate_on}"
    ) == ["0"]


def test_a_command_line_that_moves_home_still_gets_its_record(
    claude: Agent, tmp_path: Path
) -> None:
    # the agent writes its transcript under the HOME its command line gives it, not the
    # one isesh runs with: the record is found where it writes it (its hook says so, and
    # so does its process's environment), and the Markdown reply comes back byte for byte
    elsewhere = tmp_path / "another-home"
    elsewhere.mkdir()
    home = Path(os.environ["HOME"])
    shutil.copy(home / ".claude.json", elsewhere / ".claude.json")
    shutil.copytree(home / ".claude", elsewhere / ".claude")
    env = shutil.which("env")
    assert env is not None
    moved = replace(claude, argv=[env, f"HOME={elsewhere}", *claude.argv])
    scenarios.markdown_reply_comes_back_byte_for_byte(moved)
    with open_store() as store:
        record = store.sessions.get(scenarios.NAME)
    assert record is not None
    assert str(locate("claude", record.record_ref)).startswith(str(elsewhere / ".claude"))
    explained = run_isesh("explain", scenarios.NAME).stdout
    assert f"record: claude: {elsewhere}/.claude/projects/" in explained


def test_usage_is_read_from_its_transcript(claude: Agent) -> None:
    # message.usage of each response: input not read from the cache nor written to it
    usage = fake_anthropic.USAGE
    scenarios.usage_is_read_from_its_record(
        claude,
        {
            "input_tokens": usage["input_tokens"],
            "output_tokens": usage["output_tokens"],
            "cache_read_tokens": usage["cache_read_input_tokens"],
            "cache_write_tokens": usage["cache_creation_input_tokens"],
            "model": "claude-conformance",
        },
    )


def test_a_failed_turn_reads_as_error(claude: Agent) -> None:
    # after it, the input box shows "Resend your message to try again": read as empty,
    # so that the next message is delivered
    scenarios.failed_turn_reads_as_error(
        claude, 500, "Internal server error", "API Error: 500 Internal server error."
    )
