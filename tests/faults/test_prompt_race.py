"""A permission prompt that opens while a message is being delivered, on real tmux.

An agent that is busy with one message may open a prompt (its next tool call) at any
moment, also between the look that found its input box and the submit key. Pasted
into a prompt, a message is dropped, and its Enter answers "Yes": a command run that
nobody approved, and a message lost. The demo agent opens its prompt when it gets
SIGUSR1, so a test can put that moment anywhere in a delivery.

What must hold: no submit key ever answers a prompt; the prompt is left as it was;
the message is either taken exactly once or still pending, and once the prompt is
answered it is delivered exactly once; ``approve`` reports each waiting message's
real outcome.

By default a message waits until the agent's turn ends, so no key is pressed while it
can open a prompt. With ``send.queue_while_busy`` a message goes into a busy agent that
queues messages at once; tmux then presses the key only while its screen shows no prompt
(the seam test), which leaves the window between tmux's look and the agent's read of the
key: that is why it is not the default.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence

import pytest
from support import (
    echoes,
    message_state,
    scrollback,
    start_demo_in_shell,
    stays,
    wait_for,
    write_config,
)

from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.api import Api
from imessenger.core.values import MessageState

# Run beside no starting agent: one worker runs this and the real agents one after another
# (docs/development.md). The window it sweeps is widest when tmux loses its core between
# its look and its key, which a real agent starting next to it makes likely.
pytestmark = pytest.mark.xdist_group("one-at-a-time")

#: States of a message that the agent took.
TAKEN = {MessageState.DELIVERED, MessageState.QUEUED, MessageState.REPLIED}


def asking_about(tmux: Tmux, command: str) -> bool:
    text = scrollback(tmux, "w1", 0)
    return f"$ {command}" in text and "Do you want to proceed?" in text


def busy_asking_later(api: Api, command: str) -> None:
    """Give the agent a message it works on until SIGUSR1, then asks about ``command``."""
    first = api.send("w1", f"BUSY[600000] ASK[{command}] NOREPLY", wait=False)
    assert first.outcome in TAKEN, first
    wait_for(lambda: "esc to interrupt" in scrollback(Tmux(api.socket_name), "w1", 0), what="busy")


def idle_again(tmux: Tmux) -> None:
    def idle() -> str:
        text = scrollback(tmux, "w1", 0)
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        empty_box = len(lines) >= 2 and lines[-2] == "demo>" and "? for help" in lines[-1]
        return "" if not empty_box or "esc to interrupt" in text else text

    wait_for(idle, what="w1 idle with an empty input box")


def test_a_prompt_opened_between_the_look_and_the_key_is_left_untouched(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config("[send]\nqueue_while_busy = true\n")  # the key goes into a busy agent
    agent = start_demo_in_shell(tmux, "w1")
    api = Api(tmux.socket_name)
    busy_asking_later(api, "touch seam")
    real = AgentPane.press_if_showing
    pressed: list[bool] = []

    def prompt_first(pane: AgentPane, keys: Sequence[str], *args: object) -> bool:
        # The worst moment: the look found the message in the box, and the key has not
        # gone yet. The agent opens its prompt, and draws it, right here.
        if not pressed:
            os.kill(agent, signal.SIGUSR1)
            wait_for(lambda: asking_about(tmux, "touch seam"), what="the prompt drawn")
        done = real(pane, keys, *args)  # type: ignore[arg-type]
        pressed.append(done)
        return done

    monkeypatch.setattr(AgentPane, "press_if_showing", prompt_first)
    sent = api.send("w1", "NOREPLY after the prompt", wait=False)
    monkeypatch.setattr(AgentPane, "press_if_showing", real)
    assert pressed == [False]  # tmux found the box covered: nothing was pressed
    assert sent.outcome is MessageState.PENDING, sent
    assert "permission prompt" in sent.why
    assert asking_about(tmux, "touch seam")  # the prompt is as it was
    assert "Ran touch seam" not in scrollback(tmux, "w1", 5000)
    assert message_state(sent.message.id) is MessageState.PENDING

    approval = api.approve("w1")
    assert approval.closed
    [delivery] = approval.delivered
    assert delivery.message.id == sent.message.id
    assert delivery.outcome in TAKEN, delivery
    wait_for(lambda: echoes(tmux, "w1", sent.message.id) == 1, what="the message submitted")
    # a second paste or Enter would show within 0.5 s
    stays(lambda: echoes(tmux, "w1", sent.message.id) == 1, 0.5, what="submitted once")
    assert scrollback(tmux, "w1", 5000).count("Ran touch seam") == 1  # answered once, by approve


def test_prompts_racing_deliveries_never_take_a_submit_key(tmux: Tmux) -> None:
    """The prompt opens at a moment swept across the whole delivery, round after round.

    The agent is in a turn, so each message waits (pending, never pasted) until approve
    below lets the turn end; a key pressed into the busy agent could answer its prompt.
    """
    agent = start_demo_in_shell(tmux, "w1")
    api = Api(tmux.socket_name)
    outcomes: dict[str, int] = {}
    rounds = 36
    for step in range(rounds):
        offset_s = step * 0.0025  # 0 to 87.5 ms after send begins
        command = f"touch race-{step}"
        busy_asking_later(api, command)
        timer = threading.Timer(offset_s, os.kill, (agent, signal.SIGUSR1))
        timer.start()
        sent = api.send("w1", f"NOREPLY racing {step}", wait=False)
        timer.join()
        outcomes[str(sent.outcome)] = outcomes.get(str(sent.outcome), 0) + 1
        # The prompt opens, and nothing answers it but approve below.
        wait_for(
            lambda command=command: (
                asking_about(tmux, command) or f"Ran {command}" in scrollback(tmux, "w1", 5000)
            ),
            what=f"the prompt of round {step}",
        )
        assert f"Ran {command}" not in scrollback(tmux, "w1", 5000), (
            f"round {step}: a submit key answered"
        )
        assert sent.outcome is MessageState.PENDING, (step, sent)
        assert echoes(tmux, "w1", sent.message.id) == 0, f"round {step}: pasted into a turn"
        approval = api.approve("w1")
        assert approval.closed, step
        if message_state(sent.message.id) is MessageState.PENDING:
            api.deliver("w1")
        wait_for(
            lambda sent=sent: message_state(sent.message.id) in TAKEN,
            what=f"round {step} delivered",
        )
        wait_for(
            lambda sent=sent: echoes(tmux, "w1", sent.message.id) == 1, what=f"round {step} shown"
        )
        idle_again(tmux)
        assert echoes(tmux, "w1", sent.message.id) == 1, f"round {step}: submitted twice"
        assert scrollback(tmux, "w1", 5000).count(f"Ran {command}") == 1, step
    assert outcomes == {"pending": rounds}
