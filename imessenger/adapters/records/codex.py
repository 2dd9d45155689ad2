"""Codex CLI's rollout: where it lies, and the assistant's texts in it.

Codex CLI (0.169.0) writes one JSON Lines rollout per thread at
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl``:

- ``CODEX_HOME`` is ``~/.codex`` when not set (:func:`codex_home`).
- The thread id (a UUIDv7) and the time in the name are fixed when the TUI starts, but
  the file is written only at the first submitted message. No flag chooses the id: it is
  learned after the fact (the ``SessionStart`` hook's ``session_id``, the ``notify``
  program's ``thread-id``, ``CODEX_THREAD_ID`` in the commands the model runs). Being
  unique, the id alone finds the file (:func:`rollout_path`).

Every line is ``{timestamp, ordinal, type, payload}``. The assistant's texts are the
``response_item`` entries whose payload is a ``message`` of ``role`` ``assistant``: one
text per message, its ``output_text`` parts joined as they come. The text is
byte-exact.

The usage (:class:`CodexUsage`): each response of the model has a
``token_usage_record`` entry, its ``response_id`` and ``turn_id`` and its ``usage``
(``input_tokens``, which counts the cached input, ``cached_input_tokens`` and
``cache_write_input_tokens`` among them, and ``output_tokens``, reasoning included); the
``turn_context`` entry of a turn names its ``model``. A thread's title is asked of the
model apart, and is in no record. A rollout of a Codex that writes no such entries
(older ones) is counted from its ``token_count`` events instead: each gives the thread's
running ``total_token_usage`` (and the ``last_token_usage`` of one response, which such
an event may repeat); each rise of the total is a response, and a total lower than the
one before starts a new count (a thread resumed by a Codex that counts from 0 again).
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.usage import Tally
from imessenger.core.values import Usage


def codex_home(environ: Mapping[str, str]) -> Path:
    """Codex's home folder: ``CODEX_HOME`` when set, else ``~/.codex`` (``HOME`` of
    ``environ``, else this process's home)."""
    configured = environ.get("CODEX_HOME")
    if configured:
        return Path(configured)
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".codex"


def rollout_path(codex_home: Path, thread_id: str) -> Path | None:
    """The rollout of thread ``thread_id`` under ``codex_home``, or None while there is none.

    The id is unique, so at most one file matches; were there more, the last by name
    (the newest) is taken.
    """
    if not thread_id or "/" in thread_id:
        return None
    days = f"{glob.escape(str(codex_home))}/sessions/*/*/*"
    found = sorted(glob.glob(f"{days}/rollout-*-{glob.escape(thread_id)}.jsonl"))
    return Path(found[-1]) if found else None


class CodexRollout(JsonTranscript):
    """The assistant's texts in a Codex rollout (see the module docstring)."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "response_item":
            return
        payload = entry.get("payload")
        if not isinstance(payload, dict):
            return
        if payload.get("type") != "message" or payload.get("role") != "assistant":
            return
        content = payload.get("content")
        if not isinstance(content, list):
            return
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "output_text"
            and isinstance(part.get("text"), str)
        ]
        if parts:
            self._texts.append("".join(parts))

    def texts(self) -> Sequence[str]:
        return self._texts


def _usage(counts: Mapping[str, object], model: str) -> Usage:
    """One response's usage: the cached input (read, and written) taken out of the input."""
    cached = tokens(counts, "cached_input_tokens")
    written = tokens(counts, "cache_write_input_tokens")
    return Usage(
        input_tokens=max(0, tokens(counts, "input_tokens") - cached - written),
        output_tokens=tokens(counts, "output_tokens"),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        model=model,
        turns=1,
    )


class CodexUsage(JsonUsage):
    """The responses in a Codex rollout, for their usage (see the module docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b"token_usage_record", b"token_count", b"turn_context")

    def __init__(self) -> None:
        super().__init__()
        self._model = ""
        self._models: dict[str, str] = {}  # the model of each turn, by its id
        self._totals = Tally()  # the responses told by the token_count events
        self._total: Usage | None = None

    def may_hold(self, line: str) -> bool:
        return "token_usage_record" in line or "token_count" in line or "turn_context" in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("payload"), dict):
            return
        kind, payload = entry.get("type"), entry["payload"]
        if kind == "turn_context" and isinstance(payload.get("model"), str):
            self._model = payload["model"]
            if isinstance(payload.get("turn_id"), str):
                self._models[payload["turn_id"]] = self._model
        elif kind == "token_usage_record" and isinstance(payload.get("usage"), dict):
            turn = payload.get("turn_id")
            model = self._models.get(turn, self._model) if isinstance(turn, str) else self._model
            self.count(payload.get("response_id"), _usage(payload["usage"], model))
        elif kind == "event_msg" and payload.get("type") == "token_count":
            info = payload.get("info")
            total = info.get("total_token_usage") if isinstance(info, dict) else None
            if isinstance(total, dict):
                self._count_total(_usage(total, self._model))

    def _count_total(self, total: Usage) -> None:
        """One ``token_count`` event's running total: what it rose by is a response."""
        last = self._total
        self._total = total
        fields = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        if last is not None and any(getattr(total, f) < getattr(last, f) for f in fields):
            last = None  # counted from 0 again
        if last is not None:
            total = replace(total, **{f: getattr(total, f) - getattr(last, f) for f in fields})
        if total.total_tokens:
            self._totals.count(str(len(self._totals)), total)

    def tally(self) -> Tally:
        return self._tally if len(self._tally) else self._totals
