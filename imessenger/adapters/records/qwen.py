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
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path

from imessenger.adapters.records.reading import JsonTranscript


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
