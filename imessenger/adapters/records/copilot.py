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

The usage (:class:`CopilotUsage`): for each call of the model (a sub-agent's too, by
its event schema), Copilot writes a ``session.usage_record`` event, its durable
accounting receipt, whose ``data.usage`` holds ``model``, ``inputTokens`` (the prompt, the input
read from the prompt cache and written to it included), ``outputTokens`` (reasoning
included), ``cacheReadTokens``, ``cacheWriteTokens``, ``reasoningTokens``, and
``accounting`` (``sourceSessionId``, ``sequence``, ``usageId``, which name the call).
Each call is counted once, by its accounting identity (else ``apiCallId``); ``input``
is ``inputTokens`` less the cache reads and writes, as Copilot itself counts the input
not cached. The live ``assistant.usage`` event holds the same numbers but is
ephemeral: never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.values import Usage

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


def _call_key(usage: Mapping[str, object]) -> object:
    """What names one call of the model in a usage record: its accounting identity, else
    its API call id (None when it has neither)."""
    accounting = usage.get("accounting")
    if isinstance(accounting, dict):
        source, sequence = accounting.get("sourceSessionId"), accounting.get("sequence")
        if isinstance(source, str) and isinstance(sequence, int):
            return f"{source}#{sequence}"
    return usage.get("apiCallId")


class CopilotUsage(JsonUsage):
    """The model's calls in a Copilot CLI events file, for their usage (see the module
    docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b'"session.usage_record"',)

    def may_hold(self, line: str) -> bool:
        return '"session.usage_record"' in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "session.usage_record":
            return
        data = entry.get("data")
        usage = data.get("usage") if isinstance(data, dict) else None
        if not isinstance(usage, dict):
            return
        cache_read = tokens(usage, "cacheReadTokens")
        cache_write = tokens(usage, "cacheWriteTokens")
        model = usage.get("model")
        response = Usage(
            input_tokens=max(0, tokens(usage, "inputTokens") - cache_read - cache_write),
            output_tokens=tokens(usage, "outputTokens"),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            model=model if isinstance(model, str) else "",
            turns=1,
        )
        self.count(_call_key(usage), response)
