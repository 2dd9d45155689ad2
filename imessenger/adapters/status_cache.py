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
from imessenger.core.status_line import DEFAULT_STOPPED, STATUS_VERSION, StatusFormats

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from imessenger.core.published import Observed, Published, SessionStatus

# The classes here are plain ones, and the reading side uses str paths: importing
# dataclasses, typing or pathlib would add half again to what `imessenger status` costs.

_SAFE_LABEL = re.compile(r"[A-Za-z0-9_.-]+")


def file_label(server: str) -> str:
    """Return the server label as it appears in file names (a hash when it is not plain)."""
    if _SAFE_LABEL.fullmatch(server):
        return server
    import hashlib  # here: `imessenger status` runs often and rarely needs it

    return hashlib.sha256(server.encode()).hexdigest()[:16]


def _file(server: str, stem: str, suffix: str, folder: str | None = None) -> str:
    """A file of the data folder (``folder``: of that one) for a tmux server."""
    return os.path.join(folder or data_dir_name(), f"{stem}-{file_label(server)}{suffix}")


def pid_path(server: str) -> Path:
    """The watcher's pid (and lock) file for a tmux server."""
    from pathlib import Path

    return Path(_file(server, "watch", ".pid"))


def status_path(server: str) -> Path:
    """The status cache the watcher of a tmux server writes."""
    from pathlib import Path

    return Path(_file(server, "status", ".json"))


def log_path(server: str, folder: str | None = None) -> Path:
    """Where ``imessenger watch --daemon`` writes its log (``folder``: the data folder, if
    not this environment's)."""
    from pathlib import Path

    return Path(_file(server, "watch", ".log", folder))


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


def running_pid(server: str, folder: str | None = None) -> int | None:
    """Return the pid of the watcher of this tmux server, or None when none runs
    (``folder``: the data folder, if not this environment's).

    A probe with a shared, non-blocking ``flock``: it fails only while a watcher holds
    the file, whatever the file says. A file that cannot be opened (no data directory,
    no permission) reads as "none runs": the status line must never fail.
    """
    try:
        fd = os.open(_file(server, "watch", ".pid", folder), os.O_RDONLY)
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
    """What ``imessenger status`` reports: whether a watcher runs, and its last cache.

    ``data`` is the cache as read (the status line reads its counts from it, and
    nothing more); :attr:`published` is the same, typed.
    """

    __slots__ = ("_published", "data", "pid", "server", "watching")

    def __init__(self, server: str, watching: bool, pid: int | None, data: dict[str, Any]) -> None:
        self.server = server
        self.watching = watching
        self.pid = pid
        self.data = data
        self._published: Published | None = None

    @property
    def published(self) -> Published:
        """The cache, typed; an empty one when no watcher runs."""
        if self._published is None:
            from imessenger.core.published import Published, read_published

            self._published = read_published(self.data) if self.watching else Published()
        return self._published

    def observed(self) -> Observed:
        """Whether the watcher runs and what it published, as one typed value (what another
        host's watcher follows this one by)."""
        from imessenger.core.published import Observed

        return Observed(self.watching, self.pid, self.published)

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
        from imessenger.core.published import status_json

        return status_json(self.server, self.observed(), self.line())

    def without_prompts(self, shown: Callable[[str], bool]) -> Status:
        """The same status, less the prompts of the sessions ``shown`` says no to: what
        they ask, the question, the answers and the prompt's id (their state still says
        "asking"). For a caller the policy does not let read them; ``shown`` takes a
        session's name, or ``HOST:SESSION`` for another host's session."""
        from dataclasses import replace

        published = self.published

        def hidden(sessions: tuple[SessionStatus, ...], prefix: str) -> tuple[SessionStatus, ...]:
            return tuple(s if shown(prefix + s.name) else s.without_prompt() for s in sessions)

        hosts = {
            name: replace(host, sessions=hidden(host.sessions, f"{name}:"))
            for name, host in published.hosts.items()
        }
        narrower = Status(self.server, self.watching, self.pid, self.data)
        narrower._published = replace(
            published, sessions=hidden(published.sessions, ""), hosts=hosts
        )
        return narrower


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
