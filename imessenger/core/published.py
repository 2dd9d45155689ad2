"""What a watcher publishes of its tmux server (the status cache), typed.

The watcher writes it (imessenger.watcher.publishing) as JSON in the status cache
(imessenger.adapters.status_cache) and hands it to another host's watcher over the
wire (imessenger.core.wire); the status line, the menu, the dashboard and the views of
every host read it. Pure: values and how they are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from imessenger.core.status_line import STATUS_VERSION

#: The state a watcher publishes for a session its screen reads busy, when it has made no
#: progress for ``watch.stuck_after_ms`` (imessenger.watcher.attention).
STUCK = "stuck"


@dataclass(frozen=True)
class SessionStatus:
    """One followed session, as the watcher last saw it."""

    name: str
    agent: str
    #: its screen's state (imessenger.core.screen.State), or "stuck" (:data:`STUCK`)
    state: str
    #: when it entered that state, as the watcher saw it (seconds since the epoch; for
    #: "stuck", its last progress)
    since: float = 0.0
    #: what its prompt asks about, the prompt's question, the answers its options give
    #: (yes-once, yes-always, no) and the prompt's id; None and () when it shows none
    asking: str | None = None
    question: str | None = None
    choices: tuple[str, ...] = ()
    prompt_id: str | None = None
    #: its input box holds text
    input: bool = False
    #: messages wait for it
    pending: bool = False
    unread: int = 0

    def without_prompt(self) -> SessionStatus:
        """The same, with nothing of what it asks (that it asks stays in ``state``)."""
        return replace(self, asking=None, question=None, choices=(), prompt_id=None)


def state_since(state: str, watched: SessionStatus | None) -> tuple[bool, float | None]:
    """Whether a session whose screen reads ``state`` now is stuck, and since when it is in
    its state, from what its watcher published of it (``watched``; None: no watcher runs,
    or it does not follow the session).

    The watcher's time counts only where it saw the state the screen shows (a read of its
    own may be fresher): a session it publishes stuck is stuck while its screen reads busy.

    >>> seen = SessionStatus("w1", "demo", "stuck", since=100.0)
    >>> state_since("busy", seen), state_since("idle", seen), state_since("busy", None)
    ((True, 100.0), (False, None), (False, None))
    >>> state_since("idle", SessionStatus("w1", "demo", "idle", since=50.0))
    (False, 50.0)
    """
    if watched is None:
        return False, None
    if watched.state == STUCK and state == "busy":
        return True, watched.since
    if watched.state == state:
        return False, watched.since
    return False, None


@dataclass(frozen=True)
class HostStatus:
    """Another host, as this watcher follows it: what its own watcher published."""

    reachable: bool = False
    error: str = ""
    watching: bool = False
    #: its own counts, not its hosts' (two hosts that follow each other count once)
    asking: int = 0
    unread: int = 0
    sessions: tuple[SessionStatus, ...] = ()


@dataclass(frozen=True)
class Published:
    """The status cache: the counts of every host, the status line, each session."""

    version: int = STATUS_VERSION
    server: str = ""
    pid: int = 0
    #: the sessions asking and the user's unread entries, on every host
    asking: int = 0
    unread_user: int = 0
    #: the same, on this host only
    asking_here: int = 0
    unread_here: int = 0
    pending: int = 0
    line: str = ""
    stopped_line: str = ""
    sessions: tuple[SessionStatus, ...] = ()
    hosts: dict[str, HostStatus] = field(default_factory=dict)
    updated_at: float | None = None


@dataclass(frozen=True)
class Observed:
    """A tmux server's status as ``imessenger status`` tells it: whether its watcher runs
    (and which), and what that watcher last published (empty when none runs)."""

    watching: bool = False
    pid: int | None = None
    published: Published = field(default_factory=Published)


def status_json(server: str, observed: Observed, line: str) -> dict[str, Any]:
    """What ``imessenger status --json`` prints of a server: ``observed``, with the status
    line ``line`` as it reads now."""
    from imessenger.core.wire import encode

    published = observed.published if observed.watching else Published()
    return {
        "server": server,
        "watching": observed.watching,
        "pid": observed.pid,
        "asking": published.asking,
        "unread": published.unread_user,
        "asking_here": published.asking_here,
        "unread_here": published.unread_here,
        "line": line,
        "sessions": encode(published.sessions),
        "hosts": encode(published.hosts),
        "updated_at": published.updated_at,
    }


def read_published(data: Any) -> Published:
    """The status cache JSON ``data`` holds; an empty one when it is not one (another
    version, or damaged)."""
    from imessenger.core.wire import WireError, decode

    if not isinstance(data, dict) or data.get("version") != STATUS_VERSION:
        return Published()
    try:
        found: Published = decode(data, Published)
    except (WireError, TypeError):
        return Published()
    return found
