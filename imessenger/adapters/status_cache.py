"""What the watcher publishes for other processes: its pid file and the status cache.

One watcher runs per tmux server. It holds an ``flock`` on ``watch-<server>.pid`` in
the data directory for as long as it runs (the kernel drops the lock however the
process ends, so a crashed watcher never looks alive), and keeps
``status-<server>.json`` up to date: the state of every session it follows and the
counts the tmux status line shows, with that line already rendered.

``imessenger status`` runs every few seconds in tmux's status line, so reading the
status costs one small file read and one ``flock`` probe: no tmux call, no database,
no configuration. This module imports nothing heavy for the same reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import re

from imessenger.adapters.paths import (
    PRIVATE_FILE_MODE,
    TYPE_CHECKING,
    data_dir_name,
    ensure_data_dir,
    fault_advice,
    write_private_file,
)
from imessenger.core.errors import StoreError, WatcherRunning
from imessenger.core.status_line import DEFAULT_STOPPED, StatusFormats

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

# The classes here are plain ones, and the reading side uses str paths: importing
# dataclasses, typing or pathlib would add half again to what `imessenger status` costs.

#: Version of the status cache's layout; a reader ignores a cache of another version.
STATUS_VERSION = 1


_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.-]+")


def file_label(server: str) -> str:
    """Return the server label as it appears in file names (a hash when it is not plain)."""
    if _SAFE_LABEL.fullmatch(server):
        return server
    import hashlib  # here: `imessenger status` runs often and rarely needs it

    return hashlib.sha256(server.encode()).hexdigest()[:16]


def _file(server: str, stem: str, suffix: str) -> str:
    return os.path.join(data_dir_name(), f"{stem}-{file_label(server)}{suffix}")


def pid_path(server: str) -> Path:
    """The watcher's pid (and lock) file for a tmux server."""
    from pathlib import Path

    return Path(_file(server, "watch", ".pid"))


def status_path(server: str) -> Path:
    """The status cache the watcher of a tmux server writes."""
    from pathlib import Path

    return Path(_file(server, "status", ".json"))


def log_path(server: str) -> Path:
    """Where ``imessenger watch --daemon`` writes its log."""
    from pathlib import Path

    return Path(_file(server, "watch", ".log"))


# --- the pid file ---------------------------------------------------------------------------


class PidFile:
    """The watcher's claim on a tmux server: an exclusive ``flock`` held while it runs."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.path = pid_path(server)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid; WatcherRunning when another process holds it.

        StoreError, saying why and what to do, when the data directory cannot hold the
        file (read-only, full, not ours): a watcher that cannot claim its server must
        not run, or two could.
        """
        try:
            ensure_data_dir()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except OSError as error:
            raise data_file_error("create", self.path, error) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WatcherRunning(self.server, running_pid(self.server)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:
            os.close(fd)
            raise data_file_error("write", self.path, error) from error
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays; an unlocked file means "not running")."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def running_pid(server: str) -> int | None:
    """Return the pid of the watcher of this tmux server, or None when none runs.

    A probe with a shared, non-blocking ``flock``: it fails only while a watcher holds
    the file, whatever the file says. A file that cannot be opened (no data directory,
    no permission) reads as "none runs": the status line must never fail.
    """
    try:
        fd = os.open(_file(server, "watch", ".pid"), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- the status cache -------------------------------------------------------------------------


def render_line(asking: int, unread: int, formats: StatusFormats) -> str:
    """Return the status-line text: each non-zero count in its format, joined."""
    parts = []
    if asking:
        parts.append(formats.asking.format(count=asking))
    if unread:
        parts.append(formats.unread.format(count=unread))
    return formats.separator.join(parts)


def render_plain(asking: int, unread: int) -> str:
    """Return the counts in plain words ("2 asking, 3 unread", or "nothing waiting")."""
    parts = []
    if asking:
        parts.append(f"{asking} asking")
    if unread:
        parts.append(f"{unread} unread")
    return ", ".join(parts) if parts else "nothing waiting"


def data_file_error(action: str, path: Path, error: OSError) -> StoreError:
    """The error for a file of the data directory that cannot be written, with what to do."""
    advice = fault_advice(os.path.dirname(path), error) or "check that the data folder is yours"
    return StoreError(f"could not {action} {path}: {error.strerror or error}; {advice}")


def write_status(server: str, data: dict[str, Any]) -> None:
    """Replace the status cache atomically (a 0600 temporary file renamed over it).

    OSError when it cannot (a full disk, a read-only folder): the old cache stays whole.
    """
    ensure_data_dir()
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    write_private_file(status_path(server), text)


class Status:
    """What ``imessenger status`` reports: whether a watcher runs, and its last cache."""

    __slots__ = ("data", "pid", "server", "watching")

    def __init__(self, server: str, watching: bool, pid: int | None, data: dict[str, Any]) -> None:
        self.server = server
        self.watching = watching
        self.pid = pid
        self.data = data

    @property
    def asking(self) -> int:
        return int(self.data.get("asking", 0)) if self.watching else 0

    @property
    def unread(self) -> int:
        return int(self.data.get("unread_user", 0)) if self.watching else 0

    def line(self) -> str:
        """The status-line text (as the watcher rendered it with the user's formats)."""
        if not self.watching:
            return str(self.data.get("stopped_line", DEFAULT_STOPPED))
        return str(self.data.get("line", ""))

    def plain(self) -> str:
        """The same in plain words."""
        if not self.watching:
            return "not watching"
        return render_plain(self.asking, self.unread)

    def as_json(self) -> dict[str, Any]:
        """The cache with ``watching`` and ``pid`` as of now."""
        return {
            "server": self.server,
            "watching": self.watching,
            "pid": self.pid,
            "asking": self.asking,
            "unread": self.unread,
            "asking_here": int(self.data.get("asking_here", self.asking)) if self.watching else 0,
            "unread_here": int(self.data.get("unread_here", self.unread)) if self.watching else 0,
            "line": self.line(),
            "sessions": self.data.get("sessions", []) if self.watching else [],
            "hosts": self.data.get("hosts", {}) if self.watching else {},
            "updated_at": self.data.get("updated_at"),
        }

    def without_prompts(self, shown: Callable[[str], bool]) -> Status:
        """The same status, less the prompts of the sessions ``shown`` says no to: what
        they ask, the question and the answers (their state still says "asking"). For a
        caller the policy does not let read them; ``shown`` takes a session's name, or
        ``HOST:SESSION`` for another host's session."""
        data = dict(self.data)
        data["sessions"] = _hide_prompts(data.get("sessions"), "", shown)
        hosts = data.get("hosts")
        if isinstance(hosts, dict):
            data["hosts"] = {
                host: {**seen, "sessions": _hide_prompts(seen.get("sessions"), f"{host}:", shown)}
                if isinstance(seen, dict)
                else seen
                for host, seen in hosts.items()
            }
        return Status(self.server, self.watching, self.pid, data)


#: What a session's entry in the status cache says of its prompt.
_PROMPT_KEYS: dict[str, Any] = {"asking": None, "question": None, "choices": [], "prompt_id": None}


def _hide_prompts(entries: Any, prefix: str, shown: Callable[[str], bool]) -> list[Any]:
    """The session entries of a status cache, without the prompts ``shown`` says no to."""
    if not isinstance(entries, list):
        return []
    return [
        entry
        if not isinstance(entry, dict) or shown(f"{prefix}{entry.get('name')}")
        else {**entry, **_PROMPT_KEYS}
        for entry in entries
    ]


def read_status(server: str) -> Status:
    """Read the status cache of a tmux server and probe whether its watcher runs.

    A missing, damaged or foreign cache reads as empty.
    """
    pid = running_pid(server)
    data: dict[str, Any] = {}
    try:
        with open(_file(server, "status", ".json"), encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        loaded = None
    if isinstance(loaded, dict) and loaded.get("version") == STATUS_VERSION:
        data = loaded
    return Status(server=server, watching=pid is not None, pid=pid, data=data)
