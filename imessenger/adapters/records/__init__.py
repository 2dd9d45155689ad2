"""Replies read from an agent's own record of its session, byte for byte: no screen.

Each agent keeps a file of the session as it goes: Claude Code its transcript
(``claude.py``), Codex its rollout (``codex.py``), Gemini CLI its chat (``gemini.py``),
Aider its chat history (``aider.py``), Qwen Code its chat (``qwen.py``), GitHub Copilot CLI its
session events (``copilot.py``); OpenCode keeps its sessions in a SQLite database
(``opencode.py``, read by queries, not by the rules below). The
assistant's text in it is what the model
wrote, with the Markdown a screen loses. The same records say how many tokens the
model used (``usage.py``, :func:`~imessenger.adapters.records.usage.usage_of`). This
package only reads files: never tmux, never the store.

A :class:`RecordReader` follows one file. Its :meth:`~RecordReader.reply` applies these
rules, in this order:

- ``os.stat`` first. No file (not written yet, or gone): no reply, and no error. A file
  that is another file than before (replaced by a rename), or shorter than what was read
  (truncated): everything read is dropped and the file is read again from its start.
  The same size as what was read: nothing new, nothing is read.
- Otherwise only the bytes appended since the last call are read, together with the
  last few bytes read before them: when those differ, the file was rewritten in place,
  and it is read again from its start.
- Only complete lines (ended by "\\n") are handed on, decoded as UTF-8 (a byte that is
  not UTF-8 becomes U+FFFD); the last line, while it has no "\\n" yet, is still being
  written and waits for the next call.
- Each line goes to the agent's :class:`Transcript`, which keeps the assistant's texts
  (oldest first). In a JSONL record a line that is not JSON is skipped (logged at debug
  level); a line of an unexpected shape is skipped too.
- The reply is the newest: the texts are searched from the newest, and in each text the
  last pair of delimiter lines counts (:func:`imessenger.core.envelope.exact_reply`). None
  when no text holds a complete pair.
- Reading never raises: an ``OSError`` (no permission, a folder in the way) gives None,
  and the next call tries again from where the reader was.

:func:`reader_for` makes the reader of one agent kind (:data:`KINDS`) for one path;
where each agent's file lies is said by the agent's module (``transcript_path``,
``rollout_path``, ``chat_path``, ``events_path``; Aider's is the ``--chat-history-file``
it was given).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from imessenger.adapters.records import (
    aider,
    claude,
    codex,
    copilot,
    demo,
    gemini,
    opencode,
    qwen,
)
from imessenger.adapters.records.reading import RecordReader, Transcript
from imessenger.core.profiles import RECORD_KINDS


def reader_for(
    kind: str, path: Path, conversation: str = ""
) -> RecordReader | opencode.OpencodeRecord:
    """A reader of the record at ``path`` of an agent of ``kind`` (one of
    :data:`imessenger.core.profiles.RECORD_KINDS`); for ``opencode``, the database at
    ``path`` and the session ``conversation`` in it.

    Raises ValueError for any other kind.
    """
    if kind == "opencode":
        return opencode.OpencodeRecord(path, conversation)
    transcripts: dict[str, Callable[[], Transcript]] = {
        "claude": claude.ClaudeTranscript,
        "codex": codex.CodexRollout,
        "gemini": gemini.GeminiChat,
        "aider": aider.AiderHistory,
        "demo": demo.DemoRecord,
        "qwen": qwen.QwenChat,
        "copilot": copilot.CopilotEvents,
    }
    if kind not in transcripts:
        raise ValueError(
            f"no record reader for agent kind {kind!r}; known: {', '.join(RECORD_KINDS)}"
        )
    return RecordReader(path, transcripts[kind])
