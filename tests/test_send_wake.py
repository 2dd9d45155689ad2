"""``send``'s wait for a reply, woken by the target pane's output through a control client
of its own (imessenger.adapters.tmux.OutputWatch), and that client's end, on real tmux."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tomli_w
from support import (
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    state_of,
    wait_for,
    write_config,
)

from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import ControlClient, Tmux
from imessenger.core.errors import TmuxCommandFailed
from imessenger.core.screen import State
from imessenger.core.values import MessageState
from imessenger.interfaces.cli.messaging import EXIT_INTERRUPTED, EXIT_TIMEOUT


def clients_of_this_process(tmux: Tmux) -> list[int]:
    """The pids of the control-mode clients on the server whose tmux process is a live
    child of this test's process: the clients its waits attached."""
    found = []
    for line in tmux.run("list-clients", "-F", "#{client_pid} #{client_control_mode}"):
        pid, _, control = line.partition(" ")
        if control != "1" or not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        if parent == os.getpid():
            found.append(int(pid))
    return found


@contextlib.contextmanager
def sampled(count: Callable[[], int]) -> Iterator[list[int]]:
    """Call ``count`` again and again in a thread while the block runs; yield what it said."""
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.append(count())
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join(10)


def plain_demo(**send: int) -> dict[str, Any]:
    """Write the config: a profile "plain", the demo agent keeping no record (its replies
    are read from its screen), and these ``send`` settings; return the profile."""
    profile = {**load_config().values["agents"]["demo"], "record": ""}
    config: dict[str, Any] = {"agents": {"plain": profile}}
    if send:
        config["send"] = send
    write_config(tomli_w.dumps(config))
    return profile


def start_plain(tmux: Tmux, name: str = "w1") -> None:
    assert run_isesh("start", name, "--agent", "plain").exit_code == 0
    wait_for(lambda: state_of(tmux, name) is State.IDLE, what=f"{name} idle")


def test_the_wait_is_woken_when_the_pane_prints_not_at_its_next_poll(tmux: Tmux) -> None:
    # A poll far longer than the wait: only a wake by the pane's output finds the reply
    # before the deadline (without it, the look after the first comes at the poll, 10 s).
    from imessenger.app.api import Api

    plain_demo()
    start_plain(tmux)
    sent = Api().send("w1", "BUSY[1500] hello", wait=False)  # its reply comes in 1.5 s
    assert sent.outcome is MessageState.DELIVERED, sent.why
    plain_demo(poll_ms=10_000)
    api = Api()  # reads the config again
    assert f"<<IMSG-END {sent.message.id}>>" not in scrollback(tmux, "w1")  # not replied yet
    began = time.monotonic()
    done = api.wait_for_reply(sent, 8_000)
    waited = time.monotonic() - began
    assert done.outcome is MessageState.REPLIED, done.why
    assert done.reply == "BUSY[1500] hello"
    assert done.message.reply_via == "screen"
    assert waited < 5, f"the reply was found {waited:.1f} s into the wait"


@pytest.mark.parametrize(
    ("body", "timeout_ms", "code"),
    [
        pytest.param("BUSY[1500] answer me", "20000", 0, id="replied"),
        pytest.param("NOREPLY answer nothing", "4000", EXIT_TIMEOUT, id="timed-out"),
    ],
)
def test_the_wait_leaves_no_control_client_behind(
    tmux: Tmux, body: str, timeout_ms: str, code: int
) -> None:
    start_demo(idle=False)
    with sampled(lambda: len(clients_of_this_process(tmux))) as seen:
        result = run_imessenger("send", "--timeout", timeout_ms, "w1", body)
    assert result.exit_code == code, result.output
    assert max(seen) == 1  # the wait had a client of its own, one
    assert clients_of_this_process(tmux) == []  # and detached it before send returned
    wait_for(lambda: not any(c.control for c in tmux.clients()), what="no control client")


def test_ctrl_c_in_the_wait_leaves_the_message_recorded_and_no_control_client(
    tmux: Tmux,
) -> None:
    start_demo(idle=False)
    main = threading.get_ident()

    def interrupt() -> None:
        # Ctrl-C once the wait has its client (so it lands in the wait, woken by output)
        wait_for(lambda: clients_of_this_process(tmux), what="the wait's control client")
        signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=interrupt, daemon=True)
    helper.start()
    result = run_imessenger("send", "--timeout", "20000", "w1", "NOREPLY wait in vain")
    helper.join(10)
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert clients_of_this_process(tmux) == []
    with Store.open(server=tmux.label) as store:
        [record] = store.messages.latest(limit=1)
    assert record.state is MessageState.TIMED_OUT
    assert not record.waiting


def test_without_a_control_client_the_wait_polls_and_finds_the_same_reply(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A control client that cannot attach (as with a tmux that refuses it): the wait reads
    # the pane every poll, as it did before it had one, and finds the same reply.
    import json

    plain_demo()
    start_plain(tmux)

    def sent(body: str) -> tuple[dict[str, Any], list[int]]:
        with sampled(lambda: len(clients_of_this_process(tmux))) as seen:
            result = run_imessenger("send", "--json", "w1", body)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), seen

    woken, seen = sent("BUSY[800] first\n\tindented, with a tab")
    assert max(seen) == 1

    def refused(self: ControlClient, timeout: float = 5.0) -> None:
        raise TmuxCommandFailed("attach-session", "control mode refused")

    monkeypatch.setattr(ControlClient, "start", refused)
    polled, seen = sent("BUSY[800] first\n\tindented, with a tab")
    assert max(seen) == 0
    assert (polled["state"], polled["reply_via"]) == ("replied", "screen")
    assert (polled["reply"], polled["reply_via"]) == (woken["reply"], woken["reply_via"])
