"""The watcher tells a person when an agent needs them, once: done, stuck, error.

On real tmux with the demo agent and a real ``imessenger watch`` process (the
``watcher`` fixture): a turn nobody waits for ends with one ``done``, a turn whose reply a
waiting ``send`` takes with none; a long spinner is ``stuck`` once, progress on screen or
in the record is not; a failed turn is one ``error`` with its text; none of them is told
again by a restarted watcher, and a fresh watcher tells nothing of what it finds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from support import (
    Watching,
    run_imessenger,
    run_isesh,
    start_demo,
    stays,
    wait_for,
    write_config,
)

from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.values import InboxKind

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

    assert run_imessenger("send", "w1", "--no-reply", "BUSY[300] nobody waits").exit_code == 0
    wait_for(lambda: done(store), what="a done notice")
    assert done(store) == ['"w1" is done and waits for you']
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
    entry = watching.entry("w1")
    assert entry is not None
    assert entry["state"] == "stuck"
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
    assert events_of(events) == ["stuck w1", "done w1"]


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
    wait_for(lambda: events_of(events) == ["error w1"], what="the notify command run")
    # the same error again in the next turn is another failure: told again
    assert run_imessenger("send", "w1", "--no-reply", "FAIL[429 rate limit reached]").exit_code == 0
    wait_for(lambda: len(notices(store, about="failed")) == 2, what="a second error notice")
    # a turn that goes well after it: done, and the error above it is over
    assert run_imessenger("send", "w1", "--no-reply", "all good now").exit_code == 0
    wait_for(lambda: done(store), what="done")
    stays(lambda: len(notices(store, about="failed")) == 2, 0.5, what="no third error")
    assert events_of(events) == ["error w1", "error w1", "done w1"]
    explained = run_isesh("explain", "w1")  # the error is over: none shows
    assert "error     none" in explained.stdout, explained.stdout
