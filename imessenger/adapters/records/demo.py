"""The demo agent's record (``python -m imessenger.demo.agent --record PATH``).

One JSON object a line: ``{"type": "message", "text": ...}`` for each message the demo
agent takes, and ``{"type": "answer", "text": ...}`` for each answer it gives, with the
text as it was meant rather than as it was drawn (the screen expands tabs, for one).
It stands in for the real agents' records in the tests that need no real agent.

Its usage (:class:`DemoUsage`): ``{"type": "usage", "input": N, "output": M,
"cache_read": C, "model": "demo"}`` after each answer, counts the demo agent makes up
from the lengths of the texts (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.values import Usage


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


class DemoUsage(JsonUsage):
    """The usage entries of the demo agent's record."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b'"usage"',)

    def may_hold(self, line: str) -> bool:
        return '"usage"' in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "usage":
            return
        model = entry.get("model")
        response = Usage(
            input_tokens=tokens(entry, "input"),
            output_tokens=tokens(entry, "output"),
            cache_read_tokens=tokens(entry, "cache_read"),
            cache_write_tokens=tokens(entry, "cache_write"),
            model=model if isinstance(model, str) else "",
            turns=1,
        )
        self.count(None, response)
