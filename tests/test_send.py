"""``imessenger send``, ``reply`` and ``deliver`` on real tmux, with the demo agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    message_state,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    start_demo_in_shell,
    state_of,
    stays,
    wait_for,
    write_config,
)

from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.values import MessageState
from imessenger.interfaces.cli.messaging import EXIT_INTERRUPTED, EXIT_PENDING, EXIT_TIMEOUT

RECORDER = Path(__file__).parent / "programs" / "raw_recorder.py"


def send_json(*args: str) -> tuple[int, dict[str, object]]:
    result = run_imessenger("send", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("Build the login component", id="plain"),
        pytest.param("line one\nline two\n\nline four after a blank", id="multi-line"),
        pytest.param(
            "def f(x):\n\treturn `x` + \"$HOME\" + 'q' # tab, quotes, backticks, $\n", id="code"
        ),
        pytest.param("ünïcödé → ✓ 日本語 🚀", id="unicode"),
        pytest.param("-starts with a dash\nends with a semicolon;\n;", id="dash-semicolon"),
    ],
)
def test_send_returns_the_exact_reply(tmux: Tmux, body: str) -> None:
    start_demo(idle=False)
    result = run_imessenger("send", "--json", "w1", "--", body)  # the body may start with "-"
    assert result.exit_code == 0, result.output
    # The demo agent answers with the body it received, and keeps its answer in its
    # record, where the reply is read byte for byte (the screen expands tabs).
    data = json.loads(result.stdout)
    assert (data["reply"], data["reply_via"]) == (body, "record")
    printed = run_imessenger("send", "w1", "--", body)
    assert printed.stdout == body + ("" if body.endswith("\n") else "\n")
    # Through `imessenger reply` (the exact channel), the body comes back byte for byte.
    exact = run_imessenger("send", "w1", "--", body + "\nREPLYCMD")
    assert exact.exit_code == 0, exact.output
    assert exact.stdout == body + "\nREPLYCMD\n"


def test_the_screen_gives_the_reply_when_the_record_cannot(tmux: Tmux, tmp_path: Path) -> None:
    # a record the agent cannot write (its folder does not exist): after a while the
    # reply read from the screen is taken, as the terminal drew it (tabs expanded)
    body = "def f(x):\n\treturn x"
    missing = tmp_path / "no-such-folder" / "record.jsonl"
    start_demo("w1", "--startup-ms", "0", "--record", str(missing), idle=False)
    code, data = send_json("--timeout", "10000", "w1", body)
    assert code == 0, data
    assert data["reply_via"] == "screen"
    reply = str(data["reply"])
    assert reply != body  # the tab is gone: the terminal drew it as spaces
    assert reply.split("\n")[0] == "def f(x):"
    assert reply.split("\n")[1].strip() == "return x"


def test_json_reports_id_state_reply_and_timings(tmux: Tmux) -> None:
    start_demo(idle=False)
    code, data = send_json("w1", "hello")
    assert code == 0
    assert data["state"] == "replied"
    assert data["reply"] == "hello"
    assert isinstance(data["timings_ms"], dict)
    assert message_state(str(data["id"])) is MessageState.REPLIED


def test_message_from_stdin_and_file(tmux: Tmux, tmp_path: Path) -> None:
    start_demo(idle=False)
    piped = run_imessenger("send", "w1", "-", stdin="from stdin\nsecond line\n")
    assert piped.stdout == "from stdin\nsecond line\n"  # the reply's own line break ends it
    file = tmp_path / "msg.txt"
    file.write_text("from a file")
    assert run_imessenger("send", "w1", "--file", str(file)).stdout == "from a file\n"


def test_control_characters_are_neutralised(tmux: Tmux) -> None:
    start_demo(idle=False)
    result = run_imessenger("send", "w1", "a\x1b[201~b\x03c\x04d\x07e\tf REPLYCMD")
    assert result.exit_code == 0, result.output
    # What the agent received (it answers through `imessenger reply`, byte for byte):
    assert result.stdout == "a\u241b[201~b\u2403c\u2404d\u2407e\tf REPLYCMD\n"
    # No ^C interrupted the agent and no ^D ended it.
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="idle after answering")
    assert "Interrupted" not in scrollback(tmux, "w1")


def test_first_message_right_after_start_is_submitted(tmux: Tmux) -> None:
    start_demo("w1", "--startup-ms", "600", idle=False)
    result = run_imessenger("send", "w1", "first words")
    assert result.exit_code == 0, result.output
    assert result.stdout == "first words\n"


def test_a_lost_enter_is_pressed_once_more_and_submitted_once(tmux: Tmux) -> None:
    start_demo("w1", "--startup-ms", "0", "--drop-enters", "1", idle=False)
    code, data = send_json("w1", "only once please")
    assert code == 0
    assert data["reply"] == "only once please"
    assert scrollback(tmux, "w1").count(f"message {data['id']} from") == 1


def test_the_key_pressed_again_waits_until_the_agent_has_shown_the_paste(tmux: Tmux) -> None:
    # As Gemini CLI short of CPU does: it takes in the paste late, and an Enter that comes
    # soon after it has taken the paste in becomes a new line. The Enter that came with
    # the paste is lost that way; the one pressed again must not come too soon as well.
    start_demo("w1", "--startup-ms", "0", "--slow-paste", "300", "--paste-guard", "250", idle=False)
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="w1 idle")
    code, data = send_json("--timeout", "10000", "w1", "taken in late")
    assert code == 0, data
    assert data["reply"] == "taken in late"
    assert scrollback(tmux, "w1").count(f"message {data['id']} from") == 1


def test_a_half_drawn_screen_is_not_taken_for_a_submitted_message(tmux: Tmux) -> None:
    # The agent loses the Enter that comes with the paste (as Gemini CLI does) and, each
    # time it redraws, shows the pasted text for a while without the line under its
    # input box: a look at that moment must not count as "the input box emptied".
    start_demo("w1", "--startup-ms", "0", "--drop-enters", "1", "--torn-frames", "80", idle=False)
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="w1 idle")
    code, data = send_json("--timeout", "10000", "w1", "submitted, not left in the box")
    assert code == 0, data
    assert data["reply"] == "submitted, not left in the box"
    assert scrollback(tmux, "w1").count(f"message {data['id']} from") == 1


def test_never_pastes_into_a_permission_prompt(tmux: Tmux) -> None:
    start_demo(idle=False)
    asked = run_imessenger("send", "w1", "--no-reply", "ASK[touch x.txt] first")
    assert asked.exit_code == 0, asked.output
    wait_for(lambda: state_of(tmux, "w1") == "asking", what="the prompt")
    code, data = send_json("w1", "second message")
    assert code == EXIT_PENDING
    assert data["state"] == "pending"
    assert "permission prompt" in str(data["why"])
    # The prompt is still open: nothing answered it.
    assert state_of(tmux, "w1") == "asking"
    assert "Ran touch" not in scrollback(tmux, "w1")
    assert message_state(str(data["id"])) is MessageState.PENDING
    # Nor does `deliver` while it is asking.
    assert run_imessenger("deliver", "w1").exit_code == EXIT_PENDING
    AgentPane.of(tmux, "w1").press(["3"])  # the user says no
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="idle again")
    delivered = run_imessenger("deliver", "w1")
    assert delivered.exit_code == 0, delivered.output
    assert f"{data['id']} -> w1: delivered" in delivered.stdout
    wait_for(lambda: message_state(str(data["id"])) is MessageState.DELIVERED or None)
    screen = scrollback(tmux, "w1")
    assert "Did not run touch x.txt" in screen
    assert screen.count(f"message {data['id']} from") == 1


def test_never_pastes_over_half_typed_input(tmux: Tmux) -> None:
    start_demo(idle=False)
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="idle")
    AgentPane.of(tmux, "w1").type("half typed")
    wait_for(lambda: "demo> half typed" in scrollback(tmux, "w1", 0), what="typed text")
    code, data = send_json("w1", "do not mix with me")
    assert code == EXIT_PENDING
    assert "half-typed" in str(data["why"])
    assert "demo> half typed" in scrollback(tmux, "w1", 0)  # untouched
    AgentPane.of(tmux, "w1").press(["BSpace"] * len("half typed"))
    wait_for(lambda: "demo>\n" in scrollback(tmux, "w1", 0) + "\n", what="empty input")
    assert run_imessenger("deliver").exit_code == 0
    wait_for(lambda: "do not mix with me" in scrollback(tmux, "w1"), what="delivered")


def test_busy_agent_queues_and_answers_once(tmux: Tmux) -> None:
    start_demo(idle=False)
    first = run_imessenger("send", "w1", "--no-reply", "BUSY[1500] long job")
    assert first.exit_code == 0, first.output
    wait_for(lambda: state_of(tmux, "w1") == "busy", what="busy")
    code, data = send_json("w1", "while you work")
    assert code == 0
    assert data["reply"] == "while you work"
    assert scrollback(tmux, "w1").count(f"message {data['id']} from") == 1


def test_a_message_to_an_agent_in_a_turn_waits_for_its_end(tmux: Tmux) -> None:
    # It could open a permission prompt as the submit key goes in: the key would answer it.
    start_demo(idle=False)
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[1500] long job").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") == "busy", what="busy")
    second = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY second")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["state"] == "delivered"  # not "queued"
    text = scrollback(tmux, "w1")
    assert "queued" not in text.lower()  # the demo shows "⎿  Queued" under a queued one
    assert text.index("long job") < text.index("NOREPLY second")


def test_an_idle_looking_frame_in_the_middle_of_a_turn_is_not_its_end(tmux: Tmux) -> None:
    # 0.8 s into its turn the agent draws its screen without the spinner for 80 ms
    start_demo(idle=False)
    job = run_imessenger("send", "w1", "--no-reply", "NOREPLY BUSY[2000] BLINK[800] long job")
    assert job.exit_code == 0, job.output
    wait_for(lambda: state_of(tmux, "w1") == "busy", what="busy")
    second = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY second")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["state"] == "delivered"
    assert "Queued" not in scrollback(tmux, "w1")  # it was not submitted into the turn


def test_a_message_queued_behind_a_queued_one_is_reported_queued(tmux: Tmux) -> None:
    # The queue was there before this message: it must be seen growing, not appearing.
    write_config("[send]\nqueue_while_busy = true\n")
    start_demo(idle=False)
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[4000] long job").exit_code == 0
    wait_for(lambda: state_of(tmux, "w1") == "busy", what="busy")
    second = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY second")
    assert json.loads(second.stdout)["state"] == "queued", second.output
    third = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY third")
    assert third.exit_code == 0, third.output
    assert json.loads(third.stdout)["state"] == "queued"
    wait_for(lambda: "2 queued" in scrollback(tmux, "w1", 0) or state_of(tmux, "w1") == "idle")
    wait_for(lambda: state_of(tmux, "w1") == "idle", seconds=20, what="all three answered")
    assert scrollback(tmux, "w1").count("NOREPLY third") == 1  # taken once, not resent


def test_missing_and_exited_targets(tmux: Tmux) -> None:
    start_demo("alive", idle=False)
    missing = run_imessenger("send", "ghost", "hello")
    assert missing.exit_code == 1
    assert 'no session named "ghost"; running sessions: alive' in missing.stderr
    assert run_isesh("start", "gone", "--agent", "shell", "--", "true").exit_code == 0
    wait_for(lambda: tmux.pane("gone").dead, what="exit")
    exited = run_imessenger("send", "gone", "hello")
    assert exited.exit_code == 1
    assert 'session "gone" has exited' in exited.stderr


def test_ten_concurrent_senders(tmux: Tmux) -> None:
    start_demo(idle=False)
    procs = [
        subprocess.Popen(
            [*python_cli(), "send", "w1", f"message number {i}\nsecond line of {i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(10)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for i, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, err
        assert out == f"message number {i}\nsecond line of {i}\n"
    screen = scrollback(tmux, "w1", 5000)
    for i in range(10):
        # each message was submitted exactly once, whole
        assert screen.count(f"  message number {i}\n  second line of {i}\n") == 2  # echo + reply


def test_reply_longer_than_the_screen_comes_back_whole(tmux: Tmux) -> None:
    start_demo(idle=False)
    result = run_imessenger("send", "w1", "LINES[120]")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"line {n}" for n in range(1, 121)]


def test_timeout_then_late_reply_goes_to_the_inbox(tmux: Tmux) -> None:
    start_demo(idle=False)
    # --timeout bounds the whole send, the wait for a just-started agent included
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="w1 idle")
    code, data = send_json("w1", "--timeout", "200", "BUSY[1000] slow answer")
    assert code == EXIT_TIMEOUT
    assert data["state"] == "timed_out"
    message_id = str(data["id"])
    assert message_state(message_id) is MessageState.TIMED_OUT
    wait_for(lambda: f"<<IMSG-END {message_id}>>" in scrollback(tmux, "w1"), what="late reply")
    assert run_imessenger("deliver").exit_code == 0  # any command that looks collects it
    with Store.open(server=tmux.label) as store:
        entries = store.inbox.read("user")
    assert [(e.kind, e.message_id) for e in entries] == [("reply", message_id)]
    assert "slow answer" in entries[0].body


def test_the_echo_is_never_taken_for_a_reply(tmux: Tmux) -> None:
    start_demo(idle=False)
    result = run_imessenger("send", "w1", "--timeout", "700", "NOREPLY just read this")
    assert result.exit_code == EXIT_TIMEOUT


def test_reply_command_reaches_the_waiting_sender(tmux: Tmux) -> None:
    start_demo(idle=False)
    result = run_imessenger("send", "w1", "REPLYCMD answer through the command")
    assert result.exit_code == 0, result.output
    with Store.open(server=tmux.label) as store:
        [record] = store.messages.latest(limit=1)
    assert record.reply_via == "command"
    assert "answer through the command" in result.stdout


def test_reply_refusals(tmux: Tmux, monkeypatch: pytest.MonkeyPatch) -> None:
    start_demo(idle=False)
    unknown = run_imessenger("reply", "deadbeef", "hi")
    assert unknown.exit_code == 1
    assert 'no message with id "deadbeef"' in unknown.stderr
    code, data = send_json("w1", "hello")
    assert code == 0
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")  # the user, acting for the target
    twice = run_imessenger("reply", str(data["id"]), "again")
    assert twice.exit_code == 1
    assert "already has a reply" in twice.stderr


def test_reply_after_timeout_lands_in_the_inbox(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_demo(idle=False)
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="w1 idle")
    code, data = send_json("w1", "--timeout", "100", "NOREPLY")
    assert code == EXIT_TIMEOUT
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")  # the user, acting for the target
    assert run_imessenger("reply", str(data["id"]), "late but here").exit_code == 0
    with Store.open(server=tmux.label) as store:
        [entry] = store.inbox.read("user")
    assert entry.body == "late but here"


def test_raw_megabyte_arrives_byte_identical_in_a_raw_reader(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "received.bin"
    recorder = [sys.executable, str(RECORDER), str(out)]
    assert run_isesh("start", "rec", "--agent", "shell", "--", *recorder).exit_code == 0
    wait_for(lambda: out.exists(), what="recorder")
    line = "".join(chr(0x21 + (i % 90)) for i in range(99)) + "ü;\n"
    text = line * (1024 * 1024 // len(line.encode()) + 1)
    assert len(text.encode()) > 1024 * 1024
    result = run_imessenger("send", "rec", "--raw", "--no-reply", text)
    assert result.exit_code == 0, result.output
    expected = b"\x1b[200~" + text.replace("\n", "\r").encode() + b"\x1b[201~\r"
    wait_for(lambda: out.stat().st_size >= len(expected), seconds=30, what="1 MB")
    assert out.read_bytes() == expected


def test_raw_megabyte_reaches_a_line_mode_reader(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "lines.txt"
    program = ["sh", "-c", f"stty -echo; exec cat > {out}"]
    assert run_isesh("start", "cat", "--agent", "shell", "--", *program).exit_code == 0
    wait_for(lambda: out.exists(), what="cat")
    line = "x" * 4000 + ";"
    text = "\n".join([line] * 270)
    assert len(text) > 1024 * 1024
    result = run_imessenger("send", "cat", "--raw", "--no-reply", text)
    assert result.exit_code == 0, result.output
    wait_for(lambda: out.stat().st_size >= len(text) + 1, seconds=30, what="1 MB")
    assert out.read_text() == text + "\n"


def test_empty_message_and_conflicting_sources_are_usage_errors(tmux: Tmux, tmp_path: Path) -> None:
    start_demo(idle=False)
    empty = run_imessenger("send", "w1", "   ")
    assert empty.exit_code == 1
    assert "empty" in empty.stderr
    file = tmp_path / "m.txt"
    file.write_text("x")
    both = run_imessenger("send", "w1", "arg", "--file", str(file))
    assert both.exit_code == 1
    assert "not several" in both.stderr


def test_ctrl_c_while_waiting_leaves_the_message_recorded(tmux: Tmux) -> None:
    start_demo(idle=False)
    proc = subprocess.Popen(
        [*python_cli(), "send", "w1", "--json", "BUSY[1500] take your time"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def waiting_for_the_reply() -> bool:
        with Store.open(server=tmux.label) as store:
            records = store.messages.latest(limit=1)
        return bool(records) and records[0].state is MessageState.DELIVERED

    # Interrupted while it waits for the reply (an interruption while pasting is the
    # half-delivered case below).
    wait_for(waiting_for_the_reply, what="the sender to wait for the reply")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == EXIT_INTERRUPTED
    assert "late reply goes to your inbox" in err
    with Store.open(server=tmux.label) as store:
        [record] = store.messages.latest(limit=1)
    assert record.state is MessageState.TIMED_OUT
    assert not record.waiting
    wait_for(lambda: f"<<IMSG-END {record.id}>>" in scrollback(tmux, "w1"), what="the reply")
    assert run_imessenger("deliver").exit_code == 0
    with Store.open(server=tmux.label) as store:
        [entry] = store.inbox.read("user")
    assert entry.message_id == record.id


def test_ctrl_c_between_the_delivery_and_the_wait_still_ends_the_wait(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signal's timing, made exact: it lands the instant the message is delivered,
    # before the wait for its reply begins (seen in CI: the state stayed "delivered").
    from imessenger.actions.replies import Replies
    from imessenger.app.api import Api

    start_demo(idle=False)

    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(Replies, "wait_for_reply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Api().send("w1", "BUSY[500] take your time")
    with Store.open(server=tmux.label) as store:
        [record] = store.messages.latest(limit=1)
    assert record.state is MessageState.TIMED_OUT
    assert not record.waiting


def test_whoami(tmux: Tmux, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_imessenger("whoami").stdout == "user\n"
    monkeypatch.setenv("IMESSENGER_SESSION", "coordinator")
    assert run_imessenger("whoami").stdout == "coordinator\n"
    monkeypatch.delenv("IMESSENGER_SESSION")
    # Inside a pane of a session (even one isesh did not start): that session's name.
    pane = tmux.new_session("boss", Path("/"), ["sh"], environment={}, width=80, height=24)
    AgentPane(tmux, pane).type(f"env -u IMESSENGER_SESSION {sys.executable} -m imessenger whoami")
    AgentPane(tmux, pane).press(["Enter"])
    wait_for(lambda: "\nboss" in AgentPane(tmux, pane).look(), what="whoami inside tmux")


def test_a_session_cannot_message_itself(tmux: Tmux, monkeypatch: pytest.MonkeyPatch) -> None:
    start_demo(idle=False)
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")
    result = run_imessenger("send", "w1", "hello me")
    assert result.exit_code == 1
    assert "cannot send a message to itself" in result.stderr


def test_a_message_left_half_delivered_is_settled_from_the_screen(tmux: Tmux) -> None:
    start_demo(idle=False)
    done = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY already on screen")
    shown_id = json.loads(done.stdout)["id"]
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="idle")
    with Store.open(server=tmux.label) as store:
        # A sender that died after pasting (its id is on screen) and one that died before.
        store.messages.set_state(shown_id, MessageState.DELIVERING)
        store.messages.mark_pasting(shown_id)
        store.messages.mark_submitting(shown_id)
        store.messages.add("0000abcd", "user", "w1", "never pasted")
        assert store.messages.claim_pending("w1") is not None
    code, data = send_json("w1", "newest")
    assert code == 0
    assert data["reply"] == "newest"
    assert message_state(shown_id) is MessageState.DELIVERED  # settled, not pasted again
    screen = scrollback(tmux, "w1")
    assert screen.count(f"message {shown_id} from") == 1
    assert screen.count("message 0000abcd from") == 1  # pasted once, before "newest"
    assert screen.index("message 0000abcd from") < screen.index(f"message {data['id']} from")


def test_a_message_left_unsubmitted_in_the_input_box_is_submitted_from_there_once(
    tmux: Tmux,
) -> None:
    start_demo("w1", "--startup-ms", "0", idle=False)
    wait_for(lambda: state_of(tmux, "w1") == "idle", what="idle")
    with Store.open(server=tmux.label) as store:
        # A sender that died after pasting but before it pressed the submit key.
        store.messages.add("0000abcd", "user", "w1", "left in the box")
        assert store.messages.claim_pending("w1") is not None
        store.messages.mark_pasting("0000abcd")
    AgentPane.of(tmux, "w1").paste("[imessenger] message 0000abcd from user: left in the box")
    wait_for(lambda: "0000abcd" in scrollback(tmux, "w1", 0), what="the pasted text")
    result = run_imessenger("send", "--json", "--no-reply", "w1", "NOREPLY newest")
    assert result.exit_code == 0, result.output
    newest = json.loads(result.stdout)["id"]
    with Store.open(server=tmux.label) as store:
        record = store.messages.get("0000abcd")
        assert record is not None
        assert record.state is MessageState.DELIVERED  # submitted from the box
    # submitted once, not pasted again, and before the newer message
    screen = scrollback(tmux, "w1")
    assert screen.count("0000abcd") == 1
    assert screen.index("0000abcd") < screen.index(f"message {newest} from")


def test_an_agent_too_slow_to_read_the_paste_is_waited_for(tmux: Tmux) -> None:
    # The agent is stopped (as if starved of CPU) for longer than send waits to see a
    # message submitted. It has not read the paste, so "not delivered" would be wrong:
    # send waits while the terminal still holds the unread text.
    write_config("[send]\nsubmit_confirm_ms = 500\n")
    agent = start_demo_in_shell(tmux, "w1")
    os.kill(agent, signal.SIGSTOP)
    try:
        sender = subprocess.Popen(
            [*python_cli(), "send", "--json", "w1", "read me when you wake up"],
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for(
            lambda: (AgentPane.of(tmux, "w1").unread_input() or 0) > 0,
            what="the unread paste",
        )
        stays(  # three times submit_confirm_ms
            lambda: sender.poll() is None,
            1.5,
            what="send waiting for the agent that had not read the paste",
        )
    finally:
        os.kill(agent, signal.SIGCONT)
    out, _ = sender.communicate(timeout=30)
    assert sender.returncode == 0, out
    data = json.loads(out)
    assert data["reply"] == "read me when you wake up"
    assert scrollback(tmux, "w1").count(f"message {data['id']} from") == 1
