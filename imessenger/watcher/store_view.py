"""What the watcher knows from the store, read again when another process wrote to it.

Every ``watch.interval_ms`` it looks at the database's two files (the database and its
write-ahead log), nothing more: a changed size or modification time means another
process wrote (a new session record, a pending message, an inbox read). Then it reads
three things at once: the records of the sessions isesh started on the server (what to
follow), the messages (which targets have pending ones, which submitted ones still lack
a reply and have nobody waiting for it) and the unread counts of the inboxes. When the
store cannot be read, what the watcher knows stays as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from imessenger.adapters.store import Store
from imessenger.core.errors import StoreError
from imessenger.core.screen import Screen, State
from imessenger.core.values import HookEventRecord, MessageState, SessionRecord
from imessenger.watcher.following import Followed
from imessenger.watcher.retry import Retry

#: Messages in these states were submitted and may still get a reply on screen.
_OUTSTANDING = (
    MessageState.DELIVERED,
    MessageState.QUEUED,
    MessageState.TIMED_OUT,
    MessageState.UNCONFIRMED,
)


#: How old an unchecked hook event may be, when the watcher starts, to be taken as news.
_RECENT_S = 10.0

#: A message in these states, whose sender waits, is in (or about to be in) its target's
#: turn: that turn's reply goes to the sender (imessenger.watcher.attention).
_IN_A_TURN = (
    MessageState.DELIVERING,
    MessageState.DELIVERED,
    MessageState.QUEUED,
    MessageState.UNCONFIRMED,
    MessageState.REPLIED,
)


@dataclass(frozen=True)
class News:
    """What changed in the store since the last read."""

    records: bool  # a session was recorded, forgotten or started anew
    stopped_waiting: bool  # a sender stopped waiting for a reply not collected yet
    hook_events: tuple[HookEventRecord, ...] = ()  # reported since the last read, in order
    #: reported (and not checked) shortly before the watcher started: to check, not to act on
    earlier_hook_events: tuple[HookEventRecord, ...] = ()


class StoreView:
    """The records, messages and inbox counts of one tmux server, as last read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.server = store.server
        self.records: dict[str, SessionRecord] = {}
        self.pending_targets: set[str] = set()
        #: targets with a claim left by a sender that died: a delivery settles it whatever
        #: the screen (the input box may hold the message itself)
        self.claimed_targets: set[str] = set()
        #: target -> ids of its pending messages pasted once (a prompt came before the
        #: submit key): delivered from the input box when the box shows one of them
        self.pasted: dict[str, list[str]] = {}
        self.outstanding: dict[str, list[str]] = {}  # target -> ids of unanswered messages
        self.unread: dict[str, int] = {}
        #: target -> ids of the messages to it in a turn whose senders wait for the reply
        self.waiters: dict[str, set[str]] = {}
        #: ids of the messages whose senders stopped waiting before any reply came
        self.gave_up: set[str] = set()
        self.pending_count = 0
        self.retry = Retry("read the database")
        self._unwaited: set[str] = set()  # unanswered messages nobody waits for
        self._seen: tuple[tuple[int, int] | None, ...] | None = None  # the files, last read
        self._hook_id: int | None = None  # the last hook event read (None: none read yet)

    def poll(self, now: float) -> News | None:
        """Read the store again if its files changed since it was last read (and a failed
        read's delay is over); None when it was not read, or could not be."""
        if not self.retry.ready(now):
            return None
        marks = self._marks()
        if marks == self._seen:
            return None
        self._seen = marks
        return self.refresh()

    def deliverable(self, name: str, screen: Screen) -> bool:
        """Whether a delivery to ``name``, whose screen reads ``screen``, has work to do: it
        has pending messages and is idle with an empty input box, or it has a claim to
        settle, or its input box holds a message pasted once."""
        if name not in self.pending_targets:
            return False
        if screen.state is State.IDLE and not screen.input_text:
            return True
        typed = screen.input_text or ""
        return name in self.claimed_targets or any(i in typed for i in self.pasted.get(name, ()))

    def look_again(self) -> None:
        """Have the next :meth:`poll` read the store, whatever its files say."""
        self._seen = None

    def refresh(self) -> News | None:
        """Re-read what other processes may have changed: records, pending messages, inboxes.

        None when the store cannot be read: what the watcher knows stays as it is, and the
        store is read again by a :meth:`poll` once the retry's delay is over.
        """
        try:
            listed = self.store.sessions.all()
            messages = self.store.messages.latest(limit=None)
            unread = self.store.inbox.unread_counts()
            first = self._hook_id is None
            hooks = self.store.hook_events.recent(after=self._hook_id or 0, limit=500)
        except StoreError as error:
            self.retry.failed(error)
            self._seen = None
            return None
        self.retry.succeeded()
        records = {r.name: r for r in listed}
        records_changed = records.keys() != self.records.keys() or any(
            self.records[n].started_at != r.started_at for n, r in records.items()
        )
        self.records = records
        pending: set[str] = set()
        claimed: set[str] = set()
        pasted: dict[str, list[str]] = {}
        outstanding: dict[str, list[str]] = {}
        unwaited: set[str] = set()
        waiters: dict[str, set[str]] = {}
        gave_up: set[str] = set()
        count = 0
        for message in messages:
            if message.waiting and message.state in _IN_A_TURN:
                waiters.setdefault(message.target, set()).add(message.id)
            elif message.state is MessageState.TIMED_OUT and message.reply is None:
                gave_up.add(message.id)
            if message.state in (MessageState.PENDING, MessageState.DELIVERING):
                # a claim left by a process that died is settled by deliver_pending too
                pending.add(message.target)
                count += message.state is MessageState.PENDING
                if message.state is MessageState.DELIVERING:
                    claimed.add(message.target)
                elif message.pasted_at is not None:
                    pasted.setdefault(message.target, []).append(message.id)
            elif (
                message.state in _OUTSTANDING
                and message.reply is None
                and not message.raw
                and not message.waiting
            ):
                outstanding.setdefault(message.target, []).append(message.id)
                unwaited.add(message.id)
        self.pending_targets, self.outstanding, self.pending_count = pending, outstanding, count
        self.claimed_targets, self.pasted = claimed, pasted
        self.waiters, self.gave_up = waiters, gave_up
        # a sender just stopped waiting (it gave up, or was killed: the store reads a dead
        # waiter as gone): its reply may be on screen already
        stopped_waiting = bool(unwaited - self._unwaited)
        self._unwaited = unwaited
        self.unread = unread
        if hooks:
            self._hook_id = max(event.id for event in hooks)
        elif self._hook_id is None:
            self._hook_id = 0
        if first:
            # the recent events reported before the watcher started that nobody checked:
            # to check against the screen (what they said may be over by now)
            since = time.time() - _RECENT_S
            earlier = tuple(event for event in hooks if not event.screen and event.at > since)
            return News(records_changed, stopped_waiting, (), earlier)
        return News(records_changed, stopped_waiting, tuple(hooks))

    def waiting_now(self, name: str) -> set[str] | None:
        """The ids of the messages to ``name`` in a turn whose senders wait for the reply,
        read from the store now (the last refresh may be older than the turn); None when
        the store cannot say."""
        try:
            messages = self.store.messages.latest(name, limit=20)
        except StoreError as error:
            self.retry.failed(error)
            return None
        return {m.id for m in messages if m.target == name and m.waiting and m.state in _IN_A_TURN}

    def still_recorded(self, followed: Followed) -> bool | None:
        """Whether isesh still records this run of the session; None: the store cannot say."""
        try:
            record = self.store.sessions.get(followed.name)
        except StoreError as error:
            self.retry.failed(error)
            return None
        return record is not None and record.started_at == followed.record.started_at

    def _marks(self) -> tuple[tuple[int, int] | None, ...]:
        """The size and modification time of the database and its log (None: missing)."""
        path = self.store.path
        marks: list[tuple[int, int] | None] = []
        for file in (path, path.with_name(path.name + "-wal")):
            try:
                stat = file.stat()
            except OSError:
                marks.append(None)
            else:
                marks.append((stat.st_size, stat.st_mtime_ns))
        return tuple(marks)

    def count_unread(self, owner: str) -> None:
        """Count one more unread inbox entry of ``owner`` (written by the watcher itself)."""
        self.unread[owner] = self.unread.get(owner, 0) + 1
