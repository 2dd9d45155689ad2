"""``imessenger watch`` on real tmux with the demo agent, and the dashboard.

The watcher runs as its own process (``python -m imessenger watch``) with the test's
environment; the ``watcher`` fixture starts it and terminates every one it started.
What it does is read back from the store and from its status cache.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from support import (
    Watching,
    answer_by_hand,
    delivered,
    demo_profile,
    echoes,
    pane_environment,
    prompt_id,
    python_cli,
    run_imessenger,
    run_isesh,
    scrollback,
    start_demo,
    start_demo_in_shell,
    stays,
    the_pending,
    wait_for,
    watched,
    watched_state,
    write_config,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.status_cache import read_status, running_pid
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.values import InboxEntry, InboxKind, MessageState
from imessenger.interfaces.dashboard import Overview, Row, render

StartWatcher = Callable[[], Watching]


def entries(store: Store, owner: str, kind: InboxKind) -> list[InboxEntry]:
    return [e for e in store.inbox.read(owner, peek=True, include_read=True) if e.kind == kind]


def test_prompt_noticed_once_and_pending_message_delivered_once(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    command = f'echo "$IMESSENGER_EVENT $IMESSENGER_EVENT_SESSION" >> {events}'
    write_config(f"[watch]\nnotify_command = '{command}'\n")
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle in the status cache")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch x.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a prompt notice")
    [notice] = entries(store, "user", InboxKind.PROMPT)
    assert notice.title == '"w1" is asking: touch x.txt'
    assert "imessenger approve w1" in notice.body
    assert [e.title for e in entries(store, "w1", InboxKind.PROMPT)] == [notice.title]
    entry = wait_for(
        lambda: (e := watched(tmux.label, "w1")) and e["state"] == "asking" and e,
        what="asking cached",
    )
    assert (entry["asking"], entry["choices"]) == ("touch x.txt", ["yes-once", "yes-always", "no"])
    wait_for(lambda: run_imessenger("status").stdout == "⚠ 1 asking · ✉ 1\n", what="the line")
    wait_for(events.exists, what="the notify command run")
    assert events.read_text() == "asking w1\n"

    waiting = run_imessenger("send", "w1", "--no-reply", "after the prompt LINES[2]")
    assert waiting.exit_code == 3, waiting.output  # pending: never pasted into a prompt
    pending = the_pending(store, "w1")
    AgentPane.of(tmux, "w1").press(["1"])  # answered in the pane itself, not by imessenger

    wait_for(lambda: delivered(store, pending.id), what="the pending message delivered")
    # the late reply to the --no-reply message lands in the sender's inbox
    wait_for(lambda: entries(store, "user", InboxKind.REPLY), what="a late reply in the inbox")
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="idle again")
    assert scrollback(tmux, "w1").count(f"message {pending.id} from") == 1  # pasted once
    assert len(entries(store, "user", InboxKind.PROMPT)) == 1  # redraws raise no new notice


def asking_with_id(tmux: Tmux, name: str, about: str) -> str | None:
    """The id the status cache gives the prompt of ``name``, once it asks about ``about``."""
    entry = watched(tmux.label, name)
    if entry is None or entry["state"] != "asking" or entry["asking"] != about:
        return None
    return entry["prompt_id"]


def test_the_watcher_publishes_each_prompt_with_its_id(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch x.txt] BUSY[50]").exit_code == 0
    first = wait_for(lambda: asking_with_id(tmux, "w1", "touch x.txt"), what="the prompt's id")
    assert prompt_id("w1") == first  # every reader finds the one occurrence
    [notice] = wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="the notice")
    assert f"`imessenger approve w1 --prompt {first}` (yes)" in notice.body
    assert f"`imessenger deny w1 --prompt {first}`" in notice.body
    menu = run_imessenger("approve-menu", "-c", "nobody", "--print")  # from the status cache
    assert menu.stdout.count(f"--prompt {first}") == 3, menu.stdout

    AgentPane.of(tmux, "w1").press(["1"])  # answered in the pane: the watcher sees it go
    wait_for(lambda: (p := store.prompts.get(first)) and p.closed_at, what="the prompt closed")
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="idle again")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch x.txt] BUSY[50]").exit_code == 0
    second = wait_for(lambda: asking_with_id(tmux, "w1", "touch x.txt"), what="the new id")
    assert second != first  # the same prompt again: another occurrence
    stale = run_imessenger("approve", "w1", "--prompt", first)
    assert stale.exit_code == 1, stale.output
    assert f"the open prompt is another ({second}: touch x.txt)" in stale.stderr
    assert scrollback(tmux, "w1").count("● Ran touch x.txt") == 1


def test_restart_repeats_no_notice_and_loses_no_pending_message(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    start_demo("w1", idle=False)
    first = watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch r.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a prompt notice")
    first.proc.send_signal(signal.SIGKILL)  # no chance to clean up
    first.proc.wait(10)
    assert run_imessenger("send", "w1", "--no-reply", "while nobody watches").exit_code == 3

    watcher()
    wait_for(
        lambda: watched_state(tmux.label, "w1") == "asking", what="the new watcher sees the prompt"
    )
    assert len(entries(store, "user", InboxKind.PROMPT)) == 1
    pending = the_pending(store, "w1")
    AgentPane.of(tmux, "w1").press(["1"])
    wait_for(lambda: delivered(store, pending.id), what="delivered after the restart")
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="idle")
    assert scrollback(tmux, "w1").count(f"message {pending.id} from") == 1
    assert len(entries(store, "user", InboxKind.PROMPT)) == 1


def test_sessions_come_and_go_and_the_server_restarts(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    watcher()  # no server and no session yet
    start_demo("a1", idle=False)
    start_demo("a2", idle=False)
    wait_for(
        lambda: watched_state(tmux.label, "a1") == watched_state(tmux.label, "a2") == "idle",
        what="both idle",
    )

    assert run_imessenger("send", "a1", "--no-reply", "ASK[touch a.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a1's prompt noticed")
    tmux.kill_session("a1")  # closed outside isesh: a notice
    wait_for(lambda: entries(store, "user", InboxKind.NOTICE), what="a notice for a1")
    assert [e.title for e in entries(store, "user", InboxKind.NOTICE)] == ['"a1" ended']
    run_isesh("stop", "a1")  # forgets it
    start_demo("a1", idle=False)  # a new run under the same name: the same prompt is news again
    wait_for(lambda: watched_state(tmux.label, "a1") == "idle", what="the new a1 followed")
    assert run_imessenger("send", "a1", "--no-reply", "ASK[touch a.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: len(entries(store, "user", InboxKind.PROMPT)) == 2, what="a second notice")
    tmux.kill_session("a1")
    run_isesh("stop", "a1")
    assert run_isesh("stop", "a2").exit_code == 0  # stopped by isesh: no notice
    wait_for(lambda: watched(tmux.label, "a2") is None, what="a2 no longer followed")

    start_demo("a3", idle=False)
    wait_for(lambda: watched_state(tmux.label, "a3") == "idle", what="a3 idle")
    assert run_imessenger("send", "a3", "--no-reply", "EXIT").exit_code == 0
    wait_for(lambda: watched_state(tmux.label, "a3") == "exited", what="a3 exited")
    wait_for(lambda: len(entries(store, "user", InboxKind.NOTICE)) >= 2, what="an exit notice")
    titles = [e.title for e in entries(store, "user", InboxKind.NOTICE)]
    assert titles == ['"a1" ended', '"a3" exited']  # the second a1, stopped at once: none

    tmux.run("kill-server")  # the whole server goes, then a new one starts
    wait_for(lambda: watched(tmux.label, "a3") is None, what="nothing followed without a server")
    run_isesh("stop", "a3")  # forget the old record
    start_demo("b1", idle=False)
    wait_for(
        lambda: watched_state(tmux.label, "b1") == "idle", what="b1 followed on the new server"
    )
    assert len(entries(store, "user", InboxKind.NOTICE)) == 2  # the server's end said nothing


def test_a_reply_after_the_sender_gave_up_reaches_its_inbox(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    gave_up = run_imessenger("send", "w1", "--timeout", "100", "BUSY[700] slow one")
    assert gave_up.exit_code == 124, gave_up.output
    [reply] = wait_for(lambda: entries(store, "user", InboxKind.REPLY), what="the late reply")
    assert reply.body.strip() == "BUSY[700] slow one"
    assert reply.title.startswith('reply from "w1" to message')


def test_a_pane_printing_fast_does_not_hold_others_up(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    loud = ["sh", "-c", "while :; do seq 1 2000; done"]
    assert run_isesh("start", "loud", "-d", str(tmp_path), "--agent", "shell", "--", *loud)
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch f.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: entries(store, "user", InboxKind.PROMPT), seconds=5, what="the notice")
    assert watched_state(tmux.label, "loud") == "idle"


# --- what a read costs: a spinner is not news, a prompt is ------------------------------------


def plain_demo(tmux: Tmux, watch: str = "") -> int:
    """Start the demo agent as w1 under the profile "plain" (the demo's, without hooks:
    its prompts are noticed from the screen alone), with ``watch`` as the [watch] table
    of the config; return the agent's pid once it is idle."""
    import tomli_w

    table = {**load_config().values["agents"]["demo"], "hooks": ""}
    write_config(tomli_w.dumps({"agents": {"plain": table}}) + (f"\n[watch]\n{watch}\n"))
    return start_demo_in_shell(tmux, "w1", agent="plain")


def reads(watching: Watching) -> int:
    """How many times the watcher read w1's screen (it logs each read at DEBUG)."""
    return watching.said("DEBUG", "reading w1")


def spinner_seconds(tmux: Tmux) -> int:
    """The seconds on the demo agent's spinner line ("⠋ Working (3s · esc to interrupt)")."""
    found = re.search(r"Working \((\d+)s", AgentPane.of(tmux, "w1").look())
    assert found, AgentPane.of(tmux, "w1").look()
    return int(found.group(1))


def test_a_spinner_is_not_read_but_a_prompt_and_new_text_are(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    agent = plain_demo(tmux)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    assert (
        run_imessenger("send", "w1", "--no-reply", "BUSY[600000] ASK[touch s.txt]").exit_code == 0
    )
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    began, before = spinner_seconds(tmux), reads(watching)
    # ten frames a second: every one was a read (and a pause and a continue) before
    stays(lambda: reads(watching) <= before + 2, 2.5, what="(almost) no read of a spinner")
    assert spinner_seconds(tmux) >= began + 2  # it did turn all along

    before = reads(watching)
    AgentPane.of(tmux, "w1").type("new text")  # typed while it works: shown in its input box
    wait_for(lambda: "demo> new text" in AgentPane.of(tmux, "w1").look(), what="the text shown")
    wait_for(lambda: reads(watching) > before, what="new text read")

    os.kill(agent, signal.SIGUSR1)  # the busy phase ends: its prompt opens, amid the redraws
    [notice] = wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="the notice")
    assert notice.title == '"w1" is asking: touch s.txt'
    assert watching.state("w1") == "asking"


def test_a_prompt_after_a_quiet_while_is_read_at_once_not_after_the_debounce(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    # debounce_ms spaces the reads of a burst; the first news after a quiet while (here,
    # a spinner turning) is read at once: a prompt drawn in one write is noticed in
    # milliseconds, not a debounce later.
    agent = plain_demo(tmux, watch="debounce_ms = 3000")
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    assert (
        run_imessenger("send", "w1", "--no-reply", "BUSY[600000] ASK[touch q.txt]").exit_code == 0
    )
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    count = reads(watching)
    stays(lambda: reads(watching) == count, 3.5, what="no read while only the spinner turns")
    os.kill(agent, signal.SIGUSR1)
    wait_for(lambda: entries(store, "user", InboxKind.PROMPT), 1.5, what="the notice, at once")


SPIN = """
import os, sys, time
go, done = sys.argv[1], sys.argv[2]
os.write(1, b"ready\\r\\n")
while not os.path.exists(go):
    time.sleep(0.01)
for n in range(30):
    os.write(1, f"\\r\\x1b[K{'⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[n % 10]} working ({n // 10}s)".encode())
    time.sleep(0.1)
open(done, "w").close()
time.sleep(600)
"""


def test_redraws_that_stop_are_read_once_after(
    tmux: Tmux, watcher: StartWatcher, tmp_path: Path
) -> None:
    # the net under the redraws set aside: the screen they leave is read once they stop
    script, go, done = tmp_path / "spin.py", tmp_path / "go", tmp_path / "done"
    script.write_text(SPIN)
    spin = [sys.executable, str(script), str(go), str(done)]
    assert run_isesh("start", "spin", "-d", str(tmp_path), "--agent", "shell", "--", *spin)
    watching = watcher()
    wait_for(lambda: "ready" in AgentPane.of(tmux, "spin").look(), what="the spinner ready")
    wait_for(lambda: watching.entry("spin") is not None, what="spin followed")
    count = lambda: watching.said("DEBUG", "reading spin")  # noqa: E731
    before = count()
    go.touch()
    wait_for(done.exists, what="30 frames drawn")
    assert count() <= before + 2  # its first frame, not thirty
    at_end = count()
    wait_for(lambda: count() == at_end + 1, 5, what="one read once the redraws stopped")
    stays(lambda: count() == at_end + 1, 1.5, what="one read only")


def test_a_flood_is_paused_and_read_ten_times_a_second_at_most(
    tmux: Tmux, watcher: StartWatcher, tmp_path: Path
) -> None:
    loud = ["sh", "-c", "while :; do seq 1 100000; done"]
    assert run_isesh("start", "loud", "-d", str(tmp_path), "--agent", "shell", "--", *loud)
    watching = watcher()
    count = lambda: watching.said("DEBUG", "reading loud")  # noqa: E731
    wait_for(lambda: count() >= 3, what="the flood read")
    before = count()
    stays(lambda: count() <= before + 25, 2.0, what="ten reads a second at most")
    assert count() >= before + 5  # and read all along, a capture per round
    later = count()
    wait_for(lambda: count() >= later + 10, 5, what="read round after round")


def test_a_second_watcher_says_so_and_exits(tmux: Tmux, watcher: StartWatcher) -> None:
    first = watcher()
    result = run_imessenger("watch")
    assert result.exit_code == 0
    assert f'already running for tmux server "{tmux.label}" (pid {first.proc.pid})' in result.stderr
    assert run_imessenger("watch", "--daemon").stdout.startswith("imessenger watch is already")


def test_watch_daemon_starts_and_stop_ends_it(tmux: Tmux) -> None:
    started = run_imessenger("watch", "--daemon")
    try:
        assert started.exit_code == 0, started.output
        pid = running_pid(tmux.label)
        assert pid is not None
        assert f"(pid {pid})" in started.stdout
        assert read_status(tmux.label).watching
    finally:
        stopped = run_imessenger("watch", "--stop")
    assert stopped.exit_code == 0, stopped.output
    assert running_pid(tmux.label) is None
    assert run_imessenger("status").stdout == "imessenger: not watching\n"


# --- the dashboard ---------------------------------------------------------------------------


def test_render_fits_the_window_and_marks_the_selection() -> None:
    view = Overview(
        [
            Row("w1", "demo", "asking", "touch x.txt", ("yes-once",), "build it", "(delivered)", 2),
            Row("w2", "claude", "idle", last_message="hello", last_reply="hi there"),
        ],
        watching=True,
        user_unread=3,
    )
    lines = render(view, 60, 12, selected=1, note="ok")
    assert len(lines) == 12
    assert all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("imessenger · 2 session(s) · 1 asking, 3 unread · watching")
    assert lines[2].startswith("  w1    demo    asking   ✉2")
    assert "asks: touch x.txt" in lines[2]
    assert lines[4].startswith("› w2")
    assert 'last: "hello"  → hi there' in lines[5]
    assert lines[-2:] == ["ok", render(view, 60, 12, 0)[-1]]
    assert len(render(view, 20, 2, 0)) == 2


def test_dashboard_shows_sessions_and_approves_with_a_key(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    tmux.new_session(
        "dash",
        tmp_path,
        [*python_cli(), "dashboard"],
        environment=pane_environment(),
        width=100,
        height=20,
    )
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch d.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: "asks: touch d.txt" in scrollback(tmux, "dash"), what="the prompt shown")
    AgentPane.of(tmux, "dash").press(["y"])
    wait_for(lambda: store.approvals.latest("w1"), what="the approval")
    [approval] = store.approvals.latest("w1")
    # recorded as who answered: the person in tmux session "dash" (not an agent session)
    assert (approval.actor, approval.option_label) == ("dash", "Yes")
    wait_for(lambda: '("Yes")' in scrollback(tmux, "dash"), what="the outcome shown")
    AgentPane.of(tmux, "dash").press(["q"])
    wait_for(lambda: tmux.pane("dash").dead, what="the dashboard quit")


def test_a_dashboard_key_answers_only_the_prompt_it_shows(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    # The dashboard's view is as old as its last redraw: the prompt may change before a key.
    from imessenger.app.api import Api
    from imessenger.interfaces.dashboard import Dashboard

    start_demo("w1", idle=False)
    watcher()
    sessions = Sessions(tmux, store, load_config())
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch d1.txt] BUSY[50]").exit_code == 0
    first = wait_for(lambda: asking_with_id(tmux, "w1", "touch d1.txt"), what="the prompt")
    dashboard = Dashboard(Api(tmux.socket_name))
    dashboard.reload()
    [row] = dashboard.view.rows
    assert (row.asking, row.prompt_id) == ("touch d1.txt", first)

    answer_by_hand(tmux, sessions, "w1", "3", "● Did not run touch d1.txt")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch d2.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: sessions.view("w1").state.value == "asking", what="the second prompt")
    before = scrollback(tmux, "w1")
    dashboard._act(cast(Any, None), ord("y"))  # the key "y", on the row as it was drawn
    assert f'the prompt {first} of "w1" (touch d1.txt) is no longer open' in dashboard.note
    assert "nothing was pressed" in dashboard.note
    assert scrollback(tmux, "w1") == before
    assert store.approvals.latest("w1") == []

    second = wait_for(lambda: asking_with_id(tmux, "w1", "touch d2.txt"), what="the new one")
    dashboard.reload()  # redrawn: the prompt on screen now
    assert dashboard.view.rows[0].prompt_id == second
    dashboard._act(cast(Any, None), ord("n"))
    assert dashboard.note == '"w1": no ("No")', dashboard.note
    wait_for(lambda: "● Did not run touch d2.txt" in scrollback(tmux, "w1"), what="answered")
    [approval] = store.approvals.latest("w1")
    assert approval.choice == "no"
    # a row drawn idle answers nothing, whatever asks by the time of the key
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="idle")
    dashboard.reload()
    assert dashboard.view.rows[0].state == "idle"
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch d3.txt] BUSY[50]").exit_code == 0
    wait_for(lambda: sessions.view("w1").state.value == "asking", what="the third prompt")
    dashboard._act(cast(Any, None), ord("y"))
    assert dashboard.note == '"w1" is idle here, not asking: nothing was pressed'
    assert len(store.approvals.latest("w1")) == 1


def test_dashboard_without_a_watcher_reads_the_panes(tmux: Tmux, store: Store) -> None:
    start_demo("w1", idle=False)
    sessions = Sessions(tmux, store, load_config())
    wait_for(lambda: sessions.view("w1").state.value == "idle", what="w1 idle")
    from imessenger.app.api import Api

    view = Api.over(tmux, store, sessions.config).overview()
    assert not view.watching
    assert [(r.name, r.agent, r.state) for r in view.rows] == [("w1", "demo", "idle")]


def test_the_reply_of_a_sender_killed_while_waiting_reaches_its_inbox(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    # SIGKILL leaves the "waiting" flag set; the watcher must see that the waiter is gone
    # and put the reply, already printed or still to come, in the sender's inbox.
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    sender = subprocess.Popen([*python_cli(), "send", "w1", "BUSY[300] answer a dead man"])
    try:

        def waiting() -> bool:
            messages = store.messages.latest(limit=1)
            return bool(messages) and messages[0].waiting  # delivered or not: no matter

        wait_for(waiting, what="the sender waiting")
    finally:
        sender.kill()
        sender.wait()
    [reply] = wait_for(lambda: entries(store, "user", InboxKind.REPLY), 20, what="the reply")
    assert "answer a dead man" in reply.body


@pytest.mark.parametrize("left", ["claimed", "pending"])
def test_a_message_left_in_the_input_box_is_submitted_by_the_watcher_once(
    tmux: Tmux, store: Store, watcher: StartWatcher, left: str
) -> None:
    # Pasted, and no key pressed: a sender killed before the key (its claim is left), or a
    # prompt that opened before it (the message went back to pending). The box holds the
    # message, so the session never reads as ready for a message: the watcher must
    # still submit it from there, and only once.
    from imessenger.actions.delivery import Courier
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config

    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    courier = Courier(Sessions(tmux, store, load_config()))
    store.messages.add("0b0e1e57", "user", "w1", "NOREPLY left in the box")
    claimed = store.messages.claim_pending("w1")
    assert claimed is not None
    store.messages.mark_pasting(claimed.id)
    AgentPane.of(tmux, "w1").paste(courier._envelope(claimed))
    if left == "pending":
        store.messages.release_claim(claimed.id)

    def submitted() -> bool:
        record = store.messages.get("0b0e1e57")
        return record is not None and record.state is MessageState.DELIVERED

    wait_for(submitted, 20, what="the message submitted from the box")
    wait_for(lambda: echoes(tmux, "w1", "0b0e1e57") >= 1, what="the message shown")
    # a second paste would show within 0.5 s
    stays(lambda: echoes(tmux, "w1", "0b0e1e57") == 1, 0.5, what="submitted once")


# --- the agents' own hooks: the prompt notice comes from the hook, checked with the screen --


def hook_events(store: Store, tmux: Tmux, name: str) -> list[tuple[str, str, str]]:
    return [(e.event, e.state, e.screen) for e in store.hook_events.recent(name, limit=50)]


def test_the_prompt_notice_comes_from_the_hook_and_every_event_agrees_with_the_screen(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    start_demo("w1", idle=False)
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    command = "touch 'a b'.txt; echo $(date) `id` #{pane_id}"
    sent = run_imessenger("send", "w1", "--no-reply", f"ASK[{command}] BUSY[300]")
    assert sent.exit_code == 0, sent.output
    [notice] = wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a prompt notice")
    assert notice.title == f'"w1" is asking: {command}'
    assert notice.body.startswith("Its hook reported it (PermissionRequest) and its screen shows:")
    assert run_imessenger("approve", "w1").exit_code == 0
    expected = [
        ("SessionStart", "started", "agrees"),
        ("UserPromptSubmit", "busy", "agrees"),
        ("PermissionRequest", "asking", "agrees"),
        ("Stop", "idle", "agrees"),
    ]
    wait_for(
        lambda: (
            len(hook_events(store, tmux, "w1")) >= 4
            and all(check for _, _, check in hook_events(store, tmux, "w1"))
        ),
        what=f"every event checked ({hook_events(store, tmux, 'w1')})",
    )
    assert hook_events(store, tmux, "w1") == expected


def test_a_hook_that_says_asking_without_a_prompt_on_screen_is_noticed_and_no_key_pressed(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    # a profile that cannot read the demo agent's prompts (as after an agent's update)
    demo_profile("blind", question_patterns=["^never matches$"])
    assert run_isesh("start", "w1", "--agent", "blind").exit_code == 0
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch z.txt]").exit_code == 0
    [notice] = wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a notice")
    assert notice.title == '"w1" is asking (says its hook): touch z.txt'
    assert "isesh explain w1" in notice.body
    asking = ("PermissionRequest", "asking", "the screen shows no prompt")
    wait_for(lambda: asking in hook_events(store, tmux, "w1"), what="the disagreement recorded")
    # the screen wins for keys: nothing is pressed into a prompt it cannot read
    refused = run_imessenger("approve", "w1")
    assert refused.exit_code != 0
    said = "though its agent's hook says it asks about: touch z.txt"
    assert said in refused.stderr, refused.output
    assert "isesh explain w1" in refused.stderr
    assert "Do you want to proceed?" in AgentPane.of(tmux, "w1").look()  # still asking


def test_without_hooks_the_prompt_notice_comes_from_the_screen(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    demo_profile("plain", hooks="")
    assert run_isesh("start", "w1", "--agent", "plain").exit_code == 0
    watcher()
    wait_for(lambda: watched_state(tmux.label, "w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch y.txt]").exit_code == 0
    [notice] = wait_for(lambda: entries(store, "user", InboxKind.PROMPT), what="a notice")
    assert notice.title == '"w1" is asking: touch y.txt'
    assert not notice.body.startswith("Its hook")
    assert hook_events(store, tmux, "w1") == []
