"""The tmux adapter against real tmux servers on private sockets."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from support import wait_for

from imessenger.errors import NoSuchSession, NoTmuxServer, TmuxNotInstalled
from imessenger.tmux import Tmux


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
    tmux.type_text(pane, "pwd; echo $IMESSENGER_SESSION")
    tmux.send_keys(pane, ["Enter"])
    wait_for(lambda: f"{tmp_path}\nw1" in tmux.capture(pane), what="pwd output")


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
    tmux.paste(pane, text)
    # sh does not ask for bracketed paste; the terminal turns the pasted CRs back into LFs.
    wait_for(lambda: out.read_bytes() == text.encode(), what="the exact bytes")
    assert tmux.run("list-buffers", "-F", "#{buffer_name}") == []


def test_logs_include_scrollback(tmux: Tmux) -> None:
    pane = tmux.new_session(
        "w1", Path("/"), ["sh", "-c", "seq 1 200; sleep 30"], environment={}, width=80, height=10
    )
    wait_for(lambda: "200" in tmux.capture(pane), what="seq output")
    assert "\n1\n" not in "\n" + tmux.capture(pane) + "\n"
    assert tmux.capture(pane, history=500).split("\n")[0] == "1"


def test_send_keys_to_a_killed_session_raises(tmux: Tmux) -> None:
    start_cat(tmux, "w1")
    start_cat(tmux, "other")
    pane = tmux.pane("w1")
    tmux.kill_session("w1")
    with pytest.raises(NoSuchSession):
        tmux.send_keys(pane, ["Enter"])


def test_panes_lists_one_active_pane_per_session(tmux: Tmux) -> None:
    start_cat(tmux, "a")
    start_cat(tmux, "b")
    tmux.run("split-window", "-t", "=a:")
    assert sorted(p.session for p in tmux.panes()) == ["a", "b"]


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
    time.sleep(0.3)  # both programs have switched their terminals to raw mode
    for name in ("w1", "w2"):
        tmux.send_keys(tmux.pane(name), ["a", "b", "c", "Enter"])
    wait_for(lambda: tmux.unread_input(tmux.pane("w2")) == 0, what="w2 to read its keys")
    assert tmux.unread_input(tmux.pane("w1")) == 4  # a, b, c and the Enter, still queued
