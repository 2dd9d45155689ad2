"""The conformance scenarios, written once for every agent (test_claude.py, test_codex.py,
test_gemini.py, test_aider.py).

Each scenario starts its agent once with ``isesh start``, scripts the fake model and
drives the agent through ``imessenger`` and ``isesh`` as a user would. Waits poll the
screen, the store or the fake model's log with deadlines; nothing sleeps blindly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import Result
from fake_model import envelope_body
from real_agents import Agent, alive
from support import (
    message_with,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    stays,
    wait_for,
    write_config,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.paths import user_config_path
from imessenger.adapters.records.pinning import CannotResume, resume
from imessenger.adapters.store import Store
from imessenger.core.profiles import load_profiles
from imessenger.core.values import InboxEntry, InboxKind, MessageState
from imessenger.interfaces.cli.messaging import EXIT_PENDING

NAME = "agent-1"

#: A multi-line message with code and unicode that no Markdown renderer changes.
BODY = (
    "ECHO-BODY: a message of several lines, with code and unicode\n"
    'def greet(name): return f"héllo {name} → ✓"\n'
    'print(greet("wörld"), 2 < 3 and 5 > 4, "$HOME", \'single\', a[1], {"k": (1, 2)})\n'
    "日本語 🚀 ünïcödé — the last line"
)

#: What the agent answers with `imessenger reply`: Markdown, code and unicode, kept exact.
EXACT = "```python\nprint('héllo → ✓')\n```\n**bold** `code` 日本語 🚀"

LONG = [f"line {n} of a reply longer than the screen" for n in range(1, 121)]

#: A reply in Markdown that every agent's screen renders differently: a heading, inline
#: code, bold, a fenced block with a backslash, a table, a line of 300 characters (not
#: a repeated pattern: Gemini CLI takes repeats for a loop), HTML-like text, unicode.
MARKDOWN = (
    "## Fix for `validateEmail`\n\nUse **this**:\n\n"
    '```python\nprint("a\\\\b")  # backslash\n```\n\n'
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    + ",".join(f"{n:03d}" for n in range(76))[:300]
    + "\n<div>not html</div> héllo → ✓ 日本語 🚀"
)


# --- helpers ------------------------------------------------------------------------------------


def send(*args: str) -> Result:
    """``imessenger send ARGS`` in-process."""
    return run_imessenger("send", *args)


def send_in_background(body: str, *options: str) -> subprocess.Popen[str]:
    """``imessenger send --json`` in its own process (it waits while the test goes on)."""
    command = [*python_cli(), "send", "--json", "--timeout", "60000", *options, NAME, "--", body]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], seconds: float = 60.0) -> tuple[int, dict[str, Any]]:
    """Wait for a background send; return its exit code and its JSON output."""
    out, err = process.communicate(timeout=seconds)
    assert out.strip(), f"send printed nothing (exit {process.returncode}): {err}"
    return process.returncode, json.loads(out)


def imessenger_command() -> str:
    """How the agent's shell runs this checkout's ``imessenger``."""
    script = Path(sys.executable).with_name("imessenger")
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m imessenger"


def appending(word: str) -> str:
    """A shell command that appends ``word`` as a line to runs.txt (and so counts its runs)."""
    return f"python3 -c \"open('runs.txt','a').write('{word}\\n')\""


def runs(agent: Agent) -> list[str]:
    path = agent.workdir / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def queues_when_busy(agent: Agent) -> bool:
    return load_profiles(load_config())[agent.profile].drive.queues_when_busy


def wait_asking(agent: Agent, command: str) -> None:
    """Wait until the session asks about ``command`` (OpenCode draws its prompt a moment
    before the command in it)."""
    agent.wait_state(NAME, "asking")

    def shows_command() -> str | None:
        shown = run_imessenger("inbox", NAME)
        assert shown.exit_code == 0, shown.output
        return shown.stdout if command in shown.stdout else None

    wait_for(shows_command, 10, f"the inbox to show the prompt about {command}")


# --- the scenarios ---------------------------------------------------------------------------


def wait_settled(agent: Agent, seconds: float = 30.0) -> tuple[str, str | None]:
    """The screen's state and input once three reads 0.5 s apart agree and the model was
    asked nothing between them (or the last read after ``seconds``)."""
    deadline = time.monotonic() + seconds
    reads = [(agent.screen_state(NAME), len(agent.script.requests))]
    while time.monotonic() < deadline and not (len(reads) >= 3 and len(set(reads[-3:])) == 1):
        time.sleep(0.5)
        reads.append((agent.screen_state(NAME), len(agent.script.requests)))
    return reads[-1][0]


def start_states_first_message_and_exact_reply(agent: Agent) -> None:
    """starting -> idle; the first message right after start is submitted; exact replies.

    After a reply shows, the agent reads idle again once it clears its spinner, which
    it draws a moment after the text (Gemini CLI, Aider; Claude Code too when the
    machine is loaded).
    """
    agent.script.on("FIRST-WORDS", text="first reply, right after the start")
    agent.script.on("ECHO-BODY", text="{body}")
    agent.start(NAME)
    assert agent.state(NAME) == "starting"
    # no wait for the agent to be ready: send must not lose the message to the start-up
    first = send(NAME, "FIRST-WORDS, sent the instant the agent started")
    assert first.exit_code == 0, first.output
    assert first.stdout == "first reply, right after the start\n", first.output
    assert len(agent.script.turns_with("FIRST-WORDS")) == 1
    agent.wait_state(NAME, "idle", 10)

    echoed = send(NAME, "--", BODY)
    assert echoed.exit_code == 0, echoed.output
    [turn] = agent.script.turns_with("ECHO-BODY")
    assert envelope_body(turn) == BODY  # the model got the message byte for byte
    assert echoed.stdout == BODY + "\n"  # and its reply came back from the screen exactly
    agent.wait_state(NAME, "idle", 10)


def markdown_reply_comes_back_byte_for_byte(agent: Agent) -> None:
    """The reply is read from the agent's own record of its answer, not its screen."""
    agent.script.on("MD-REPLY", text=MARKDOWN)
    agent.start(NAME)
    result = send("--json", "--timeout", "60000", NAME, "MD-REPLY, please")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reply"] == MARKDOWN
    assert data["reply_via"] == "record"


def busy_while_it_works(agent: Agent) -> None:
    """``isesh list`` says busy for as long as the agent works, then idle."""
    gate = threading.Event()
    agent.script.on("HOLD-ON", text="done holding", gate=gate)
    agent.start(NAME)
    held = send("--no-reply", NAME, "HOLD-ON until the test lets go")
    assert held.exit_code == 0, held.output
    agent.wait_for_turn(NAME, "HOLD-ON")
    agent.wait_state(NAME, "busy")
    stays(lambda: agent.state(NAME) == "busy", 2.5, "busy while the model holds its answer")
    gate.set()
    agent.wait_state(NAME, "idle")


def message_while_busy_is_delivered_once(agent: Agent, *, queue: bool = False) -> None:
    """A message sent while the agent works is delivered once and answered.

    ``send`` waits until the agent is idle: in a turn, it may open a permission prompt
    as the submit key goes in. With ``queue`` (``send.queue_while_busy``), an agent
    that queues messages (Claude Code) takes it at once and runs it after the turn.
    """
    if queue:
        assert queues_when_busy(agent), agent.profile
        settings = tomllib.loads(user_config_path().read_text())
        settings.setdefault("send", {})["queue_while_busy"] = True
        write_config(tomli_w.dumps(settings))
    gate = threading.Event()
    agent.script.on("HOLD-ON", text="done holding", gate=gate)
    agent.script.on("WHILE-BUSY", text="answered after the busy turn")
    agent.start(NAME)
    held = send("--no-reply", "--json", NAME, "HOLD-ON until the test lets go")
    assert held.exit_code == 0, held.output
    hold_id = json.loads(held.stdout)["id"]
    agent.wait_for_turn(NAME, "HOLD-ON")
    agent.wait_state(NAME, "busy")
    later = send_in_background("WHILE-BUSY: sent while the agent works")
    if queue:
        wait_for(
            lambda: (
                (m := message_with("WHILE-BUSY"))
                and m.state in (MessageState.DELIVERED, MessageState.QUEUED)
            ),
            30,
            "the message to be submitted while busy",
        )
    else:
        # the sender holds the message (claimed, not pasted) while the agent works
        wait_for(
            lambda: (m := message_with("WHILE-BUSY")) and m.state is MessageState.DELIVERING,
            30,
            "the sender to hold the message",
        )
        stays(
            lambda: "WHILE-BUSY" not in agent.screen(NAME, 0) and agent.state(NAME) == "busy",
            1.5,
            "the message kept out of the busy agent",
        )
    assert not agent.script.turns_with("WHILE-BUSY")
    gate.set()
    code, data = finish(later)
    assert code == 0, data
    assert data["reply"] == "answered after the busy turn"
    message_id = str(data["id"])
    # the screen once it shows the reply: the reply may come from the agent's record,
    # which Copilot CLI (and OpenCode) write a while before they draw the turn
    end = f"<<IMSG-END {message_id}>>"
    screen = wait_for(lambda: end in (text := agent.screen(NAME)) and text, 30, end)
    assert screen.count(f"message {message_id} from") == 1
    assert len(agent.script.turns_with(f"message {message_id} from")) == 1
    last = json.dumps(agent.script.requests[-1], ensure_ascii=False)
    assert last.count(f"message {message_id} from") == 1
    # the turn it came in during was answered first
    assert screen.index(f"<<IMSG-END {hold_id}>>") < screen.index(end)


def long_reply_comes_back_whole(agent: Agent) -> None:
    agent.script.on("LONG-REPLY", text="\n".join(LONG))
    agent.start(NAME)
    result = send("--timeout", "8000", NAME, "LONG-REPLY please")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == LONG


def held_while_asking_then_approved(agent: Agent) -> dict[str, object]:
    """While the agent asks, a message is held (exit 3), not pasted, and answers nothing;
    then `approve` answers the prompt. Returns the held message's JSON."""
    pending = send("--json", NAME, "WHILE-ASKING: sent while the agent asks")
    assert pending.exit_code == EXIT_PENDING, pending.output
    data: dict[str, object] = json.loads(pending.stdout)
    assert data["state"] == "pending"
    assert "permission prompt" in str(data["why"])
    # not pasted, and nothing answered the prompt
    assert agent.state(NAME) == "asking"
    assert runs(agent) == []
    assert f"message {data['id']} from" not in agent.screen(NAME)
    assert not agent.script.turns_with("WHILE-ASKING")

    approved = run_imessenger("approve", NAME)
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.startswith(f'approved "{NAME}"'), approved.output
    return data


def prompt_holds_messages_and_approve_runs_once(agent: Agent) -> None:
    """At a prompt: asking, the inbox shows it, messages wait; approve runs it once."""
    command = appending("once")
    agent.script.on("RUN-ONCE", command=command, after="ran it: {output}")
    agent.script.on("WHILE-ASKING", text="answered after the prompt")
    agent.start(NAME)
    asker = send_in_background("RUN-ONCE, please")
    wait_asking(agent, command)

    # the watcher (which a send that leaves a message pending starts, were autostart on)
    # delivers the waiting message once the turn that approve lets go on has ended
    with watching():
        data = held_while_asking_then_approved(agent)
        code, answer = finish(asker)
        assert code == 0, answer
        assert str(answer["reply"]).startswith("ran it:")
        assert runs(agent) == ["once"]
        # the waiting message went in after the prompt, once, and its reply reached the inbox
        agent.wait_for_turn(NAME, "WHILE-ASKING")
        end = f"<<IMSG-END {data['id']}>>"
        wait_for(lambda: end in agent.screen(NAME), 30, "the reply to the waiting message")
    assert agent.screen(NAME).count(f"message {data['id']} from") == 1
    inbox = run_imessenger("inbox")
    assert "answered after the prompt" in inbox.stdout, inbox.output
    assert runs(agent) == ["once"]


def approve_always_deny_and_nothing_asking(agent: Agent) -> None:
    """approve 2 stops the questions for that kind of command; deny refuses; approve with
    nothing asking presses nothing."""
    # the same command twice: what "don't ask again" covers differs (Claude Code: every
    # `python3 ...`; Codex: commands that start with the whole command line)
    always = appending("always")
    agent.script.on("RUN-ALWAYS", command=always, after="ran it: {output}")
    agent.script.on("RUN-AGAIN", command=always, after="ran again: {output}")
    agent.script.on("RUN-DENIED", command="touch denied.txt", after="touched: {output}")
    agent.start(NAME)

    asker = send_in_background("RUN-ALWAYS, please")
    wait_asking(agent, always)
    approved = run_imessenger("approve", NAME, "2")
    assert approved.exit_code == 0, approved.output
    code, answer = finish(asker)
    assert code == 0, answer
    assert runs(agent) == ["always"]

    # the same kind of command again: no prompt this time
    again_result = send(NAME, "RUN-AGAIN, please")
    assert again_result.exit_code == 0, again_result.output
    assert again_result.stdout.startswith("ran again:")
    assert runs(agent) == ["always", "always"]

    denied = send("--no-reply", NAME, "RUN-DENIED, please")
    assert denied.exit_code == 0, denied.output
    wait_asking(agent, "touch denied.txt")
    no = run_imessenger("deny", NAME)
    assert no.exit_code == 0, no.output
    assert no.stdout.startswith(f'denied "{NAME}"'), no.output
    agent.wait_state(NAME, "idle")
    assert not (agent.workdir / "denied.txt").exists()

    # an agent told of the refusal may still ask its model once more (Copilot does, under
    # load after a first idle frame): nothing asking means a screen that stays idle
    settled = wait_settled(agent)
    turns = len(agent.script.turns)
    assert settled == ("idle", "")
    nothing = run_imessenger("approve", NAME)
    assert nothing.exit_code == 1, nothing.output
    assert "not asking" in nothing.stderr, nothing.output
    assert agent.screen_state(NAME) == ("idle", "")  # nothing typed into the input box
    assert len(agent.script.turns) == turns  # and nothing submitted
    assert runs(agent) == ["always", "always"]


def reply_command_reaches_the_sender(agent: Agent) -> None:
    """The model runs ``imessenger reply ID TEXT`` in its shell, after a permission prompt;
    the waiting sender gets TEXT. (For the agents whose profile pre-allows the command, see
    :func:`reply_command_needs_no_permission`.)"""
    command = f"{imessenger_command()} reply {{id}} {shlex.quote(EXACT)}"
    agent.script.on(
        "REPLY-CMD", command=command, after="replied through the command", enveloped=False
    )
    agent.start(NAME)
    asker = send_in_background("REPLY-CMD: answer me through imessenger reply")
    agent.wait_state(NAME, "asking")
    approved = run_imessenger("approve", NAME)
    assert approved.exit_code == 0, approved.output
    code, data = finish(asker)
    assert code == 0, data
    assert data["reply"] == EXACT
    record = message_with("REPLY-CMD")
    assert record is not None
    assert record.reply_via == "command"


#: What an agent answers through the pre-allowed reply command: backticks, ``$(...)`` and a
#: quote of its own, kept from the shell by single quotes.
FREE = "**done**: `make test` passed; it's $(not run) text → ✓ 日本語"


def reply_command_needs_no_permission(agent: Agent) -> None:
    """The model runs the reply command the envelope names, and no prompt appears: the
    profile pre-allowed that command; the sender gets the exact text. A command that
    chains another onto it still asks, and denied, the other never runs."""
    agent.script.on(
        "REPLY-FREE",
        command=f"{{reply}} {{id}} {shlex.quote(FREE)}",
        after="replied through the command",
        enveloped=False,
        escalate=False,
    )
    agent.script.on(
        "REPLY-CHAINED",
        command="{reply} {id} 'fine' && touch chained.txt",
        after="ran both",
        enveloped=False,
        escalate=False,
    )
    agent.start(NAME)
    answered = send("--json", "--timeout", "60000", NAME, "REPLY-FREE: answer me")
    assert answered.exit_code == 0, answered.output  # no approve: nothing asked
    data = json.loads(answered.stdout)
    assert data["reply"] == FREE
    assert data["reply_via"] == "command"
    [turn] = agent.script.turns_with("REPLY-FREE")
    assert f"run `{imessenger_command()} reply " in turn  # the envelope named that command
    agent.wait_state(NAME, "idle")
    chained = send("--no-reply", NAME, "REPLY-CHAINED: answer and more")
    assert chained.exit_code == 0, chained.output
    wait_asking(agent, "touch chained.txt")
    denied = run_imessenger("deny", NAME)
    assert denied.exit_code == 0, denied.output
    agent.wait_state(NAME, "idle")
    assert not (agent.workdir / "chained.txt").exists()


@contextlib.contextmanager
def watching() -> Iterator[None]:
    """``imessenger watch`` running as its own process, stopped at the end."""
    from imessenger.adapters.status_cache import running_pid

    watcher = subprocess.Popen(
        [sys.executable, "-m", "imessenger", "watch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: running_pid(server_label()) == watcher.pid, 20, "the watcher")
        yield
    finally:
        watcher.terminate()
        try:
            watcher.wait(10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


def server_label() -> str:
    from imessenger.adapters.tmux import Tmux

    return Tmux.from_environment(None).label


def hook_events(agent: Agent) -> list[tuple[str, str, str]]:
    with Store.open(server=agent.tmux.label) as store:
        found = store.hook_events.recent(NAME, limit=100)
    return [(e.event, e.state, e.screen) for e in found]


def prompt_notice() -> InboxEntry | None:
    """The first prompt notice in the user's inbox, or None."""
    with Store.open(server=server_label()) as store:
        found = store.inbox.read("user", peek=True, include_read=True)
    return next((entry for entry in found if entry.kind is InboxKind.PROMPT), None)


def in_order(wanted: list[tuple[str, str]], events: list[tuple[str, str, str]]) -> bool:
    """Whether ``wanted`` (event, state) come in ``events`` in that order, others between."""
    left = iter((event, state) for event, state, _ in events)
    return all(any(step == seen for seen in left) for step in wanted)


def hooks_agree_with_the_screen(agent: Agent, wanted: list[tuple[str, str]]) -> None:
    """The agent's own hooks report its events; each one agrees with its screen. Where
    they report asking, the watcher's prompt notice comes from the hook."""
    # the event that reports asking, when the agent's hooks report it
    asked = next((event for event, state in wanted if state == "asking"), None)
    asks = asked is not None
    command = appending("hooked")
    if asks:
        agent.script.on("HOOKED", command=command, after="ran it: {output}")
    else:
        agent.script.on("HOOKED", text="hooked and answered")
    agent.start(NAME)
    with watching():
        agent.wait_state(NAME, "idle")
        sent = send_in_background("HOOKED: a message the hooks report")
        if asks:
            agent.wait_state(NAME, "asking")
            notice = wait_for(prompt_notice, 20, "the prompt notice")
            assert notice.title == f'"{NAME}" is asking: {command}', notice.title
            assert notice.body.startswith(f"Its hook reported it ({asked})"), notice.body
            approved = run_imessenger("approve", NAME)
            assert approved.exit_code == 0, approved.output
        code, data = finish(sent)
        assert code == 0, data
        wait_for(lambda: in_order(wanted, hook_events(agent)), 30, f"the events {wanted}")
        wait_for(
            lambda: all(check for _, state, check in hook_events(agent) if state),
            30,
            "every event checked against the screen",
        )
    checked = [(e, s, check) for e, s, check in hook_events(agent) if s]
    assert all(check == "agrees" for _, _, check in checked), checked


# --- agents whose shell commands are offered after the answer (Aider) -----------------------
#
# Aider has no tools: the model writes a command as a ```bash block, Aider asks "Run shell
# command?" once the answer is printed, and the model never sees what the command did.
# These scenarios check delivery on the model's side (what reached it, how often) and
# leave printed replies to the scenarios above.


def question_marks_reach_the_model(agent: Agent) -> None:
    """A message with question marks reaches the model as it was sent."""
    body = "QUESTION: why? and is a/b?c right?"
    agent.script.on("QUESTION", text="answered")
    agent.start(NAME)
    sent = send("--no-reply", NAME, "--", body)
    assert sent.exit_code == 0, sent.output
    assert envelope_body(agent.wait_for_turn(NAME, "QUESTION")) == body


def first_messages_reach_the_model_exactly(agent: Agent) -> None:
    """starting -> idle; the first message right after start is submitted once; a
    multi-line message with code and unicode reaches the model byte for byte."""
    agent.script.on("FIRST-WORDS", text="first reply, right after the start")
    agent.script.on("ECHO-BODY", text="{body}")
    agent.start(NAME)
    assert agent.state(NAME) == "starting"
    first = send("--no-reply", "--json", NAME, "FIRST-WORDS, sent the instant the agent started")
    assert first.exit_code == 0, first.output
    first_id = json.loads(first.stdout)["id"]
    agent.wait_for_turn(NAME, "FIRST-WORDS")
    agent.wait_state(NAME, "idle")

    echoed = send("--no-reply", "--json", NAME, "--", BODY)
    assert echoed.exit_code == 0, echoed.output
    echoed_id = json.loads(echoed.stdout)["id"]
    turn = agent.wait_for_turn(NAME, "ECHO-BODY")
    assert envelope_body(turn) == BODY  # the model got the message byte for byte
    agent.wait_state(NAME, "idle")
    for message_id in (first_id, echoed_id):
        assert len(agent.script.turns_with(f"message {message_id} from")) == 1


def message_while_busy_reaches_the_model_once(agent: Agent) -> None:
    """A message sent while the agent works is held until the turn ends, then submitted
    once (checked on the model's side, not by a printed reply)."""
    gate = threading.Event()
    agent.script.on("HOLD-ON", text="done holding", gate=gate)
    agent.script.on("WHILE-BUSY", text="answered after the busy turn")
    agent.start(NAME)
    held = send("--no-reply", NAME, "HOLD-ON until the test lets go")
    assert held.exit_code == 0, held.output
    agent.wait_for_turn(NAME, "HOLD-ON")
    agent.wait_state(NAME, "busy")
    later = send_in_background("WHILE-BUSY: sent while the agent works", "--no-reply")
    wait_for(
        lambda: (m := message_with("WHILE-BUSY")) and m.state is MessageState.DELIVERING,
        30,
        "the sender to hold the message",
    )
    assert not agent.script.turns_with("WHILE-BUSY")
    gate.set()
    code, data = finish(later)
    assert code == 0, data
    assert data["state"] == "delivered", data
    message_id = str(data["id"])
    agent.wait_for_turn(NAME, f"message {message_id} from")
    agent.wait_state(NAME, "idle")
    assert len(agent.script.turns_with(f"message {message_id} from")) == 1
    assert agent.screen(NAME).count(f"message {message_id} from") == 1
    # it reached the model after the held turn
    turns = agent.script.turns
    held_at = next(n for n, turn in enumerate(turns) if "HOLD-ON" in turn)
    later_at = next(n for n, turn in enumerate(turns) if f"message {message_id} from" in turn)
    assert held_at < later_at


def offered_command_holds_messages_and_approve_runs_once(agent: Agent) -> None:
    """A command offered after the answer: asking, the inbox shows it, messages wait;
    approve runs it once and the waiting message goes in after."""
    command = appending("once")
    agent.script.on("RUN-ONCE", command=command, after="here is the command")
    agent.script.on("WHILE-ASKING", text="answered after the prompt")
    agent.start(NAME)
    asked = send("--no-reply", NAME, "RUN-ONCE, please")
    assert asked.exit_code == 0, asked.output
    wait_asking(agent, command)

    with watching():  # it delivers the waiting message once the agent is idle again
        data = held_while_asking_then_approved(agent)
        wait_for(lambda: runs(agent) == ["once"], 30, "the command to run")
        # the waiting message went in after the prompt, once
        agent.wait_for_turn(NAME, "WHILE-ASKING")
        agent.wait_state(NAME, "idle")
    assert agent.screen(NAME).count(f"message {data['id']} from") == 1
    assert len(agent.script.turns_with(f"message {data['id']} from")) == 1
    assert runs(agent) == ["once"]


def no_yes_always_deny_and_nothing_asking(agent: Agent) -> None:
    """A prompt without a "yes, and don't ask again" option: approve 2 is refused and
    presses nothing; deny answers no; approve with nothing asking presses nothing."""
    command = appending("never")
    agent.script.on("RUN-DENIED", command=command, after="here is the command")
    agent.start(NAME)
    asked = send("--no-reply", NAME, "RUN-DENIED, please")
    assert asked.exit_code == 0, asked.output
    wait_asking(agent, command)

    before = agent.screen(NAME, 0)
    always = run_imessenger("approve", NAME, "2")
    assert always.exit_code == 1, always.output
    assert "no option meaning" in always.stderr, always.output
    assert "nothing was pressed" in always.stderr, always.output
    stays(
        lambda: agent.screen(NAME, 0) == before and agent.state(NAME) == "asking",
        1.0,
        "the prompt, untouched",
    )

    no = run_imessenger("deny", NAME)
    assert no.exit_code == 0, no.output
    assert no.stdout.startswith(f'denied "{NAME}"'), no.output
    agent.wait_state(NAME, "idle")
    assert runs(agent) == []

    turns = len(agent.script.turns)
    assert agent.screen_state(NAME) == ("idle", "")
    nothing = run_imessenger("approve", NAME)
    assert nothing.exit_code == 1, nothing.output
    assert "not asking" in nothing.stderr, nothing.output
    assert agent.screen_state(NAME) == ("idle", "")  # nothing typed into the input box
    assert len(agent.script.turns) == turns  # and nothing submitted
    assert runs(agent) == []


# --- imessenger's MCP tools, used by the agents themselves ---------------------------------


def coordinator_delegates_through_the_tools(agent: Agent, tool: Callable[[str], str]) -> None:
    """A coordinator agent hands work to two workers (the demo agent, and another session
    of this agent, which answers with the ``reply`` tool) and collects both replies as
    the results of its ``send`` tool calls: no shell command, no printed delimiters, no
    permission prompt. ``tool`` spells a tool's name as the agent's model calls it."""
    agent.script.on(
        "WORK-FOR-AGENT",
        calls=[(tool("reply"), {"message_id": "{id}", "text": "agent worker: **done** `x`"})],
        after="replied with the tool",
        enveloped=False,
    )
    agent.script.on(
        "DELEGATE",
        calls=[
            (tool("send"), {"target": "worker-demo", "message": "WORK-FOR-DEMO: echo me"}),
            (tool("send"), {"target": "worker-agent", "message": "WORK-FOR-AGENT: please"}),
        ],
        after="collected:\n{outputs}",
    )
    start_demo("worker-demo", folder=agent.workdir, idle=False)
    agent.start("worker-agent")
    agent.start("coordinator")
    # sent right after the start: the coordinator takes it once its tools are connected
    # (until then it reads as starting), and so do the workers their messages
    began = time.monotonic()
    answered = send("--json", "--timeout", "120000", "coordinator", "DELEGATE to both workers")
    took = time.monotonic() - began
    assert answered.exit_code == 0, answered.output
    reply = json.loads(answered.stdout)["reply"]
    assert "WORK-FOR-DEMO: echo me" in reply, reply
    assert "agent worker: **done** `x`" in reply, reply
    print(f"delegation to two workers through the tools: {took:.2f} s")
    with Store.open(server=agent.tmux.label) as store:
        sent = {m.target: m for m in store.messages.latest(limit=None) if m.sender == "coordinator"}
    assert sent["worker-agent"].reply_via == "command"  # the reply tool, not the screen
    assert {m.state for m in sent.values()} == {MessageState.REPLIED}
    for target, message in sorted(sent.items()):
        assert message.replied_at is not None
        print(f"send tool -> {target}: {1000 * (message.replied_at - message.created_at):.0f} ms")
    for name in ("worker-demo", "worker-agent", "coordinator"):
        assert agent.state(name) != "asking"  # no permission prompt anywhere


def approve_through_the_tools_needs_the_policy(agent: Agent, tool: Callable[[str], str]) -> None:
    """An agent's ``approve`` tool is not pre-allowed and is refused by the policy, naming
    the rule; for a session ``[policy] approvers`` lists, it is pre-allowed and answers
    another session's prompt."""
    write_config('[policy]\napprovers = ["boss"]\n')
    start_demo("worker-demo", folder=agent.workdir, idle=False)
    agent.start("coordinator")
    agent.start("boss")
    agent.wait_state("worker-demo", "idle")
    asked = send("--no-reply", "worker-demo", "ASK[touch granted.txt]")
    assert asked.exit_code == 0, asked.output
    agent.wait_state("worker-demo", "asking")
    # the id of the prompt, as the `sessions` tool shows it to an approver
    waiting = json.loads(run_imessenger("inbox", "--waiting", "--json").stdout)["asking"]
    [prompt_id] = [row["prompt"]["id"] for row in waiting if row["name"] == "worker-demo"]
    agent.script.on(
        "APPROVE-IT",
        calls=[(tool("approve"), {"session": "worker-demo", "prompt_id": prompt_id, "choice": 1})],
        after="approve said: {outputs}",
    )

    # not an approver: the agent asks before it uses the tool, and the policy refuses it
    refused = subprocess.Popen(
        [*python_cli(), "send", "--json", "--timeout", "60000", "coordinator", "APPROVE-IT now"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    agent.wait_state("coordinator", "asking", 60)
    shown = run_imessenger("inbox", "coordinator")
    assert "approve" in shown.stdout, shown.output  # its prompt is about the approve tool
    assert run_imessenger("approve", "coordinator").exit_code == 0
    code, data = finish(refused)
    assert code == 0, data
    assert "approvers" in str(data["reply"]), data
    assert agent.state("worker-demo") == "asking"  # nothing was pressed there

    # an approver: no prompt of its own, and the worker's prompt is answered
    granted = send("--json", "--timeout", "60000", "boss", "APPROVE-IT for the worker")
    assert granted.exit_code == 0, granted.output
    # the tool's structured result, or its text (Gemini CLI hands the model the text)
    granted_reply = json.loads(granted.stdout)["reply"]
    assert "yes-once" in granted_reply or "yes, this once" in granted_reply, granted.stdout
    agent.wait_state("worker-demo", "idle")
    assert "Ran touch granted.txt" in agent.screen("worker-demo")


# --- token usage, from the agent's own record ------------------------------------------------


def approving(agent: Agent, process: subprocess.Popen[str]) -> Callable[[], bool]:
    """A check that approves the prompt the agent shows, if any, and says whether
    ``process`` (a send) has ended."""

    def ended() -> bool:
        if agent.state(NAME) == "asking":
            run_imessenger("approve", NAME)  # it may close first: then this says so, no more
        return process.poll() is not None

    return ended


def usage_is_read_from_its_record(
    agent: Agent, per_response: dict[str, Any], *, tool: bool = True
) -> None:
    """``isesh list --usage --json`` reports the tokens the fake model server said it used
    (its ``USAGE``, as each agent records it: ``per_response`` gives the counts and the
    model of one response), each response once, the side requests (titles, checks, which
    report other numbers) not at all.

    Two messages: with ``tool``, the first makes the model write a line and ask to run a
    command in the same response (Claude Code writes that response twice), then answer
    its output (approved if the agent asks); the second gets a plain answer. So three
    responses with ``tool``, else two.
    """
    if tool:
        agent.script.on(
            "USAGE-TOOL",
            command="echo usage-probe",
            preface="Let me run the probe first.",
            after="the probe said: {output}",
            escalate=False,
        )
    else:
        agent.script.on("USAGE-TOOL", text="no tools here")
    agent.script.on("USAGE-AGAIN", text="and once more")
    agent.start(NAME)
    for message in ("USAGE-TOOL: run the probe", "USAGE-AGAIN: say it again"):
        sent = send_in_background(message)
        wait_for(approving(agent, sent), 90, f"the reply to {message!r}")
        code, data = finish(sent)
        assert code == 0, data
        agent.wait_state(NAME, "idle", 30)
    responses = 3 if tool else 2
    counts = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    expected = {key: responses * per_response[key] for key in counts}
    expected.update(model=per_response["model"], turns=responses)

    def reported() -> dict[str, Any] | None:
        listed = run_isesh("list", "--usage", "--json")
        assert listed.exit_code == 0, listed.output
        [row] = json.loads(listed.stdout)
        usage = row["usage"]
        assert usage is not None, "no usage: the agent's record was not read"
        found = {key: usage[key] for key in expected}
        return found if found == expected else None

    try:
        wait_for(reported, 15, "the usage the fake model reported")
    except pytest.fail.Exception as error:
        last = json.loads(run_isesh("list", "--usage", "--json").stdout)[0]["usage"]
        pytest.fail(f"{error}\nexpected {expected}\nreported {last}")


# --- isesh restore: the agent's own conversation after its tmux server was killed ----------

#: The first message of the conversation a restore must bring back, and its answer: each
#: holds a token that nothing else in the test says.
REMEMBER = "FIRST-TURN: remember the code word PINEAPPLE-42"
REMEMBERED = "noted: your code word is MANGO-77"


def restore(*args: str) -> dict[str, str]:
    """``isesh restore --json ARGS``: each session's outcome, by name (a detail fails it)."""
    result = run_isesh("restore", "--json", *args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(not row["detail"] for row in rows), rows
    return {row["name"]: row["outcome"] for row in rows}


def resumable() -> bool:
    """Whether the session's conversation is kept where a restore finds it (Codex names
    its thread at the end of the first turn, through its notify program)."""
    with Store.open(server=server_label()) as store:
        remembered = store.remembered.get(NAME)
    assert remembered is not None, f'isesh remembers no "{NAME}"'
    try:
        resume(remembered.record_kind, remembered.command, remembered.record_ref)
    except CannotResume:
        return False
    return bool(remembered.record_ref)


@contextlib.contextmanager
def ended_afterwards(pids: list[int]) -> Iterator[None]:
    """Kill what still runs of ``pids`` at the end (the fixture stops only what runs in the
    tmux server: this is for an agent's last run, when a restore failed to end it)."""
    try:
        yield
    finally:
        for pid in alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def resumes_its_conversation_after_a_killed_server(
    agent: Agent, before_restore: Callable[[], None] | None = None
) -> None:
    """After its tmux server was killed, ``isesh restore`` brings the agent back in its
    own conversation: the model's request for the next message holds the earlier message
    and its answer, and the reply comes back exact, from the same record as before (not
    the screen: a record pinned to the wrong file would fall back to it). A second
    restore leaves the running agent alone. ``before_restore`` runs once the server is
    gone (to set up what this agent's restore must cope with)."""
    agent.script.on("FIRST-TURN", text=REMEMBERED)
    agent.script.on("SECOND-TURN", text="it was PINEAPPLE-42")
    keeps_record = bool(load_profiles(load_config())[agent.profile].launch.record)
    agent.start(NAME)
    first = send("--json", "--timeout", "60000", NAME, REMEMBER)
    assert first.exit_code == 0, first.output
    answered = json.loads(first.stdout)
    assert answered["reply"] == REMEMBERED
    if keeps_record:
        assert answered["reply_via"] == "record"
    agent.wait_state(NAME, "idle")
    wait_for(resumable, 30, "the conversation to be kept for a restore")
    old = agent.processes(NAME)
    agent.tmux.run("kill-server")
    wait_for(lambda: not agent.tmux.is_running(), 10, "the tmux server to be gone")
    with ended_afterwards(old):
        if before_restore is not None:
            before_restore()
        began, asked = time.monotonic(), len(agent.script.requests)
        assert restore() == {NAME: "resumed"}
        agent.wait_state(NAME, "idle", 60)
        print(f"{agent.profile}: restored and idle in {time.monotonic() - began:.2f} s")
        # nothing of the last run is left (Gemini CLI outlives its server: the restore
        # ends it)
        wait_for(lambda: not alive(old), 10, "the last run's processes to end")
    pid = agent.tmux.pane(NAME).pid
    assert pid is not None
    assert pid not in old

    # once more: it runs, so nothing is started
    assert restore() == {NAME: "running"}
    assert agent.tmux.pane(NAME).pid == pid
    assert agent.tmux.run("list-sessions", "-F", "#{session_name}") == [NAME]

    # resuming asked the model nothing (no summary, no replay of the conversation)
    assert len(agent.script.requests) == asked
    second = send("--json", "--timeout", "60000", NAME, "SECOND-TURN: tell me the code word")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["reply"] == "it was PINEAPPLE-42"
    record = message_with("SECOND-TURN")
    assert record is not None
    if keeps_record:
        assert record.reply_via == "record"
    carried = [
        dumped
        for request in agent.script.requests[asked:]
        if "SECOND-TURN" in (dumped := json.dumps(request, ensure_ascii=False))
    ]
    assert carried, "no request to the model held the second message"
    # the first request of the new turn holds the old message and the old answer
    assert "PINEAPPLE-42" in carried[0], carried[0][-2000:]
    assert "MANGO-77" in carried[0], carried[0][-2000:]
    assert agent.tmux.pane(NAME).pid == pid


def failed_turn_reads_as_error(agent: Agent, status: int, message: str, shows: str) -> None:
    """A turn the model API refuses (HTTP ``status``, ``message``) ends idle with an error
    that the profile reads (``Screen.error``, which ``isesh explain`` shows), holding
    ``shows``; the next turn, answered, leaves no error."""
    agent.script.on("FAILING", fail=(status, message))
    agent.script.on("RECOVERED", text="all good again")
    agent.start(NAME)
    failed = send("--no-reply", NAME, "FAILING: this turn fails")
    assert failed.exit_code == 0, failed.output
    agent.wait_for_turn(NAME, "FAILING")

    def read() -> Any:
        with Store.open(server=agent.tmux.label) as store:
            return Sessions(agent.tmux, store, load_config()).view(NAME).screen

    def failed_idle() -> bool:
        screen = read()
        return screen.state.value == "idle" and screen.error is not None

    try:
        wait_for(failed_idle, 60, "an idle screen that shows the error")
    except pytest.fail.Exception as error:
        pytest.fail(f"{error}\nthe screen of {NAME}:\n{agent.screen(NAME, history=0)}")
    error_text = read().error
    assert shows in error_text, f"{error_text!r}\n{agent.screen(NAME, history=0)}"
    explained = run_isesh("explain", NAME)
    assert "the last turn failed" in explained.stdout, explained.stdout
    recovered = send("--no-reply", NAME, "RECOVERED: this one works")
    assert recovered.exit_code == 0, recovered.output
    agent.wait_for_turn(NAME, "RECOVERED")
    try:
        wait_for(
            lambda: (
                "all good again" in agent.screen(NAME, history=0) and read().state.value == "idle"
            ),
            60,
            "the next turn answered",
        )
    except pytest.fail.Exception as error:
        pytest.fail(f"{error}\nthe screen of {NAME}:\n{agent.screen(NAME, history=0)}")
    assert read().error is None, agent.screen(NAME, history=0)
