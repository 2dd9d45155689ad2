"""Gemini CLI 0.61.0, run for real in tmux against a fake Gemini API.

The scenarios live in scenarios.py; this module runs them on Gemini CLI, after two
tests of what 0.61.0 changed on screen: the input line with blank lines around it, and
the "✦ " before a printed reply. One test stops Gemini CLI with ``isesh stop``; the
last one kills its tmux server and restores it with ``isesh restore``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import replace

import fake_gemini
import pytest
import scenarios
from fake_model import REPLY_END, REPLY_START
from real_agents import Agent, alive
from scenarios import NAME
from support import open_store, run_imessenger, run_isesh, wait_for

from imessenger.actions.sessions import MCP_CONNECT_S
from imessenger.adapters.config_files import load_config
from imessenger.adapters.records.pinning import locate
from imessenger.adapters.tmux import AgentPane
from imessenger.core.envelope import delimiters, find_reply
from imessenger.core.profiles import load_profiles
from imessenger.core.screen import State, classify

# one worker runs the real agents, one after another (docs/development.md)
pytestmark = [pytest.mark.agents, pytest.mark.xdist_group("one-at-a-time")]


#: The bottom of Gemini CLI 0.61.0's screen while it waits (runs of blanks shortened).
IDLE_0_61 = """\
                                        ? for shortcuts
────────────────────────────────────────────────────────
 Shift+Tab to accept edits

 >   Type your message or @path/to/file

 workspace (/directory)                 sandbox         /model
 ~/work                                 no sandbox        Auto
"""

#: A printed reply on Gemini CLI 0.61.0's screen.
REPLY_0_61 = "✦ <<IMSG-REPLY 0a1b2c3d>>\n  first reply\n  <<IMSG-END 0a1b2c3d>>\n"


def _wait_idle_screen(agent: Agent) -> None:
    wait_for(lambda: "? for shortcuts" in agent.screen(NAME, 0), 30, "Gemini CLI to wait")


# --- what 0.61.0 changed on screen ------------------------------------------------------


def test_captured_idle_screen_reads_idle_with_an_empty_box() -> None:
    screen = classify(IDLE_0_61, load_profiles(load_config())["gemini"].grammar)
    assert (screen.state, screen.input_text) == (State.IDLE, "")


def test_captured_reply_is_found_after_its_bullet() -> None:
    marks = delimiters("0a1b2c3d", REPLY_START, REPLY_END)
    assert find_reply(REPLY_0_61, marks) == "first reply"


def test_input_box_is_read(gemini: Agent) -> None:
    gemini.start(NAME)
    _wait_idle_screen(gemini)
    gemini.wait_state(NAME, "idle")  # and its MCP server connected
    assert gemini.screen_state(NAME) == ("idle", "")
    typed = "first line\nsecond line"
    AgentPane.of(gemini.tmux, NAME).paste(typed)
    wait_for(lambda: "second line" in gemini.screen(NAME, 0), 10, "the typed text")
    assert gemini.screen_state(NAME) == ("idle", typed)


def test_printed_reply_is_found(gemini: Agent) -> None:
    gemini.script.on("PRINT-REPLY", text="a printed\nreply → ✓")
    gemini.start(NAME)
    _wait_idle_screen(gemini)
    marks = delimiters("0a1b2c3d", REPLY_START, REPLY_END)
    # sent raw, without the envelope; Gemini CLI takes the Enter once the paste settled,
    # which send's second Enter is for
    question = f"PRINT-REPLY: answer between {marks.start} and its end line"
    sent = run_imessenger("send", "--raw", NAME, question)
    assert sent.exit_code == 0, sent.output

    # read the reply from the capture that shows it: a later one can catch Gemini CLI
    # in the middle of redrawing its whole screen (as it does when it finishes starting)
    def shown() -> str | None:
        text = gemini.screen(NAME)
        return text if marks.end in text else None

    screen = wait_for(shown, 30, "the printed reply")
    assert find_reply(screen, marks) == "a printed\nreply → ✓"


# --- the scenarios -----------------------------------------------------------------------


def test_start_states_first_message_and_exact_reply(gemini: Agent) -> None:
    scenarios.start_states_first_message_and_exact_reply(gemini)


def test_busy_while_it_works(gemini: Agent) -> None:
    scenarios.busy_while_it_works(gemini)


def test_message_while_busy_is_delivered_once(gemini: Agent) -> None:
    scenarios.message_while_busy_is_delivered_once(gemini)


def test_markdown_reply_comes_back_byte_for_byte(gemini: Agent) -> None:
    scenarios.markdown_reply_comes_back_byte_for_byte(gemini)


def test_long_reply_comes_back_whole(gemini: Agent) -> None:
    scenarios.long_reply_comes_back_whole(gemini)
    assert gemini.tmux.run("display-message", "-p", "-t", f"={NAME}:", "#{alternate_on}") == ["0"]


def test_prompt_holds_messages_and_approve_runs_once(gemini: Agent) -> None:
    scenarios.prompt_holds_messages_and_approve_runs_once(gemini)


def test_approve_always_deny_and_nothing_asking(gemini: Agent) -> None:
    # approve 2 is "Allow for this session"
    scenarios.approve_always_deny_and_nothing_asking(gemini)


def test_stop_quits_and_leaves_no_process_behind(gemini: Agent) -> None:
    """``isesh stop`` asks Gemini CLI to quit; nothing of it is left afterwards. (Once it
    has answered, 0.61.0 outlives a killed tmux server: the teardown of every test here
    stops it with ``isesh stop --force`` and checks that nothing is left.)"""
    gemini.start(NAME)
    _wait_idle_screen(gemini)
    processes = gemini.processes(NAME)
    assert len(processes) >= 2  # gemini and the node it starts with more memory
    stopped = run_isesh("stop", NAME)
    assert stopped.exit_code == 0, stopped.output
    wait_for(lambda: not alive(processes), 10, "every Gemini CLI process to end")
    assert stopped.stdout.startswith(f'stopped "{NAME}" (exited); `isesh restore {NAME}`')


def test_question_marks_reach_the_model(gemini: Agent) -> None:
    # 0.61.0 drops every "?" of a paste (a typed one is kept): its profile has them typed
    scenarios.question_marks_reach_the_model(gemini)


def test_reply_command_needs_no_permission(gemini: Agent) -> None:
    scenarios.reply_command_needs_no_permission(gemini)


def test_a_coordinator_delegates_to_two_workers_through_the_tools(gemini: Agent) -> None:
    scenarios.coordinator_delegates_through_the_tools(gemini, "mcp_imessenger_{}".format)


def test_approve_through_the_tools_needs_the_policy(gemini: Agent) -> None:
    scenarios.approve_through_the_tools_needs_the_policy(gemini, "mcp_imessenger_{}".format)


def _chat_begun_earlier() -> None:
    """Name the session's chat file for an earlier minute, as when a restore comes in a
    later minute than the chat began: resumed, Gemini CLI 0.61.0 starts a second chat
    file of the same id, named for the minute, and goes on writing the first one."""
    with open_store() as store:
        remembered = store.remembered.get(NAME)
    assert remembered is not None
    chat = locate("gemini", remembered.record_ref)
    assert chat is not None
    assert chat.is_file(), chat
    named = re.fullmatch(r"(session-\d{4}-\d\d-\d\dT)\d\d-\d\d(-.+\.jsonl)", chat.name)
    assert named is not None, f"a chat file named in a new way: {chat.name}"
    chat.rename(chat.with_name(f"{named[1]}00-00{named[2]}"))


def test_restore_resumes_its_conversation_after_a_killed_server(gemini: Agent) -> None:
    # --session-id becomes --resume; the record is pinned to the chat file found before
    # the restart, not the second one Gemini CLI makes
    scenarios.resumes_its_conversation_after_a_killed_server(gemini, _chat_begun_earlier)
    # on the normal screen still, where tmux keeps its scrollback
    assert gemini.tmux.run(
        "display-message", "-p", "-t", f"={scenarios.NAME}:", "#{alternate_on}"
    ) == ["0"]


def test_started_through_env_i_it_takes_a_message_as_soon_as_it_is_idle(
    gemini: Agent,
) -> None:
    # `env -i` wipes GEMINI_CLI_HOME, the session's own Gemini CLI home that registers
    # imessenger's MCP server: the tools cannot come, so the session does not wait for
    # them (30 s): it is ready when its screen is
    env = shutil.which("env")
    assert env is not None
    kept = {
        key: os.environ[key]
        for key in ("HOME", "PATH", "TERM", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL")
    }
    wiped = replace(gemini, argv=[env, "-i", *(f"{k}={v}" for k, v in kept.items()), *gemini.argv])
    gemini.script.on("WIPED-HELLO", text="hello without the tools")
    wiped.start(NAME)
    _wait_idle_screen(gemini)
    with open_store() as store:
        record = store.sessions.get(NAME)
    assert record is not None
    wait_for(lambda: gemini.state(NAME) == "idle", 10, "idle once its screen is")
    assert time.time() - record.started_at < MCP_CONNECT_S  # not held for the tools
    sent = run_imessenger("send", "--json", NAME, "WIPED-HELLO, please")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["reply"] == "hello without the tools"
    explained = run_isesh("explain", NAME).stdout
    assert "tools: missing: its environment lost GEMINI_CLI_HOME" in explained


def test_usage_is_read_from_its_chat(gemini: Agent) -> None:
    # the tokens of each message: the cached input is counted in its input, the tool-use
    # prompt is input too, the thoughts output
    usage = fake_gemini.USAGE
    scenarios.usage_is_read_from_its_record(
        gemini,
        {
            "input_tokens": usage["promptTokenCount"]
            - usage["cachedContentTokenCount"]
            + usage["toolUsePromptTokenCount"],
            "output_tokens": usage["candidatesTokenCount"] + usage["thoughtsTokenCount"],
            "cache_read_tokens": usage["cachedContentTokenCount"],
            "cache_write_tokens": 0,
            "model": "gemini-3.8-flash",
        },
    )


def test_a_failed_turn_reads_as_error(gemini: Agent) -> None:
    scenarios.failed_turn_reads_as_error(
        gemini, 401, "invalid x-api-key", '"code":401,"message":"invalid x-api-key"'
    )
