"""The sessions the watcher follows, each through a tmux control-mode client of its own.

* one control client per followed session (:class:`imessenger.adapters.tmux.ControlClient`,
  all read by one thread) reports the first news a pane printed after each read within
  about a millisecond, and nothing while the pane is quiet or only redraws what it
  showed (a spinner); one of them (the lookout) also reports, through a subscription,
  the panes of the whole server that died or came back;
* tmux's ``%sessions-changed``, a client's end, and a new socket file (looked at every
  ``watch.interval_ms``: the server restarted) ask for a rescan: every session
  isesh records that runs is followed, a new run under the same name gets a new client,
  and the others are let go. A session whose tmux session was closed while the server
  runs waits in :attr:`Following.gone` for its notice;
* no session at all while some are recorded means that the tmux server is gone (or not
  started again yet): the rescan is tried again with a backoff (:class:`Retry`);
* a session that printed news is read through its client (a capture, no new process)
  and classified with its session's profile: at once when it was not read for
  ``watch.debounce_ms``, else that long after the last read (:meth:`Following.news`);
  a pane paused for printing a lot, ``FLOOD_ROUND_S`` after it;
* the net under the redraws a client sets aside: a session whose redraws not read yet
  stopped ``QUIET_S`` ago (its final screen), or have gone on for ``RECHECK_S``, is
  read once then, at the watcher's next tick (:meth:`Following.read_redrawn`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imessenger.actions.sessions import Sessions, waiting_for_tools
from imessenger.adapters.tmux import (
    CLIENT_EXIT,
    FLOODED,
    OUTPUT,
    PANE_DEAD,
    SESSIONS_CHANGED,
    ControlClient,
    ControlEvent,
    ControlReader,
    PaneInfo,
)
from imessenger.core.errors import ImessengerError
from imessenger.core.profiles import Profile
from imessenger.core.screen import Screen, State, classify
from imessenger.core.values import PromptRecord, SessionRecord
from imessenger.watcher.retry import Retry

logger = logging.getLogger(__name__)

#: How long an exit waits before its notice, so that ``isesh stop`` (which forgets the
#: session right after it ended) raises none.
EXIT_GRACE_S = 1.0
#: The net under the redraws a control client sets aside (a frame that looked like one
#: seen before): a session whose redraws not read yet stopped this long ago is read, and
#: so is one whose redraws have gone on this long, in seconds.
QUIET_S = 1.0
RECHECK_S = 30.0
#: A pane paused for printing a lot is read (and continued) this long after the last read
#: at the soonest, in seconds: a flood costs ten captures a second at most.
FLOOD_ROUND_S = 0.1


@dataclass
class Followed:
    """One session the watcher follows, as it last read it."""

    record: SessionRecord
    profile: Profile
    client: ControlClient | None = None
    pane: PaneInfo | None = None
    screen: Screen = field(default_factory=lambda: Screen(State.UNKNOWN))
    since: float = field(default_factory=time.time)  # when the state last changed
    read_due: float | None = None  # when to read it next (monotonic), None: nothing new
    read_at: float = float("-inf")  # when the last read began (monotonic)
    described: bool = False  # ``pane`` is up to date (else the next read asks tmux)
    prompt: str | None = None  # key of the prompt on screen (notified)
    #: the occurrence of the prompt on screen, as the store knows it (its id is published)
    occurrence: PromptRecord | None = None
    prompt_gone_at: float | None = None  # a read without that prompt (monotonic)
    #: a prompt on screen not notified yet, waiting for its hook event: since (monotonic)
    prompt_waits_since: float | None = None
    hook_due: float | None = None  # when to read again for a hook's asking (monotonic)
    exit_due: float | None = None  # when to give the exit notice (monotonic)
    # what imessenger.watcher.attention follows:
    attended: bool = False  # it has seen a read of this session
    digest: str = ""  # the last screen read, digits and spinner glyphs set aside
    progress_at: float = field(default_factory=time.time)  # the last progress (epoch s)
    stuck_since: float | None = None  # stuck: no progress since then (epoch s)
    turn_end_due: float | None = None  # when its idle screen ends its turn (monotonic)
    busy_seen_at: float = 0.0  # the last read that showed it busy or asking (epoch s)
    ready_seen_at: float = 0.0  # the last read that showed it idle, input empty (epoch s)
    idle_error: str | None = None  # the error the idle screen that may end a turn shows
    #: until when its turn's end waits for its hooks to say the turn ended (monotonic)
    hook_end_wait: float | None = None
    #: the messages whose senders waited for the turn that ended last (their ids)
    last_waited: frozenset[str] = frozenset()
    record_path: Path | None = None  # the agent's record, once located
    record_looked: float = float("-inf")  # when it was last looked at (monotonic)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def state(self) -> State:
        return self.screen.state

    @property
    def ready(self) -> bool:
        """Idle with an empty input box: ready for a message."""
        return self.screen.state is State.IDLE and not self.screen.input_text

    def read_by(self, when: float) -> None:
        """Have it read at ``when`` at the latest."""
        if self.read_due is None or when < self.read_due:
            self.read_due = when

    def end_later(self) -> None:
        """Give the notice of its end in ``EXIT_GRACE_S`` (isesh stop forgets it meanwhile)."""
        self.exit_due = time.monotonic() + EXIT_GRACE_S


class Following:
    """The followed sessions of one tmux server and their control clients.

    ``report`` gets the clients' events, from their threads. ``debounce`` (seconds) is
    the least time between two reads of a session that news asks for.
    """

    def __init__(
        self, sessions: Sessions, report: Callable[[ControlEvent], None], debounce: float
    ) -> None:
        self.sessions = sessions
        self.debounce = debounce
        self.tmux = sessions.tmux
        self.report = report
        self.followed: dict[str, Followed] = {}
        self.gone: dict[str, Followed] = {}  # vanished sessions whose notice waits (exit_due)
        self.rescan_wanted = True
        self.server_retry = Retry("reach the tmux server", patience=EXIT_GRACE_S)
        self._reader = ControlReader()  # one thread reads every client
        self._lookout: ControlClient | None = None  # the client that reports dead panes
        self._dead: set[str] = set()  # ids of the sessions whose pane is dead
        self._socket: tuple[int, int, int] | None = None  # the server's socket, last looked at

    def rescan(self, records: dict[str, SessionRecord]) -> None:
        """Follow every recorded session that runs; let go of the others.

        No session at all while some are recorded means that the tmux server is gone (or
        not started again yet): look for it again later, with a backoff.
        """
        try:
            panes = {pane.session: pane for pane in self.tmux.panes()}
        except ImessengerError as error:
            self.server_retry.failed(error)  # keep following what is followed; look again
            return
        if panes:
            self.server_retry.succeeded()
        elif records:
            self.server_retry.failed(f'no session runs on tmux server "{self.tmux.label}"')
        else:
            self.server_retry.drop()  # nothing to follow: no need for a server
        for name, record in records.items():
            if name not in panes:
                continue
            followed = self.followed.get(name)
            if followed is not None and followed.record.started_at != record.started_at:
                self._detach(followed)  # a new run under the same name
                followed = None
            if followed is None:
                profile = self.sessions.profile_for(record.agent)
                followed = self.followed[name] = Followed(record, profile)
            if followed.client is None or not followed.client.alive:
                self._attach(followed)
        for name in [n for n in self.followed if n not in panes or n not in records]:
            followed = self.followed.pop(name)
            self._detach(followed)
            if name in panes or not panes:
                continue  # forgotten by isesh, or the whole server is gone: nothing to say
            # Closed while the server runs: say so, unless isesh stop forgets it meanwhile.
            followed.end_later()
            self.gone[name] = followed
        self._keep_a_lookout()

    def look_at_socket(self) -> None:
        """Ask for a rescan when the server's socket is a new one (the server restarted)."""
        try:
            stat = self.tmux.socket_file().stat()
        except OSError:
            socket = None
        else:
            # with the time too: a new server's socket often gets the inode of the old one
            socket = (stat.st_dev, stat.st_ino, stat.st_ctime_ns)
        if socket != self._socket:
            self._socket = socket
            self.rescan_wanted = True

    def handle(self, event: ControlEvent) -> None:
        """Note what a control client reported: output to read, dead panes, a rescan due."""
        followed = self.followed.get(event.session)
        if event.kind == OUTPUT and followed is not None:
            self.news(followed, FLOOD_ROUND_S if event.value == FLOODED else self.debounce)
            if event.value == "moved":
                followed.described = False  # another pane may be the active one
        elif event.kind == PANE_DEAD:
            self._dead_panes_changed(set(event.value.split()))
        elif event.kind == SESSIONS_CHANGED:
            self.rescan_wanted = True
        elif event.kind == CLIENT_EXIT:
            if followed is not None and followed.client is not None and not followed.client.alive:
                self._detach(followed)
            self.rescan_wanted = True

    def news(self, followed: Followed, spacing: float | None = None) -> None:
        """Something new shows: read it now, or ``spacing`` (by default ``debounce``) after
        the last read began (the first news after a quiet while is read at once; a burst
        costs a read per ``debounce``, the last one after it ended)."""
        spacing = self.debounce if spacing is None else spacing
        followed.read_by(max(time.monotonic(), followed.read_at + spacing))

    def read(self, followed: Followed) -> str | None:
        """Read the session's screen through its control client and classify it.

        Returns the text read (``followed`` holds the pane and screen), or None when the
        session, its client or the whole server went: a rescan is due then.
        """
        client = followed.client
        if client is None or not client.alive:
            self.rescan_wanted = True
            return None
        followed.read_at = time.monotonic()
        logger.debug("reading %s", followed.name)
        try:
            pane, text = client.read_pane(info=not followed.described or followed.pane is None)
        except ImessengerError as error:  # the session, its client or the whole server went
            logger.debug("reading %s: %s", followed.name, error)
            self.rescan_wanted = True
            return None
        if pane is None:
            pane = followed.pane
        followed.described = True
        assert pane is not None
        profile = followed.profile
        starting = profile.launch.starting(time.time() - followed.record.started_at)
        screen = classify(text, profile.grammar, dead=pane.dead, starting=starting)
        if (
            screen.state is State.IDLE
            and followed.record.mcp
            and followed.record.mcp_connected_at is None
        ):
            # ready once its imessenger MCP server connected: the record tells
            fresh = self.sessions.store.sessions.get(followed.name)
            if fresh is not None and fresh.started_at == followed.record.started_at:
                followed.record = fresh
            screen = waiting_for_tools(followed.record, screen, pane.pid)
        before = followed.state
        followed.pane, followed.screen = pane, screen
        if screen.state is not before:
            followed.since = time.time()
            logger.debug("%s: %s -> %s", followed.name, before, screen.state)
        return text

    def read_redrawn(self, now: float) -> None:
        """Have the sessions read whose redraws, set aside by their clients, stopped
        ``QUIET_S`` ago or have gone on for ``RECHECK_S`` (``now``: monotonic)."""
        for followed in self.followed.values():
            client = followed.client
            if client is None or followed.read_due is not None:
                continue
            unread = client.unread_redraws()
            if unread is not None and (now - unread[1] >= QUIET_S or now - unread[0] >= RECHECK_S):
                followed.read_by(now)

    def running(self, name: str) -> bool | None:
        """Whether a tmux session of that name runs; None when tmux cannot say."""
        try:
            return name in self.tmux.session_names()
        except ImessengerError as error:
            logger.debug("listing the sessions for %s: %s", name, error)
            return None

    def close(self) -> None:
        """Close every control client, and their reader."""
        for followed in self.followed.values():
            self._detach(followed)
        self._reader.close()

    def _dead_panes_changed(self, dead: set[str]) -> None:
        """Read again the sessions whose pane died (or came back) since the last report."""
        changed = dead ^ self._dead
        self._dead = dead
        for followed in self.followed.values():
            client = followed.client
            if client is not None and client.session_id in changed:
                followed.described = False
                self.news(followed)

    def _keep_a_lookout(self) -> None:
        """Have one live control client report dead panes for the whole server."""
        if self._lookout is not None and self._lookout.alive:
            return
        self._lookout = None
        for followed in self.followed.values():
            client = followed.client
            if client is not None and client.alive:
                try:
                    client.watch_dead_panes()
                except ImessengerError:
                    continue
                self._lookout = client
                return

    def _attach(self, followed: Followed) -> None:
        client = ControlClient(self.tmux, followed.name, self.report, self._reader)
        try:
            client.start()
        except (ImessengerError, OSError) as error:
            logger.info("cannot follow %s: %s", followed.name, error)
            return
        followed.client = client
        followed.described = False
        followed.read_by(time.monotonic())  # read it now: it may have changed meanwhile
        logger.info("following %s (%s)", followed.name, followed.record.agent)

    def _detach(self, followed: Followed) -> None:
        client, followed.client = followed.client, None
        if client is not None:
            client.close()
