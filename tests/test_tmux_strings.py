"""Strings from people and agents reach tmux literally: nothing in them is run or expanded.

Every call of :mod:`imessenger.adapters.tmux` that carries such a string (a folder, an
environment value, a program's argv, a message, typed text, a status message, a
menu, a pane's output, a session name) gets hostile strings on a private tmux
server: formats (``#(touch MARKER)`` would run a shell command, ``#{...}``), ids and
target prefixes (``$0``, ``%0``, ``@0``, ``=``), a final ``;`` (which ends a tmux
command given as argv), quotes, backticks and ``$(...)``. Each test checks what
arrives (bytes a program receives, its folder, its argv, what a terminal client
is drawn) and that MARKER was never made.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import tempfile
import threading
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import Terminal, attached, wait_for

from imessenger.adapters.tmux import (
    AgentPane,
    ControlClient,
    MenuItem,
    PaneInfo,
    Tmux,
    drawn_literal,
    format_literal,
)
from imessenger.core.errors import NoSuchSession
from imessenger.interfaces.menu import run_shell

#: Hostile strings; MARKER is replaced by a path in the test's folder.
HOSTILE = {
    "job": "#(touch MARKER)",
    "format": "#{session_name} #S #H",
    "hashes": "a##b###c #[fg=red]d ##[x] e#",
    "ids": "$0 %0 @0 $HOME ${HOME}",
    "target": "=main:0.0",
    "percent": "%H %% 100% %",
    "ends-semicolon": "run-shell 'touch MARKER';",
    "semicolon": ";",
    "escaped-semicolon": "x\\;",
    "quotes": "'single' \"double\" it's",
    "backticks": "`touch MARKER`",
    "subshell": "$(touch MARKER)",
    "unicode": "ünïcödé → ✓ 日本語",
}
IDS = list(HOSTILE)

#: Pieces hypothesis builds strings from, beside arbitrary printable characters.
PIECES = [*HOSTILE.values(), "#", "##", "#[", "#(", "#{", "\\", "~", "-", "--"]
#: Printable text: no NUL, no control character (a message has them replaced before it
#: is pasted, see imessenger.core.envelope.neutralise) and no unpaired surrogate.
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
hostile_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(PRINTABLE, max_size=4)), max_size=8
).map("".join)
FEW = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_names = count()


def hostile(key: str, marker: Path) -> str:
    return HOSTILE[key].replace("MARKER", str(marker))


def nothing_ran(tmux: Tmux, marker: Path) -> None:
    """Assert MARKER was never made, once tmux has run a job started after the call.

    tmux runs ``#()`` jobs in the background, and ends those of a command client that
    exits: the sentinel job's client waits (``run-shell``) until it has run. A job the
    call started, earlier, would have run by then.
    """
    sentinel = shlex.quote(str(marker.with_name(f"sentinel-{secrets.token_hex(4)}")))
    wait = f"i=0; until [ -e {sentinel} ] || [ $i -gt 1000 ]; do sleep 0.01; i=$((i+1)); done"
    tmux.run("display-message", "-p", f"#(touch {sentinel})", ";", "run-shell", wait)
    assert os.path.exists(shlex.split(sentinel)[0]), "tmux ran no job"
    assert not marker.exists(), "tmux ran a command from the string"


def arguments(pid: int) -> list[bytes]:
    """The argv of a running process, from /proc."""
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().split(b"\0")[:-1]


def sleeper(tmux: Tmux, name: str, directory: Path = Path("/"), **environment: str) -> int:
    """Start a session whose program sleeps; return the program's pid once it runs.

    tmux answers once it has forked the pane's process, which may not yet have
    entered its folder, taken its environment and run the program.
    """
    pane = tmux.new_session(
        name, directory, ["sleep", "60"], environment=environment, width=80, height=24
    )
    pid = pane.pid
    assert pid is not None
    wait_for(lambda: arguments(pid) == [b"sleep", b"60"], what="the program running")
    return pid


def receiver(tmux: Tmux, name: str, out: Path) -> None:
    """Start a session whose program writes every byte it reads, untouched, to ``out``."""
    script = f"stty raw -echo; exec cat > {shlex.quote(str(out))}"
    tmux.new_session(name, Path("/"), ["sh", "-c", script], environment={}, width=80, height=24)
    wait_for(out.exists, what="cat started")


@pytest.fixture
def no_temporary_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Python's temporary folder is one that does not exist: a paste must not need it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-temporary-folder"))


def received(text: str) -> bytes:
    """What a raw-mode program reads when ``text`` is pasted (tmux sends LF as CR)."""
    return text.encode("utf-8").replace(b"\n", b"\r")


# --- new-session: folder, environment, argv ---------------------------------------------


def check_folder(tmux: Tmux, folder: Path, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"d{next(_names)}"
    pid = sleeper(tmux, name, folder)
    assert os.readlink(f"/proc/{pid}/cwd") == str(folder)
    pane = tmux.pane(name)
    path = tmux.run("display-message", "-p", "-t", pane.pane_id, "#{pane_current_path}")
    assert path == [str(folder)]
    nothing_ran(tmux, marker)
    tmux.kill_session(name)


@pytest.mark.parametrize("key", IDS)
def test_a_folder_is_taken_literally(tmux: Tmux, tmp_path: Path, key: str) -> None:
    marker = tmp_path / "marker"
    check_folder(tmux, tmp_path / "d" / hostile(key, marker).replace("/", "_"), marker)


@FEW
@given(text=hostile_text)
def test_any_folder_is_taken_literally(tmux: Tmux, tmp_path: Path, text: str) -> None:
    marker = tmp_path / "marker"
    component = text.replace("MARKER", str(marker)).replace("/", "_")
    component = component.encode()[:200].decode("utf-8", "ignore")  # a name's limit: 255 bytes
    assume(component.strip("."))
    check_folder(tmux, tmp_path / "h" / component, marker)


@pytest.mark.parametrize("key", IDS)
def test_environment_values_are_taken_literally(tmux: Tmux, tmp_path: Path, key: str) -> None:
    marker = tmp_path / "marker"
    value = hostile(key, marker)
    pid = sleeper(tmux, "w1", HOSTILE_VALUE=value)
    with open(f"/proc/{pid}/environ", "rb") as environ:
        variables = environ.read().split(b"\0")
    assert f"HOSTILE_VALUE={value}".encode() in variables
    assert tmux.environment("w1", "HOSTILE_VALUE") == value
    nothing_ran(tmux, marker)


@pytest.mark.parametrize("key", IDS)
def test_a_programs_arguments_are_taken_literally(tmux: Tmux, tmp_path: Path, key: str) -> None:
    marker = tmp_path / "marker"
    # a word ending in ";" and words after it: tmux would run them as its next command
    asleep = "import time; time.sleep(60)"
    argv = [sys.executable, "-c", asleep, hostile(key, marker), "run-shell", f"touch {marker}"]
    pane = tmux.new_session("w1", Path("/"), argv, environment={}, width=80, height=24)
    pid = pane.pid
    assert pid is not None
    # tmux answers once it has forked the pane's process, which then runs the program
    wait_for(lambda: arguments(pid) == [a.encode() for a in argv], what="the exact argv")
    nothing_ran(tmux, marker)


def test_a_program_of_one_word_runs_without_a_shell(tmux: Tmux, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    program = tmp_path / f"agent&touch {marker.name}&"  # tmux runs one word with sh -c
    program.write_text("#!/bin/sh\nexec sleep 60\n")
    program.chmod(0o700)
    tmux.new_session("w1", tmp_path, [str(program)], environment={}, width=80, height=24)
    wait_for(lambda: tmux.pane("w1").current_command == "sleep", what="the program running")
    nothing_ran(tmux, marker)


# --- writing to panes --------------------------------------------------------------------


@pytest.mark.parametrize("brackets", [False, True], ids=["tmux-brackets", "own-brackets"])
@pytest.mark.parametrize("key", IDS)
@pytest.mark.usefixtures("no_temporary_files")
def test_pasted_text_arrives_exactly(tmux: Tmux, tmp_path: Path, key: str, brackets: bool) -> None:
    marker, out = tmp_path / "marker", tmp_path / "got"
    receiver(tmux, "w1", out)
    text = f"{hostile(key, marker)}\nsecond line {hostile(key, marker)}"
    AgentPane.of(tmux, "w1").paste(text, brackets=brackets)
    sent = received(text)
    if brackets:  # the receiver never asks for them, so only those the paste carries
        sent = b"\x1b[200~" + sent + b"\x1b[201~"
    wait_for(lambda: out.read_bytes() == sent, what="the exact bytes")
    nothing_ran(tmux, marker)
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("".join(f"line {n} #(x) ;\n" for n in range(12_000)), id="200KB"),
        pytest.param("ünïcödé → ✓ 日本語 🚀\n\tindented; ¬ ␛[201~ ␃", id="unicode"),
        pytest.param("-starts with a dash", id="dash"),
    ],
)
@pytest.mark.usefixtures("no_temporary_files")
def test_large_and_unicode_pastes_arrive_exactly(tmux: Tmux, tmp_path: Path, text: str) -> None:
    out = tmp_path / "got"
    receiver(tmux, "w1", out)
    AgentPane.of(tmux, "w1").paste(text, ["x", ";"])
    wait_for(lambda: out.read_bytes() == received(text) + b"x;", what="the exact bytes")


@FEW
@given(text=hostile_text)
@pytest.mark.usefixtures("no_temporary_files")
def test_any_pasted_text_arrives_exactly(tmux: Tmux, tmp_path: Path, text: str) -> None:
    marker, out = tmp_path / "marker", tmp_path / "got"
    if not tmux.has_session("w1"):
        receiver(tmux, "w1", out)
    before = out.read_bytes()
    text = text.replace("MARKER", str(marker))
    AgentPane.of(tmux, "w1").paste(text)
    wait_for(lambda: out.read_bytes() == before + received(text), what="the exact bytes")
    assert not marker.exists()


@pytest.mark.parametrize("key", IDS)
def test_typed_text_arrives_exactly(tmux: Tmux, tmp_path: Path, key: str) -> None:
    marker, out = tmp_path / "marker", tmp_path / "got"
    receiver(tmux, "w1", out)
    text = hostile(key, marker)
    AgentPane.of(tmux, "w1").type(text)
    wait_for(lambda: out.read_bytes() == text.encode(), what="the exact bytes")
    nothing_ran(tmux, marker)


@pytest.mark.parametrize("key", IDS)
def test_a_pane_printing_hostile_text_is_captured_as_it_is(
    tmux: Tmux, tmp_path: Path, key: str
) -> None:
    marker = tmp_path / "marker"
    text = hostile(key, marker)
    show = "import sys, time; print(sys.argv[1], flush=True); time.sleep(60)"
    tmux.new_session(
        "w1", Path("/"), [sys.executable, "-c", show, text], environment={}, width=200, height=10
    )
    pane = tmux.pane("w1")
    wait_for(lambda: text in AgentPane(tmux, pane).look(), what="the text on screen")
    assert AgentPane(tmux, pane).look().split("\n")[0] == text
    assert AgentPane(tmux, pane).look_growing(history=10)[0].split("\n")[0] == text
    nothing_ran(tmux, marker)


# --- sessions named by hand: ids, not names, reach tmux ------------------------------------

#: Names a session made by hand may have (never isesh: see imessenger.core.names).
HAND_MADE = ["$0", "$1", "=first", "%0", "@0", "#{session_name}", "#(touch MARKER)", "fir"]


def hand_made(tmux: Tmux, name: str) -> None:
    """Sessions "first" (id $0) and one named ``name`` made by hand (`tmux new-session -s`)."""
    sleeper(tmux, "first", WHO="first")
    show = "import time; print('HAND MADE', flush=True); time.sleep(60)"
    tmux.run(
        "new-session", "-d", "-s", format_literal(name), "-e", "WHO=hand-made",
        "--", sys.executable, "-c", show,
    )  # fmt: skip
    assert sorted(tmux.session_names()) == sorted(["first", name])


@pytest.mark.parametrize("name", HAND_MADE)
def test_a_control_client_follows_the_session_of_that_name(
    tmux: Tmux, tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "marker"
    name = name.replace("MARKER", str(marker))
    hand_made(tmux, name)
    client = ControlClient(tmux, name, lambda event: None)
    client.start()

    def hand_made_screen() -> tuple[PaneInfo | None, str] | None:
        read = client.read_pane()
        return read if "HAND MADE" in read[1] else None

    try:
        assert client.session_id == tmux.session_id(name) != tmux.session_id("first")
        pane, _ = wait_for(hand_made_screen, what="the hand-made session's screen")
        assert pane is not None
        assert pane.session == name
    finally:
        client.close()
    assert tmux.environment(name, "WHO") == "hand-made"
    tmux.kill_session(name)
    assert tmux.session_names() == ["first"]
    nothing_ran(tmux, marker)


def test_a_name_that_is_not_there_is_not_looked_for_by_prefix(tmux: Tmux) -> None:
    sleeper(tmux, "first")
    for call in (
        lambda: ControlClient(tmux, "fir", lambda event: None).start(),
        lambda: tmux.kill_session("fir"),
        lambda: tmux.environment("fir", "WHO"),
        lambda: tmux.kill_session("$0"),
    ):
        with pytest.raises(NoSuchSession):
            call()
    assert tmux.session_names() == ["first"]


# --- what a terminal client is shown -------------------------------------------------------


@pytest.fixture
def terminal(tmux: Tmux) -> Iterator[Terminal]:
    """A terminal client attached to session "main"; ended (by its pid) after the test."""
    sleeper(tmux, "main")
    # wide enough for the longest hostile text twice over
    with attached(tmux, tmux.session_id("main"), utf8=True, size=(40, 320)) as terminal:
        yield terminal


@pytest.mark.parametrize("key", IDS)
def test_a_status_message_shows_the_text_as_it_is(
    tmux: Tmux, terminal: Terminal, tmp_path: Path, key: str
) -> None:
    marker = tmp_path / "marker"
    text = f"<{hostile(key, marker)}>{hostile(key, marker)}"
    tmux.display_message(terminal.name, text)
    wait_for(lambda: terminal.shows(text), what="the message drawn as it is")
    nothing_ran(tmux, marker)


def show_menu_and_choose(tmux: Tmux, terminal: Terminal, tmp_path: Path, chosen: str) -> None:
    """Show a menu of hostile labels whose item runs (as imessenger.interfaces.menu builds it) a
    command given ``chosen``; choose it; check the labels drawn and what the command got."""
    marker, out = tmp_path / "marker", tmp_path / "chosen"
    chosen = chosen.replace("MARKER", str(marker))
    labels = [f"<{hostile(key, marker)}>{hostile(key, marker)}" for key in IDS]
    command = run_shell(["sh", "-c", 'printf %s "$1" > "$2"', "sh", chosen, str(out)])
    items = [MenuItem("-" + labels[0]), MenuItem(""), MenuItem("Choose", "x", command)]
    items += [MenuItem(label) for label in labels[1:]]
    menu = threading.Thread(
        target=tmux.display_menu, args=(terminal.name, f"<{hostile('job', marker)}>", items)
    )
    menu.start()
    try:
        for label in labels:
            wait_for(lambda label=label: terminal.shows(label), what=f"the label {label}")
        assert terminal.shows(f"<{hostile('job', marker)}>")
        terminal.type(b"x")
        wait_for(out.exists, what="the command's output")
        assert out.read_text() == chosen
    finally:
        terminal.type(b"\x1b")
        menu.join(10)
    nothing_ran(tmux, marker)


#: What a menu item's command is given; every hostile string but those with "#[".
CHOSEN = " ".join(v for v in HOSTILE.values() if "#[" not in v)


def test_a_menu_shows_its_labels_and_runs_its_commands_as_given(
    tmux: Tmux, terminal: Terminal, tmp_path: Path
) -> None:
    show_menu_and_choose(tmux, terminal, tmp_path, CHOSEN)


def test_a_menu_command_given_a_style_gets_it_as_it_is(
    tmux: Tmux, terminal: Terminal, tmp_path: Path
) -> None:
    show_menu_and_choose(tmux, terminal, tmp_path, "#[fg=red] ##[x] #(touch MARKER)")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("a#b", "a####b", id="one"),
        pytest.param("a##b", "a########b", id="two"),
        pytest.param("#[fg=red]", "##[fg=red]", id="style"),
        pytest.param("##[x]", "####[x]", id="two-before-bracket"),
        pytest.param("#(x)#{y}#", "####(x)####{y}####", id="job-format-end"),
        pytest.param("no hash [x]", "no hash [x]", id="none"),
    ],
)
def test_drawn_literal_escapes_for_expansion_then_drawing(text: str, escaped: str) -> None:
    assert drawn_literal(text) == escaped


def test_switch_client_shows_the_session_of_that_name(tmux: Tmux, terminal: Terminal) -> None:
    # "main", which the terminal shows, has id $0
    show = "import time; time.sleep(60)"
    tmux.run("new-session", "-d", "-s", "$0", "--", sys.executable, "-c", show)
    tmux.switch_client(terminal.name, "$0")
    wait_for(
        lambda: [c.session for c in tmux.clients() if c.name == terminal.name] == ["$0"],
        what='the terminal showing session "$0"',
    )
