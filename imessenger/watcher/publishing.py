"""The status the watcher publishes, for ``imessenger status`` and the dashboard.

After each round the watcher renders what it sees (every followed session's state and
prompt, the counts, the status line in the user's ``[status]`` formats) and writes it
to the status cache (:func:`imessenger.status.write_status`) when it changed. When a
count the status line shows changed, every attached tmux client redraws its status
line. A cache that could not be written is written again, with what the watcher sees
by then.
"""

from __future__ import annotations

import os
import time
from typing import Any

from imessenger.approval import answers
from imessenger.screen import State
from imessenger.status import STATUS_VERSION, StatusFormats, render_line, write_status
from imessenger.watcher.display import Display
from imessenger.watcher.following import Following
from imessenger.watcher.notices import USER
from imessenger.watcher.retry import Retry
from imessenger.watcher.store_view import StoreView


class Publisher:
    """Keeps the status cache of one tmux server up to date."""

    def __init__(
        self,
        following: Following,
        view: StoreView,
        display: Display,
        formats: StatusFormats,
    ) -> None:
        self.following = following
        self.view = view
        self.display = display
        self.formats = formats
        self.retry = Retry("write the status file")
        self._shown: dict[str, Any] | None = None

    def status(self) -> dict[str, Any]:
        """The status cache as it should read now (without its time stamp)."""
        followed_sessions = self.following.followed
        sessions = []
        for name in sorted(followed_sessions):
            followed = followed_sessions[name]
            prompt = followed.screen.prompt
            sessions.append(
                {
                    "name": name,
                    "agent": followed.record.agent,
                    "state": str(followed.state),
                    "since": followed.since,
                    "asking": prompt.about() if prompt is not None else None,
                    "question": prompt.question if prompt is not None else None,
                    "choices": [str(c) for c in answers(name, prompt).values()] if prompt else [],
                    "input": bool(followed.screen.input_text),
                    "pending": name in self.view.pending_targets,
                    "unread": self.view.unread.get(name, 0),
                }
            )
        asking = sum(1 for s in sessions if s["state"] == State.ASKING)
        unread = self.view.unread.get(USER, 0)
        return {
            "version": STATUS_VERSION,
            "server": self.view.server,
            "pid": os.getpid(),
            "asking": asking,
            "unread_user": unread,
            "pending": self.view.pending_count,
            "line": render_line(asking, unread, self.formats),
            "stopped_line": self.formats.stopped,
            "sessions": sessions,
        }

    def publish(self) -> None:
        """Write the status cache when what it says changed (later, if it cannot now)."""
        data = self.status()
        if data == self._shown or not self.retry.ready(time.monotonic()):
            return
        try:
            write_status(self.view.server, {**data, "updated_at": time.time()})
        except OSError as error:
            self.retry.failed(error)
            return
        self.retry.succeeded()
        counts = ("asking", "unread_user")
        line_changed = self._shown is None or any(data[key] != self._shown[key] for key in counts)
        self._shown = data
        if line_changed:
            self.display.redraw_status()
