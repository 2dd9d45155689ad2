"""How the watcher checks the agents' hook events against their screens
(imessenger.watcher.hook_checks), on a real store, with the reads given by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.core.profiles import load_profiles
from imessenger.core.screen import Screen, State
from imessenger.core.values import HookEventRecord, SessionRecord
from imessenger.watcher.following import Followed
from imessenger.watcher.hook_checks import HookWatch


@pytest.fixture
def store() -> Iterator[Store]:
    """The store of the test's data folder, opened for the tmux server "srv" (the records
    here are made by hand: no tmux server runs)."""
    with Store.open(server="srv") as opened:
        yield opened


def followed(state: State) -> Followed:
    record = SessionRecord("srv", "w1", "demo", "/src", ("demo",), 1.0, hooks="demo")
    profile = load_profiles(load_config())["demo"]
    return Followed(record, profile, screen=Screen(state))


def event(store: Store, state: str, name: str, at: float) -> HookEventRecord:
    return store.hook_events.add(
        "w1", kind="demo", event=name, state=state, detail="touch x", at=at
    )


def checks(store: Store) -> list[tuple[str, str]]:
    return [(e.event, e.screen) for e in store.hook_events.recent("w1")]


def test_an_event_agrees_with_a_read_just_before_or_after_it(store: Store) -> None:
    hooks = HookWatch(store)
    now = time.time()
    hooks.read(followed(State.BUSY))  # the screen changed first
    hooks.arrived(event(store, "busy", "UserPromptSubmit", now + 0.2))
    hooks.arrived(event(store, "idle", "Stop", now + 0.3))
    hooks.settle(now + 0.5)
    assert checks(store) == [("UserPromptSubmit", "agrees"), ("Stop", "")]  # idle: not yet
    hooks.read(followed(State.IDLE))
    hooks.settle(now + 0.6)
    assert checks(store) == [("UserPromptSubmit", "agrees"), ("Stop", "agrees")]


def test_an_event_the_screen_never_showed_is_recorded_as_a_disagreement(store: Store) -> None:
    hooks = HookWatch(store)
    now = time.time()
    hooks.read(followed(State.IDLE))
    hooks.arrived(event(store, "asking", "PermissionRequest", now))
    hooks.arrived(event(store, "busy", "UserPromptSubmit", now))
    hooks.settle(now + 1.0)
    assert checks(store)[0][1] == ""  # its window is still open
    hooks.settle(now + 2.5)
    assert dict(checks(store)) == {
        "PermissionRequest": "the screen shows no prompt",
        "UserPromptSubmit": "the screen read idle",
    }


def test_a_late_asking_event_of_a_prompt_the_screen_showed_opens_nothing(store: Store) -> None:
    hooks = HookWatch(store)
    now = time.time()
    hooks.read(followed(State.ASKING))  # the prompt, noticed from the screen
    hooks.read(followed(State.IDLE))  # answered in the pane
    late = event(store, "asking", "PermissionRequest", now - 0.2)  # its hook, late
    hooks.arrived(late)
    assert hooks.asking("w1") == late
    assert hooks.unseen_asking("w1") is None  # no notice of a prompt nobody can read


def test_an_asking_event_with_no_prompt_on_screen_is_unseen(store: Store) -> None:
    hooks = HookWatch(store)
    hooks.read(followed(State.IDLE))
    asked = event(store, "asking", "PermissionRequest", time.time())
    hooks.arrived(asked)
    assert hooks.unseen_asking("w1") == asked
    hooks.arrived(event(store, "idle", "Stop", time.time()))
    assert hooks.asking("w1") is None


def test_an_event_from_before_the_watcher_started_is_only_checked(store: Store) -> None:
    hooks = HookWatch(store)
    hooks.arrived(event(store, "asking", "PermissionRequest", time.time()), current=False)
    assert hooks.asking("w1") is None
    hooks.read(followed(State.ASKING))
    hooks.settle()
    assert checks(store) == [("PermissionRequest", "agrees")]


def test_the_end_of_a_turn_and_its_error_as_the_hooks_say_them(store: Store) -> None:
    """A turn ends when the hooks say idle or error after it began and no turn since; its
    error is the latest error event no turn followed, even one recorded out of order."""
    hooks = HookWatch(store)
    now = time.time()
    hooks.arrived(event(store, "busy", "chat.message", now))
    assert not hooks.turn_ended("w1", now - 0.1)
    failed = event(store, "error", "session.error", now + 1)
    hooks.arrived(event(store, "idle", "session.idle", now + 1.2))  # recorded first
    hooks.arrived(failed)
    assert hooks.turn_ended("w1", now - 0.1)
    assert hooks.failed("w1", now - 0.1) == failed
    assert hooks.failed("w1", now + 1.1) is None  # of a turn before the one asked about
    assert not hooks.turn_ended("w1", now + 2)  # none since
    hooks.arrived(event(store, "busy", "chat.message", now + 3))
    assert hooks.failed("w1", now - 0.1) is None  # a turn began: the error is over
    assert not hooks.turn_ended("w1", now - 0.1)
    hooks.read(followed(State.IDLE))
    hooks.settle(now + 1.5)
    assert ("session.error", "agrees") in checks(store)  # an error agrees with idle
