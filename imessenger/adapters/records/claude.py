"""Claude Code's transcript: where it lies, and the assistant's texts in it.

Claude Code (2.1.332) writes one JSON Lines transcript per session, from its first
message on (not at its start: a session never given one has none, and cannot be
resumed), at ``<config dir>/projects/<folder name>/<session id>.jsonl``:

- The config dir is ``$CLAUDE_CONFIG_DIR`` when set (and not empty), else
  ``~/.claude`` (:func:`config_dir`).
- The folder name is the session's working folder (Claude's ``process.cwd()``, so a
  symlinked folder is named as it resolves) with every character outside
  ``[a-zA-Z0-9]`` made "-". JavaScript does this per UTF-16 code unit, so a character
  outside the Basic Multilingual Plane becomes "--". A name longer than 200 characters
  becomes its first 200, "-", and the base-36 digits of the absolute value of a 32-bit
  Java-style hash of the whole path (``h = 31 * h + unit``, over its UTF-16 code units)
  (:func:`folder_name`).
- The session id is the uuid given with ``--session-id`` (a fresh uuid4 per start:
  Claude refuses one already in use).

Every line is an entry with a ``type``. The assistant's texts are those of the entries
of type ``assistant`` (not those of a side chain, ``isSidechain``: a sub-agent's), in
``message.content``: each ``{"type": "text", "text": ...}`` block is one text (Claude
writes one entry per content block). The text is byte-exact, trailing spaces, "\\r\\n",
zero-width characters and HTML comments included; the Stop hook's
``last_assistant_message``, by contrast, is trimmed.

The usage (:class:`ClaudeUsage`) is in the same entries: ``message.usage`` holds the
response's ``input_tokens`` (input not read from the prompt cache nor written to it),
``output_tokens``, ``cache_read_input_tokens`` and ``cache_creation_input_tokens``, and
``message.model`` its model. A response of several content blocks is written as several
entries, each with the same ``message.id`` and the same usage: it is counted once, by its
id. Entries Claude Code makes itself (an error shown as a message) name the model
``<synthetic>`` and are not counted. A sub-agent's responses (``isSidechain``) are
counted too: they are tokens the session used. Claude Code writes a sub-agent's own
transcript beside the session's, ``<session id>/subagents/**/agent-<id>.jsonl``
(:func:`subagent_transcripts`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from imessenger.adapters.records.reading import JsonTranscript, JsonUsage, tokens
from imessenger.core.values import Usage

#: The model Claude Code names in the entries it writes itself, with no response.
SYNTHETIC_MODEL = "<synthetic>"

#: Above this many characters a folder name is cut and given a hash of the whole path.
MAX_FOLDER_NAME = 200

_KEPT = frozenset(string.ascii_letters + string.digits)
_DIGITS36 = string.digits + string.ascii_lowercase


def config_dir(environ: Mapping[str, str]) -> Path:
    """Claude Code's config folder: ``CLAUDE_CONFIG_DIR`` when set, else ``~/.claude``.

    ``~`` is ``HOME`` of ``environ`` (the environment the agent runs with), else this
    process's home.
    """
    configured = environ.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured)
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".claude"


def _utf16_units(text: str) -> list[int]:
    """The UTF-16 code units of ``text`` (as JavaScript's ``charCodeAt`` sees them)."""
    data = text.encode("utf-16-le", errors="surrogatepass")
    return [int.from_bytes(data[at : at + 2], "little") for at in range(0, len(data), 2)]


def java_hash(text: str) -> int:
    """The 32-bit signed Java-style string hash of ``text``, over its UTF-16 code units.

    >>> java_hash("")
    0
    >>> java_hash("a")
    97
    >>> java_hash("hello")
    99162322
    """
    value = 0
    for unit in _utf16_units(text):
        value = (value * 31 + unit) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def base36(number: int) -> str:
    """``number`` (0 or more) in base 36, lower case, as JavaScript's ``toString(36)``."""
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS36[digit] + digits
        if number == 0:
            return digits


def folder_name(cwd: str) -> str:
    """The name Claude Code gives the folder of a working folder's transcripts.

    >>> folder_name("/tmp/my project/ü")
    '-tmp-my-project--'
    """
    name = "".join(chr(u) if chr(u) in _KEPT else "-" for u in _utf16_units(cwd))
    if len(name) <= MAX_FOLDER_NAME:
        return name
    return f"{name[:MAX_FOLDER_NAME]}-{base36(abs(java_hash(cwd)))}"


def transcript_path(config_dir: Path, cwd: Path, session_id: str) -> Path:
    """Where Claude Code, started in ``cwd`` with ``--session-id session_id``, writes its
    transcript. ``cwd`` is taken as given: pass the folder as Claude sees it (resolved)."""
    return config_dir / "projects" / folder_name(str(cwd)) / f"{session_id}.jsonl"


class ClaudeTranscript(JsonTranscript):
    """The assistant's texts in a Claude Code transcript (see the module docstring)."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            return
        if entry.get("isSidechain") is True:
            return
        message = entry.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, str):
            self._texts.append(content)
            return
        if not isinstance(content, list):
            return
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    self._texts.append(text)

    def texts(self) -> Sequence[str]:
        return self._texts


def subagent_transcripts(transcript: Path) -> list[Path]:
    """The transcripts of the sub-agents of the session whose transcript is ``transcript``
    (sorted; [] when there are none, or the folder cannot be read)."""
    folder = transcript.with_suffix("") / "subagents"
    try:
        return sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []
    except OSError:
        return []


class ClaudeUsage(JsonUsage):
    """The responses in a Claude Code transcript, for their usage (see the module
    docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b'"usage"',)

    def may_hold(self, line: str) -> bool:
        return '"usage"' in line and '"assistant"' in line

    def take_entry(self, entry: object) -> None:
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            return
        message = entry.get("message")
        if not isinstance(message, dict):
            return
        usage = message.get("usage")
        model = message.get("model")
        model = model if isinstance(model, str) else ""
        if not isinstance(usage, dict) or model == SYNTHETIC_MODEL:
            return
        response = Usage(
            input_tokens=tokens(usage, "input_tokens"),
            output_tokens=tokens(usage, "output_tokens"),
            cache_read_tokens=tokens(usage, "cache_read_input_tokens"),
            cache_write_tokens=tokens(usage, "cache_creation_input_tokens"),
            model=model,
            turns=1,
        )
        self.count(message.get("id") or entry.get("requestId"), response)
