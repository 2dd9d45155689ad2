"""The status the watcher publishes, for ``imessenger status`` and the dashboard.

After each round the watcher renders what it sees (every followed session's state, since
when it is in it, and its prompt, with the prompt's id; a busy session that made no
progress for ``watch.stuck_after_ms`` reads ``stuck``, since its last progress:
:mod:`imessenger.watcher.attention`; what each other host's watcher last published, the counts
of all of them, the status line in the user's ``[status]`` formats) and writes it
to the status cache (:func:`imessenger.adapters.status_cache.write_status`) when it changed. When a
count the status line shows changed, every attached tmux client redraws its status
line. A cache that could not be written is written again, with what the watcher sees
by then.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from imessenger.actions.approval import answers
from imessenger.adapters.status_cache import render_line, write_status
from imessenger.core.published import STUCK, Published, SessionStatus
from imessenger.core.screen import State
from imessenger.core.status_line import StatusFormats
from imessenger.core.wire import encode
from imessenger.watcher.display import Display
from imessenger.watcher.following import Following
from imessenger.watcher.host_streams import HostStreams
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
        hosts: HostStreams | None = None,
    ) -> None:
        self.following = following
        self.view = view
        self.display = display
        self.formats = formats
        self.hosts = hosts
        self.retry = Retry("write the status file")
        self._shown: Published | None = None

    def status(self) -> Published:
        """The status cache as it should read now (without its time stamp)."""
        followed_sessions = self.following.followed
        sessions = []
        for name in sorted(followed_sessions):
            followed = followed_sessions[name]
            prompt = followed.screen.prompt
            occurrence = followed.occurrence
            if (
                occurrence is None
                or prompt is None
                or occurrence.fingerprint != prompt.fingerprint()
            ):
                occurrence = None  # a prompt not known yet: no id rather than another's
            stuck_since = followed.stuck_since if followed.state is State.BUSY else None
            sessions.append(
                SessionStatus(
                    name=name,
                    agent=followed.record.agent,
                    state=STUCK if stuck_since is not None else str(followed.state),
                    since=stuck_since if stuck_since is not None else followed.since,
                    asking=prompt.about() if prompt is not None else None,
                    question=prompt.question if prompt is not None else None,
                    choices=tuple(str(c) for c in answers(name, prompt).values()) if prompt else (),
                    prompt_id=occurrence.id if occurrence is not None else None,
                    input=bool(followed.screen.input_text),
                    pending=name in self.view.pending_targets,
                    unread=self.view.unread.get(name, 0),
                )
            )
        asking = sum(1 for s in sessions if s.state == State.ASKING)
        unread = self.view.unread.get(USER, 0)
        hosts = {n: v.host_status() for n, v in self.hosts.views().items()} if self.hosts else {}
        every_asking = asking + sum(host.asking for host in hosts.values())
        every_unread = unread + sum(host.unread for host in hosts.values())
        # each host's own counts: a host's hosts are its to add up (two hosts that follow
        # each other must not count each other's sessions again and again)
        return Published(
            server=self.view.server,
            pid=os.getpid(),
            asking=every_asking,
            unread_user=every_unread,
            asking_here=asking,
            unread_here=unread,
            pending=self.view.pending_count,
            line=render_line(every_asking, every_unread, self.formats),
            stopped_line=self.formats.stopped,
            sessions=tuple(sessions),
            hosts=hosts,
        )

    def publish(self) -> None:
        """Write the status cache when what it says changed (later, if it cannot now)."""
        data = self.status()
        if data == self._shown or not self.retry.ready(time.monotonic()):
            return
        try:
            write_status(self.view.server, encode(replace(data, updated_at=time.time())))
        except OSError as error:
            self.retry.failed(error)
            return
        self.retry.succeeded()
        shown = self._shown
        line_changed = shown is None or (data.asking, data.unread_user) != (
            shown.asking,
            shown.unread_user,
        )
        self._shown = data
        if line_changed:
            self.display.redraw_status()
