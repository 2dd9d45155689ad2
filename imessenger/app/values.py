"""What the API returns besides the core's values: plain dataclasses, each field of a
type the wire knows (imessenger.core.wire), and the small helpers on names, answers and
lines of text that the interfaces share.

A value of another host's session names it ``HOST:SESSION`` (and its messages
``HOST:ID``); ``host`` says which host, None for this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imessenger.core.history import Event
from imessenger.core.screen import Explanation, Meaning, Screen, State
from imessenger.core.values import (
    Approval,
    Choice,
    HookEventRecord,
    InboxEntry,
    Restored,
    RestoreOutcome,
    Usage,
)


@dataclass(frozen=True)
class Session:
    """A session as seen now: who runs in it, where, and what its screen reads."""

    name: str
    agent: str
    directory: str
    started_at: float
    #: isesh started it (else it is only a tmux session with a program in it)
    managed: bool
    screen: Screen
    #: which run of the session it is (see imessenger.core.values.instance_of)
    instance: str = ""
    #: tmux's id of its pane ("%3")
    pane: str = ""
    #: its agent's imessenger MCP tools are registered and not connected yet
    tools_pending: bool = False
    host: str | None = None
    #: the branch of the git worktree isesh made for it ("" when none)
    branch: str = ""
    #: the tokens it used so far, from its agent's own record, when asked for (``isesh list
    #: --usage``); None when not asked for, or when it has no record that holds usage
    usage: Usage | None = None
    #: its watcher reads it stuck: busy for ``watch.stuck_after_ms`` without progress
    stuck: bool = False
    #: since when it is in its state (stuck: since its last progress), as its watcher saw
    #: it change (seconds since the epoch); None when no watcher runs, or the watcher has
    #: not seen the state its screen shows now
    state_since: float | None = None

    @property
    def state(self) -> State:
        return self.screen.state

    @property
    def shown_state(self) -> str:
        """Its state in words: its screen's, or "stuck"."""
        return "stuck" if self.stuck else str(self.screen.state)


@dataclass(frozen=True)
class Restorable:
    """A session isesh remembers that is not running: ``isesh restore`` brings it back."""

    name: str
    agent: str
    directory: str
    #: when its last run started, and when ``isesh stop`` stopped it (None: it ended
    #: otherwise, as with its tmux server)
    started_at: float
    stopped_at: float | None
    #: the branch of the git worktree isesh made for it ("" when none)
    branch: str = ""
    host: str | None = None
    #: the tokens its runs used, when asked for (see :attr:`Session.usage`)
    usage: Usage | None = None


@dataclass(frozen=True)
class Restoration:
    """What ``isesh restore`` did, session by session, and the hosts it could not ask."""

    sessions: list[Restored]
    unreachable: list[HostFailure] = field(default_factory=list)

    @property
    def started(self) -> list[Restored]:
        """The sessions it started (resumed, restarted or fresh): not those left running."""
        left = (RestoreOutcome.RUNNING, RestoreOutcome.FAILED)
        return [r for r in self.sessions if r.outcome not in left]

    @property
    def failed(self) -> list[Restored]:
        """The sessions it could not restore (each ``detail`` says why)."""
        return [r for r in self.sessions if r.outcome is RestoreOutcome.FAILED]

    def summary(self) -> str:
        """In a few words: "restored 2 sessions, 1 failed"."""
        count = len(self.started)
        said = f"restored {count} session{'' if count == 1 else 's'}"
        if self.failed:
            said += f", {len(self.failed)} failed"
        return said


@dataclass(frozen=True)
class HostFailure:
    """A host that could not be asked for a view of every host, and why."""

    host: str
    why: str


@dataclass(frozen=True)
class OptionView:
    """One option of a live prompt: the keys that pick it, and what approve/deny would say."""

    key: str
    label: str
    meaning: Meaning
    selected: bool
    keys: tuple[str, ...]
    #: the answer that picks this option (None when approve/deny never pick it)
    answer: Choice | None
    #: the command that gives that answer, shell-quoted
    command: str | None


@dataclass(frozen=True)
class PromptView:
    """The permission prompt a session is waiting on, as the commands show it."""

    session: str
    agent: str
    state: str
    question: str
    subject: str
    text: str
    options: tuple[OptionView, ...]
    #: the id of this occurrence of the prompt, for ``approve --prompt``; None when the
    #: store could not record it
    id: str | None = None

    def about(self) -> str:
        """What the prompt asks about, on one line (its subject, else its question)."""
        from imessenger.core.screen import about

        return about(self.question, self.subject)


@dataclass(frozen=True)
class Inbox:
    """An inbox as read: its owner, its entries and, for a session, the prompt it shows."""

    owner: str
    entries: list[InboxEntry]
    #: the session asked about (None for one's own inbox)
    session: str | None = None
    #: that session as it is now, when it runs
    live: Session | None = None
    prompt: PromptView | None = None
    #: what could not be done on the way (e.g. looking for late replies)
    warnings: list[str] = field(default_factory=list)
    #: the hosts whose inboxes could not be read
    unreachable: list[HostFailure] = field(default_factory=list)


@dataclass(frozen=True)
class Explained:
    """Why a session's screen reads as it does, as ``isesh explain`` shows it.

    ``agent`` is the session's agent (guessed from its screen when isesh did not start
    it: ``managed`` is False), ``profile`` the profile whose screen patterns read it (the
    plain program's when the agent has no profile), ``capture`` the visible text of the
    pane that was read ("" for a pane whose program has exited) and ``explanation`` what
    :func:`imessenger.core.screen.explain` says of it.
    """

    session: str
    agent: str
    profile: str
    managed: bool
    capture: str
    explanation: Explanation
    #: what the agent's own hooks reported (the latest, oldest first), each with what the
    #: screen showed when the watcher checked it
    hook_events: tuple[HookEventRecord, ...] = ()
    #: the imessenger MCP server isesh registered with the agent: "" (none), "connected",
    #: "not connected yet" (the session reads as starting until it is), or "missing: WHY"
    #: (the agent process cannot start it: the session is ready when its screen is)
    tools: str = ""
    #: which record the replies are read from, and whether it is written yet
    record: str = ""
    #: the event in which its own hooks said that its last turn ended on an error, while
    #: its screen reads idle and shows none of its own (then the explanation's screen has
    #: that error); None otherwise
    reported_error: HookEventRecord | None = None


@dataclass(frozen=True)
class AnsweredAll:
    """What ``approve --all`` did: the answers given, the sessions skipped or failed."""

    asked: int
    approvals: list[Approval]
    #: (session, why) for each session whose prompt closed or was answered by another
    #: before its turn came
    skipped: list[tuple[str, str]]
    #: (session, error) for each session that could not be answered
    failed: list[tuple[str, str]]
    #: the hosts that could not be asked
    unreachable: list[HostFailure] = field(default_factory=list)


@dataclass(frozen=True)
class Listing:
    """The sessions of every host (``isesh list``), and the hosts that could not be asked."""

    sessions: list[Session]
    unreachable: list[HostFailure] = field(default_factory=list)
    #: with ``--all``: the sessions isesh remembers that are not running
    restorable: list[Restorable] = field(default_factory=list)


@dataclass(frozen=True)
class Waiting:
    """The prompts every host's sessions wait on, and the hosts that could not be asked."""

    prompts: list[PromptView]
    unreachable: list[HostFailure] = field(default_factory=list)


@dataclass(frozen=True)
class Log:
    """What ``log`` shows: the events of one session (None: of every session)."""

    session: str | None
    events: list[Event]


@dataclass(frozen=True)
class Asking:
    """A session that is asking: what it asks about and which answers its prompt has."""

    name: str
    agent: str
    about: str
    choices: tuple[Choice, ...]
    #: the id of the prompt it shows (None when it is not known)
    prompt_id: str | None = None


@dataclass(frozen=True)
class Row:
    """One session as the dashboard shows it."""

    name: str
    agent: str
    state: str
    asking: str | None = None
    choices: tuple[str, ...] = ()
    last_message: str = ""
    last_reply: str = ""
    unread: int = 0
    pending: bool = False
    #: the id of the prompt it shows (None when it is not asking, or it is not known)
    prompt_id: str | None = None


@dataclass
class Overview:
    """Every session at a glance (the dashboard): the rows and the header's counts."""

    rows: list[Row] = field(default_factory=list)
    watching: bool = False
    user_unread: int = 0


def first_line(text: str | None, width: int = 60) -> str:
    """The first non-blank line of ``text``, cut to ``width`` (with "…" when cut or longer).

    >>> first_line("  \\nFix the login form\\nthen the tests", 40)
    'Fix the login form…'
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line, more = lines[0], len(lines) > 1
    if len(line) > width:
        line, more = line[: width - 1], True
    return line + ("…" if more else "")
