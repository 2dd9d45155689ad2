"""What the watcher shows on the tmux clients a person looks at: a message, a fresh status line.

Both run on a thread of their own, so that a slow or vanished client never delays the
loop; a client that went meanwhile is skipped. The control clients of the watcher itself
are never shown anything.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

from imessenger.adapters.tmux import Tmux
from imessenger.core.errors import ImessengerError


class Display:
    """The attached tmux clients of one server, written to from one worker thread."""

    def __init__(self, tmux: Tmux) -> None:
        self.tmux = tmux
        self._ui = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imessenger-tmux-ui")
        self._redraw_queued = False

    def show(self, text: str) -> None:
        """Show ``text`` in the status line of every client, soon."""
        self._ui.submit(self._show_message, text)

    def redraw_status(self) -> None:
        """Have every client draw its status line again, soon (once, however often asked)."""
        if not self._redraw_queued:
            self._redraw_queued = True
            self._ui.submit(self._refresh_status_lines)

    def close(self) -> None:
        """Wait for what is being shown; drop the rest."""
        self._ui.shutdown(wait=True, cancel_futures=True)

    def _show_message(self, text: str) -> None:
        for client in self.tmux.clients():
            if not client.control:
                with contextlib.suppress(ImessengerError):
                    self.tmux.display_message(client.name, text)

    def _refresh_status_lines(self) -> None:
        self._redraw_queued = False
        for client in self.tmux.clients():
            if not client.control:
                with contextlib.suppress(ImessengerError):
                    self.tmux.refresh_status(client.name)
