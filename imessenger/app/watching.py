"""The watcher and what it publishes: run it, start and stop it, read its status, the overview.

The watcher starts itself, as tmux's server does: :meth:`WatchActions.autostart_watcher`
starts it in the background for this tmux server when none runs, unless ``[watch]
autostart`` is off. The door (imessenger.app.api) calls it after ``start`` started a
session here and after ``send`` left a message pending here; ``imessenger mcp`` calls it
as it starts. Never for another host's session: that host's own commands start its
watcher there. It runs as the user (imessenger.watcher.daemon.spawn_watcher), on the
data folder and config file of the caller: for an agent session, those isesh started it
with, whatever its environment says. It does not wait for the watcher, and never fails
the command it serves: a watcher that cannot start is logged, and a pending message
stays pending (``deliver`` delivers it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from imessenger.app.prompts import note_closed, prompt_view
from imessenger.app.services import Services
from imessenger.app.values import Overview, Row, first_line
from imessenger.core.errors import ImessengerError

if TYPE_CHECKING:
    from imessenger.adapters.status_cache import Status
    from imessenger.core.published import Observed, SessionStatus
    from imessenger.core.values import MessageRecord
    from imessenger.watcher.daemon import Daemon, Stopped

logger = logging.getLogger(__name__)


class WatchActions(Services):
    """What watch, status and the dashboard do."""

    def watch(
        self, log_file: Path | None = None, *, verbose: bool = False, autostarted: bool = False
    ) -> None:
        """Follow every session of the server until stopped (SIGTERM, SIGINT, SIGHUP);
        ``autostarted`` (started by :meth:`autostart_watcher`): or until the server is gone.

        Logs to ``log_file`` (else stderr). Raises WatcherRunning when a watcher runs
        already for this server.
        """
        from imessenger.watcher.daemon import log_to, run_watcher

        log_to(log_file, verbose=verbose)
        run_watcher(self.server, self.sessions, autostarted=autostarted)

    def autostart_watcher(self) -> bool:
        """Start the watcher of this server in the background, without waiting for it, unless
        one runs or ``[watch] autostart`` is off; True when one was started.

        Never raises: a watcher that cannot be started is logged (see the module docstring).
        """
        from imessenger.watcher.daemon import spawn_watcher

        try:
            if not self.config.settings.watch.autostart:
                return False
            caller = self.caller
            if caller.agent:  # the data folder and config file isesh started it with, as for
                # its own commands: not what the agent's environment says
                return spawn_watcher(
                    self.server, self.socket_name, home=caller.home, config=caller.config
                )
            return spawn_watcher(self.server, self.socket_name)
        except (ImessengerError, OSError) as error:
            logger.warning(
                "could not start the watcher of tmux server %s: %s; "
                "start it with `imessenger watch --daemon`",
                self.server,
                error,
            )
            return False

    def start_watcher(self, *, verbose: bool = False) -> Daemon:
        """Start the watcher in the background, logging to its file; say whether it started."""
        from imessenger.watcher.daemon import start_daemon

        return start_daemon(self.server, self.socket_name, verbose=verbose)

    def stop_watcher(self) -> Stopped:
        """Stop the watcher of this server, and wait until it has."""
        from imessenger.watcher.daemon import stop_watcher

        return stop_watcher(self.server)

    def status(self) -> Status:
        """What the watcher last published (no pane is read; the user's needs no database)."""
        from imessenger.adapters.status_cache import read_status

        return read_status(self.server)

    def follow_status(
        self, interval_s: float = 0.2, read: Callable[[], Status] | None = None
    ) -> Iterator[Observed]:
        """The status (from ``read``, else :meth:`status`), once now and again each time it
        changes.

        What another host's watcher follows this host through: one small file read per
        interval, here, never a pane.
        """
        from dataclasses import replace

        shown: Observed | None = None
        read = read if read is not None else self.status
        while True:
            seen = read().observed()
            now = replace(seen, published=replace(seen.published, updated_at=None))
            if now != shown:
                shown = now
                yield now
            time.sleep(interval_s)

    def overview(self, reads: Callable[[str], bool], sees: Callable[[str], bool]) -> Overview:
        """Every session at a glance: states from the watcher (else the panes), the rest from
        the store; with a watcher, the sessions of the other hosts too (HOST:SESSION), as
        their own watchers published them.

        Every session's state and unread count are shown; the prompt a session waits on
        only where ``sees`` says the caller may see it, and the last exchange only where
        ``reads`` says the caller may read that session's messages, or when it sent or
        received them itself (the door decides both).
        """
        from imessenger.core.published import SessionStatus  # loaded by few commands

        status = self.status()
        #: each session, and the host whose own counts it comes with (None: this one)
        entries: list[tuple[SessionStatus, str | None]]
        if status.watching:
            published = status.published
            entries = [(session, None) for session in published.sessions]
            for name, there in sorted(published.hosts.items()):
                # what that host's watcher published, named HOST:SESSION
                sessions = there.sessions if there.reachable else ()
                entries += [(replace(e, name=f"{name}:{e.name}"), name) for e in sessions]
        else:
            entries = []
            views = self.sessions.views()
            note_closed(self.sessions, views)
            for view in views:
                prompt = prompt_view(self.sessions, view)
                found = SessionStatus(view.name, view.agent, str(view.state))
                if prompt is not None:
                    found = replace(
                        found,
                        asking=prompt.about(),
                        choices=tuple(str(o.answer) for o in prompt.options if o.answer),
                        prompt_id=prompt.id,
                    )
                entries.append((found, None))
        messages = self.store.messages.latest(limit=500)
        pending = {m.target for m in messages if m.state == "pending"}
        unread = self.store.inbox.unread_counts()
        me = self.caller.name
        own = [m for m in messages if me in (m.sender, m.target)]
        rows = []
        for entry, counted_there in entries:
            name = entry.name
            sees_prompt = sees(name)
            last, reply = _last_exchange(messages if reads(name) else own, name)
            rows.append(
                Row(
                    name=name,
                    agent=entry.agent,
                    state=entry.state,
                    asking=entry.asking if sees_prompt else None,
                    choices=entry.choices if sees_prompt else (),
                    last_message=last,
                    last_reply=reply,
                    # another host's counts are that host's
                    unread=entry.unread if counted_there else unread.get(name, 0),
                    pending=entry.pending if counted_there else name in pending,
                    prompt_id=entry.prompt_id if sees_prompt else None,
                )
            )
        return Overview(rows, status.watching, unread.get("user", 0))


def _last_exchange(messages: list[MessageRecord], name: str) -> tuple[str, str]:
    """The last message to ``name`` and its reply (or what became of it), newest first list."""
    for message in messages:
        if message.target != name:
            continue
        reply = f"({message.state})" if message.reply is None else first_line(message.reply)
        return first_line(message.body), reply
    return "", ""
