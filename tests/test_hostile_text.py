"""An agent's text never drives the terminal of the person who reads it, nor crashes a view.

A reply, a prompt's subject, an inbox entry or a pane's text comes from an agent and
may hold what a terminal acts on (ESC sequences: OSC 52 sets the clipboard, which tmux
turns into a paste buffer; OSC 2 retitles the pane; CSI moves and clears; DCS talks to
the terminal), C1 controls, NUL, BEL, backspace, a carriage return, and invisible
characters that hide or reorder text (U+202E). Each place that prints such text gets
generated hostile text (hypothesis) and named cases, and is checked where it lands:

- on a terminal (a pseudo-terminal whose every byte is read, or a pane of the test's
  tmux server, whose title, paste buffers and screen are read back): nothing of it
  arrives as it is (``assert_shown_safely``), it is shown with stand-ins (``␛``,
  ``\\x9b``, ``\\u202e``), and line feeds and tabs keep their meaning;
- in a file or a pipe, and in ``--json``: exactly (JSON's value), byte for byte.

The agent is the demo agent: with ``UNESCAPE`` it answers (and asks) with the control
characters its message spells as escapes, and its record gives the reply byte for byte.
Where only what an agent left in the store matters (inbox entries, the log) the store
is filled with it directly.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import (
    Terminal,
    Watching,
    attached,
    demo_profile,
    pane_environment,
    python_cli,
    run_imessenger,
    run_isesh,
    start_demo,
    wait_for,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.values import Asking
from imessenger.core.values import Choice, InboxKind
from imessenger.interfaces.dashboard import Overview, Row, render
from imessenger.interfaces.menu import approval_menu

#: Named hostile texts, each with what it does on a terminal that gets it as it is.
HOSTILE = {
    # sets the clipboard: with set-clipboard on, tmux makes it a paste buffer
    "osc52": "\x1b]52;c;" + base64.b64encode(b"rm -rf ~\n").decode() + "\x07",
    "osc2": "\x1b]2;pwned\x1b\\",  # retitles the pane
    "csi": "\x1b[2J\x1b[H\x1b[8m",  # clears the screen, homes the cursor, hides the text
    "dcs": "\x1bP+q544e\x1b\\",  # asks the terminal for a capability (XTGETTCAP)
    "c1": "\x9b2J\x9d2;c1\x9c\x85",  # the same as one-character C1 controls
    "nul": "before\x00after",  # ends a string for curses
    "bel": "ding\x07",
    "backspace": "rm -rf ~\x08\x08\x08\x08\x08\x08\x08\x08ls     ",  # shows "ls"
    "carriage-return": "rm -rf ~\rls      ",  # shows "ls"
    "bidi": "\u202etxt.exe\u202c",  # reversed: reads "exe.txt"
    "zero-width": "r\u200bm\ufeff -rf",
    "tmux-format": "#(touch MARKER) #{pane_id} #[fg=red]",
}
#: How each is shown: control characters as pictures, the others as escapes.
STAND_INS = {
    "osc52": "␛]52;c;cm0gLXJmIH4K␇",
    "osc2": "␛]2;pwned␛\\",
    "csi": "␛[2J␛[H␛[8m",
    "dcs": "␛P+q544e␛\\",
    "c1": "\\x9b2J\\x9d2;c1\\x9c\\x85",
    "nul": "before␀after",
    "bel": "ding␇",
    "backspace": "rm -rf ~␈␈␈␈␈␈␈␈ls     ",
    "carriage-return": "rm -rf ~␍ls      ",
    "bidi": "\\u202etxt.exe\\u202c",
    "zero-width": "r\\u200bm\\ufeff -rf",
    "tmux-format": "#(touch MARKER) #{pane_id} #[fg=red]",
}
#: Every named case in one text, each on a line of its own.
ALL_NAMED = "\n".join(f"{name}: {text}" for name, text in HOSTILE.items())

#: The characters that must never reach a terminal as they are: C0 controls but the tab
#: and the line feed, DEL, C1 controls, the invisible ones that hide or reorder text,
#: unpaired surrogates; and a carriage return that does not end a line.
UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
    "|\r(?!\n)"
)
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
INVISIBLE = list("\u00ad\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a\u202d\u202e\u2066\ufeff")
#: Hostile text: named pieces, single control and invisible characters, and other text.
hostile_text = st.lists(
    st.one_of(
        st.sampled_from(list(HOSTILE.values())),
        st.sampled_from(CONTROLS + INVISIBLE),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
    ),
    min_size=1,
    max_size=8,
).map("".join)
#: The same, in the Basic Multilingual Plane (what UNESCAPE's \\uNNNN spells).
hostile_bmp = st.lists(
    st.one_of(
        st.sampled_from(list(HOSTILE.values())),
        st.sampled_from(CONTROLS + INVISIBLE),
        st.text(st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=6),
    ),
    min_size=1,
    max_size=6,
).map("".join)

FEW = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SOME = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MANY = settings(max_examples=300, deadline=None)


# --- helpers ---------------------------------------------------------------------------------


def assert_shown_safely(shown: str) -> None:
    """Nothing in ``shown`` (what a terminal got, its own CRLF undone) acts on a terminal."""
    found = UNSAFE.search(shown)
    assert found is None, f"{found.group()!r} reached the terminal: {shown!r}"


def escaped(text: str) -> str:
    """``text`` spelled for the demo agent's UNESCAPE: only printable ASCII but capitals,
    brackets and backslashes stays (no directive, delimiter or control character can be
    spelled by the rest)."""
    return "".join(
        c if " " <= c <= "~" and c not in "\\[]" and not c.isupper() else f"\\u{ord(c):04x}"
        for c in text
    )


def on_terminal(
    *args: str, until: str | None = None, seconds: float = 60.0, module: str = "imessenger"
) -> tuple[int | None, str]:
    """Run ``python -m MODULE ARGS`` with stdout and stderr on a pseudo-terminal; return its
    exit code and all it wrote, decoded, with the terminal's own CR before LF undone.

    With ``until``, it is stopped (SIGTERM, by its pid) once its output holds that text.
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*python_cli(module), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other side closed: the program ended
                    break
                if not chunk:
                    break
                out += chunk
            if until is not None and until.encode() in out.replace(b"\r\n", b"\n"):
                break
        else:
            pytest.fail(f"{args} still running after {seconds}s: {bytes(out)!r}")
    finally:
        if proc.poll() is None and until is not None:
            proc.terminate()
        code = proc.wait(20)
        os.close(master)
    return (None if until is not None else code), out.decode("utf-8").replace("\r\n", "\n")


def title(tmux: Tmux, name: str) -> str:
    [found] = tmux.run("display-message", "-p", "-t", tmux.pane(name).pane_id, "#{pane_title}")
    return found


def buffers(tmux: Tmux) -> list[str]:
    return tmux.run("list-buffers", "-F", "#{buffer_name}: #{buffer_sample}")


def in_pane(tmux: Tmux, name: str, tmp_path: Path, *args: str) -> str:
    """Run ``imessenger ARGS`` in a pane of its own (session ``name``), with tmux letting a
    program set the clipboard; once it ended, return the pane's text, having checked that
    the pane kept its title and that no paste buffer was made."""
    tmux.run("set-option", "-s", "set-clipboard", "on")
    before = set(buffers(tmux))
    tmux.new_session(
        name, tmp_path, [*python_cli(), *args], environment=pane_environment(), width=200, height=50
    )
    wait_for(lambda: tmux.pane(name).dead, 60, what=f"{args} to end")
    assert set(buffers(tmux)) == before, "a paste buffer was set (OSC 52)"
    shown = AgentPane.of(tmux, name).look(history=1000)
    assert "pwned" not in title(tmux, name), "the pane was retitled (OSC 2)"
    return shown


def asking(sessions: Sessions, name: str, command: str) -> str:
    """Have the demo agent ask to run ``command`` (UNESCAPE: it may hold anything); return
    the prompt's subject as imessenger reads it from the screen."""
    sent = run_imessenger("send", name, "--no-reply", f"UNESCAPE BUSY[50] ASK[{escaped(command)}]")
    assert sent.exit_code == 0, sent.output
    prompt = wait_for(lambda: sessions.view(name).screen.prompt, what=f"{name} asking")
    return prompt.subject


# --- send: the reply -------------------------------------------------------------------------


def test_a_reply_cannot_drive_the_terminal_of_its_sender(
    sessions: Sessions, tmux: Tmux, tmp_path: Path
) -> None:
    start_demo("w1")
    shown = in_pane(tmux, "out", tmp_path, "send", "w1", f"UNESCAPE {escaped(ALL_NAMED)}")
    assert "osc52: ␛]52;c;cm0gLXJmIH4K␇" in shown
    assert "osc2: ␛]2;pwned␛\\" in shown
    assert "c1: \\x9b2J\\x9d2;c1\\x9c\\x85" in shown
    assert "nul: before␀after" in shown
    assert "carriage-return: rm -rf ~␍ls" in shown
    assert "bidi: \\u202etxt.exe\\u202c" in shown
    assert "tmux-format: #(touch MARKER) #{pane_id} #[fg=red]" in shown


@FEW
@given(text=hostile_bmp)
@example(text=ALL_NAMED)
def test_any_reply_is_shown_on_a_terminal_with_its_controls_visible(
    sessions: Sessions, text: str
) -> None:
    if "w1" not in sessions.tmux.session_names():
        start_demo("w1")
    code, shown = on_terminal("send", "w1", f"UNESCAPE {escaped(text)}")
    assert code == 0, shown
    assert_shown_safely(shown)
    from imessenger.core.visible import for_terminal

    reply = f"UNESCAPE {text}"
    assert shown == for_terminal(reply) + ("" if reply.endswith("\n") else "\n")


@FEW
@given(text=hostile_bmp)
@example(text=HOSTILE["csi"])  # click.echo takes ANSI sequences out of what goes to a pipe
def test_a_reply_to_a_pipe_is_byte_exact_and_json_is_exact(sessions: Sessions, text: str) -> None:
    if "w1" not in sessions.tmux.session_names():
        start_demo("w1")
    reply = f"UNESCAPE {text}"
    piped = subprocess.run(
        [*python_cli(), "send", "w1", f"UNESCAPE {escaped(text)}"], capture_output=True
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == (reply + ("" if reply.endswith("\n") else "\n")).encode()

    code, shown = on_terminal("send", "w1", "--json", f"UNESCAPE {escaped(text)}")
    assert code == 0, shown
    assert_shown_safely(shown)  # JSON escapes C0 itself, but not C1 or U+202E
    assert json.loads(shown)["reply"] == reply


# --- inbox -----------------------------------------------------------------------------------


@SOME
@given(title_text=hostile_text, body=hostile_text)
@example(title_text=HOSTILE["osc2"], body=ALL_NAMED)
def test_inbox_entries_are_shown_with_their_controls_visible(
    tmux: Tmux, store: Store, title_text: str, body: str
) -> None:
    store.add_inbox("user", InboxKind.REPLY, title_text, body)
    code, shown = on_terminal("inbox", "--peek")
    assert code == 0, shown
    assert_shown_safely(shown)
    piped = subprocess.run([*python_cli(), "inbox", "--json"], capture_output=True)
    assert piped.returncode == 0, piped.stderr
    assert_shown_safely(piped.stdout.decode())  # JSON: escapes only
    [entry] = json.loads(piped.stdout)["entries"]
    assert (entry["title"], entry["body"]) == (title_text, body)


def test_a_late_reply_in_the_inbox_is_shown_with_its_controls_visible(
    sessions: Sessions, tmux: Tmux
) -> None:
    start_demo("w1")
    sent = run_imessenger("send", "w1", "--no-reply", f"UNESCAPE {escaped(ALL_NAMED)}")
    assert sent.exit_code == 0, sent.output
    wait_for(lambda: "<<IMSG-END" in AgentPane.of(tmux, "w1").look(), what="the answer")
    code, shown = on_terminal("inbox")  # finds the late reply, and shows it
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "osc52: ␛]52;c;cm0gLXJmIH4K␇\n" in shown
    assert "    bidi: \\u202etxt.exe\\u202c" in shown


# --- log -------------------------------------------------------------------------------------


@SOME
@given(body=hostile_text, reply=hostile_text)
@example(body="ask", reply=ALL_NAMED)
def test_the_log_shows_messages_and_replies_with_their_controls_visible(
    tmux: Tmux, store: Store, body: str, reply: str
) -> None:
    message_id = os.urandom(4).hex()
    store.add_message(message_id, tmux.label, "user", "w1", body)
    store.record_reply(message_id, reply, "command")
    code, shown = on_terminal("log", "-n", "1")
    assert code == 0, shown
    assert_shown_safely(shown)
    piped = subprocess.run([*python_cli(), "log", "--json", "-n", "1"], capture_output=True)
    assert_shown_safely(piped.stdout.decode())
    [event] = json.loads(piped.stdout)
    assert event["text"] == reply


# --- prompts: inbox SESSION, inbox --waiting, approve, deny, and why a message waits --------------

#: What the demo agent is made to ask about: visible text a tmux pane keeps as it is
#: (tmux acts on the control characters of a program's output, and keeps the rest).
SUBJECT = "\u202ecod.exe\u202c #(touch MARKER) #{pane_id} \u200bx"


def test_a_prompt_is_shown_with_its_invisible_characters_visible(
    sessions: Sessions, tmux: Tmux
) -> None:
    start_demo("w1")
    subject = asking(sessions, "w1", SUBJECT)
    assert "\u202e" in subject  # what the screen gave

    for args in (["inbox", "w1"], ["inbox", "--waiting"]):
        code, shown = on_terminal(*args)
        assert code == 0, shown
        assert_shown_safely(shown)
        assert "\\u202ecod.exe\\u202c #(touch MARKER) #{pane_id} \\u200bx" in shown
    code, shown = on_terminal("inbox", "--waiting", "--json")
    assert_shown_safely(shown)
    assert json.loads(shown)["asking"][0]["prompt"]["subject"] == subject

    # a message to it waits, and says why: the prompt's subject
    code, shown = on_terminal("send", "w1", "--no-reply", "hello")
    assert code == 3, shown
    assert_shown_safely(shown)
    assert "waiting at a permission prompt (\\u202ecod.exe" in shown
    code, shown = on_terminal("deliver", "w1")
    assert code == 3, shown
    assert_shown_safely(shown)
    assert "still pending" in shown

    # approve (its option names the command's first word) and deny, then the log
    code, shown = on_terminal("approve", "w1", "2")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "don't ask again for: \\u202ecod.exe\\u202c" in shown
    asking(sessions, "w1", "\u202eagain")
    code, shown = on_terminal("deny", "w1", "--json")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert json.loads(shown)["subject"] == "\u202eagain"
    code, shown = on_terminal("log")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "\\u202eagain" in shown


# --- status, the watcher's log ---------------------------------------------------------------


def test_status_json_and_its_follow_show_a_subject_with_escapes(
    sessions: Sessions, tmux: Tmux, watching: Watching
) -> None:
    start_demo("w1")
    subject = asking(sessions, "w1", SUBJECT)

    def asks() -> str | None:
        for entry in json.loads(run_imessenger("status", "--json").stdout)["sessions"]:
            if entry["state"] == "asking":
                return str(entry["asking"])
        return None

    assert wait_for(asks, what="the watcher seeing the prompt") == subject.strip()
    code, shown = on_terminal("status", "--json")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "\\u202ecod.exe" in shown
    _, shown = on_terminal("status", "--json", "--follow", until="}\n")
    assert_shown_safely(shown)
    assert json.loads(shown.splitlines()[0])["sessions"][0]["asking"] == subject.strip()


def test_the_watchers_log_on_a_terminal_shows_a_subject_safely(
    sessions: Sessions, tmux: Tmux
) -> None:
    start_demo("w1")
    subject = asking(sessions, "w1", SUBJECT)
    _, shown = on_terminal("watch", until="cod.exe")
    assert_shown_safely(shown)
    assert '"w1" is asking: \\u202ecod.exe' in shown
    assert "\u202e" in subject


def test_an_error_quoting_what_an_agents_hook_said_shows_it_safely(
    tmux: Tmux, watching: Watching
) -> None:
    # a profile that cannot read the demo agent's prompts: approve refuses, and its error
    # quotes what the agent's own hook said it asks about
    demo_profile("blind", question_patterns=["^never$"])
    started = run_isesh("start", "w1", "--agent", "blind")
    assert started.exit_code == 0, started.output
    wait_for(lambda: "? for help" in AgentPane.of(tmux, "w1").look(), what="w1 idle")
    command = escaped(SUBJECT)
    sent = run_imessenger("send", "w1", "--no-reply", f"UNESCAPE BUSY[50] ASK[{command}]")
    assert sent.exit_code == 0, sent.output

    def refused() -> str | None:
        code, shown = on_terminal("approve", "w1")
        return shown if code != 0 and "hook says it asks about" in shown else None

    shown = wait_for(refused, 20, what="approve refused, quoting the hook")
    assert_shown_safely(shown)
    assert "hook says it asks about: \\u202ecod.exe\\u202c #(touch MARKER)" in shown


# --- isesh logs ------------------------------------------------------------------------------


def test_isesh_logs_shows_a_panes_invisible_characters(sessions: Sessions, tmux: Tmux) -> None:
    start_demo("w1")
    asking(sessions, "w1", SUBJECT)
    code, shown = on_terminal("logs", "w1", module="imessenger.interfaces.cli.isesh")
    assert code == 0, shown
    assert_shown_safely(shown)
    assert "$ \\u202ecod.exe\\u202c #(touch MARKER)" in shown


# --- the dashboard ---------------------------------------------------------------------------


@MANY
@given(
    texts=st.lists(hostile_text, min_size=6, max_size=6),
    width=st.integers(1, 120),
    height=st.integers(1, 30),
)
def test_the_dashboards_lines_hold_nothing_a_terminal_acts_on(
    texts: list[str], width: int, height: int
) -> None:
    name, agent, state, about, message, reply = texts
    view = Overview([Row(name, agent, state, about, (), message, reply, 3, True)], True, 1)
    for line in render(view, width, height, 0, note=about):
        assert_shown_safely(line)
        assert len(line) <= width
        line.encode("utf-8")  # curses needs text it can encode: no unpaired surrogate


def test_the_dashboard_keeps_running_and_shows_a_reply_with_nul_and_escapes(
    sessions: Sessions, tmux: Tmux, tmp_path: Path
) -> None:
    start_demo("w1")
    tmux.run("set-option", "-s", "set-clipboard", "on")
    # curses takes the size from COLUMNS and LINES when they are set (the test's tmux
    # server has them in its environment)
    size = {"COLUMNS": "200", "LINES": "20"}
    tmux.new_session(
        "dash",
        tmp_path,
        [*python_cli(), "dashboard"],
        environment={**pane_environment(), **size},
        width=200,
        height=20,
    )
    wait_for(lambda: "w1" in AgentPane.of(tmux, "dash").look(), what="the dashboard drawn")
    reply = "a\x00b " + HOSTILE["osc2"] + HOSTILE["osc52"] + HOSTILE["bidi"]
    sent = run_imessenger("send", "w1", f"UNESCAPE {escaped(reply)}")
    assert sent.exit_code == 0, sent.output

    def shown_or_ended() -> bool:
        return tmux.pane("dash").dead or "a␀b" in AgentPane.of(tmux, "dash").look()

    wait_for(shown_or_ended, what="the reply shown")
    shown = AgentPane.of(tmux, "dash").look()
    assert not tmux.pane("dash").dead, f"the dashboard ended: {shown}"
    assert "→ UNESCAPE a␀b ␛]2;pwned␛\\␛]52;c;cm0gLXJmIH4K␇\\u202etxt.exe" in shown
    assert "pwned" not in title(tmux, "dash")
    assert buffers(tmux) == []
    AgentPane.of(tmux, "dash").press(["q"])
    wait_for(lambda: tmux.pane("dash").dead, what="the dashboard quit")


# --- the tmux menu and messages ---------------------------------------------------------------


@pytest.fixture
def terminal(tmux: Tmux, tmp_path: Path) -> Iterator[Terminal]:
    """A terminal client (``tmux attach`` in a pseudo-terminal) on a session "main"."""
    tmux.new_session("main", tmp_path, ["sleep", "600"], environment={}, width=200, height=40)
    # wide enough for a menu label that names a path in the test's folder
    with attached(tmux, tmux.session_id("main"), utf8=True, size=(40, 320)) as terminal:
        yield terminal


def test_the_menu_shows_a_hostile_subject_literally(
    sessions: Sessions, tmux: Tmux, terminal: Terminal, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    start_demo("w1")
    asking(sessions, "w1", SUBJECT.replace("MARKER", str(marker)))
    code, shown = on_terminal("approve-menu", "-c", terminal.name, "--print")
    assert code == 0, shown
    assert_shown_safely(shown)

    menu = subprocess.Popen([*python_cli(), "approve-menu", "-c", terminal.name])
    try:
        label = f"\\u202ecod.exe\\u202c #(touch {marker}) #{{pane_id}} \\u200bx"
        wait_for(lambda: terminal.shows(label), what="the label drawn literally")
        terminal.type(b"a")  # "Yes, don't ask again": its outcome is shown on the client
        assert menu.wait(20) == 0
    finally:
        if menu.poll() is None:
            menu.terminate()
            menu.wait()
    wait_for(lambda: terminal.shows("for: \\u202ecod.exe"), what="the outcome shown")
    assert not terminal.shows("\u202e"), "a bidirectional override reached the terminal"
    assert not marker.exists()


@pytest.mark.parametrize("key", list(HOSTILE))
def test_a_menu_of_any_subject_is_drawn_and_tmux_keeps_answering(
    tmux: Tmux, terminal: Terminal, key: str
) -> None:
    # what the menu shows may come from another host's watcher: any text at all
    server = int(tmux.run("display-message", "-p", "#{pid}")[0])
    about = f"<{HOSTILE[key]}>"
    entry = Asking("w1", "demo", about, (Choice.YES_ONCE, Choice.NO))
    menu = approval_menu([(entry, "")], ["true"], terminal.name)
    shown = threading.Thread(target=tmux.display_menu, args=(terminal.name, menu.title, menu.items))
    shown.start()
    drawn = "w1 (demo): <" + STAND_INS[key] + ">"
    began = time.monotonic()
    while not terminal.shows(drawn) and time.monotonic() < began + 10:
        time.sleep(0.02)
    try:
        answered = subprocess.run(tmux.argv("list-sessions"), capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(server, signal.SIGKILL)  # hung: ours to end, as nothing else can
        shown.join(10)
        pytest.fail("the tmux server stopped answering once the menu was shown")
    try:
        assert answered.returncode == 0
        assert terminal.shows(drawn), f"the label is not drawn as {drawn!r}"
        # tmux writes C0 controls of its own (ESC sequences, CR), but none of the others
        for char in about:
            if ord(char) >= 0x7F and UNSAFE.match(char):
                assert not terminal.shows(char), f"{char!r} reached the terminal"
    finally:
        terminal.type(b"\x1b")
        shown.join(10)


#: Short texts of control, invisible and tmux-format characters, no spaces (tmux may
#: draw a run of spaces by moving the cursor).
menu_text = st.lists(
    st.sampled_from([*CONTROLS, *INVISIBLE, *"ab#{}()[]-~;'\"$%"]), min_size=1, max_size=24
).map("".join)


@FEW
@given(text=menu_text)
def test_a_menu_of_any_generated_subject_is_drawn_visibly(
    tmux: Tmux, terminal: Terminal, text: str
) -> None:
    server = int(tmux.run("display-message", "-p", "#{pid}")[0])
    about = f"<{os.urandom(4).hex()}:{text}>"  # a label of its own in what the terminal got
    entry = Asking("w1", "demo", about, (Choice.YES_ONCE, Choice.NO))
    menu = approval_menu([(entry, "")], ["true"], terminal.name)
    shown = threading.Thread(target=tmux.display_menu, args=(terminal.name, menu.title, menu.items))
    shown.start()
    head = about.split(":")[0]
    began = time.monotonic()
    while not terminal.shows(head) and time.monotonic() < began + 10:
        time.sleep(0.02)
    try:
        answered = subprocess.run(tmux.argv("list-sessions"), capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(server, signal.SIGKILL)  # hung: ours to end, as nothing else can
        shown.join(10)
        pytest.fail("the tmux server stopped answering once the menu was shown")
    try:
        assert answered.returncode == 0
        from imessenger.core.visible import visible

        wait_for(lambda: terminal.shows(f"w1 (demo): {visible(about)}"), what="the label")
        for char in about:
            if ord(char) >= 0x7F and UNSAFE.match(char):
                assert not terminal.shows(char), f"{char!r} reached the terminal"
    finally:
        terminal.type(b"\x1b")
        shown.join(10)
