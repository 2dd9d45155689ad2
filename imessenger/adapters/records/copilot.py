"""GitHub Copilot CLI's session events: where they lie, and the assistant's texts in them.

Copilot CLI (1.0.102) keeps one folder per session, named by its id, and writes the
session's events as JSON Lines from its first message on (not at its start: a session
never given one has no events, and cannot be resumed), at
``<copilot home>/session-state/<session id>/events.jsonl``:

- The copilot home is ``$COPILOT_HOME`` when set (and not empty), else ``~/.copilot``
  (:func:`copilot_home`).
- The session id is the uuid given with ``--session-id`` (a fresh uuid4 per start; the
  same option with an id that exists resumes that session instead).

Every line is an event ``{"type", "data", "id", "timestamp", "parentId"}``. The
assistant's texts are ``data.content`` of the events of type ``assistant.message``
that have text (one whose content is empty only asks for tools), but for a sub-agent's
(``data.parentToolCallId``). The text is the model's, byte for byte; the screen, by
contrast, renders it as Markdown (unless ``renderMarkdown`` is off), which turns
``<<IMSG-REPLY x>>`` into ``<>``. Events Copilot marks ephemeral (a rewind among them)
are never written to the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from imessenger.adapters.records.reading import JsonTranscript

#: The name of the events file in a session's folder.
EVENTS_FILE = "events.jsonl"


def copilot_home(environ: Mapping[str, str]) -> Path:
    """Copilot CLI's home folder: ``COPILOT_HOME`` when set, else ``~/.copilot`` (``HOME``
    of ``environ``, else this process's home)."""
    configured = environ.get("COPILOT_HOME")
    if configured:
        return Path(configured)
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".copilot"


def events_path(copilot_home: Path, session_id: str) -> Path:
    """The events file of session ``session_id`` under ``copilot_home`` (it may not exist yet)."""
    return copilot_home / "session-state" / session_id / EVENTS_FILE


class CopilotEvents(JsonTranscript):
    """The assistant's texts in a Copilot CLI events file (see the module docstring)."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "assistant.message":
            return
        data = entry.get("data")
        if not isinstance(data, dict) or data.get("parentToolCallId"):
            return
        content = data.get("content")
        if isinstance(content, str) and content:
            self._texts.append(content)

    def texts(self) -> Sequence[str]:
        return self._texts
