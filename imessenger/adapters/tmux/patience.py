"""Patience: how long to wait for an agent to act on its input. Slow is not deaf.

An agent that has not yet read what was pasted or pressed in its pane (it is busy,
or short of CPU) has neither taken nor dropped it, and "it did not take it" could
make someone send it a second time. So the wait counts from when the agent read
its input, up to a limit:

* the deadline starts ``confirm_s`` after the Patience is made;
* at each look, while the pane holds unread input, it moves to ``confirm_s`` after
  that look (never earlier than it was);
* but never past ``slow_s`` after the start, however long the input waits;
* a look at or after the deadline (as it stands after that look) has expired.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imessenger.adapters.tmux.pane import AgentPane


class Patience:
    """The deadline of a wait for ``pane`` to act on its input (see the module docstring).

    ``unread`` is what the last look found (None before the first, or when it cannot
    be told), for a caller that decides more by it.
    """

    def __init__(self, pane: AgentPane, confirm_s: float, slow_s: float) -> None:
        self.pane = pane
        self.confirm_s = confirm_s
        self.slow_s = slow_s
        self.began = time.monotonic()
        self.deadline = self.began + confirm_s
        self.unread: int | None = None

    def expired(self) -> bool:
        """Look at the pane's unread input, move the deadline, and return True once it passed."""
        now = time.monotonic()
        self.unread = self.pane.unread_input()
        if self.unread:
            self.deadline = min(self.began + self.slow_s, max(self.deadline, now + self.confirm_s))
        return now >= self.deadline
