"""How the status line reads: the ``[status]`` table of the configuration, typed.

Pure and small: the status line is printed by tmux every few seconds, and
``imessenger status`` imports this without the configuration's code.
"""

from __future__ import annotations

#: The version of the status cache's shape (imessenger.core.published); a reader ignores a
#: cache of another version.
STATUS_VERSION = 2

#: What the status line says when no watcher runs and the configuration was not read.
DEFAULT_STOPPED = "imessenger: not watching"


class StatusFormats:
    """How the status line reads: the ``[status]`` table of the configuration, as
    ``config.settings.status`` has it (a plain class: see above)."""

    __slots__ = ("asking", "separator", "stopped", "unread")

    def __init__(
        self,
        asking: str = "⚠ {count} asking",
        unread: str = "✉ {count}",
        separator: str = " · ",
        stopped: str = DEFAULT_STOPPED,
    ) -> None:
        self.asking = asking
        self.unread = unread
        self.separator = separator
        self.stopped = stopped

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusFormats):
            return NotImplemented
        return all(getattr(self, key) == getattr(other, key) for key in self.__slots__)

    __hash__ = None  # type: ignore[assignment]
