"""The watcher tells a person when an agent needs them, once: done, stuck, error.

On real tmux with the demo agent and a real ``imessenger watch`` process (the
``watcher`` fixture): a turn nobody waits for ends with one ``done``, a turn whose reply a
waiting ``send`` takes with none; a long spinner is ``stuck`` once, progress on screen or
in the record is not; a failed turn is one ``error`` with its text; none of them is told
again by a restarted watcher, and a fresh watcher tells nothing of what it finds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import (
    Watching,
    attached,
    run_imessenger,
    run_isesh,
    start_demo,
    state_of,
    stays,
    wait_for,
    write_config,
)

from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.attention import alert, fit
from imessenger.core.hook_events import read_event
from imessenger.core.screen import State
from imessenger.core.values import InboxKind
from imessenger.watcher.attention import ERROR_TITLE_MAX, HOOK_END_WAIT_S
from imessenger.watcher.notify import DESKTOP_TITLE_MAX

StartWatcher = Callable[[], Watching]


def notices(store: Store, *, about: str = "") -> list[str]:
    """The titles of the person's notices (not prompts, not replies), oldest first."""
    every = store.inbox.read("user", peek=True, include_read=True)
    return [e.title for e in every if e.kind == InboxKind.NOTICE and about in e.title]


def done(store: Store, name: str = "w1") -> list[str]:
    return notices(store, about=f'"{name}" is done')


def events_of(path: Path) -> list[str]:
    """The lines the notify command wrote: "EVENT SESSION" each."""
    return path.read_text().splitlines() if path.exists() else []


def notify_into(path: Path, more: str = "") -> None:
    """A config whose notify command writes "EVENT SESSION" lines into ``path``."""
    command = f'echo "$IMESSENGER_EVENT $IMESSENGER_EVENT_SESSION" >> {path}'
    write_config(f"[watch]\nnotify_command = '{command}'\n{more}")


def settled(watching: Watching, name: str = "w1") -> int:
    """How many turns of ``name`` the watcher has ended (told or not)."""
    return watching.said("INFO", f'"{name}" is done') + watching.said(
        "INFO", f'"{name}": its turn failed'
    )


# --- done ------------------------------------------------------------------------------------


def test_done_once_for_a_turn_nobody_waits_for_and_none_for_a_waited_send(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events)
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")

    waited = run_imessenger("send", "w1", "BUSY[300] LINES[2]")  # waits for its reply
    assert waited.exit_code == 0, waited.output
    wait_for(lambda: settled(watching) == 1, what="the waited turn settled")
    assert watching.said("INFO", '"w1" is done: its reply went to the send') == 1
    assert done(store) == []

    # a waited turn again, and at once (before its idle screen settles) one nobody waits for
    waited = run_imessenger("send", "w1", "BUSY[300] LINES[2]")
    assert waited.exit_code == 0, waited.output
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[300] nobody waits").exit_code == 0
    wait_for(lambda: done(store), what="a done notice")
    assert done(store) == ['"w1" is done and waits for you']
    wait_for(lambda: settled(watching) == 3, what="three turns settled")
    assert watching.said("INFO", '"w1" is done: its reply went to the send') == 2
    wait_for(lambda: "done w1" in events_of(events), what="the notify command run")
    # the idle screen changes and redraws (a key typed, then erased): no turn, no notice
    pane = AgentPane.of(tmux, "w1")
    pane.type("x")
    wait_for(lambda: "demo> x" in pane.look(), what="the key shown")
    pane.press(["BSpace"])
    wait_for(lambda: "demo> x" not in pane.look(), what="the key erased")
    stays(lambda: len(done(store)) == 1 and events_of(events) == ["done w1"], 1.0, "one done")


# --- stuck -----------------------------------------------------------------------------------

STUCK_AFTER = "stuck_after_ms = 1500\n"


def stuck(store: Store, name: str = "w1") -> list[str]:
    return notices(store, about=f'"{name}" looks stuck')


def test_stuck_once_after_a_long_spinner_then_busy_on_progress_then_done(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events, STUCK_AFTER)
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    # only the spinner and its timer for 4 s, then a new line every 200 ms until 7 s
    sent = run_imessenger("send", "w1", "--no-reply", "BUSY[7000] PROGRESS[200,4000]")
    assert sent.exit_code == 0, sent.output
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    began = time.time()
    [title] = wait_for(lambda: stuck(store), 5, what="a stuck notice")
    assert time.time() - began >= 1.4  # not before stuck_after_ms
    assert title == '"w1" looks stuck: busy for 1s without progress'
    entry = wait_for(
        lambda: (e := watching.entry("w1")) and e["state"] == "stuck" and e, what="published"
    )
    assert entry["since"] <= began + 0.5  # since its last progress: when it began
    listed = run_isesh("list", "--json")
    assert [row["state"] for row in json.loads(listed.stdout)] == ["stuck"]
    # progress: busy again, since then
    wait_for(lambda: watching.state("w1") == "busy", 5, what="busy again on progress")
    resumed = watching.entry("w1")
    assert resumed is not None
    assert resumed["since"] >= began + 3.5
    # it finishes: done, and the stall was told once
    wait_for(lambda: done(store), 8, what="done at the end")
    assert stuck(store) == [title]
    wait_for(lambda: events_of(events) == ["stuck w1", "done w1"], what="the notify commands")


def test_progress_on_screen_or_in_the_record_is_not_stuck(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    write_config(f"[watch]\n{STUCK_AFTER}")
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    # new lines on screen every 300 ms for 4 s
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[4000] PROGRESS[300]").exit_code == 0
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    stays(lambda: watching.state("w1") == "busy", 3.0, what="busy, never stuck")
    wait_for(lambda: watching.state("w1") == "idle", 5, what="idle")
    # only the spinner on screen, but its record grows every 300 ms: progress too
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[4000] WRITES[300]").exit_code == 0
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    stays(lambda: watching.state("w1") == "busy", 3.0, what="busy, never stuck")
    wait_for(lambda: len(done(store)) == 2, 5, what="two turns done")
    assert stuck(store) == []


# --- error -----------------------------------------------------------------------------------


def test_a_failed_turn_is_one_error_with_its_text_and_no_done(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events)
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    sent = run_imessenger("send", "w1", "--no-reply", "BUSY[200] FAIL[429 rate limit reached]")
    assert sent.exit_code == 0, sent.output
    [title] = wait_for(lambda: notices(store, about="failed"), what="an error notice")
    assert title == '"w1" failed: API Error: 429 rate limit reached'
    [entry] = [e for e in store.inbox.read("user", peek=True) if e.title == title]
    assert "API Error: 429 rate limit reached" in entry.body
    explained = run_isesh("explain", "w1")  # the line read as the error, and its pattern
    assert "  error     the last turn failed, on 1 line(s)" in explained.stdout
    assert '"  ⎿  API Error: 429 rate limit reached"' in explained.stdout
    assert "error_patterns[0]" in explained.stdout
    wait_for(lambda: events_of(events) == ["error w1"], what="the notify command run")
    # the same error again in the next turn is another failure: told again
    assert run_imessenger("send", "w1", "--no-reply", "FAIL[429 rate limit reached]").exit_code == 0
    wait_for(lambda: len(notices(store, about="failed")) == 2, what="a second error notice")
    # a turn that goes well after it: done, and the error above it is over
    assert run_imessenger("send", "w1", "--no-reply", "all good now").exit_code == 0
    wait_for(lambda: done(store), what="done")
    stays(lambda: len(notices(store, about="failed")) == 2, 0.5, what="no third error")
    wait_for(
        lambda: events_of(events) == ["error w1", "error w1", "done w1"], what="the notify commands"
    )
    explained = run_isesh("explain", "w1")  # the error is over: none shows
    assert "error     none" in explained.stdout, explained.stdout


def report(store: Store, payload: dict[str, object], name: str = "w1") -> None:
    """Record what ``imessenger hook event opencode`` records for ``payload`` (what
    OpenCode's plugin reports)."""
    event = read_event("opencode", json.dumps(payload))
    store.hook_events.add(
        name, kind="opencode", event=event.event, state=event.state, detail=event.detail
    )


def test_a_failed_turn_the_hooks_report_late_is_one_error_and_the_next_turn_done(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    """With OpenCode's hooks (here the demo agent's screen, the events its plugin would
    report), a settled idle screen ends the turn once the hooks say it ended: on the error
    they reported, however late it comes, told once; a turn they say ended well is done;
    one they say nothing of ends by its screen after HOOK_END_WAIT_S."""
    events = tmp_path / "events.txt"
    notify_into(events, '\n[agents.demo]\nhooks = "opencode"\n')
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    taken = {"type": "chat.message", "properties": {"sessionID": "ses_1", "text": "x"}}
    waits = lambda: watching.said("DEBUG", '"w1": its screen is idle, its hooks say nothing yet')  # noqa: E731

    assert run_imessenger("send", "w1", "--no-reply", "BUSY[300] this fails").exit_code == 0
    report(store, taken)
    wait_for(lambda: waits() == 1, what="the turn's end waiting for its hooks")
    error = {"name": "APIError", "data": {"message": "invalid x-api-key\x1b[2J", "statusCode": 401}}
    report(store, {"type": "session.error", "properties": {"sessionID": "ses_1", "error": error}})
    title = '"w1" failed: invalid x-api-key\u241b[2J'
    wait_for(lambda: notices(store, about="failed") == [title], what="the error notice")
    wait_for(lambda: events_of(events) == ["error w1"], what="the notify command run")
    [entry] = [e for e in store.inbox.read("user", peek=True) if e.title == title]
    assert "invalid x-api-key\u241b[2J" in entry.body
    assert not done(store)

    assert run_imessenger("send", "w1", "--no-reply", "BUSY[300] this works").exit_code == 0
    report(store, taken)
    wait_for(lambda: waits() == 2, what="the next turn's end waiting for its hooks")
    report(store, {"type": "session.idle", "properties": {"sessionID": "ses_1"}})
    wait_for(lambda: done(store), what="done")
    wait_for(lambda: events_of(events) == ["error w1", "done w1"], what="the notify commands")
    assert len(notices(store, about="failed")) == 1

    assert (
        run_imessenger("send", "w1", "--no-reply", "BUSY[300] its hooks say nothing").exit_code == 0
    )
    wait_for(lambda: waits() == 3, what="the third turn's end waiting for its hooks")
    wait_for(
        lambda: watching.said("INFO", '"w1": its hooks did not say its turn ended'),
        HOOK_END_WAIT_S + 10,
        "the wait to end",
    )
    wait_for(lambda: len(done(store)) == 2, what="done by its screen")
    assert len(notices(store, about="failed")) == 1


# --- restarts: nothing twice, nothing lost, no storm -----------------------------------------


def stop(watching: Watching, how: signal.Signals = signal.SIGTERM) -> None:
    watching.proc.send_signal(how)
    watching.proc.wait(10)


def test_a_restarted_watcher_repeats_nothing_and_tells_a_turn_that_ended_meanwhile_once(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events)
    start_demo("w1", idle=False)
    first = watcher()
    wait_for(lambda: first.state("w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[100] one").exit_code == 0
    wait_for(lambda: done(store), what="done")
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[100] FAIL[overloaded]").exit_code == 0
    wait_for(lambda: notices(store, about="failed"), what="an error")
    told = notices(store)
    assert told == ['"w1" is done and waits for you', '"w1" failed: API Error: overloaded']
    wait_for(lambda: events_of(events) == ["done w1", "error w1"], what="both commands run")

    stop(first)
    second = watcher()  # the same idle screen, its error line still at the bottom
    wait_for(lambda: second.state("w1") == "idle", what="w1 followed again")
    stays(lambda: notices(store) == told, 1.0, what="nothing told again")

    assert run_imessenger("send", "w1", "--no-reply", "BUSY[2500] long").exit_code == 0
    wait_for(lambda: second.state("w1") == "busy", what="w1 busy")
    stop(second, signal.SIGKILL)  # no chance to save anything more
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, 5, what="the turn over unwatched")
    watcher()
    wait_for(lambda: len(done(store)) == 2, what="the turn that ended meanwhile told")
    stays(lambda: len(notices(store)) == 3, 1.0, what="once")
    wait_for(
        lambda: events_of(events) == ["done w1", "error w1", "done w1"], what="the notify commands"
    )


def test_a_restarted_watcher_finds_the_same_stall_and_says_nothing_of_it(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events, STUCK_AFTER)
    start_demo("w1", idle=False)
    first = watcher()
    wait_for(lambda: first.state("w1") == "idle", what="w1 idle")
    sent = run_imessenger("send", "w1", "--no-reply", "BUSY[9000] PROGRESS[200,6500]")
    assert sent.exit_code == 0, sent.output
    wait_for(lambda: stuck(store), 5, what="a stuck notice")
    # the notice is stored before the status is published: read the stall's start there
    wait_for(lambda: first.state("w1") == "stuck", what="stuck published")
    since = first.entry("w1")["since"]  # type: ignore[index]
    stop(first)
    second = watcher()
    wait_for(lambda: second.state("w1") == "stuck", what="stuck at once, after the restart")
    assert second.entry("w1")["since"] == since  # type: ignore[index]
    assert len(stuck(store)) == 1
    wait_for(lambda: second.state("w1") == "busy", 8, what="busy again on progress")
    wait_for(lambda: done(store), 8, what="done")
    wait_for(lambda: events_of(events) == ["stuck w1", "done w1"], what="the notify commands")


def test_a_fresh_watcher_tells_nothing_of_what_it_finds(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events, STUCK_AFTER)
    start_demo("w1")
    start_demo("w2")
    start_demo("w3")
    # while no watcher runs: w1 did some work, w2 failed a turn, w3 spins on
    assert run_imessenger("send", "w1", "--no-reply", "LINES[3]").exit_code == 0
    assert run_imessenger("send", "w2", "--no-reply", "FAIL[expired login]").exit_code == 0
    assert run_imessenger("send", "w3", "--no-reply", "BUSY[60000]").exit_code == 0
    wait_for(lambda: "line 3" in AgentPane.of(tmux, "w1").look(), what="w1's answer")
    wait_for(lambda: "expired login" in AgentPane.of(tmux, "w2").look(), what="w2's error")
    watching = watcher()
    wait_for(
        lambda: [watching.state(n) for n in ("w1", "w2", "w3")] == ["idle", "idle", "busy"],
        what="all three followed",
    )
    # w3 is stuck once stuck_after_ms has passed under this watcher's eyes, not before
    stays(lambda: notices(store) == [] and not events.exists(), 1.0, what="no storm at start")
    wait_for(lambda: stuck(store, "w3"), 5, what="w3 stuck")
    assert notices(store) == ['"w3" looks stuck: busy for 1s without progress']


# --- where the notices go ------------------------------------------------------------------


def test_notify_on_picks_the_events_told_on_every_channel(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events, 'notify_on = ["error", "exited"]\n')
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    assert run_imessenger("send", "w1", "--no-reply", "ASK[touch n.txt] BUSY[50]").exit_code == 0
    left_out = "(not told: watch.notify_on leaves it out)"
    wait_for(lambda: watching.said("INFO", f'"w1": asking {left_out}'), what="asking")
    assert run_imessenger("approve", "w1").exit_code == 0
    wait_for(lambda: watching.said("INFO", f'"w1": done {left_out}'), what="done")
    assert run_imessenger("send", "w1", "--no-reply", "FAIL[bad gateway]").exit_code == 0
    wait_for(lambda: events_of(events) == ["error w1"], what="the error's command")
    assert run_imessenger("send", "w1", "--no-reply", "EXIT").exit_code == 0
    wait_for(lambda: events_of(events) == ["error w1", "exited w1"], what="the exit's command")
    assert notices(store) == ['"w1" failed: API Error: bad gateway', '"w1" exited']
    # the prompt was not told either: no prompt notice for the person or the session
    for owner in ("user", "w1"):
        kinds = {e.kind for e in store.inbox.read(owner, peek=True, include_read=True)}
        assert InboxKind.PROMPT not in kinds
    assert watching.said("INFO", left_out) == 2


def test_nothing_is_told_of_a_session_a_person_looks_at_unless_asked(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    notify_into(events, 'bell = "osc9"\n')
    start_demo("w1", idle=False)
    start_demo("w2", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == watching.state("w2") == "idle", what="both idle")
    with attached(tmux, "w1", utf8=True) as terminal:  # the person looks at w1
        assert run_imessenger("send", "w1", "--no-reply", "BUSY[100] look").exit_code == 0
        assert run_imessenger("send", "w2", "--no-reply", "BUSY[100] away").exit_code == 0
        wait_for(lambda: done(store, "w2"), what="w2's done")
        wait_for(lambda: watching.said("INFO", '"w1": done (not told: a client'), what="w1")
        assert done(store, "w1") == []
        wait_for(lambda: events_of(events) == ["done w2"], what="w2's notify command")
        wait_for(lambda: terminal.shows('\x1b]9;imessenger: "w2" is done'), what="w2's alert")
        assert not terminal.shows('imessenger: "w1" is done')
        # a prompt is told whoever looks, as ever
        sent = run_imessenger("send", "w1", "--no-reply", "ASK[touch l.txt] BUSY[50]")
        assert sent.exit_code == 0
        wait_for(lambda: events_of(events) == ["done w2", "asking w1"], what="asking told")
        assert run_imessenger("approve", "w1").exit_code == 0
        wait_for(lambda: watching.said("INFO", '"w1": done (not told') == 2, what="no done")
    notify_into(events, "notify_when_looking = true\n")
    stop(watching)
    second = watcher()
    wait_for(lambda: second.state("w1") == "idle", what="followed again")
    with attached(tmux, "w1", utf8=True):
        assert run_imessenger("send", "w1", "--no-reply", "BUSY[100] look again").exit_code == 0
        wait_for(lambda: done(store, "w1"), what="told though looked at")


def test_the_alerts_and_the_desktop_carry_hostile_text_inert(
    tmux: Tmux,
    store: Store,
    watcher: StartWatcher,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    programs = tmp_path / "bin"
    programs.mkdir()
    said = tmp_path / "notify-send.txt"
    fake = programs / "notify-send"  # a real program on PATH, standing in for libnotify's
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {said}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{programs}:{os.environ['PATH']}")
    marker = tmp_path / "marker"
    events = tmp_path / "events.txt"
    command = f'printf "%s\\n" "$IMESSENGER_EVENT_TEXT" >> {events}'
    write_config(f"[watch]\nnotify_command = '{command}'\ndesktop = true\nbell = \"osc9\"\n")
    tmux.new_session("main", tmp_path, ["sleep", "600"], environment={}, width=200, height=40)
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    hostile = f"#{{pane_id}} $(touch {marker}) <b>&amp;</b> 'q\\x1b\\u005d0;owned\\x07"
    with attached(tmux, tmux.session_id("main"), utf8=True, size=(40, 320)) as terminal:
        sent = run_imessenger("send", "w1", "--no-reply", f"UNESCAPE FAIL[{hostile}]")
        assert sent.exit_code == 0, sent.output
        # the screen shows ESC and BEL as pictures; the rest is as sent
        error = f"API Error: #{{pane_id}} $(touch {marker}) <b>&amp;</b> 'q␛]0;owned␇"
        title = f'"w1" failed: {fit(error, ERROR_TITLE_MAX)}'
        wait_for(lambda: notices(store) == [title], what="the error notice")
        [entry] = store.inbox.read("user", peek=True)
        assert error in entry.body  # whole in the inbox
        osc9 = alert("osc9", title)
        wait_for(lambda: terminal.shows(osc9.decode()), what="the OSC 9 notification")
        # the tmux message, drawn literally: no format expanded
        wait_for(lambda: terminal.shows("imessenger: " + title[:60]), what="the tmux message")
        assert not terminal.shows("\x1b]0;owned")
        wait_for(lambda: said.exists() and len(said.read_text().splitlines()) == 5, what="desk")
        argv = said.read_text().splitlines()
        head = ["--app-name=imessenger", "--urgency=critical", "--", fit(title, DESKTOP_TITLE_MAX)]
        assert argv[:4] == head
        assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in argv[4]  # no markup for the desktop
        assert "<b>" not in argv[4]
        wait_for(lambda: events_of(events) == [title], what="the notify command")
    assert not marker.exists()


def test_a_bell_reaches_the_attached_terminals(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    write_config('[watch]\nbell = "bell"\n')
    tmux.new_session("main", tmp_path, ["sleep", "600"], environment={}, width=80, height=24)
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    with attached(tmux, tmux.session_id("main"), utf8=True) as terminal:
        wait_for(lambda: terminal.mark() > 0, what="the terminal drawn")
        before = terminal.mark()
        assert run_imessenger("send", "w1", "--no-reply", "BUSY[100] ring").exit_code == 0
        wait_for(lambda: done(store), what="done")
        wait_for(lambda: b"\x07" in terminal.sent_since(before), what="the bell")
        assert b"\x1b]9;" not in terminal.sent_since(before)


# --- isesh list: how long in its state -------------------------------------------------------


def test_isesh_list_says_how_long_each_session_is_in_its_state(
    tmux: Tmux, store: Store, watcher: StartWatcher
) -> None:
    start_demo("w1")
    listed = json.loads(run_isesh("list", "--json").stdout)
    assert [(r["state"], r["state_since"]) for r in listed] == [("idle", None)]  # no watcher
    # NAME AGENT DIRECTORY STATE AGE: the state alone, then the session's age
    assert run_isesh("list").stdout.splitlines()[1].split()[-2] == "idle"
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 followed")
    [row] = json.loads(run_isesh("list", "--json").stdout)
    assert row["state"] == "idle"
    assert row["state_since"] == watching.entry("w1")["since"]  # type: ignore[index]
    assert row["state_since"] <= time.time()
    assert run_imessenger("send", "w1", "--no-reply", "BUSY[3000] a while").exit_code == 0
    wait_for(lambda: watching.state("w1") == "busy", what="w1 busy")
    began = watching.entry("w1")["since"]  # type: ignore[index]
    wait_for(lambda: time.time() - began >= 1.0, what="a second busy")
    # the state, how long in it (busy 1s, or 2s), then the session's age
    cells = run_isesh("list").stdout.splitlines()[1].split()
    assert cells[-3] == "busy", cells
    assert re.fullmatch(r"[12]s", cells[-2]), cells


# --- budget ----------------------------------------------------------------------------------


def budget(store: Store, name: str = "w1") -> list[str]:
    return notices(store, about=f'"{name}" passed its token budget')


def test_a_session_past_its_token_budget_is_told_once(
    tmux: Tmux, store: Store, watcher: StartWatcher, tmp_path: Path
) -> None:
    # the demo agent records the tokens of each answer (a usage entry in its record)
    events = tmp_path / "events.txt"
    notify_into(events, "budget_tokens = 400\n")
    start_demo("w1", idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 idle")
    # under the budget: nothing
    assert run_imessenger("send", "w1", "BUSY[200] LINES[1]").exit_code == 0
    wait_for(lambda: settled(watching) == 1, what="the first turn settled")
    assert budget(store) == []
    # past it: one notice, on every channel
    assert run_imessenger("send", "w1", "BUSY[200] LINES[40] " + "long " * 40).exit_code == 0
    wait_for(lambda: budget(store), what="the budget notice")
    [title] = budget(store)
    assert re.fullmatch(r'"w1" passed its token budget: \S+ tokens of 400', title), title
    wait_for(lambda: "budget w1" in events_of(events), what="the notify command run")
    # further turns, and a restarted watcher: not again
    assert run_imessenger("send", "w1", "BUSY[200] LINES[40] more").exit_code == 0
    wait_for(lambda: settled(watching) == 3, what="the third turn settled")
    watching.proc.send_signal(signal.SIGTERM)
    watching.proc.wait(timeout=15)
    again = watcher()
    wait_for(lambda: again.state("w1") == "idle", what="followed again")
    assert run_imessenger("send", "w1", "BUSY[200] LINES[40] and more").exit_code == 0
    wait_for(lambda: settled(again) == 1, what="a turn settled by the new watcher")
    assert budget(store) == [title]
    assert events_of(events).count("budget w1") == 1
