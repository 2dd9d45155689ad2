"""Qwen Code's chat record: where it lies, and the assistant's texts in it.

Qwen Code (0.24.4) writes one JSON Lines chat per session, from its first message on
(at its start it writes only a ``<id>.runtime.json`` beside it), at
``<runtime dir>/projects/<folder name>/chats/<session id>.jsonl``:

- The runtime dir is ``QWEN_RUNTIME_DIR`` when set, else ``QWEN_HOME``, else
  ``~/.qwen`` (:func:`runtime_dir`). (A ``advanced.runtimeOutputDir`` in its settings
  moves it too; isesh does not read settings to follow it: replies then come from the
  screen.)
- The folder name is the session's working folder with every character outside
  ``[a-zA-Z0-9]`` made "-"; the record is looked for under every folder name
  (:func:`chat_path`), so a folder that resolves otherwise than isesh named it is found
  all the same.
- The session id is the uuid given with ``--session-id`` (it must be a valid uuid).

Every line is a record ``{"uuid", "parentUuid", "sessionId", "type", ...}``; those of
type ``assistant`` hold the model's answer in ``message.parts``, Gemini's shape: text
parts (``{"text": ...}``, ``"thought": true`` for a thought), ``functionCall`` parts.
The assistant's texts are, for each ``assistant`` record, its text parts joined, thoughts
left out, in file order. The text is the model's own, byte for byte (no trimming).

The usage (:class:`QwenUsage`): after each response of the model, Qwen Code writes a
``system`` record of subtype ``ui_telemetry`` whose ``systemPayload.uiEvent`` is the
``qwen-code.api_response`` event it counts for ``/stats`` (and replays from the chat on
a resume): ``response_id``, ``model``, ``input_token_count`` (the prompt, cached input
included), ``output_token_count``, ``cached_content_token_count``,
``thoughts_token_count``, ``total_token_count``. By its source, those of its sub-agents
are there too (with ``subagent_id``), and its side requests (titles, suggestions) are
not. The
``assistant`` record that follows holds the same numbers (``usageMetadata``, Gemini's
names), for the main conversation only: it is not read. Each event is counted once:
``input`` is the prompt less the cached input; ``output`` is ``total - input`` (the
output with thinking under both conventions Qwen Code meets: reasoning inside the
completion, as the Chat Completions API counts, or apart from it, as Gemini's does),
else ``output_token_count`` when no total exceeds the prompt. Cache writes are in no
record (a provider's are counted in the prompt). A rewind takes records out of the
conversation, not out of the usage.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.values import Usage

#: The name of the telemetry event that holds a response's tokens.
API_RESPONSE = "qwen-code.api_response"


def runtime_dir(environ: Mapping[str, str]) -> Path:
    """Where Qwen Code keeps its projects' chats: ``QWEN_RUNTIME_DIR``, else ``QWEN_HOME``,
    else ``.qwen`` in ``HOME`` of ``environ`` (else this process's home)."""
    for name in ("QWEN_RUNTIME_DIR", "QWEN_HOME"):
        configured = environ.get(name)
        if configured:
            return Path(configured).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".qwen"


def chat_path(runtime: Path, session_id: str) -> Path | None:
    """The chat of session ``session_id`` under ``runtime``, or None while there is none."""
    if not session_id or "/" in session_id or session_id.startswith("."):
        return None
    pattern = f"{glob.escape(str(runtime))}/projects/*/chats/{glob.escape(session_id)}.jsonl"
    found = sorted(glob.glob(pattern))
    return Path(found[-1]) if found else None


def _text_of(parts: object) -> str | None:
    """The text of a message's parts (thoughts left out); None when it holds no text."""
    if not isinstance(parts, list):
        return None
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    ]
    return "".join(texts) if texts else None


class QwenChat(JsonTranscript):
    """The assistant's texts in a Qwen Code chat (see the module docstring)."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            return
        message = entry.get("message")
        if not isinstance(message, dict):
            return
        text = _text_of(message.get("parts"))
        if text is not None:
            self._texts.append(text)

    def texts(self) -> Sequence[str]:
        return self._texts


class QwenUsage(JsonUsage):
    """The model's responses in a Qwen Code chat, for their usage (see the module
    docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (f'"{API_RESPONSE}"'.encode(),)

    def may_hold(self, line: str) -> bool:
        return f'"{API_RESPONSE}"' in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("subtype") != "ui_telemetry":
            return
        payload = entry.get("systemPayload")
        event = payload.get("uiEvent") if isinstance(payload, dict) else None
        if not isinstance(event, dict) or event.get("event.name") != API_RESPONSE:
            return
        prompt = tokens(event, "input_token_count")
        total = tokens(event, "total_token_count")
        cached = min(tokens(event, "cached_content_token_count"), prompt)
        model = event.get("model")
        response = Usage(
            input_tokens=prompt - cached,
            output_tokens=total - prompt if total > prompt else tokens(event, "output_token_count"),
            cache_read_tokens=cached,
            model=model if isinstance(model, str) else "",
            turns=1,
        )
        self.count(entry.get("uuid"), response)
