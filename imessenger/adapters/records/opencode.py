"""OpenCode's record: its SQLite database, and the assistant's texts of one session in it.

OpenCode (1.18.33) keeps every session in one SQLite database (WAL mode), by default
``$XDG_DATA_HOME/opencode/opencode.db`` (``~/.local/share/opencode/opencode.db``);
``OPENCODE_DB`` moves it: an absolute path, or one relative to that data folder
(``:memory:`` keeps nothing on disk: there is no record to read). :func:`db_path`.

- A session is a row of ``session`` (``id`` like ``ses_...``), made when the first
  message is submitted, not when the program starts; no flag chooses its id
  (``--session <id>`` only opens one that exists). isesh learns it from the plugin it
  gives OpenCode (see imessenger.core.opencode_setup), and finds the record by it.
- ``message`` rows (``session_id``, ``time_created``, JSON ``data`` with ``role``) hold
  ``part`` rows (``message_id``, ``session_id``, JSON ``data``). The assistant's texts
  are the parts of ``type`` ``"text"`` of the messages of ``role`` ``"assistant"``, in
  the order of their messages (time, then id) and of their own ids (ascending ids): each
  part one text, as the model wrote it, byte for byte.

The same messages hold the tokens the model used (:func:`usage`): an assistant message's
``tokens`` (``input``, ``output``, ``reasoning``, ``cache.read``, ``cache.write``) are one
response's, and its ``modelID`` the model.

Reading never raises: an unreadable database (not there yet, locked beyond the timeout,
not SQLite) reads as no reply, and the next call tries again. The database is opened
read-only, for one query at a time, and queried again only when the database or its
write-ahead log changed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from imessenger.core.envelope import Delimiters, exact_reply
from imessenger.core.usage import Tally
from imessenger.core.values import Usage

logger = logging.getLogger(__name__)

#: How long a query waits for OpenCode's write lock, in seconds.
_BUSY_TIMEOUT_S = 1.0

#: What an OpenCode session id looks like (``ses_`` and letters or digits); anything else
#: learned from a hook is not taken for one.
SESSION_ID = re.compile(r"ses_[A-Za-z0-9]{1,64}")

_TEXTS = """
SELECT p.data FROM part AS p JOIN message AS m ON m.id = p.message_id
WHERE p.session_id = ? AND json_extract(m.data, '$.role') = 'assistant'
  AND json_extract(p.data, '$.type') = 'text'
ORDER BY m.time_created, m.id, p.id
"""
_MENTIONS = "SELECT 1 FROM part WHERE session_id = ? AND instr(data, ?) > 0 LIMIT 1"
_RESPONSES = """
SELECT id, data FROM message
WHERE session_id = ? AND json_extract(data, '$.role') = 'assistant'
ORDER BY time_created, id
"""
_HAS_SESSION = "SELECT 1 FROM session WHERE id = ?"


def data_dir(environ: Mapping[str, str]) -> Path:
    """OpenCode's data folder: ``$XDG_DATA_HOME/opencode``, else
    ``~/.local/share/opencode`` (``HOME`` of ``environ``, else this process's home)."""
    data = environ.get("XDG_DATA_HOME")
    if data:
        return Path(data) / "opencode"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "share" / "opencode"


def db_path(environ: Mapping[str, str]) -> Path | None:
    """The database OpenCode started with ``environ`` keeps its sessions in; None when it
    keeps them in memory (``OPENCODE_DB=:memory:``)."""
    given = environ.get("OPENCODE_DB")
    if given == ":memory:":
        return None
    if given:
        return Path(given) if os.path.isabs(given) else data_dir(environ) / given
    return data_dir(environ) / "opencode.db"


def _connect(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S)


def has_session(path: Path, session_id: str) -> bool:
    """Whether the database at ``path`` holds the session ``session_id`` (False when it
    cannot be read)."""
    if not path.is_file():
        return False
    try:
        connection = _connect(path)
        try:
            return connection.execute(_HAS_SESSION, (session_id,)).fetchone() is not None
        finally:
            connection.close()
    except sqlite3.Error as error:
        logger.debug("cannot read %s: %s", path, error)
        return False


def _text_of(data: object) -> str | None:
    try:
        part = json.loads(data) if isinstance(data, str) else None
    except ValueError:
        return None
    text = part.get("text") if isinstance(part, dict) else None
    return text if isinstance(text, str) else None


class OpencodeRecord:
    """The assistant's texts of one OpenCode session, read from its database."""

    def __init__(self, path: Path, session_id: str) -> None:
        self.path = path
        self.session_id = session_id
        self._seen: tuple[tuple[int, int], ...] | None = None
        self._texts: list[str] = []

    def _state(self) -> tuple[tuple[int, int], ...] | None:
        """The size and time of the database and its write-ahead log (None: no database)."""
        found: list[tuple[int, int]] = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                if path == self.path:
                    return None
                found.append((-1, -1))
                continue
            found.append((info.st_size, info.st_mtime_ns))
        return tuple(found)

    def texts(self) -> list[str]:
        """The assistant's texts so far, oldest first (what was read last, when the
        database cannot be read now)."""
        try:
            state = self._state()
        except OSError as error:
            logger.debug("cannot read the record %s: %s", self.path, error)
            return self._texts
        if state is None or state == self._seen:
            return self._texts
        try:
            connection = _connect(self.path)
            try:
                rows = connection.execute(_TEXTS, (self.session_id,)).fetchall()
            finally:
                connection.close()
        except sqlite3.Error as error:
            logger.debug("cannot read the record %s: %s", self.path, error)
            return self._texts
        self._texts = [text for (data,) in rows if (text := _text_of(data)) is not None]
        self._seen = state
        return self._texts

    def reply(self, delims: Delimiters) -> str | None:
        """The newest reply between ``delims`` in the assistant's texts so far, or None."""
        for text in reversed(self.texts()):
            if delims.end in text:
                found = exact_reply(text, delims)
                if found is not None:
                    return found
        return None

    def mentions(self, text: str) -> bool | None:
        """Whether a part of the session (a message taken, an answer) holds ``text``, as
        written or as a JSON string holds it; None when the database cannot be read."""
        if not self.path.is_file():
            return None
        forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        try:
            connection = _connect(self.path)
            try:
                return any(
                    connection.execute(_MENTIONS, (self.session_id, form)).fetchone() is not None
                    for form in forms
                )
            finally:
                connection.close()
        except sqlite3.Error as error:
            logger.debug("cannot read the record %s: %s", self.path, error)
            return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _response(data: object) -> Usage | None:
    """One assistant message's usage (None: it names no tokens)."""
    try:
        message = json.loads(data) if isinstance(data, str) else None
    except ValueError:
        return None
    tokens = message.get("tokens") if isinstance(message, dict) else None
    if not isinstance(tokens, dict):
        return None
    cache = tokens.get("cache")
    cached = cache if isinstance(cache, dict) else {}
    model = message.get("modelID") if isinstance(message, dict) else None
    return Usage(
        input_tokens=_count(tokens.get("input")),
        # its reasoning is output the model wrote, recorded apart
        output_tokens=_count(tokens.get("output")) + _count(tokens.get("reasoning")),
        cache_read_tokens=_count(cached.get("read")),
        cache_write_tokens=_count(cached.get("write")),
        model=model if isinstance(model, str) else "",
        turns=1,
    )


def usage(path: Path, session_id: str) -> Usage:
    """The tokens session ``session_id`` used so far, by its assistant messages in the
    database at ``path`` (none when it cannot be read)."""
    if not path.is_file():
        return Usage()
    try:
        connection = _connect(path)
        try:
            rows = connection.execute(_RESPONSES, (session_id,)).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        logger.debug("cannot read the usage in %s: %s", path, error)
        return Usage()
    tally = Tally()
    for message_id, data in rows:
        response = _response(data)
        if response is not None:
            tally.count(str(message_id), response)
    return tally.usage()
