"""Gemini CLI's chat record: where it lies, and the assistant's texts in it.

Gemini CLI (0.61.0) writes one JSON Lines chat per session, from the moment it starts,
at ``<gemini home>/.gemini/tmp/<project>/chats/session-<time>-<id[:8]>.jsonl``:

- The gemini home is ``GEMINI_CLI_HOME`` when set, else the home folder
  (:func:`gemini_home`).
- ``<project>`` is a short name from ``.gemini/projects.json``, not derived from the
  path; ``<time>`` is when the session began (minutes, UTC). The session id is the uuid
  given with ``--session-id``; its first 8 characters (other than ``[a-zA-Z0-9_-]``
  made "_") are in the name, so the file is found by those and then by the full id on
  its first line (:func:`chat_path`).

The lines are records, applied in order as Gemini CLI applies them when it loads a chat:

- ``{"$rewindTo": id}``: the message ``id`` and every one after it are removed (all of
  them, when no message has that id).
- A message ``{"id", "type", "content", ...}``: added; one with the id of an earlier
  message replaces it in its place (Gemini rewrites a message to add its tokens or tool
  calls). ``content`` is a string (the model's answer) or a list of parts (a user turn,
  a synthetic message); the text of a list is that of its ``text`` parts, thoughts left
  out.
- ``{"$set": {...}}``: a metadata update; one that holds ``messages`` replaces every
  message with those.
- The first line, ``{"sessionId", "projectHash", "startTime", ...}``: metadata (an old
  one may also hold ``messages``, which are added).

The assistant's texts are the ``content`` of the messages of type ``gemini``, in order.

They are not the model's answer byte for byte: before recording it, Gemini CLI removes
zero-width characters (U+200B to U+200D, U+200E, U+200F, U+FEFF), then HTML comments
(``<!-- ... -->``), then whitespace at both ends. A reply read here is exact only when
it holds none of those (the ``AfterAgent`` hook's ``prompt_response`` is exact).

The usage (:class:`GeminiUsage`): a message of type ``gemini`` gets the ``tokens`` of the
response that made it when it comes (the message written again, with the same id), and
names its ``model``. Its ``input`` counts the input read from the cache (``cached``),
which is taken out of it; ``tool`` (the tool-use prompt) is input too, and ``thoughts``
are output. Each message is counted once, by its id, with the last tokens written for
it. A rewind takes messages out of the conversation but not out of the usage: they were
paid for. The model's side requests (the model router, the checks) are in no record.
"""

from __future__ import annotations

import glob
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.values import Usage

logger = logging.getLogger(__name__)

#: How much of a chat's first line is read to learn its session id.
_FIRST_LINE_BYTES = 64 * 1024

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def gemini_home(environ: Mapping[str, str]) -> Path:
    """The folder that holds Gemini CLI's ``.gemini``: ``GEMINI_CLI_HOME`` when set,
    else ``HOME`` of ``environ``, else this process's home."""
    configured = environ.get("GEMINI_CLI_HOME") or environ.get("HOME")
    return Path(configured) if configured else Path.home()


def _session_id_of(path: Path) -> str | None:
    """The ``sessionId`` on the first line of a chat file (None: unreadable, or none)."""
    try:
        with open(path, "rb") as chat:
            first = chat.readline(_FIRST_LINE_BYTES)
        entry = json.loads(first)
    except (OSError, ValueError, RecursionError) as error:
        logger.debug("cannot read the first line of %s: %s", path, error)
        return None
    found = entry.get("sessionId") if isinstance(entry, dict) else None
    return found if isinstance(found, str) else None


def chat_path(gemini_home: Path, session_id: str) -> Path | None:
    """The chat of session ``session_id`` under ``gemini_home``, or None while there is none.

    The candidates are named after the first 8 characters of the id; the one whose first
    line says this very ``sessionId`` is taken (the last by name, were there more).
    """
    short = _UNSAFE.sub("_", session_id)[:8]
    if not short:
        return None
    chats = f"{glob.escape(str(gemini_home))}/.gemini/tmp/*/chats"
    found = sorted(glob.glob(f"{chats}/session-*-{glob.escape(short)}.jsonl"))
    matching = [Path(name) for name in found if _session_id_of(Path(name)) == session_id]
    return matching[-1] if matching else None


def _text_of(content: object) -> str:
    """The text of a message's ``content``: a string, a part, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(part) for part in content)
    if isinstance(content, dict) and not content.get("thought"):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    return ""


class GeminiChat(JsonTranscript):
    """The assistant's texts in a Gemini CLI chat (see the module docstring)."""

    def __init__(self) -> None:
        #: every message by id, in order; the text of the model's, None for the others
        self._messages: dict[str, str | None] = {}

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict):
            return
        if isinstance(entry.get("$rewindTo"), str):
            self._rewind(entry["$rewindTo"])
        elif isinstance(entry.get("id"), str):
            self._add(entry)
        elif isinstance(entry.get("$set"), dict):
            messages = entry["$set"].get("messages")
            if isinstance(messages, list):
                self._messages = {}
                for message in messages:
                    self._add(message)
        elif isinstance(entry.get("sessionId"), str) and isinstance(entry.get("projectHash"), str):
            messages = entry.get("messages")
            for message in messages if isinstance(messages, list) else []:
                self._add(message)

    def _add(self, message: object) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            return
        text = _text_of(message.get("content")) if message.get("type") == "gemini" else None
        self._messages[message["id"]] = text

    def _rewind(self, message_id: str) -> None:
        ids = list(self._messages)
        kept = ids[: ids.index(message_id)] if message_id in self._messages else []
        self._messages = {key: self._messages[key] for key in kept}

    def texts(self) -> Sequence[str]:
        return [text for text in self._messages.values() if text is not None]


class GeminiUsage(JsonUsage):
    """The model's messages in a Gemini CLI chat, for their usage (see the module
    docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b'"tokens"',)

    def may_hold(self, line: str) -> bool:
        return '"tokens"' in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict):
            return
        if isinstance(entry.get("id"), str):
            self._message(entry)
            return
        update = entry.get("$set")
        messages = update.get("messages") if isinstance(update, dict) else entry.get("messages")
        for message in messages if isinstance(messages, list) else []:
            self._message(message)

    def _message(self, message: object) -> None:
        if not isinstance(message, dict) or message.get("type") != "gemini":
            return
        counts = message.get("tokens")
        if not isinstance(counts, dict):
            return
        model = message.get("model")
        cached = tokens(counts, "cached")
        response = Usage(
            input_tokens=max(0, tokens(counts, "input") - cached) + tokens(counts, "tool"),
            output_tokens=tokens(counts, "output") + tokens(counts, "thoughts"),
            cache_read_tokens=cached,
            model=model if isinstance(model, str) else "",
            turns=1,
        )
        self.count(message.get("id"), response)
