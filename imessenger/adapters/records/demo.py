"""The demo agent's record (``python -m imessenger.demo.agent --record PATH``).

One JSON object a line: ``{"type": "message", "text": ...}`` for each message the demo
agent takes, and ``{"type": "answer", "text": ...}`` for each answer it gives, with the
text as it was meant rather than as it was drawn (the screen expands tabs, for one).
It stands in for the real agents' records in the tests that need no real agent.
"""

from __future__ import annotations

from collections.abc import Sequence

from imessenger.adapters.records.reading import JsonTranscript


class DemoRecord(JsonTranscript):
    """The answers of the demo agent, oldest first."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def take_entry(self, entry: object) -> None:
        if isinstance(entry, dict) and entry.get("type") == "answer":
            text = entry.get("text")
            if isinstance(text, str):
                self._texts.append(text)

    def texts(self) -> Sequence[str]:
        return self._texts
