"""Aider 0.86.2, run for real in tmux against a fake OpenAI Chat Completions API.

Aider has no tools: a shell command is a ```bash block in the model's answer, which Aider
offers to run once the answer is printed ("Run shell command? (Y)es/(N)o/(D)on't ask
again [Yes]:", answered with a letter and Enter). So the scenarios that check delivery
look at what reached the model, and those with commands come from the end of
scenarios.py. Aider prints the model's answer as rendered Markdown, so replies are read
from its chat history file (``--chat-history-file``, pinned by isesh).
"""

from __future__ import annotations

import fake_chat
import pytest
import scenarios
from real_agents import Agent
from support import write_config

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


def test_first_messages_reach_the_model_exactly(aider: Agent) -> None:
    scenarios.first_messages_reach_the_model_exactly(aider)


def test_markdown_reply_comes_back_byte_for_byte(aider: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(aider)


def test_busy_while_it_works(aider: Agent) -> None:
    scenarios.busy_while_it_works(aider)


def test_start_states_first_message_and_exact_reply(aider: Agent) -> None:
    # its screen renders the delimiters away (they are joined into one paragraph): the
    # reply comes from its chat history file, within a second; do not wait out the default
    write_config("[send]\ntimeout_ms = 5000\n")  # autostart stays off, as in every test
    scenarios.start_states_first_message_and_exact_reply(aider)


def test_message_while_busy_reaches_the_model_once(aider: Agent) -> None:
    scenarios.message_while_busy_reaches_the_model_once(aider)


def test_offered_command_holds_messages_and_approve_runs_once(aider: Agent) -> None:
    scenarios.offered_command_holds_messages_and_approve_runs_once(aider)


def test_no_yes_always_deny_and_nothing_asking(aider: Agent) -> None:
    scenarios.no_yes_always_deny_and_nothing_asking(aider)


def test_question_marks_reach_the_model(aider: Agent) -> None:
    scenarios.question_marks_reach_the_model(aider)


def test_hooks_agree_with_the_screen(aider: Agent) -> None:
    # --notifications-command: Aider waits for the user again (idle or asking)
    scenarios.hooks_agree_with_the_screen(aider, [("Notification", "waiting")])


def test_restore_resumes_its_conversation_after_a_killed_server(aider: Agent) -> None:
    # --restore-chat-history on the same chat history file
    scenarios.resumes_its_conversation_after_a_killed_server(aider)


def test_usage_is_read_from_its_chat_history(aider: Agent) -> None:
    # Aider writes its own counts after each answer, "> Tokens: 1.3k sent, 71 received.",
    # rounded to a hundred from 1000 on. Streaming (its default) the API reports no usage
    # and Aider counts the tokens itself with the model's tokenizer; without streaming they
    # are the API's, which this checks
    aider.argv.append("--no-stream")
    usage = fake_chat.USAGE
    scenarios.usage_is_read_from_its_record(
        aider,
        {
            "input_tokens": round(usage["prompt_tokens"], -2),
            "output_tokens": usage["completion_tokens"],
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "model": "openai/fake-model",
        },
        tool=False,
    )


def test_a_failed_turn_reads_as_error(aider: Agent) -> None:
    scenarios.failed_turn_reads_as_error(
        aider, 401, "invalid x-api-key", "BadRequestError: OpenAIException - invalid x-api-key"
    )
