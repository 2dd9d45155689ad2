"""What survives a restart of the watcher: the notices it already gave, by session.

They are kept in ``watch-<server>.json`` in the data directory, so a restarted watcher
does not repeat a notice. A notice is about one run of a session (``started_at`` tells
runs apart): a session started again under the same name gets its notices anew. Pending
messages are not kept here: they live in the store and survive anything.

Besides the notices given, it keeps what a notice still owed needs
(:mod:`imessenger.watcher.attention`): the turn a session is in (when it began, and the
messages whose senders waited for its reply), so that a turn that ends while no watcher
runs is told once by the next one; and the screen a stuck session was told of, so that a
restarted watcher knows the same stall from a new one.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from imessenger.adapters.paths import data_dir, ensure_data_dir, write_private_file
from imessenger.adapters.status_cache import file_label


def memory_path(server: str) -> Path:
    """Where the watcher of a tmux server keeps what it has notified."""
    return data_dir() / f"watch-{file_label(server)}.json"


@dataclass
class Remembered:
    """What was notified about one run of a session (``started_at`` tells runs apart)."""

    started_at: float
    prompt: str | None = None  # the key of the open prompt already notified
    exited: bool = False  # its exit (or disappearance) was notified
    #: when the turn it is in began (seconds since the epoch), its end not told yet;
    #: None: it is in no turn
    turn: float | None = None
    #: the messages of that turn whose senders waited for the reply (their ids)
    waited: list[str] = field(default_factory=list)
    #: the screen (its key, see :func:`imessenger.core.attention.progress_digest`) it
    #: was told stuck on, and since when it had made no progress then; None: not stuck
    stuck: str | None = None
    stuck_since: float = 0.0


class Memory:
    """The notices already given, by session, kept in a small JSON file (atomic writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sessions: dict[str, Remembered] = {}

    @classmethod
    def load(cls, path: Path) -> Memory:
        memory = cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return memory
        for name, entry in (data.get("sessions") or {}).items():
            with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
                turn = entry.get("turn")
                stuck = entry.get("stuck")
                memory.sessions[name] = Remembered(
                    float(entry["started_at"]),
                    entry.get("prompt"),
                    bool(entry.get("exited")),
                    float(turn) if turn is not None else None,
                    [str(i) for i in entry.get("waited") or []],
                    str(stuck) if stuck is not None else None,
                    float(entry.get("stuck_since") or 0.0),
                )
        return memory

    def of(self, name: str, started_at: float) -> Remembered:
        """The entry of this run of the session (a new run starts a new entry)."""
        entry = self.sessions.get(name)
        if entry is None or entry.started_at != started_at:
            entry = self.sessions[name] = Remembered(started_at)
        return entry

    def forget(self, keep: set[str]) -> bool:
        """Drop the sessions not in ``keep``; True when something was dropped."""
        gone = [name for name in self.sessions if name not in keep]
        for name in gone:
            del self.sessions[name]
        return bool(gone)

    def save(self) -> None:
        """Write the file (atomically); OSError when the data directory cannot take it."""
        data = {
            "version": 1,
            "sessions": {
                name: {
                    "started_at": e.started_at,
                    "prompt": e.prompt,
                    "exited": e.exited,
                    "turn": e.turn,
                    "waited": e.waited,
                    "stuck": e.stuck,
                    "stuck_since": e.stuck_since,
                }
                for name, e in sorted(self.sessions.items())
            },
        }
        ensure_data_dir()
        write_private_file(self.path, json.dumps(data, ensure_ascii=False))
