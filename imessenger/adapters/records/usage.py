"""A session's token usage, read from its agent's own record.

Each agent's module says where its record holds the usage and how it is counted
(``claude.py``, ``codex.py``, ``gemini.py``, ``aider.py``, ``qwen.py``, ``copilot.py``,
``demo.py``: a ``...Usage`` class each); this module reads the files. OpenCode's is its
database, asked with one query (``opencode.py``,
:func:`~imessenger.adapters.records.opencode.usage`). :func:`usage_of` is what the
commands and the watcher call, for a session isesh started (or one it remembers):

- A session with no record to read (``record_kind`` empty: isesh did not start it, or
  its command line picked a session of its own; or an agent whose record holds no usage)
  has no usage: None.
- Its record not written yet (an agent writes it at its first message, Codex names it
  at the end of the first turn): nothing used yet, a zero :class:`Usage`.
- Otherwise the record is read, and for Claude Code the transcripts of its sub-agents
  too; a response found in two files counts once. A file that cannot be read counts as
  empty (logged at debug level); reading never raises.

Reading is incremental: the files are followed (:class:`~imessenger.adapters.records.
reading.Follower`) and kept for the next call in this process, so that a long-lived
caller (the watcher) reads only what was appended since; only the lines that may hold
usage are parsed. At most :data:`FOLLOWED` files are kept (the least recently read is
dropped); the calls may come from several threads.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
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
from imessenger.adapters.records.pinning import locate
from imessenger.adapters.records.reading import Follower, UsageCounter
from imessenger.core.usage import Tally
from imessenger.core.values import RememberedSession, SessionRecord, Usage

logger = logging.getLogger(__name__)

#: How many record files are followed at most, for the calls to come.
FOLLOWED = 256

#: The agents whose record holds usage, and what counts it.
COUNTERS: dict[str, type[UsageCounter]] = {
    "claude": claude.ClaudeUsage,
    "codex": codex.CodexUsage,
    "gemini": gemini.GeminiUsage,
    "aider": aider.AiderUsage,
    "qwen": qwen.QwenUsage,
    "copilot": copilot.CopilotUsage,
    "demo": demo.DemoUsage,
}

_lock = threading.Lock()
_followed: OrderedDict[tuple[str, Path], Follower[UsageCounter]] = OrderedDict()
#: the record each ``(kind, ref)`` located (a ref that needs a search, once found)
_located: dict[tuple[str, str], Path] = {}


def usage_of(record: SessionRecord | RememberedSession) -> Usage | None:
    """The tokens session ``record`` used so far, by its agent's own record (see the
    module docstring); None when it has no record that holds usage."""
    return usage_in(record.record_kind, record.record_ref)


def usage_in(kind: str, ref: str) -> Usage | None:
    """The usage in the record of an agent of ``kind`` that ``ref`` locates (a session's
    ``record_kind`` and ``record_ref``)."""
    if kind == "opencode" and ref:
        # a database, asked again each time: one query for the session's messages
        database = locate(kind, ref)
        session_id = _session_id(ref)
        if database is None or not session_id:
            return Usage()
        return opencode.usage(database, session_id)
    if kind not in COUNTERS or not ref:
        return None
    path = _path(kind, ref)
    if path is None:
        return Usage()
    files = [path, *(claude.subagent_transcripts(path) if kind == "claude" else [])]
    tally = Tally()
    with _lock:
        for file in files:
            tally = tally.merged(_tally(kind, file))
    return tally.usage()


def _session_id(ref: str) -> str:
    """The OpenCode session a ref names, once learned ("" before)."""
    try:
        found = json.loads(ref)
    except ValueError:
        return ""
    named = found.get("session_id") if isinstance(found, dict) else None
    return named if isinstance(named, str) else ""


def _path(kind: str, ref: str) -> Path | None:
    """The record ``ref`` names, remembered once a search found it."""
    with _lock:
        known = _located.get((kind, ref))
    if known is not None and known.exists():
        return known
    path = locate(kind, ref)
    if path is not None:
        with _lock:
            _located[(kind, ref)] = path
    return path


def _tally(kind: str, path: Path) -> Tally:
    """The responses in the file at ``path``, read on from where the last call was (under
    the lock)."""
    follower = _followed.pop((kind, path), None)
    if follower is None:
        counter = COUNTERS[kind]
        follower = Follower(path, counter, counter.NEEDLES)
    _followed[(kind, path)] = follower
    while len(_followed) > FOLLOWED:
        _followed.popitem(last=False)
    try:
        return follower.catch_up().tally()
    except OSError as error:
        logger.debug("cannot read the usage in %s: %s", path, error)
        return Tally()


def forget() -> None:
    """Drop every file followed (the next call reads each from its start)."""
    with _lock:
        _followed.clear()
        _located.clear()
