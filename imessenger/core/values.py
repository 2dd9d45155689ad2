"""The values every layer passes on: what a message, an answer, a prompt or a session is.

Pure: plain frozen dataclasses and enums, no I/O. The store keeps them (imessenger.
adapters.store), the actions make them, the API returns them, and another host's API
sends them over the wire (imessenger.core.wire): every field has a type the wire knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum

from imessenger.core.errors import ImessengerError
from imessenger.core.screen import Option, Prompt


class MessageState(StrEnum):
    """Where a message is in its life: what the store holds, and what ``send`` reports.

    The last two are only ever reported, never stored (see :data:`REPORTED_ONLY`).
    """

    PENDING = "pending"  # waiting until the target can take it
    DELIVERING = "delivering"  # claimed by one process that is pasting it right now
    DELIVERED = "delivered"  # submitted to the target agent
    QUEUED = "queued"  # submitted, and the agent queued it behind its current work
    REPLIED = "replied"  # a reply is recorded
    TIMED_OUT = "timed_out"  # the sender stopped waiting for a reply
    FAILED = "failed"  # could not be delivered; see ``error``
    CANCELLED = "cancelled"  # never pasted: its session was stopped or ended; see ``error``
    UNCONFIRMED = "unconfirmed"  # pasted, never shown as taken; never pasted again
    #: pasted (and taken, as far as was seen), but the store could not record it (a full
    #: disk): not pasted again; the next delivery settles it from the screen
    NOT_RECORDED = "not_recorded"
    #: delivered, then the session (or its tmux server) ended before it replied; the
    #: store keeps it timed out, so that a late reply still finds its sender
    ENDED = "ended"


#: States ``send`` reports that the store never holds.
REPORTED_ONLY = frozenset({MessageState.NOT_RECORDED, MessageState.ENDED})


class InboxKind(StrEnum):
    """What an inbox entry is about."""

    REPLY = "reply"
    PENDING = "pending"
    NOTICE = "notice"
    PROMPT = "prompt"


class Choice(StrEnum):
    """The answer given to an agent's permission prompt."""

    YES_ONCE = "yes-once"
    YES_ALWAYS = "yes-always"
    NO = "no"


#: Where a reply was read: the agent's own record, its screen, or `imessenger reply`.
REPLY_VIA = ("record", "screen", "command")


@dataclass(frozen=True)
class SessionRecord:
    """A session that isesh started."""

    server: str  # tmux socket name, or "default"
    name: str
    agent: str
    directory: str
    command: tuple[str, ...]
    started_at: float
    #: which kind of record the agent keeps of its answers ("" when none is read), and
    #: what locates it: a path, or the agent's own session id (see imessenger.adapters.records)
    record_kind: str = ""
    record_ref: str = ""
    #: how the agent reports its own events (a profile's ``hooks``; "" when isesh
    #: installed none), and the folder of the files isesh made for this session ("")
    hooks: str = ""
    files_dir: str = ""
    #: how imessenger's MCP server (``imessenger mcp``) was registered with the agent (a
    #: profile's ``mcp``; "" when it was not), and when the agent last connected to it in
    #: this session (None: not yet, or never)
    mcp: str = ""
    mcp_connected_at: float | None = None
    #: which run of the session this is (see :func:`instance_of`); "" for a session
    #: recorded before sessions had one
    instance: str = ""


@dataclass(frozen=True)
class RememberedSession:
    """A session isesh started, remembered so that ``isesh restore`` can bring it back:
    kept when it stops or its tmux server ends, until ``isesh forget``."""

    server: str
    name: str
    agent: str
    #: the folder the agent works in (with a worktree, the worktree's)
    directory: str
    #: the command as given (or the profile's), before what isesh adds to it
    command: tuple[str, ...]
    #: the variables isesh passed on to the session, as ``(name, value)`` pairs
    environment: tuple[tuple[str, str], ...]
    #: which record the agent keeps and what locates it (its conversation: see
    #: imessenger.adapters.records.pinning), as the last run left it
    record_kind: str
    record_ref: str
    started_at: float
    #: when ``isesh stop`` stopped it (None: it was not stopped, or runs)
    stopped_at: float | None = None
    #: the last run of it (:func:`instance_of`)
    instance: str = ""
    #: the git worktree isesh made for it ("" when none), its repository, branch, and
    #: what the branch was made from (a branch's name, or a commit) at which commit
    worktree: str = ""
    repo: str = ""
    branch: str = ""
    base: str = ""
    base_commit: str = ""


class RestoreOutcome(StrEnum):
    """What ``isesh restore`` did with one remembered session."""

    RESUMED = "resumed"  # started again in its own conversation
    RESTARTED = "restarted"  # started again as it was: it keeps no conversation to resume
    FRESH = "fresh"  # its conversation was gone: started anew (--fresh)
    RUNNING = "running"  # it runs: left alone
    FAILED = "failed"  # not started; ``detail`` says why


@dataclass(frozen=True)
class Restored:
    """One remembered session, and what ``isesh restore`` did with it (``detail``: why)."""

    name: str
    outcome: RestoreOutcome
    detail: str = ""
    host: str | None = None


@dataclass(frozen=True)
class Usage:
    """The tokens a session's model used, as its agent recorded them (see
    imessenger.adapters.records.usage): the input the model read fresh, its output, the
    input it read from the provider's prompt cache and the input it wrote to that cache (0
    where the agent records none), over ``turns`` responses of the model; ``model`` is the
    model of the last one ("" when none was named). With more than one model, ``by_model``
    holds each one's share (in the order they were first used; empty otherwise).

    >>> one = Usage(1200, 80, cache_read_tokens=4500, model="m1", turns=1)
    >>> both = one + Usage(300, 20, model="m2", turns=1)
    >>> both.input_tokens, both.output_tokens, both.model, both.turns, both.total_tokens
    (1500, 100, 'm2', 2, 6100)
    >>> [(part.model, part.input_tokens) for part in both.by_model]
    [('m1', 1200), ('m2', 300)]
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model: str = ""
    turns: int = 0
    by_model: tuple[Usage, ...] = ()

    @property
    def total_tokens(self) -> int:
        """Every token counted: input, output, and cache reads and writes."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def models(self) -> tuple[Usage, ...]:
        """Each model's share: ``by_model``, or this usage itself when it names one model."""
        return self.by_model or ((self,) if self.turns or self.total_tokens else ())

    def __add__(self, other: Usage) -> Usage:
        """Both usages: the counts added, ``model`` the other's (the later one's) when it
        names one, and each model's share kept apart."""
        shares: dict[str, Usage] = {}
        for part in (*self.models(), *other.models()):
            known = shares.get(part.model)
            shares[part.model] = part if known is None else _added(known, part)
        total = _added(self, other)
        parts = tuple(shares.values())
        return replace(total, by_model=parts if len(parts) > 1 else ())


def _added(first: Usage, second: Usage) -> Usage:
    """The counts of both, one model's share (no ``by_model``)."""
    return Usage(
        input_tokens=first.input_tokens + second.input_tokens,
        output_tokens=first.output_tokens + second.output_tokens,
        cache_read_tokens=first.cache_read_tokens + second.cache_read_tokens,
        cache_write_tokens=first.cache_write_tokens + second.cache_write_tokens,
        model=second.model or first.model,
        turns=first.turns + second.turns,
    )


@dataclass(frozen=True)
class HookEventRecord:
    """One event an agent's own hook reported (see :mod:`imessenger.core.hook_events`)."""

    id: int
    at: float
    server: str
    session: str
    kind: str  # the hooks' kind: claude, codex, aider, demo
    event: str  # the agent's own name for it: PermissionRequest, Stop...
    state: str  # what it says of the session: busy, asking, idle, waiting, started
    detail: str  # what it is about (an asking hook's command), or ""
    #: what the screen showed when the watcher checked the event against it: "" (not
    #: checked), "agrees", or the disagreement ("the screen shows no prompt")
    screen: str


@dataclass(frozen=True)
class MessageRecord:
    """One message from a sender to a target session, and its reply if any."""

    id: str
    server: str
    sender: str
    target: str
    body: str
    raw: bool  # sent without the envelope
    state: MessageState
    created_at: float
    claimed_at: float | None
    delivered_at: float | None
    replied_at: float | None
    reply: str | None
    reply_via: str | None  # "record", "screen" or "command"
    waiting: bool  # a sender process is waiting for the reply (and is still running)
    error: str | None
    #: the target session the message is for: its id and creation time (see
    #: :func:`instance_of`); "" for messages recorded before sessions had one
    target_instance: str = ""
    #: when a paste of it was begun: from then on it may be in the agent's input box or
    #: taken, and is never pasted again without evidence that it is neither (None: never)
    pasted_at: float | None = None
    #: when its submit key was about to be pressed (None: never, or refused by the screen):
    #: from then on the agent may have taken it, and only evidence says it did not
    submitted_at: float | None = None
    #: the agent session that sent it, as :func:`instance_of` names it; "" when the
    #: person sent it (or for messages recorded before senders had one)
    sender_instance: str = ""

    @classmethod
    def unrecorded(
        cls,
        *,
        id: str,
        server: str,
        sender: str,
        target: str,
        body: str,
        raw: bool,
        state: MessageState,
        created_at: float,
        error: str,
    ) -> MessageRecord:
        """What is known of a message the store has no row for (the store failed, or the
        host that holds it could not be heard): no claim, delivery or reply known."""
        return cls(
            id=id,
            server=server,
            sender=sender,
            target=target,
            body=body,
            raw=raw,
            state=state,
            created_at=created_at,
            claimed_at=None,
            delivered_at=None,
            replied_at=None,
            reply=None,
            reply_via=None,
            waiting=False,
            error=error,
        )


@dataclass(frozen=True)
class InboxEntry:
    """One entry in the inbox of a session (or of "user")."""

    id: int
    owner: str
    kind: InboxKind
    message_id: str | None
    title: str
    body: str
    created_at: float
    read_at: float | None
    #: the host whose inbox holds it (None: this host's)
    host: str | None = None


@dataclass(frozen=True)
class ApprovalRecord:
    """One answer given to an agent's permission prompt."""

    id: int
    at: float
    actor: str
    server: str
    session: str
    prompt: str
    subject: str
    choice: Choice
    option_label: str
    key: str
    closed: bool  # the prompt closed after the answer


@dataclass(frozen=True)
class PromptRecord:
    """One occurrence of a permission prompt: from when it was first seen on a session's
    screen until it closed. Every reader of the screen (approve, the inbox, the menu, the
    dashboard, the watcher) finds the same occurrence while the prompt stays open; a later
    prompt, even one that reads the same, is another occurrence with another ``id``."""

    id: str  # short and typeable: 10 hex digits (see :func:`prompt_id`)
    server: str
    session: str
    #: the run of the session it was seen in (see :func:`instance_of`)
    instance: str
    #: what tells it from other prompts on screen (:meth:`core.screen.Prompt.fingerprint`)
    fingerprint: str
    about: str  # what it asks about, on one line
    first_seen: float
    closed_at: float | None  # when it was seen gone (None: open, as far as was seen)
    answered_at: float | None  # when a key was pressed to answer it (None: not answered)
    answered_by: str | None  # who answered it (a session name, or "user")
    choice: Choice | None  # the answer given

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


@dataclass(frozen=True)
class RefusalRecord:
    """One action the policy refused an agent session (see :mod:`imessenger.core.policy`)."""

    id: int
    at: float
    actor: str
    server: str
    action: str
    subject: str
    rule: str


def instance_of(server_pid: int, session_id: str, session_created: float) -> str:
    """Name one run of a session for good: its tmux server's process, its tmux id and when
    it was created ("4711$3:1733040000").

    A session stopped and started again under the same name is another instance;
    so is one on a tmux server started anew, which numbers its sessions from 0 again
    (in the same second, too: its process is another). A pane split or respawned in it
    leaves it the same.
    """
    return f"{server_pid}{session_id}:{session_created:.0f}"


def ended_for(name: str) -> str:
    """What the title of an entry meant for session ``name``, whose run has ended, gets
    when it goes to the person."""
    return f' (for "{name}", which has ended)'


def prompt_id(server: str, session: str, instance: str, fingerprint: str, at: float) -> str:
    """The id of a prompt occurrence: 10 hex digits of a SHA-256 of where it was seen (the
    server, the session and its run), what it shows and when it was first seen.

    >>> prompt_id("default", "w1", "%3@1733040000", "3eedb510f8e520bd", 1733040100.25)
    '4aefdc7003'
    """
    text = json.dumps([server, session, instance, fingerprint, f"{at:.6f}"])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class SendResult:
    """What became of a message: its record, the state it reached, why, its reply and
    timings (ms). ``send`` returns one, and so does each delivery attempt."""

    message: MessageRecord
    outcome: MessageState
    why: str = ""
    reply: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Approval:
    """One answer given to a session's prompt, and what came of it."""

    session: str
    agent: str
    choice: Choice
    prompt: Prompt
    option: Option
    keys: tuple[str, ...]
    closed: bool
    record: ApprovalRecord
    #: the id of the prompt occurrence answered
    prompt_id: str = ""
    #: what became of each message that waited for the session: delivered, queued,
    #: unconfirmed, or still pending and why (see imessenger.actions.delivery)
    delivered: tuple[SendResult, ...] = ()
    delivery_error: str | None = None


class NotDelivered(ImessengerError):
    """Nothing was pasted, and nothing will be; ``result`` says what is recorded."""

    def __init__(self, message: str, result: SendResult | None = None) -> None:
        super().__init__(message)
        self.result = result
