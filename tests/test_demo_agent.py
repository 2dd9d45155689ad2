"""The demo agent, driven through real tmux the way imessenger drives real agents.

Each tmux test starts ``python -m imessenger.demo.agent`` in a pane of a
private tmux server (libtmux's ``session`` fixture), sends text with
``load-buffer`` + ``paste-buffer -p`` + ``Enter`` and keys with ``send-keys``,
and polls ``capture-pane`` until the expected screen shows (or a deadline
passes).
"""

from __future__ import annotations

import itertools
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from libtmux.session import Session
from support import demo_command

from imessenger.core import envelope as envelopes
from imessenger.demo.agent import KeyEvent, KeyReader, parse_directives, read_message, unescape

ROOT = Path(__file__).resolve().parent.parent
START = "<<IMSG-REPLY {id}>>"
END = "<<IMSG-END {id}>>"
ENVELOPE = (
    "[imessenger] message {id} from {sender}:\n{body}\n"
    "[imessenger] To answer, print your answer between a line {start} "
    "and the same line with END in place of REPLY."
)
IDLE_FOOTER = "  demo · ? for help"
SPINNER = re.compile(r"^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Working \(\d+s · esc to interrupt\)$")
FAST = ("--startup-ms", "100", "--busy-ms", "50")
TIMEOUT = 5.0

_names = itertools.count(1)


@pytest.fixture
def session_params() -> dict[str, Any]:
    """Give every test session an 80x24 window."""
    return {"x": 80, "y": 24}


def envelope(message_id: str, body: str) -> str:
    """Wrap ``body`` the way imessenger does."""
    delims = envelopes.delimiters(message_id, START, END)
    return envelopes.render_envelope(
        ENVELOPE,
        body=body,
        message_id=message_id,
        sender="tester",
        delims=delims,
        reply="imessenger reply",
    )


def reply_in(lines: list[str], message_id: str) -> str | None:
    """Return the reply to ``message_id`` found on a captured screen."""
    return envelopes.find_reply("\n".join(lines), envelopes.delimiters(message_id, START, END))


@dataclass
class Demo:
    """A demo agent running in a tmux pane."""

    session: Session
    pane_id: str
    folder: Path

    def tmux(self, *args: str) -> None:
        result = self.session.server.cmd(*args)
        assert result.returncode == 0, result.stderr
        assert not result.stderr, result.stderr

    def screen(self, history: int = 0) -> list[str]:
        args = ["capture-pane", "-p", "-t", self.pane_id]
        if history:
            args += ["-S", f"-{history}"]
        result = self.session.server.cmd(*args)
        assert result.returncode == 0, result.stderr
        return list(result.stdout)

    def wait(
        self,
        check: Callable[[list[str]], bool],
        what: str,
        *,
        history: int = 0,
        timeout: float = TIMEOUT,
    ) -> list[str]:
        """Poll the screen until ``check`` holds; fail with the last screen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen(history)
            if check(lines):
                return lines
            if time.monotonic() > deadline:
                shown = "\n".join(lines)
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{shown}")
            time.sleep(0.02)

    def wait_line(self, line: str, *, history: int = 0) -> list[str]:
        return self.wait(lambda lines: line in lines, repr(line), history=history)

    def wait_idle(self) -> list[str]:
        def idle(lines: list[str]) -> bool:
            return len(lines) >= 2 and lines[-1] == IDLE_FOOTER and lines[-2] == "demo>"

        return self.wait(idle, "an idle screen with an empty input")

    def wait_reply(self, message_id: str, *, history: int = 200) -> str:
        lines = self.wait(
            lambda lines: reply_in(lines, message_id) is not None,
            f"the reply to {message_id}",
            history=history,
        )
        reply = reply_in(lines, message_id)
        assert reply is not None
        return reply

    def paste(self, text: str, *, enter: bool = True) -> None:
        """Paste ``text`` as imessenger does: load-buffer, paste-buffer -p, then Enter."""
        name = f"demo-test-{next(_names)}"
        path = self.folder / f"{name}.txt"
        path.write_text(text, encoding="utf-8")
        self.tmux("load-buffer", "-b", name, str(path))
        self.tmux("paste-buffer", "-p", "-d", "-b", name, "-t", self.pane_id)
        if enter:
            self.keys("Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.pane_id, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.pane_id, "-l", text)


def demo_in_window(session: Session, folder: Path, *args: str, wrapped: bool = False) -> Demo:
    """Start the demo agent in a new window, on its own (not through isesh: the sessions of
    imessenger start with support.start_demo); ``wrapped`` runs it under a shell that
    reports its exit status and whether the terminal settings came back."""
    command = shlex.join(demo_command(*args))
    if wrapped:
        script = folder / "wrapped.sh"
        script.write_text(
            'before="$(stty -g)"\n'
            f"{command}\n"
            "status=$?\n"
            'if [ "$(stty -g)" = "$before" ]; then echo "terminal restored"; fi\n'
            'echo "exit status $status"\n'
            "head -n 1 | cat -v\n"
            "sleep 60\n",
            encoding="utf-8",
        )
        command = shlex.join(["sh", str(script)])
    window = session.new_window(
        window_shell=command,
        start_directory=ROOT,
        environment={
            "IMESSENGER_CONFIG": str(folder / "no-config.toml"),
            "IMESSENGER_HOME": str(folder / "data"),
        },
    )
    pane = window.active_pane
    assert pane is not None
    assert pane.pane_id is not None
    return Demo(session, pane.pane_id, folder)


def started(session: Session, folder: Path, *args: str) -> Demo:
    """Start a fast demo agent and wait until it is idle."""
    demo = demo_in_window(session, folder, *FAST, *args)
    demo.wait_idle()
    return demo


# --- the screens -----------------------------------------------------------------------------


def test_startup_drops_enter_then_idle_input_edits(session: Session, tmp_path: Path) -> None:
    demo = demo_in_window(session, tmp_path, "--startup-ms", "1500", "--busy-ms", "50")
    demo.wait(lambda lines: lines[-2:] == ["demo>", "  demo · starting…"], "the starting screen")
    demo.type("hellp")
    demo.keys("BSpace")
    demo.type("o")
    demo.keys("Enter")
    lines = demo.wait(lambda lines: lines[-1:] == [IDLE_FOOTER], "the idle footer")
    assert lines[-2] == "demo> hello", "the Enter during startup must be lost, the text kept"
    assert "❯ hello" not in lines

    demo.keys("Enter")
    lines = demo.wait_line("● demo got 1 line(s)")
    assert lines.count("❯ hello") == 1
    demo.wait_idle()


def test_busy_shows_a_moving_spinner(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste("work for a while BUSY[1500]")
    lines = demo.wait(lambda lines: bool(SPINNER.match(lines[-3])), "the spinner line")
    assert lines[-2:] == ["demo>", IDLE_FOOTER]
    first_glyph = lines[-3][0]
    demo.wait(
        lambda lines: bool(SPINNER.match(lines[-3])) and lines[-3][0] != first_glyph,
        "another spinner glyph",
    )
    lines = demo.wait_line("● demo got 1 line(s)")
    assert not any(SPINNER.match(line) for line in lines)
    demo.wait_idle()


def test_reply_block_holds_the_exact_body(session: Session, tmp_path: Path) -> None:
    body = (
        'Grüße from "tmux" — ünïcödé ✓ and wide 日本語 characters\n'
        "  an indented line with $dollar <angle> & 'quotes'\n"
        "\n"
        "the last line after a blank one"
    )
    message = envelope("a1b2c3d4", body)
    demo = started(session, tmp_path)
    demo.paste(message, enter=False)
    lines = demo.wait(lambda lines: lines[-2:-1] != ["demo>"], "the pasted text in the input")
    assert lines[-2] == "demo> [Pasted text #1 +6 lines]"
    assert lines[-1] == IDLE_FOOTER

    demo.keys("Enter")
    assert demo.wait_reply("a1b2c3d4") == body
    lines = demo.wait_idle()
    assert "❯ [imessenger] message a1b2c3d4 from tester:" in lines, "the echo shows the full text"
    assert lines.count("● <<IMSG-REPLY a1b2c3d4>>") == 1
    assert lines.count("  <<IMSG-END a1b2c3d4>>") == 1


def test_message_sent_while_busy_is_queued_and_answered_once(
    session: Session, tmp_path: Path
) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("11111111", "first BUSY[1200]"))
    demo.wait(lambda lines: bool(SPINNER.match(lines[-3])), "the spinner")
    demo.paste(envelope("22222222", "second"))
    lines = demo.wait(
        lambda lines: lines[-1] == "  demo · 1 queued · Press up to edit queued messages",
        "the queued footer",
    )
    assert lines[-2] == "demo>", "the queued message left the input"

    assert demo.wait_reply("22222222") == "second"
    lines = demo.wait_idle()
    lines = demo.screen(history=200)
    assert reply_in(lines, "11111111") == "first BUSY[1200]"
    first = [i for i, line in enumerate(lines) if line == "● <<IMSG-REPLY 11111111>>"]
    second = [i for i, line in enumerate(lines) if line == "● <<IMSG-REPLY 22222222>>"]
    echoes = [i for i, line in enumerate(lines) if line.startswith("❯ [imessenger] message")]
    assert len(first) == 1
    assert len(second) == 1
    assert len(echoes) == 2
    # as in Claude Code, the queued message shows at once, marked queued, and only once
    assert echoes[0] < echoes[1] < first[0] < second[0]
    assert "  ⎿  Queued" in lines[echoes[1] : first[0]]


# --- permission prompts ----------------------------------------------------------------------

THREE_OPTIONS = [
    " Demo wants to run a command",
    " $ touch x.txt",
    " Do you want to proceed?",
    " ❯ 1. Yes",
    "   2. Yes, and don't ask again for: touch",
    "   3. No",
    " Esc to cancel",
]


def prompt_open(lines: list[str]) -> bool:
    return lines[-1:] == [" Esc to cancel"]


@pytest.mark.parametrize(
    ("keys", "outcome"),
    [
        pytest.param(("1",), "● Ran touch x.txt", id="digit-1-yes"),
        pytest.param(("3",), "● Did not run touch x.txt", id="digit-3-no"),
        pytest.param(("Escape",), "● Did not run touch x.txt", id="escape-no"),
        pytest.param(("Enter",), "● Ran touch x.txt", id="enter-highlighted-yes"),
        pytest.param(("Down", "Down", "Enter"), "● Did not run touch x.txt", id="arrows"),
    ],
)
def test_three_option_prompt(
    session: Session, tmp_path: Path, keys: tuple[str, ...], outcome: str
) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("33333333", "please ASK[touch x.txt]"))
    lines = demo.wait(prompt_open, "the permission prompt")
    assert lines[-7:] == THREE_OPTIONS
    demo.keys(*keys)
    assert demo.wait_reply("33333333") == "please ASK[touch x.txt]"
    lines = demo.wait_idle()
    assert outcome in lines
    assert lines.index(outcome) < lines.index("● <<IMSG-REPLY 33333333>>")


def test_two_option_prompt(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("44444444", "ASK2[rm -f y.txt]"))
    lines = demo.wait(prompt_open, "the permission prompt")
    assert lines[-6:] == [
        " Demo wants to run a command",
        " $ rm -f y.txt",
        " Do you want to proceed?",
        " ❯ 1. Yes",
        "   2. No",
        " Esc to cancel",
    ]
    demo.keys("2")
    assert demo.wait_reply("44444444") == "ASK2[rm -f y.txt]"
    assert "● Did not run rm -f y.txt" in demo.wait_idle()


def test_paste_into_prompt_is_dropped_and_its_enter_answers_yes(
    session: Session, tmp_path: Path
) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("55555555", "ASK[touch z.txt]"))
    demo.wait(prompt_open, "the permission prompt")
    demo.paste("an innocent follow-up message")
    demo.wait_reply("55555555")
    lines = demo.wait_idle()
    assert "● Ran touch z.txt" in lines, "the Enter after the paste chose the highlighted Yes"
    whole = "\n".join(demo.screen(history=200))
    assert "innocent" not in whole, "the pasted text was dropped"


def test_dropkey_loses_the_keys_of_the_prompt_s_first_moment(
    session: Session, tmp_path: Path
) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("66666666", "ASK[touch k.txt] DROPKEY"))
    demo.wait(prompt_open, "the permission prompt")
    demo.keys("3")
    # the pause is what this test exercises: "3" came in the prompt's first 150 ms, in
    # which DROPKEY loses keys; "1" comes after them
    time.sleep(0.3)
    demo.keys("1")
    demo.wait_reply("66666666")
    lines = demo.wait_idle()
    assert "● Ran touch k.txt" in lines, "3 was lost, 1 chose Yes"
    assert "● Did not run touch k.txt" not in lines


def test_keys_typed_while_its_prompt_opens_go_to_the_input_box(
    session: Session, tmp_path: Path
) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("66666667", "BUSY[200] ASK[touch t.txt] SLOWASK[2500]"))
    demo.wait(lambda lines: any("esc to interrupt" in line for line in lines), "busy")
    # the timing is what this test exercises: the keys come while the agent, done being
    # busy after 200 ms, takes 2.5 s to draw the prompt it decided on
    time.sleep(0.8)
    demo.type("typed ahead")
    demo.keys("Enter")
    demo.wait(prompt_open, "the permission prompt")
    time.sleep(0.5)  # an Enter taken as an answer would show within this
    lines = demo.screen(history=200)
    assert "● Ran touch t.txt" not in lines, "the typed-ahead Enter answered the prompt"
    assert prompt_open(lines)
    assert "❯ typed ahead" in lines, "the typed-ahead keys went to the input box"
    assert "  ⎿  Queued" in lines
    demo.keys("3")
    demo.wait_reply("66666667")
    assert "● Did not run touch t.txt" in demo.screen(history=200)


def test_after_a_prompt_it_goes_on_with_its_turn(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("66666668", "ASK[touch a.txt] AFTER[1500]"))
    demo.wait(prompt_open, "the permission prompt")
    demo.keys("1")
    demo.wait(lambda lines: "● Ran touch a.txt" in lines, "the command run")
    lines = demo.screen(history=200)
    assert any("esc to interrupt" in line for line in lines), "busy again after the answer"
    assert "<<IMSG-END 66666668>>" not in "\n".join(lines)
    demo.wait_reply("66666668")


def test_always_approval_is_remembered_by_first_word(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("77777771", "ASK[touch a.txt]"))
    lines = demo.wait(prompt_open, "the permission prompt")
    assert lines[-3] == "   2. Yes, and don't ask again for: touch"
    demo.keys("2")
    demo.wait_reply("77777771")
    demo.wait_idle()

    demo.paste(envelope("77777772", "ASK[touch b.txt]"))
    assert demo.wait_reply("77777772") == "ASK[touch b.txt]", "no prompt for touch any more"
    assert "● Ran touch b.txt" in demo.wait_idle()

    demo.paste(envelope("77777773", "ASK[rm b.txt]"))
    lines = demo.wait(prompt_open, "a prompt for another command word")
    assert lines[-3] == "   2. Yes, and don't ask again for: rm"
    demo.keys("3")
    demo.wait_reply("77777773")
    assert "● Did not run rm b.txt" in demo.wait_idle()


# --- long replies, plain messages and exits -----------------------------------------------------


def test_lines_reply_is_longer_than_the_screen(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("88888888", "LINES[80]"))
    demo.wait_line("  <<IMSG-END 88888888>>")
    visible = demo.screen()
    assert "● <<IMSG-REPLY 88888888>>" not in visible, "the start line scrolled off"
    expected = "\n".join(f"line {number}" for number in range(1, 81))
    assert demo.wait_reply("88888888", history=300) == expected


def test_noreply_answers_nothing(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("99999991", "NOREPLY"))
    demo.wait(lambda lines: bool(SPINNER.match(lines[-3])), "the spinner")
    demo.paste(envelope("99999992", "the next one"))
    assert demo.wait_reply("99999992") == "the next one"
    assert reply_in(demo.screen(history=200), "99999991") is None


def test_replycmd_runs_imessenger_reply(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    demo.paste(envelope("abababab", "answer by command REPLYCMD"))
    outcomes = ("● ran imessenger reply", "● imessenger reply failed (exit ")
    lines = demo.wait(
        lambda lines: any(line.startswith(outcomes) for line in lines),
        "the outcome of `imessenger reply`",
        timeout=15,
    )
    assert reply_in(lines, "abababab") is None, "no delimiters printed"
    demo.wait_idle()


def test_drawing_survives_a_narrow_pane(session: Session, tmp_path: Path) -> None:
    demo = started(session, tmp_path)
    command = "touch " + " ".join(f"file-{number}.txt" for number in range(12))
    demo.paste(envelope("cdcdcdcd", f"ASK[{command}]"))
    demo.wait(prompt_open, "the permission prompt")
    demo.tmux("resize-window", "-t", demo.pane_id, "-x", "40")
    expected = [
        " Demo wants to run a command",
        f" $ {command}"[:39],
        " Do you want to proceed?",
        " ❯ 1. Yes",
        "   2. Yes, and don't ask again for: touch"[:39],
        "   3. No",
        " Esc to cancel",
    ]
    demo.wait(lambda lines: lines[-7:] == expected, "the prompt redrawn for 40 columns")
    demo.keys("1")
    demo.wait_reply("cdcdcdcd")
    whole = demo.screen(history=200)
    assert " Esc to cancel" not in whole, "the prompt was cleared, not left behind"
    assert " Do you want to proceed?" not in whole


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("/exit", id="slash-exit"),
        pytest.param("ctrl-c-twice", id="ctrl-c-twice"),
        pytest.param("ctrl-d", id="ctrl-d-on-empty-input"),
        pytest.param("EXIT", id="exit-directive"),
    ],
)
def test_exit_restores_the_terminal(session: Session, tmp_path: Path, how: str) -> None:
    demo = demo_in_window(session, tmp_path, *FAST, wrapped=True)
    demo.wait_idle()
    if how == "/exit":
        demo.type("/exit")
        demo.keys("Enter")
    elif how == "ctrl-c-twice":
        demo.keys("C-c", "C-c")
    elif how == "ctrl-d":
        demo.keys("C-d")
    else:
        demo.paste("please EXIT now")
    demo.wait_line("exit status 0")
    lines = demo.wait_line("terminal restored")
    assert not any(line.startswith("demo>") for line in lines), "the bottom area was cleared"

    demo.paste("probe after exit")
    lines = demo.wait(lambda lines: lines.count("probe after exit") == 2, "the probe line")
    assert not any("200~" in line for line in lines), "bracketed paste was switched off"


# --- no tmux: the key reader and the message parsing ------------------------------------------

KEY_STREAM = (
    "a日é"
    + "\x1b[200~one\rtwo 日本\r\x1b[201~"
    + "\x7f\x1b[A\x1b[B\r\n\x03\x04"
    + "\x1b[200~ESC inside \x1b[201 not the end\x1b[201~"
).encode()
KEY_EVENTS = [
    KeyEvent("char", "a"),
    KeyEvent("char", "日"),
    KeyEvent("char", "é"),
    KeyEvent("paste", "one\ntwo 日本\n"),
    KeyEvent("backspace"),
    KeyEvent("up"),
    KeyEvent("down"),
    KeyEvent("enter"),
    KeyEvent("newline"),
    KeyEvent("ctrl-c"),
    KeyEvent("ctrl-d"),
    KeyEvent("paste", "ESC inside \x1b[201 not the end"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_key_reader_handles_bytes_split_anywhere(size: int) -> None:
    reader = KeyReader()
    events: list[KeyEvent] = []
    for start in range(0, len(KEY_STREAM), size):
        events += reader.feed(KEY_STREAM[start : start + size])
    assert events == KEY_EVENTS
    assert not reader.waiting


def test_key_reader_lone_escape_waits_for_flush() -> None:
    reader = KeyReader()
    assert reader.feed(b"\x1b") == []
    assert reader.waiting
    assert reader.flush() == [KeyEvent("esc")]
    assert reader.feed(b"\x1bx") == [], "Alt+x is ignored"


def test_read_message_finds_id_body_and_directives() -> None:
    message = read_message(envelope("abcd1234", "hi\nASK2[rm -rf /tmp/x] BUSY[10] LINES[3]"), START)
    assert message.message_id == "abcd1234"
    assert message.body == "hi\nASK2[rm -rf /tmp/x] BUSY[10] LINES[3]"
    directives = message.directives
    assert (directives.ask, directives.ask_options) == ("rm -rf /tmp/x", 2)
    assert (directives.busy_ms, directives.lines) == (10, 3)
    assert not directives.dropkey
    assert directives.slowkey_ms == 0
    assert not directives.replycmd
    assert not directives.noreply
    assert not directives.exit

    plain = read_message("TASK[x] is not a directive\nREPLYCMD NOREPLY DROPKEY EXIT", START)
    assert plain.message_id is None
    assert plain.directives.ask is None
    assert plain.directives.replycmd
    assert plain.directives.noreply
    assert plain.directives.dropkey
    assert plain.directives.exit
    assert parse_directives("ASK[touch f]").ask_options == 3
    assert parse_directives("ASK[touch f] SLOWKEY[1200]").slowkey_ms == 1200


def test_unescape_decodes_the_answer_and_the_command_it_asks_about() -> None:
    spelled = r"UNESCAPE ASK[\u202erm \x1b\x5d2;t\x07] a\x00b \\x41 \q"  # \x5d: "]"
    directives = parse_directives(spelled)
    assert directives.unescape
    assert directives.ask == "\u202erm \x1b]2;t\x07"
    assert unescape(spelled.split("] ")[1]) == "a\x00b \\x41 \\q"  # "\\" is one backslash
    assert not parse_directives(r"ASK[\x41]").unescape
    assert parse_directives(r"ASK[\x41]").ask == r"\x41"
