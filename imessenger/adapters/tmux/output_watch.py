"""OutputWatch: woken when a session's panes print, for the length of one wait.

``send`` waits for a reply that an agent prints in its pane. Rather than read the pane
every few milliseconds whatever it does, the wait opens an :class:`OutputWatch` on the
target session: a :class:`ControlClient` of its own, which tmux tells of the session's
output within about a millisecond, and through which the pane is read without a new
process. It lives as long as the wait, closed in a ``finally``: :meth:`OutputWatch.close`
detaches the client and waits for its process to end, so no client of the waiter is
left on the server, whatever ended the wait (the reply, a timeout, Ctrl-C).
:meth:`OutputWatch.let_go` begins that in the background, for a caller that has found
what it waited for and has something else to do first.

* The client attaches with ``ignore-size`` (the session's size is not changed) and is
  a control-mode client, not a terminal: what imessenger shows on the clients a person
  looks through (messages, the status line, menus, the client a popup came from) skips
  control clients, as it does the watcher's.
* :meth:`OutputWatch.open` attaches the client in the background: until it is attached,
  and for good when it cannot be (whatever the reason), :attr:`OutputWatch.alive` is
  False and the caller reads the pane its usual way, by polling.
* :meth:`OutputWatch.look_growing` reads the pane as :meth:`AgentPane.look_growing`
  does, the same text and the same scrollback length; it first lets the client report
  the session's output again (:meth:`ControlClient.read_pane`), so anything printed
  after the look wakes the waiter once more. A look that fails (the session, its
  client or the server went) raises, and the caller reads the pane its usual way,
  which says what happened.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from imessenger.adapters.tmux.control import CLIENT_EXIT, OUTPUT, ControlClient, ControlEvent
from imessenger.core.errors import TmuxCommandFailed

if TYPE_CHECKING:
    from imessenger.adapters.tmux.runner import Tmux

logger = logging.getLogger(__name__)


class OutputWatch:
    """A control client on one session that wakes :meth:`wait` when the session prints.

    Use :meth:`open`, then :meth:`close` at the end, however it comes.
    """

    def __init__(self, tmux: Tmux, session: str) -> None:
        self.session = session
        self._printed = threading.Event()
        self._client = ControlClient(tmux, session, self._heard)
        self._closed = False
        self._starter: threading.Thread | None = None
        self._closer: threading.Thread | None = None

    @classmethod
    def open(cls, tmux: Tmux, session: str) -> OutputWatch:
        """Begin to attach a control client to ``session``, in the background.

        The watch is :attr:`alive` once the client is attached (a few milliseconds): until
        then, and for good when it cannot attach (whatever the reason, which is logged),
        the caller reads the pane its usual way, so that a reply printed meanwhile is
        not found later than without the watch. Whatever the session printed before the
        client attached is not reported: once attached, the watch wakes the waiter as if
        the session had printed, so that it looks at once.
        """
        watch = cls(tmux, session)
        watch._starter = threading.Thread(
            target=watch._start, name=f"output-watch-{session}", daemon=True
        )
        watch._starter.start()
        return watch

    def _start(self) -> None:
        """Attach the client (the starter thread); close it at once if the watch was closed
        meanwhile."""
        if self._closed:
            return
        try:
            self._client.start()
        except Exception as error:  # any reason at all: the caller keeps polling
            logger.debug("no control client on %s, polling its pane: %s", self.session, error)
            self._client.close()
        else:
            if self._closed:  # closed while it attached (close() could not join: Ctrl-C)
                self._client.close()
        self._printed.set()  # attached (look now), or not (poll now)

    @property
    def alive(self) -> bool:
        """True while the client is attached (and :meth:`close` was not called)."""
        return not self._closed and self._client.alive

    @property
    def starting(self) -> bool:
        """True while the client is attaching (:meth:`wait` returns once it is, or failed)."""
        starter = self._starter
        return not self._closed and starter is not None and starter.is_alive()

    @property
    def printed(self) -> bool:
        """The session printed (or its client ended) since the last look."""
        return self._printed.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait until the session prints (or its client ends, or, while :attr:`starting`,
        attaches or fails to), ``timeout`` seconds at most.

        Returns :attr:`printed`: at once when it printed since the last look.
        """
        return self._printed.wait(timeout)

    def look_growing(self, pane_id: str, history: int) -> tuple[str, int]:
        """Pane ``pane_id`` as :meth:`AgentPane.look_growing` reads it: its text, with
        ``history`` lines of scrollback, and its scrollback's length, through the client.

        Raises TmuxCommandFailed (its subclass ControlClientClosed when the client has
        ended) when the pane cannot be read this way.
        """
        self._printed.clear()
        # continues the output the client paused after it reported it: whatever the
        # pane prints from here on is reported again
        self._client.read_pane(info=False)
        scrollback = str(-max(history, 0))
        lines = self._client.command("capture-pane", "-p", "-t", pane_id, "-S", scrollback)
        size = self._client.command("display-message", "-p", "-t", pane_id, "#{history_size}")
        if not size or not size[-1].isdigit():
            raise TmuxCommandFailed("display-message", f"no scrollback length for pane {pane_id}")
        while lines and lines[-1] == "":
            lines.pop()  # as tmux's output is read elsewhere (imessenger.adapters.tmux.runner)
        return "\n".join(lines), int(size[-1])

    def let_go(self) -> None:
        """Begin to detach the client, in the background: the caller goes on (it records
        what it found) while the client's process ends. :meth:`close` waits for it."""
        if self._closer is None:
            self._closer = threading.Thread(
                target=self._detach, name=f"output-watch-{self.session}-end", daemon=True
            )
            self._closer.start()

    def close(self) -> None:
        """Detach the client and wait for its process to end (the wait is over).

        A client still attaching is waited for, then detached.
        """
        if self._closer is not None:
            self._closer.join()
        self._detach()  # again, should the join have been cut short (Ctrl-C): no harm

    def _detach(self) -> None:
        self._closed = True
        self._printed.set()
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join()
        self._client.close()

    def _heard(self, event: ControlEvent) -> None:
        """From the client's reader thread: wake the waiter for output or the client's end."""
        if event.kind in (OUTPUT, CLIENT_EXIT):
            self._printed.set()
