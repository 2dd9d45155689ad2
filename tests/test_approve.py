"""``imessenger approve`` / ``deny``: the option chosen by meaning, refusals, a dropped key.

The first tests run the pure choice on real captures of Claude Code and Codex;
the rest drive the demo agent in real tmux (see imessenger/demo/agent.py).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from support import (
    answer_by_hand,
    ask,
    prompt_id,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    start_demo_in_shell,
    stays,
    wait_for,
)

from imessenger.actions import approval as approval_module
from imessenger.actions.approval import (
    ApprovalRefused,
    NoSuchOption,
    NothingAsking,
    SessionExited,
    UnreadableScreen,
    answer,
    answers,
    asked_prompt,
    choose_option,
)
from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.answers import BadChoice, parse_choice
from imessenger.core.errors import NoSuchSession
from imessenger.core.profiles import Profile, load_profiles
from imessenger.core.screen import Meaning, Option, Prompt, State, classify
from imessenger.core.values import Choice, MessageState

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@functools.cache
def profiles() -> dict[str, Profile]:
    return load_profiles(load_config(Path("/nonexistent/imessenger-test.toml")))


def prompt_in(fixture: str, profile: str) -> Prompt:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    return asked_prompt("s", classify(text, profiles()[profile].grammar))


# --- the pure choice, on real captures ---------------------------------------------------

THREE_OPTIONS = [
    pytest.param("claude-code-2.1.332/05_permission_prompt_1.txt", "claude", id="claude-05"),
    pytest.param("claude-code-2.1.332/07_permission_prompt_2.txt", "claude", id="claude-07"),
    pytest.param("codex-0.169.0/c05_approval_prompt_1.txt", "codex", id="codex-c05"),
    pytest.param("codex-0.169.0/c07_approval_prompt_2.txt", "codex", id="codex-c07"),
    pytest.param("handmade/demo-asking.txt", "demo", id="demo"),
]


@pytest.mark.parametrize(("fixture", "profile"), THREE_OPTIONS)
def test_three_option_prompts_map_each_choice_to_its_key(fixture: str, profile: str) -> None:
    prompt = prompt_in(fixture, profile)
    agent = profiles()[profile]
    keys = {choice: agent.drive.keys_for(choose_option(prompt, choice)) for choice in Choice}
    assert keys == {Choice.YES_ONCE: ["1"], Choice.YES_ALWAYS: ["2"], Choice.NO: ["3"]}
    assert answers("s", prompt) == {"1": Choice.YES_ONCE, "2": Choice.YES_ALWAYS, "3": Choice.NO}


@pytest.mark.parametrize(
    ("fixture", "profile"),
    [
        pytest.param("handmade/claude-two-options.txt", "claude", id="claude"),
        pytest.param("handmade/demo-asking-two.txt", "demo", id="demo"),
    ],
)
def test_two_option_prompt_refuses_yes_always_and_denies_with_2(fixture: str, profile: str) -> None:
    prompt = prompt_in(fixture, profile)
    with pytest.raises(NoSuchOption, match='no option meaning "yes, and don\'t ask again"'):
        choose_option(prompt, Choice.YES_ALWAYS, session="s")
    assert choose_option(prompt, Choice.YES_ONCE).key == "1"
    assert choose_option(prompt, Choice.NO).key == "2"  # here "2" means No


def test_aider_letter_prompt_presses_the_letter_then_enter() -> None:
    prompt = prompt_in("handmade/aider-asking.txt", "aider")
    option = choose_option(prompt, Choice.YES_ONCE)
    assert profiles()["aider"].drive.keys_for(option) == [option.key, "Enter"]


@pytest.mark.parametrize(
    ("fixture", "profile", "error"),
    [
        pytest.param("claude-code-2.1.332/04_text_reply.txt", "claude", NothingAsking, id="idle"),
        pytest.param("claude-code-2.1.332/03_busy.txt", "claude", NothingAsking, id="busy"),
        pytest.param(
            "handmade/claude-quoted-question.txt", "claude", NothingAsking, id="quoted-question"
        ),
        pytest.param("codex-0.169.0/c04_text_reply.txt", "claude", UnreadableScreen, id="unread"),
    ],
)
def test_screens_without_a_prompt_are_refused(
    fixture: str, profile: str, error: type[ApprovalRefused]
) -> None:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    with pytest.raises(error, match="nothing was pressed"):
        asked_prompt("s", classify(text, profiles()[profile].grammar))


def test_exited_screen_is_refused() -> None:
    with pytest.raises(SessionExited, match="has exited"):
        asked_prompt("s", classify("", profiles()["demo"].grammar, dead=True))


def _prompt(*options: tuple[str, str, Meaning, bool]) -> Prompt:
    return Prompt("Proceed?", "touch x", tuple(Option(*o) for o in options), "text")


def test_ambiguous_meanings_and_shared_keys_are_unreadable() -> None:
    twice = _prompt(
        ("1", "Yes", Meaning.YES_ONCE, True),
        ("2", "Yes, proceed", Meaning.YES_ONCE, False),
        ("3", "No", Meaning.NO, False),
    )
    with pytest.raises(UnreadableScreen, match="several options mean"):
        choose_option(twice, Choice.YES_ONCE)
    assert choose_option(twice, Choice.NO).key == "3"
    shared = _prompt(("1", "Yes", Meaning.YES_ONCE, True), ("1", "No", Meaning.NO, False))
    with pytest.raises(UnreadableScreen, match="share a key"):
        choose_option(shared, Choice.NO)


def test_inserted_option_moves_no_without_confusing_the_choice() -> None:
    prompt = _prompt(
        ("1", "Yes", Meaning.YES_ONCE, True),
        ("2", "Yes, and don't ask again", Meaning.YES_ALWAYS, False),
        ("3", "Yes, and switch to auto mode", Meaning.OTHER, False),
        ("4", "No", Meaning.NO, False),
    )
    assert choose_option(prompt, Choice.NO).key == "4"
    assert answers("s", prompt) == {"1": Choice.YES_ONCE, "2": Choice.YES_ALWAYS, "4": Choice.NO}


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        pytest.param(None, Choice.YES_ONCE, id="default"),
        pytest.param("1", Choice.YES_ONCE, id="1"),
        pytest.param("2", Choice.YES_ALWAYS, id="2"),
    ],
)
def test_parse_choice(text: str | None, choice: Choice) -> None:
    assert parse_choice(text) is choice


@pytest.mark.parametrize("text", ["3", "0", "yes", "", "12"])
def test_parse_choice_refuses_anything_else(text: str) -> None:
    with pytest.raises(BadChoice) as caught:
        parse_choice(text)
    assert caught.value.exit_code == 2


# --- on real tmux with the demo agent ------------------------------------------------------


def shows(tmux: Tmux, name: str, text: str) -> bool:
    return text in scrollback(tmux, name, 200)


def test_approve_three_option_prompt_once(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch x.txt] please")
    result = run_imessenger("approve", "w1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('approved "w1": touch x.txt -- yes, this once (pressed 1: ')
    wait_for(lambda: shows(tmux, "w1", "● Ran touch x.txt"), what="the command ran")
    [record] = sessions.store.list_approvals("w1")
    assert (record.actor, record.server, record.choice) == ("user", tmux.label, Choice.YES_ONCE)
    assert (record.option_label, record.key, record.closed) == ("Yes", "1", True)
    assert record.subject == "touch x.txt"
    assert "Do you want to proceed?" in record.prompt


def test_approve_2_is_yes_and_dont_ask_again(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch a.txt]")
    result = run_imessenger("approve", "w1", "2")
    assert result.exit_code == 0, result.output
    assert "yes, and don't ask again" in result.stdout
    [record] = sessions.store.list_approvals("w1")
    assert (record.key, record.choice) == ("2", Choice.YES_ALWAYS)
    assert record.option_label == "Yes, and don't ask again for: touch"
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle again")
    assert run_imessenger("send", "w1", "ASK[touch b.txt]", "--no-reply").exit_code == 0
    wait_for(lambda: shows(tmux, "w1", "● Ran touch b.txt"), what="ran without asking")


def test_two_option_prompt_refuses_2_and_sends_nothing(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK2[rm y.txt]")
    before = scrollback(tmux, "w1", 200)
    result = run_imessenger("approve", "w1", "2")
    assert result.exit_code == 1
    assert "no option meaning" in result.stderr
    assert "nothing was pressed" in result.stderr
    assert "imessenger deny w1" in result.stderr
    assert scrollback(tmux, "w1", 200) == before
    assert sessions.store.list_approvals() == []
    # ... while deny picks its "2", which means No there
    denied = run_imessenger("deny", "w1")
    assert denied.exit_code == 0, denied.output
    assert denied.stdout.startswith('denied "w1": rm y.txt -- no (pressed 2: "No")')
    wait_for(lambda: shows(tmux, "w1", "● Did not run rm y.txt"), what="the command refused")
    assert not shows(tmux, "w1", "● Ran rm y.txt")
    [record] = sessions.store.list_approvals("w1")
    assert (record.choice, record.key, record.closed) == (Choice.NO, "2", True)


def test_deny_three_option_prompt(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch z.txt]")
    result = run_imessenger("deny", "w1")
    assert result.exit_code == 0, result.output
    wait_for(lambda: shows(tmux, "w1", "● Did not run touch z.txt"), what="not run")
    [record] = sessions.store.list_approvals("w1")
    assert (record.choice, record.key, record.option_label) == (Choice.NO, "3", "No")


def test_approve_with_nothing_asking_leaves_the_input_box_alone(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    AgentPane.of(tmux, "w1").type("half typed")
    wait_for(lambda: sessions.view("w1").screen.input_text == "half typed", what="typed text")
    before = scrollback(tmux, "w1", 200)
    for args in (["approve", "w1"], ["approve", "w1", "2"], ["deny", "w1"]):
        result = run_imessenger(*args)
        assert result.exit_code == 1
        assert '"w1" is not asking for permission (its screen reads idle)' in result.stderr
    assert scrollback(tmux, "w1", 200) == before
    assert sessions.view("w1").screen.input_text == "half typed"
    assert sessions.store.list_approvals() == []


def test_a_prompt_just_drawn_gets_a_moment_before_its_key(tmux: Tmux, sessions: Sessions) -> None:
    # DROPKEY: the prompt loses the keys of its first 150 ms; approve comes at once
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch k.txt] DROPKEY")
    approval = answer(sessions, "w1", Choice.YES_ONCE, who="tester")
    assert approval.closed
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle after the answer")
    assert scrollback(tmux, "w1", 200).count("● Ran touch k.txt") == 1
    assert sessions.view("w1").screen.input_text == ""  # no stray key in the input box
    [record] = sessions.store.list_approvals("w1")
    assert (record.actor, record.closed, record.key) == ("tester", True, "1")


def test_a_taken_key_is_not_pressed_again(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch t.txt] BUSY[50]")
    approval = answer(sessions, "w1", Choice.YES_ONCE, who="user")
    assert approval.closed
    wait_for(lambda: shows(tmux, "w1", "● Ran touch t.txt"), what="ran")
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")
    assert sessions.view("w1").screen.input_text == ""


def test_an_agent_slow_to_take_the_key_gets_one_key(tmux: Tmux, sessions: Sessions) -> None:
    # SLOWKEY: the agent stalls for 1.2 s before it acts on the key, as Gemini CLI did on
    # a loaded machine; a second key would have gone into its input box
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch s.txt] SLOWKEY[1200]")
    approval = answer(sessions, "w1", Choice.YES_ONCE, who="user")
    assert approval.closed
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")
    stays(lambda: sessions.view("w1").screen.input_text == "", 0.5, "an empty input box")
    assert scrollback(tmux, "w1", 200).count("● Ran touch s.txt") == 1


def test_an_agent_that_has_not_read_the_key_is_waited_for(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent is stopped (as if starved of CPU) for longer than approve watches for
    # the prompt to close: the key waits unread in its terminal, so approve keeps
    # watching instead of calling the prompt still open, and presses nothing more.
    monkeypatch.setattr(approval_module, "CONFIRM_S", 0.5)
    agent = start_demo_in_shell(tmux, "w1")
    ask(sessions, "w1", "ASK[touch w.txt]")
    os.kill(agent, signal.SIGSTOP)
    waking = threading.Timer(1.5, os.kill, (agent, signal.SIGCONT))
    waking.start()
    try:
        approval = answer(sessions, "w1", Choice.YES_ONCE, who="user")
    finally:
        waking.join()
        os.kill(agent, signal.SIGCONT)
    assert approval.closed
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")
    assert scrollback(tmux, "w1", 200).count("● Ran touch w.txt") == 1
    assert sessions.view("w1").screen.input_text == ""


FAKE_PROMPT = (
    r"printf ' Demo wants to run a command\n $ touch x.txt\n Do you want to proceed?\n"
    r" \342\235\257 1. Yes\n   2. No\n Esc to cancel'"
)


def test_a_prompt_that_never_closes_gets_one_key(
    tmux: Tmux, sessions: Sessions, tmp_path: Path
) -> None:
    """A program that draws a prompt and swallows every key: one key, then an error."""
    script = f"stty -echo -icanon; {FAKE_PROMPT}; exec cat > keys.log"
    started = run_isesh(
        "start", "stuck", "-d", str(tmp_path), "--agent", "demo", "--", "sh", "-c", script
    )
    assert started.exit_code == 0, started.output
    wait_for(lambda: sessions.view("stuck").screen.prompt, what="the fake prompt")
    result = run_imessenger("approve", "stuck")
    assert result.exit_code == 1
    assert 'pressed 1 in "stuck" but its prompt is still open' in result.stderr
    assert (tmp_path / "keys.log").read_text() == "1"  # one key, never a second
    [record] = sessions.store.list_approvals("stuck")
    assert (record.closed, record.key, record.subject) == (False, "1", "touch x.txt")


def test_approve_all_answers_every_asking_session(tmux: Tmux, sessions: Sessions) -> None:
    for name in ("a1", "a2", "a3"):
        start_demo(name)
    start_demo("idle1")
    for name in ("a1", "a2", "a3"):
        ask(sessions, name, f"ASK[touch {name}.txt]")
    result = run_imessenger("approve", "--all")
    assert result.exit_code == 0, result.output
    assert "answered 3 of 3 asking session(s)" in result.stdout
    for name in ("a1", "a2", "a3"):
        assert f'approved "{name}": touch {name}.txt' in result.stdout
        wait_for(lambda n=name: shows(tmux, n, f"● Ran touch {n}.txt"), what=f"{name} ran")
    assert sorted(r.session for r in sessions.store.list_approvals()) == ["a1", "a2", "a3"]
    again = run_imessenger("approve", "--all")
    assert again.exit_code == 0
    assert "no session is asking" in again.stderr


def test_approve_all_2_reports_the_prompt_that_has_no_such_option(
    tmux: Tmux, sessions: Sessions
) -> None:
    for name in ("b1", "b2"):
        start_demo(name)
    ask(sessions, "b1", "ASK[touch b1.txt]")
    ask(sessions, "b2", "ASK2[touch b2.txt]")
    result = run_imessenger("approve", "--all", "2")
    assert result.exit_code == 1
    assert "answered 1 of 2 asking session(s), 1 not answered (b2)" in result.stdout
    assert '"b2" not answered' in result.stderr
    assert sessions.view("b2").state is State.ASKING
    assert [r.session for r in sessions.store.list_approvals()] == ["b1"]


def test_pending_messages_are_delivered_once_the_prompt_closed(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch p.txt]")
    waiting = run_imessenger("send", "w1", "after the prompt LINES[1]", "--no-reply")
    assert waiting.exit_code == 3, waiting.output  # pending: never pasted into a prompt
    result = run_imessenger("approve", "w1")
    assert result.exit_code == 0, result.output
    [message] = [m for m in sessions.store.list_messages(session="w1") if "LINES" in m.body]
    assert message.state in (MessageState.DELIVERED, MessageState.QUEUED, MessageState.REPLIED)
    # each waiting message's own outcome, not a count
    assert f'waiting message {message.id} to "w1": ' in result.stderr
    wait_for(lambda: shows(tmux, "w1", "after the prompt"), what="the waiting message")


def approvers(*argvs: list[str]) -> list[tuple[int, str]]:
    """Start one process per argv at once; (exit status, stderr) of each, in that order."""
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    outcomes = []
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        outcomes.append((proc.returncode, err))
    return outcomes


def test_two_approvers_of_one_prompt_answer_it_once(tmux: Tmux, sessions: Sessions) -> None:
    # As the menu, the dashboard and a script each carry the id of the prompt they showed:
    # started together, one presses its key, the other is told who answered it (exit 6).
    start_demo("w1")
    for round_ in range(5):
        ask(sessions, "w1", f"ASK[touch r{round_}.txt]")
        shown = prompt_id("w1")
        argv = [*python_cli(), "approve", "w1", "--prompt", shown]
        outcomes = approvers(argv, argv)
        assert sorted(code for code, _ in outcomes) == [0, 6], outcomes
        [refusal] = [err for code, err in outcomes if code == 6]
        assert f'the prompt {shown} of "w1" (touch r{round_}.txt) was already answered' in refusal
        assert 'by user ("yes, this once") at ' in refusal
        assert "nothing was pressed" in refusal
        wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")
        assert scrollback(tmux, "w1", 200).count(f"● Ran touch r{round_}.txt") == 1
        assert sessions.view("w1").screen.input_text == ""
        assert len(sessions.store.list_approvals("w1")) == round_ + 1


def test_two_approvers_without_ids_answer_the_prompt_they_saw_once(
    tmux: Tmux, sessions: Sessions
) -> None:
    # Without --prompt, the prompt an approver answers is the one open when it started.
    # SLOWKEY: the agent takes 3 s to act on the key, so the prompt stays on screen while
    # the first one's key waits: the second sees it, then finds it answered.
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch s.txt] SLOWKEY[3000]")
    argv = [*python_cli(), "approve", "w1"]
    outcomes = approvers(argv, argv)
    assert sorted(code for code, _ in outcomes) == [0, 6], outcomes
    [refusal] = [err for code, err in outcomes if code == 6]
    assert '"w1" (touch s.txt) was already answered by user' in refusal
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")
    assert scrollback(tmux, "w1", 200).count("● Ran touch s.txt") == 1
    assert sessions.view("w1").screen.input_text == ""
    assert len(sessions.store.list_approvals("w1")) == 1


def test_a_stale_prompt_id_presses_nothing(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch one.txt]")
    first = prompt_id("w1")
    answer_by_hand(tmux, sessions, "w1", "3", "● Did not run touch one.txt")
    ask(sessions, "w1", "ASK[touch two.txt]")
    before = scrollback(tmux, "w1", 200)
    for args in (["approve", "w1", "--prompt", first], ["deny", "w1", "--prompt", first]):
        result = run_imessenger(*args)
        assert result.exit_code == 1, result.output
        assert f'the prompt {first} of "w1" (touch one.txt) is no longer open' in result.stderr
        assert "the open prompt is another (" in result.stderr
        assert ": touch two.txt); nothing was pressed" in result.stderr
    assert scrollback(tmux, "w1", 200) == before
    assert sessions.view("w1").state is State.ASKING
    assert sessions.store.list_approvals() == []
    second = prompt_id("w1")
    assert second != first
    assert f"the open prompt is another ({second}: touch two.txt)" in result.stderr
    done = run_imessenger("approve", "w1", "--prompt", second, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["prompt_id"] == second
    wait_for(lambda: shows(tmux, "w1", "● Ran touch two.txt"), what="the second prompt answered")
    assert not shows(tmux, "w1", "● Ran touch one.txt")


def test_an_id_whose_prompt_closed_presses_nothing(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch c.txt]")
    shown = prompt_id("w1")
    answer_by_hand(tmux, sessions, "w1", "1", "● Ran touch c.txt")
    AgentPane.of(tmux, "w1").type("half typed")
    wait_for(lambda: sessions.view("w1").screen.input_text == "half typed", what="typed text")
    result = run_imessenger("approve", "w1", "--prompt", shown)
    assert result.exit_code == 1, result.output
    assert f'the prompt {shown} of "w1" (touch c.txt) is no longer open' in result.stderr
    assert "(the screen reads idle); nothing was pressed" in result.stderr
    assert sessions.view("w1").screen.input_text == "half typed"
    unknown = run_imessenger("approve", "w1", "--prompt", "0123456789")
    assert unknown.exit_code == 1
    assert 'no prompt "0123456789" was seen in "w1"; nothing was pressed' in unknown.stderr
    assert "inbox --waiting" in unknown.stderr
    assert sessions.store.list_approvals() == []


@pytest.mark.parametrize("text", ["12345", "not-an-id!", "0123456789a", "#(touch x)"])
def test_a_malformed_prompt_id_is_a_usage_error(tmux: Tmux, sessions: Sessions, text: str) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch m.txt]")
    for args in (["approve", "w1", "--prompt", text], ["deny", "w1", "--prompt", text]):
        result = run_imessenger(*args)
        assert result.exit_code == 2, result.output
        assert "PROMPT must be the id of a prompt (10 hex digits" in result.stderr
    assert sessions.view("w1").state is State.ASKING
    assert sessions.store.list_approvals() == []


def test_a_pane_in_a_mode_gets_no_key(tmux: Tmux, sessions: Sessions) -> None:
    # In copy mode (or view mode, where tmux shows a command's output), a key goes to the
    # mode: "1" would be a repeat count there, and the agent would never see it.
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch mode.txt]")
    shown = prompt_id("w1")
    tmux.run("copy-mode", "-t", tmux.session_id("w1"))
    refused = run_imessenger("approve", "w1", "--prompt", shown)
    assert refused.exit_code == 1, refused.output
    assert 'the pane of "w1" is in a tmux mode' in refused.stderr
    assert "nothing was pressed" in refused.stderr
    assert sessions.store.list_approvals() == []
    tmux.run("send-keys", "-t", tmux.session_id("w1"), "-X", "cancel")  # q, as a person would
    done = run_imessenger("approve", "w1", "--prompt", shown)  # not taken for answered
    assert done.exit_code == 0, done.output
    wait_for(lambda: shows(tmux, "w1", "● Ran touch mode.txt"), what="answered")


def test_the_same_prompt_again_is_another_prompt(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch same.txt]")
    first = prompt_id("w1")
    assert prompt_id("w1") == first  # every reader finds the same one while it is open
    done = run_imessenger("approve", "w1", "--prompt", first)
    assert done.exit_code == 0, done.output
    wait_for(lambda: sessions.view("w1").state is State.IDLE, what="idle")

    ask(sessions, "w1", "ASK[touch same.txt]")  # reads exactly as the first did
    second = prompt_id("w1")
    assert second != first
    again = run_imessenger("approve", "w1", "--prompt", first)
    assert again.exit_code == 6, again.output
    assert f'the prompt {first} of "w1" (touch same.txt) was already answered' in again.stderr
    assert sessions.view("w1").state is State.ASKING
    assert scrollback(tmux, "w1", 200).count("● Ran touch same.txt") == 1

    # answered in its pane: a reader that saw it gone closes it, so a third is new too
    answer_by_hand(tmux, sessions, "w1", "1", "● Ran touch same.txt")
    assert run_imessenger("inbox", "--waiting").exit_code == 0
    ask(sessions, "w1", "ASK[touch same.txt]")
    third = prompt_id("w1")
    assert third not in (first, second)
    stale = run_imessenger("approve", "w1", "--prompt", second)
    assert stale.exit_code == 1, stale.output
    assert f"the open prompt is another ({third}: touch same.txt)" in stale.stderr
    assert scrollback(tmux, "w1", 200).count("● Ran touch same.txt") == 2


def test_refusals_for_missing_and_exited_sessions(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    missing = run_imessenger("approve", "nosuch")
    assert missing.exit_code == 1
    assert 'no session named "nosuch"; running sessions: w1' in missing.stderr
    with pytest.raises(NoSuchSession):
        answer(sessions, "nosuch", Choice.NO, who="user")
    assert run_imessenger("send", "w1", "EXIT", "--no-reply").exit_code == 0
    wait_for(lambda: tmux.pane("w1").dead, what="the demo agent exited")
    exited = run_imessenger("deny", "w1")
    assert exited.exit_code == 1
    assert 'session "w1" has exited' in exited.stderr
    assert sessions.store.list_approvals() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["approve", "w1", "3"], "CHOICE must be 1", id="choice-3"),
        pytest.param(["approve", "w1", "no"], "CHOICE must be 1", id="choice-word"),
        pytest.param(["approve", "--all", "3"], "CHOICE must be 1", id="all-choice-3"),
        pytest.param(["approve", "--all", "w1", "1"], "with --all", id="all-and-session"),
        pytest.param(
            ["approve", "--all", "--prompt", "0123456789"], "no --prompt", id="all-and-prompt"
        ),
        pytest.param(
            ["approve-menu", "-c", "/dev/null", "--prompt", "0123456789"],
            "--prompt goes with --answer",
            id="menu-prompt-alone",
        ),
        pytest.param(["approve"], "name the SESSION", id="nothing"),
        pytest.param(["deny"], "Missing argument", id="deny-nothing"),
    ],
)
def test_usage_errors_exit_2_and_press_nothing(
    tmux: Tmux, sessions: Sessions, args: list[str], message: str
) -> None:
    start_demo("w1")
    ask(sessions, "w1", "ASK[touch u.txt]")
    result = run_imessenger(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert sessions.view("w1").state is State.ASKING
    assert sessions.store.list_approvals() == []


def test_commands_have_help_with_an_example() -> None:
    for command in ("approve", "deny"):
        result = run_imessenger(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout
