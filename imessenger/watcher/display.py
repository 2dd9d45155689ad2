"""What the watcher shows on the tmux clients a person looks at: a message, a fresh status
line, an alert (a bell or an OSC 9 notification); and which pane each of them shows.

They run on a thread of their own, so that a slow or vanished client never delays the
loop; a client that went meanwhile is skipped. The control clients of the watcher itself
are never shown anything. An alert is written to the terminal device of each client
attached at that moment, as tmux names it (``#{client_tty}``), and to nothing else: a
device that is not a terminal, or that does not take the bytes at once, is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor

from imessenger.adapters.tmux import Tmux
from imessenger.core.errors import ImessengerError

logger = logging.getLogger(__name__)


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

    def alert(self, data: bytes) -> None:
        """Write ``data`` (a bell, an OSC 9 notification) to every attached terminal, soon."""
        if data:
            self._ui.submit(self._alert, data)

    def looking_at(self, pane: str) -> bool:
        """Whether an attached (terminal) client shows the pane ``pane`` now: it is the active
        pane of that client's current window. False when tmux cannot tell."""
        try:
            clients = self.tmux.clients()
        except ImessengerError as error:
            logger.debug("listing the clients: %s", error)
            return False
        return any(not client.control and client.pane == pane for client in clients)

    def close(self) -> None:
        """Wait for what is being shown; drop the rest."""
        self._ui.shutdown(wait=True, cancel_futures=True)

    def _alert(self, data: bytes) -> None:
        with contextlib.suppress(ImessengerError):
            for client in self.tmux.clients():
                if not client.control and client.tty:
                    write_to_terminal(client.tty, data)

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


def write_to_terminal(path: str, data: bytes) -> bool:
    """Write ``data`` to the terminal device ``path``, without waiting and without making it
    anyone's controlling terminal; False when ``path`` is no terminal under /dev, or it
    would not take the bytes at once."""
    if not path.startswith("/dev/"):
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as error:
        logger.debug("opening %s: %s", path, error)
        return False
    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode) or not os.isatty(fd):
            return False
        return os.write(fd, data) == len(data)
    except OSError as error:
        logger.debug("writing to %s: %s", path, error)
        return False
    finally:
        os.close(fd)
