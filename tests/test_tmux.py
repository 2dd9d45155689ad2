"""The tmux package against real tmux servers on private sockets: Tmux, AgentPane, Patience."""

from __future__ import annotations

import os
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from support import stays, wait_for

from imessenger.adapters.tmux import AgentPane, Patience, Tmux
from imessenger.core.errors import NoSuchSession, NoTmuxServer, PaneInMode, TmuxNotInstalled


def start_cat(tmux: Tmux, name: str = "w1", directory: Path = Path("/")) -> None:
    tmux.new_session(
        name, directory, ["cat"], environment={"IMESSENGER_SESSION": name}, width=100, height=20
    )


def test_no_server_running_is_a_clear_error() -> None:
    tmux = Tmux(f"imessenger-absent-{os.getpid()}")
    assert not tmux.is_running()
    assert tmux.session_names() == []
    with pytest.raises(NoTmuxServer, match="is running"):
        tmux.pane("w1")


def test_tmux_not_installed_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TmuxNotInstalled, match="install tmux"):
        Tmux("anything").session_names()


def test_missing_session_lists_the_ones_that_exist(tmux: Tmux) -> None:
    start_cat(tmux, "alpha")
    start_cat(tmux, "beta")
    with pytest.raises(NoSuchSession) as caught:
        tmux.pane("gamma")
    assert 'no session named "gamma"' in str(caught.value)
    assert "alpha, beta" in str(caught.value)


def test_exact_names_only(tmux: Tmux) -> None:
    start_cat(tmux, "worker-10")
    with pytest.raises(NoSuchSession):
        tmux.pane("worker-1")  # tmux would match a prefix without "="
    assert not tmux.has_session("worker-1")


def test_new_session_sets_environment_folder_and_size(tmux: Tmux, tmp_path: Path) -> None:
    pane = tmux.new_session(
        "w1", tmp_path, ["sh"], environment={"IMESSENGER_SESSION": "w1"}, width=123, height=31
    )
    assert (pane.width, pane.height) == (123, 31)
    assert tmux.environment("w1", "IMESSENGER_SESSION") == "w1"
    AgentPane(tmux, pane).type("pwd; echo $IMESSENGER_SESSION")
    AgentPane(tmux, pane).press(["Enter"])
    wait_for(lambda: f"{tmp_path}\nw1" in AgentPane(tmux, pane).look(), what="pwd output")


def test_sessions_outlive_their_clients(tmux: Tmux) -> None:
    start_cat(tmux, "first")
    tmux.run("set-option", "-g", "destroy-unattached", "on")  # a user's setting
    start_cat(tmux, "w1")
    assert tmux.run("show-options", "-t", "=w1:", "destroy-unattached") == [
        "destroy-unattached off"
    ]


def test_exited_program_leaves_a_dead_pane(tmux: Tmux) -> None:
    tmux.new_session("w1", Path("/"), ["sh", "-c", "exit 7"], environment={}, width=80, height=24)
    # tmux can show the pane dead (its pty closed) a moment before it reaps the status;
    # when a busy tmux 3.3a never reaps it, the status comes from the zombie's /proc entry
    pane = wait_for(
        lambda: (p := tmux.pane("w1")).dead and p.dead_status is not None and p,
        what="dead pane with its exit status",
    )
    assert pane.dead_status == 7


def test_paste_is_byte_exact_and_never_parsed_by_tmux(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "got.txt"
    pane = tmux.new_session(
        "w1",
        tmp_path,
        ["sh", "-c", f"stty -echo; cat > {out}"],
        environment={},
        width=80,
        height=24,
    )
    text = "ends with ;\n-starts with dash\n`tick` $HOME 'q' \"dq\" ; \\; ünï;"
    text += "\n"  # a line-mode reader passes a line on at its end
    wait_for(lambda: out.exists(), what="cat started")
    AgentPane(tmux, pane).paste(text)
    # sh does not ask for bracketed paste; the terminal turns the pasted CRs back into LFs.
    wait_for(lambda: out.read_bytes() == text.encode(), what="the exact bytes")
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []


@pytest.mark.parametrize("asks", [False, True], ids=["never-asks", "asks"])
def test_a_paste_can_carry_its_own_brackets(tmux: Tmux, tmp_path: Path, asks: bool) -> None:
    # for an agent that reads bracketed pastes without asking for them (Gemini CLI);
    # one that asks gets them once, not twice
    out = tmp_path / "got"
    ask = "printf '\\033[?2004h'; " if asks else ""
    pane = agent_pane(tmux, "w1", ["sh", "-c", f"{ask}stty raw -echo; exec cat > {out}"])
    wait_for(out.exists, what="cat started")
    pane.paste("why? a\nb;", ["Enter"], brackets=True)
    expected = b"\x1b[200~why? a\rb;\x1b[201~\r"
    wait_for(lambda: out.read_bytes() == expected, what="one pair of brackets around the text")
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []


def test_logs_include_scrollback(tmux: Tmux) -> None:
    pane = tmux.new_session(
        "w1", Path("/"), ["sh", "-c", "seq 1 200; sleep 30"], environment={}, width=80, height=10
    )
    wait_for(lambda: "200" in AgentPane(tmux, pane).look(), what="seq output")
    assert "\n1\n" not in "\n" + AgentPane(tmux, pane).look() + "\n"
    assert AgentPane(tmux, pane).look(history=500).split("\n")[0] == "1"


def test_send_keys_to_a_killed_session_raises(tmux: Tmux) -> None:
    start_cat(tmux, "w1")
    start_cat(tmux, "other")
    pane = tmux.pane("w1")
    tmux.kill_session("w1")
    with pytest.raises(NoSuchSession):
        AgentPane(tmux, pane).press(["Enter"])


def test_panes_lists_one_active_pane_per_session(tmux: Tmux) -> None:
    start_cat(tmux, "a")
    start_cat(tmux, "b")
    tmux.run("split-window", "-t", "=a:")
    assert sorted(p.session for p in tmux.panes()) == ["a", "b"]


def test_a_server_whose_last_session_ended_has_no_panes(tmux: Tmux) -> None:
    # the moment between the last session's end and the server's exit (`isesh stop` of the
    # last session, then `isesh list`), held open with exit-empty off
    start_cat(tmux, "a")
    tmux.run("set-option", "-g", "exit-empty", "off")
    tmux.kill_session("a")
    assert tmux.is_running()
    assert tmux.panes() == []
    assert tmux.pane_owners() == []


def raw_mode(tmux: Tmux, name: str) -> bool:
    """True once the program of session ``name`` has switched its terminal to raw mode."""
    tty = AgentPane.of(tmux, name).info.tty
    fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return not termios.tcgetattr(fd)[3] & (termios.ICANON | termios.ECHO)
    finally:
        os.close(fd)


def test_unread_input_counts_the_keys_a_program_has_not_read(tmux: Tmux) -> None:
    # a raw-mode program that reads nothing, then one that reads everything
    asleep = "import time, tty; tty.setraw(0); time.sleep(60)"
    tmux.new_session(
        "w1", Path("/"), [sys.executable, "-c", asleep], environment={}, width=80, height=24
    )
    reader = "import os, tty; tty.setraw(0)\nwhile os.read(0, 64): pass"
    tmux.new_session(
        "w2", Path("/"), [sys.executable, "-c", reader], environment={}, width=80, height=24
    )
    for name in ("w1", "w2"):
        wait_for(lambda n=name: tmux.pane(n).current_command.startswith("python"), what=name)
        wait_for(lambda n=name: raw_mode(tmux, n), what=f"{name} in raw mode")
    for name in ("w1", "w2"):
        AgentPane.of(tmux, name).press(["a", "b", "c", "Enter"])
    wait_for(lambda: AgentPane.of(tmux, "w2").unread_input() == 0, what="w2 to read its keys")
    assert AgentPane.of(tmux, "w1").unread_input() == 4  # a, b, c and the Enter, still queued


# --- AgentPane: one pane of one server ---------------------------------------------------


def agent_pane(tmux: Tmux, name: str, command: list[str], height: int = 20) -> AgentPane:
    tmux.new_session(name, Path("/"), command, environment={}, width=100, height=height)
    return AgentPane.of(tmux, name)


def test_a_paste_comes_back_in_a_look(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["cat"])
    text = "pasted #(x) $HOME ;"
    pane.paste(text, ["Enter"])
    # the terminal echoes the line, then cat prints it
    wait_for(lambda: pane.look().count(text) == 2, what="the line echoed and printed")
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []


def test_press_presses_keys(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["cat"])
    pane.press(["a", "b", "Enter"])
    wait_for(lambda: pane.look() == "ab\nab", what="the keys")
    pane.press(["C-d"])  # cat's end of input
    wait_for(lambda: pane.refresh().dead, what="cat to end")


def test_type_types_literal_text(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["cat"])
    pane.type("Enter;")
    wait_for(lambda: pane.look().split("\n")[0] == "Enter;", what="the text typed")


def test_a_look_with_history_and_a_growing_look(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["sh", "-c", "seq 1 200; sleep 30"], height=10)
    wait_for(lambda: "200" in pane.look(), what="seq output")
    assert "\n1\n" not in "\n" + pane.look() + "\n"
    assert pane.look(500).split("\n")[0] == "1"
    text, size = pane.look_growing(500)
    assert text.rstrip("\n") == pane.look(500)  # look drops the blank lines at the end
    assert size == pane.refresh().info.history_size > 0


def test_unread_input_of_a_program_that_does_not_read(tmux: Tmux) -> None:
    asleep = agent_pane(tmux, "w1", ["sleep", "60"])
    reader = agent_pane(tmux, "w2", ["cat"])
    assert asleep.unread_input() == 0
    for pane in (asleep, reader):
        pane.press(["a", "Enter"])
    wait_for(lambda: asleep.unread_input() == 2, what="the key and the line end queued")
    wait_for(lambda: reader.look().count("a") == 2, what="cat to read the line")
    assert reader.unread_input() == 0
    stays(lambda: asleep.unread_input() == 2, 0.2, what="the input unread")


def test_in_mode_after_copy_mode_and_a_paste_refused(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "got"
    pane = agent_pane(tmux, "w1", ["sh", "-c", f"stty raw -echo; exec cat > {out}"])
    wait_for(out.exists, what="cat started")
    assert not pane.in_mode
    tmux.run("copy-mode", "-t", pane.info.pane_id)
    in_mode = pane.refresh()
    assert in_mode.in_mode
    assert not pane.in_mode  # the handle keeps what tmux said when it was made
    with pytest.raises(PaneInMode):
        in_mode.paste("not now", ["Enter"])
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []
    tmux.run("send-keys", "-t", pane.info.pane_id, "-X", "cancel")
    wait_for(lambda: not pane.refresh().in_mode, what="copy mode to end")
    pane.paste("now", ["x"])
    wait_for(lambda: out.read_bytes() == b"nowx", what="the paste after the mode")


def test_dead_after_the_program_exits(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["sh", "-c", "read line; exit 3"])
    assert not pane.dead
    pane.press(["Enter"])
    dead = wait_for(
        lambda: (p := pane.refresh()).dead and p.info.dead_status is not None and p,
        what="the pane dead with its status",
    )
    assert dead.info.dead_status == 3
    assert dead.unread_input() is None
    assert not pane.dead


def test_refresh_of_a_session_that_is_gone_raises(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["cat"])
    agent_pane(tmux, "other", ["cat"])
    tmux.kill_session("w1")
    with pytest.raises(NoSuchSession, match="other"):
        pane.refresh()
    with pytest.raises(NoSuchSession):
        pane.press(["Enter"])
    with pytest.raises(NoSuchSession):
        pane.look()


# --- Patience: slow is not deaf ------------------------------------------------------------


def test_patience_without_unread_input_waits_confirm_s(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["cat"])
    patience = Patience(pane, confirm_s=1.0, slow_s=60)
    assert not patience.expired()
    assert patience.unread == 0
    assert patience.deadline == patience.began + 1.0
    # the timer is what this test exercises: once its deadline has passed, it has expired
    time.sleep(max(0.0, patience.deadline - time.monotonic()))
    assert patience.expired()


def test_patience_waits_while_the_input_is_unread_then_confirm_s_more(
    tmux: Tmux, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    slow = f"import os, sys, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
    slow += "for line in sys.stdin: pass"
    pane = agent_pane(tmux, "w1", [sys.executable, "-c", slow])
    pane.press(["a", "Enter"])
    wait_for(lambda: pane.unread_input() == 2, what="the input queued")
    patience = Patience(pane, confirm_s=0.3, slow_s=60)
    stays(lambda: not patience.expired(), 1.0, what="the wait, while the input is unread")
    go.touch()
    wait_for(patience.expired, what="the wait to expire once the input was read")
    assert patience.unread == 0
    assert time.monotonic() - patience.began >= 1.0 + 0.3
    assert patience.deadline < patience.began + 60


def test_patience_gives_up_at_slow_s(tmux: Tmux) -> None:
    pane = agent_pane(tmux, "w1", ["sleep", "60"])
    pane.press(["a", "Enter"])
    wait_for(lambda: pane.unread_input() == 2, what="the input queued")
    patience = Patience(pane, confirm_s=0.1, slow_s=0.6)
    while not patience.expired():
        assert patience.unread == 2
        assert time.monotonic() - patience.began < 10, "the wait never gave up"
        time.sleep(0.02)
    assert time.monotonic() - patience.began >= 0.6
    assert patience.deadline == patience.began + 0.6


_FIRST_CALLS_AT_ONCE = """
import threading
from imessenger.adapters.tmux import runner
barrier = threading.Barrier(8)
errors = []
def first_call():
    barrier.wait()
    try:
        runner._libtmux()
    except BaseException as error:
        errors.append(repr(error))
threads = [threading.Thread(target=first_call) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(errors)
"""


def test_threads_that_first_call_tmux_at_once_all_get_it() -> None:
    # The watcher's worker threads may make their first tmux call at the same moment;
    # libtmux's modules were loaded by a step that one thread could undo under another
    # (seen: KeyError 'libtmux' killed the watcher in the suite).
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_CALLS_AT_ONCE], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", done.stdout
