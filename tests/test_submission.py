"""What counts as "the agent took the message" after a paste: pure, screens in.

The looks here are the ones that matter: an agent caught halfway through a redraw, a
box that has not drawn the paste yet, a busy agent that queues, a raw message.
"""

from __future__ import annotations

from imessenger.actions.delivery import Submission
from imessenger.core.screen import Screen, State
from imessenger.core.values import MessageState

ID = "0a1b2c3d"
ENVELOPE = f"[imessenger] message {ID} from user:\nhello"
IDLE_EMPTY = Screen(State.IDLE, input_text="")
BUSY_EMPTY = Screen(State.BUSY, input_text="")
TYPED = Screen(State.IDLE, input_text=ENVELOPE)
#: A redraw caught halfway: the pasted text drawn, the line under the input box not yet.
TORN = Screen(State.UNKNOWN, input_text=None)
ECHOED = f"❯ {ENVELOPE}\n\ndemo> \n  demo · ? for help"


def looks(watch: Submission, *screens: tuple[Screen, str]) -> list[MessageState | None]:
    return [watch.look(screen, text) for screen, text in screens]


def test_going_busy_is_taken_at_once() -> None:
    watch = Submission(IDLE_EMPTY, ID)
    assert looks(watch, (TYPED, ENVELOPE), (BUSY_EMPTY, ECHOED)) == [None, MessageState.DELIVERED]


def test_a_new_queued_marker_is_taken_at_once() -> None:
    watch = Submission(BUSY_EMPTY, ID)
    queued = Screen(State.BUSY, input_text="", queued=1)
    assert looks(watch, (queued, ECHOED)) == [MessageState.QUEUED]


def test_a_longer_queue_is_taken_at_once() -> None:
    # one message waits in the queue already; this one makes it two
    watch = Submission(Screen(State.BUSY, input_text="", queued=1), ID)
    longer = Screen(State.BUSY, input_text="", queued=2)
    assert looks(watch, (longer, ECHOED)) == [MessageState.QUEUED]


def test_an_emptied_box_must_hold_for_two_looks_with_the_id_above_it() -> None:
    watch = Submission(IDLE_EMPTY, ID)
    assert looks(watch, (TYPED, ENVELOPE), (IDLE_EMPTY, ECHOED), (IDLE_EMPTY, ECHOED)) == [
        None,
        None,
        MessageState.DELIVERED,
    ]


def test_an_empty_box_without_the_id_is_the_paste_not_drawn_yet() -> None:
    watch = Submission(IDLE_EMPTY, ID)
    before_the_paste = "demo> \n  demo · ? for help"
    assert looks(watch, *[(IDLE_EMPTY, before_the_paste)] * 5) == [None] * 5


def test_a_half_drawn_screen_never_counts_as_an_emptied_box() -> None:
    # the pasted text (with its id) is on screen, the input box cannot be read
    watch = Submission(IDLE_EMPTY, ID)
    assert looks(watch, *[(TORN, f"demo> {ENVELOPE}")] * 5) == [None] * 5


def test_one_emptied_look_between_redraws_is_not_enough() -> None:
    watch = Submission(IDLE_EMPTY, ID)
    outcomes = looks(
        watch, (IDLE_EMPTY, ECHOED), (TORN, ENVELOPE), (IDLE_EMPTY, ECHOED), (TYPED, ENVELOPE)
    )
    assert outcomes == [None] * 4


def test_still_busy_with_an_empty_box_is_not_yet_evidence() -> None:
    # an agent that queues was busy before the paste: the box may not show it yet
    watch = Submission(BUSY_EMPTY, ID)
    busy_screen = "⠋ Working (3s · esc to interrupt)\ndemo> \n  demo · ? for help"
    assert looks(watch, (BUSY_EMPTY, busy_screen), (BUSY_EMPTY, busy_screen)) == [None, None]


def test_taken_by_a_busy_agent_is_queued() -> None:
    watch = Submission(BUSY_EMPTY, ID)
    typed_while_busy = Screen(State.BUSY, input_text=ENVELOPE)
    emptied = (BUSY_EMPTY, ECHOED)
    outcomes = looks(watch, (typed_while_busy, ENVELOPE), emptied, emptied)
    assert outcomes == [None, None, MessageState.QUEUED]


def test_a_raw_message_must_first_be_seen_in_the_box() -> None:
    watch = Submission(IDLE_EMPTY, None)
    typed = Screen(State.IDLE, input_text="ls -l")
    outcomes = looks(
        watch,
        (IDLE_EMPTY, ""),
        (IDLE_EMPTY, ""),
        (typed, "demo> ls -l"),
        (IDLE_EMPTY, "ls -l"),
        (IDLE_EMPTY, "ls -l"),
    )
    assert outcomes == [None, None, None, None, MessageState.DELIVERED]


def test_asking_for_permission_is_taken_at_once() -> None:
    # a fast agent can answer with a command to run before a busy look
    watch = Submission(IDLE_EMPTY, ID)
    asking = Screen(State.ASKING)
    assert looks(watch, (TYPED, ENVELOPE), (asking, ECHOED)) == [None, MessageState.DELIVERED]


def test_a_prompt_after_a_busy_look_may_be_the_running_turn_s() -> None:
    watch = Submission(BUSY_EMPTY, ID)
    asking = Screen(State.ASKING)
    assert looks(watch, (TYPED, ENVELOPE), (asking, ENVELOPE)) == [None, None]
