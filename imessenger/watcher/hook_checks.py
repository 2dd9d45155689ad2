"""The agents' own hook events, as the watcher uses them: checked against the screen.

A session whose profile installs hooks (:mod:`imessenger.core.agent_setup`) reports its
events to the store (``imessenger hook event``); the watcher reads the new ones with
the rest of the store (:class:`StoreView`) and, for each:

* checks it against the screen: the event agrees when a read of the pane from
  ``_BEFORE_S`` before it to ``_AFTER_S`` after it shows the state it reports (the
  screen often changes before the hook has written its event); otherwise the
  disagreement is recorded with the event (``screen``) and logged. The screen wins
  for pressing keys: ``approve`` answers only a prompt it can read;
* an event that reports asking has the pane read at once. The prompt notice comes
  from it where the agent's hooks report asking (``HookWatch.waits_for_hook``):
  a prompt that the screen shows first waits up to ``HOOK_WAIT_S`` for its event,
  whose subject (the exact command) the notice names; a hook that says asking while
  the screen shows no prompt the profile can read gets a notice of its own, once
  that wait is over, saying so;
* an event that says a turn began or ended (``started``, ``busy``, ``idle``, ``error``)
  is kept (the latest ``_TURN_EVENTS_KEPT``) for :mod:`imessenger.watcher.attention`:
  where the agent's hooks report the turns that fail (``HookWatch.reports_failures``:
  OpenCode's plugin, whose ``session.error`` is the only sign of an error its screen
  draws as a message), a turn ends once its hook said so, and on the error it reported.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

from imessenger.adapters.store import Store
from imessenger.core.errors import StoreError
from imessenger.core.hook_events import (
    ASKING,
    BUSY,
    ERROR,
    IDLE,
    REPORTS_FAILURES,
    STARTED,
    WAITING,
    failed_turn,
    turn_ended,
)
from imessenger.core.screen import State
from imessenger.core.values import HookEventRecord
from imessenger.watcher.following import Followed

logger = logging.getLogger(__name__)

#: How long a prompt on screen waits for its hook event before it is notified alone, and
#: how long a hook that says asking waits for the screen's prompt, in seconds.
HOOK_WAIT_S = 1.0
#: The window of screen reads an event is checked against, around its time, in seconds.
_BEFORE_S = 1.5
_AFTER_S = 2.0
#: The kinds of hooks that report asking (their prompt notice comes from the hook).
_REPORT_ASKING = ("claude", "demo", "qwen", "copilot", "opencode")
#: The states of the events that say a turn began or ended.
_TURN_STATES = (STARTED, BUSY, IDLE, ERROR)
#: How many of those events of a session are kept.
_TURN_EVENTS_KEPT = 32
#: Which screen states agree with what an event reports.
_AGREEING = {
    STARTED: (State.STARTING, State.IDLE),
    BUSY: (State.BUSY, State.ASKING),
    ASKING: (State.ASKING,),
    IDLE: (State.IDLE,),
    WAITING: (State.IDLE, State.ASKING),
    ERROR: (State.IDLE,),
}


@dataclass
class _Seen:
    """What the watcher saw of one session: its recent screen states, its open events."""

    reads: deque[tuple[float, State]] = field(default_factory=lambda: deque(maxlen=64))
    unchecked: list[HookEventRecord] = field(default_factory=list)
    asking: HookEventRecord | None = None  # the latest event that says it asks, if open
    #: the latest events that say a turn began or ended, in the order they came
    turns: deque[HookEventRecord] = field(default_factory=lambda: deque(maxlen=_TURN_EVENTS_KEPT))


class HookWatch:
    """The hook events of the followed sessions, and their checks against the screen."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[str, _Seen] = {}

    @staticmethod
    def waits_for_hook(followed: Followed) -> bool:
        """Whether this session's prompt notice comes from its hook (its hooks say asking)."""
        return followed.record.hooks in _REPORT_ASKING

    @staticmethod
    def reports_failures(followed: Followed) -> bool:
        """Whether this session's hooks report the end of each turn, and its error."""
        return followed.record.hooks in REPORTS_FAILURES

    def arrived(self, event: HookEventRecord, *, current: bool = True) -> None:
        """Take a new event of a session, to check against its screen; a ``current`` one
        also says what the session does now (one from before the watcher started may be
        over: it is only checked, and kept if it says a turn began or ended)."""
        seen = self._seen.setdefault(event.session, _Seen())
        if event.state:
            seen.unchecked.append(event)
        if event.state in _TURN_STATES:
            seen.turns.append(event)
        if not current:
            return
        if event.state == ASKING:
            seen.asking = event
        elif event.state in (BUSY, IDLE, STARTED, ERROR):
            seen.asking = None  # the prompt it asked about was answered

    def turn_ended(self, name: str, since: float) -> bool:
        """Whether the session's hooks said that its turn ended (idle, or on an error) at
        ``since`` (epoch seconds) or later, and that none began after."""
        seen = self._seen.get(name)
        return seen is not None and turn_ended(seen.turns, since)

    def failed(self, name: str, since: float) -> HookEventRecord | None:
        """The event in which the session's hooks said that its turn ended on an error, at
        ``since`` (epoch seconds) or later, with none begun after it; else None."""
        seen = self._seen.get(name)
        failed = failed_turn(seen.turns) if seen is not None else None
        return failed if failed is not None and failed.at >= since else None

    def asking(self, name: str) -> HookEventRecord | None:
        """The open event in which the session's hook says it asks, or None."""
        seen = self._seen.get(name)
        return seen.asking if seen is not None else None

    def unseen_asking(self, name: str) -> HookEventRecord | None:
        """The open asking event of a session whose screen has shown no prompt since
        (from ``_BEFORE_S`` before it): a prompt the profile cannot read. None when the
        screen showed one: a late event of a prompt that may be answered by now."""
        seen = self._seen.get(name)
        event = seen.asking if seen is not None else None
        if seen is None or event is None:
            return None
        since = event.at - _BEFORE_S
        if any(state is State.ASKING and at >= since for at, state in seen.reads):
            return None
        return event

    def answered(self, name: str) -> None:
        """The screen shows the prompt the hook said it asks about: that event is done
        with (the next prompt has an event of its own)."""
        seen = self._seen.get(name)
        if seen is not None:
            seen.asking = None

    def read(self, followed: Followed) -> None:
        """Note the state the session's screen was just read in."""
        self._seen.setdefault(followed.name, _Seen()).reads.append((time.time(), followed.state))

    def settle(self, now: float | None = None) -> None:
        """Record the checks that can be told: an agreeing read came, or the window ended."""
        now = time.time() if now is None else now
        for name, seen in self._seen.items():
            still: list[HookEventRecord] = []
            for event in seen.unchecked:
                window = _shown_around(seen.reads, event.at)
                if any(state in _AGREEING[event.state] for state in window):
                    self._record(event, "agrees")
                elif now > event.at + _AFTER_S:
                    self._record(event, _disagreement(event, window))
                    logger.warning(
                        '"%s": its hook said %s (%s) but %s',
                        name,
                        event.state,
                        event.event,
                        _disagreement(event, window),
                    )
                else:
                    still.append(event)
            seen.unchecked = still

    def forget(self, keep: set[str]) -> None:
        """Drop what was seen of the sessions no longer followed."""
        for name in set(self._seen) - keep:
            del self._seen[name]

    def _record(self, event: HookEventRecord, verdict: str) -> None:
        try:
            self.store.hook_events.record_check(event.id, verdict)
        except StoreError as error:
            logger.debug("could not record the check of a hook event: %s", error)


def _shown_around(reads: deque[tuple[float, State]], at: float) -> list[State]:
    """The screen states shown from ``_BEFORE_S`` before ``at`` to ``_AFTER_S`` after it:
    the reads in that window, and the last one before it (still shown when it began)."""
    before = [state for when, state in reads if when < at - _BEFORE_S][-1:]
    return before + [state for when, state in reads if at - _BEFORE_S <= when <= at + _AFTER_S]


def _disagreement(event: HookEventRecord, window: list[State]) -> str:
    if event.state == ASKING:
        return "the screen shows no prompt"
    if not window:
        return "the screen was not read around it"
    shown = ", ".join(dict.fromkeys(state.value for state in window))
    return f"the screen read {shown}"
