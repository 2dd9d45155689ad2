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
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path

from imessenger.adapters.records.reading import JsonTranscript


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
