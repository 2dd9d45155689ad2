"""The watcher: follows every session isesh started and acts when one changes.

How it learns of changes, without polling panes:

* one tmux control-mode client per followed session (:class:`imessenger.tmux.ControlClient`)
  reports a pane's first output after each read within about a millisecond, and
  nothing while the pane is quiet; the pane's death comes through a subscription;
* tmux's ``%sessions-changed`` (and a client's end) triggers a rescan of the sessions;
* every ``watch.interval_ms`` the watcher looks at two files, nothing more: the
  database (a changed size or time means another process wrote: a new session record,
  a pending message, an inbox read) and the tmux server's socket (a new socket means
  the server restarted).

A pane that printed is read once ``watch.debounce_ms`` after its first output (one
capture for the whole burst, through the control client, no new process) and
classified with its session's profile. Then, on a change of state:

* a prompt appears: an inbox notice for "user" and for the session, a message on every
  attached tmux client, the status line, and the ``watch.notify_command``; one notice
  per appearance of a prompt, not per redraw (the prompt must be gone for two reads
  in a row to count as closed, like :mod:`imessenger.approval` does);
* the session is idle with an empty input box and has pending messages: they are
  delivered (:meth:`Courier.deliver_pending`, oldest first, each once: the store's
  claims and the per-target lock see to that, whoever else delivers);
* the session turned idle, or shows the end line of a reply that nobody waits for:
  late replies go to their senders' inboxes (:meth:`Courier.collect_late_replies`);
* the agent exited: a notice for "user" (not when ``isesh stop`` ended it: the
  notice waits a second and is dropped when the session's record is gone by then).

Deliveries, reply collection and tmux messages run on worker threads, each with its
own store, so that one slow target never delays the others. What was notified is
kept in ``watch-<server>.json`` in the data directory, so a restarted watcher does
not repeat a notice; pending messages live in the store and survive anything.

Faults outside the watcher do not end it: a full disk or a data folder it cannot write
(the status cache, the memory file, the store), a store it cannot read, a tmux server
that is gone. Each kind of work that fails (:class:`Retry`) is logged once as a warning,
tried again after a delay that doubles from ``RETRY_FIRST_S`` up to ``RETRY_MAX_S``, and
logged once more when it works again; meanwhile the watcher carries on with the rest:

* an inbox notice that could not be written is kept and written, once, when the store
  takes it. The memory file is saved only after the notices it records are written, so
  a watcher restarted in between gives such a notice again rather than never;
* a failed delivery or collection of replies is tried again; the store's claims see to
  it that no message is pasted twice;
* the status cache is written again, with what the watcher sees by then;
* without a tmux server (killed, or not started again yet) while sessions are recorded,
  the watcher looks for one with the same backoff, and follows its sessions again once
  one runs on the socket (it also looks at once when the socket file changes).

A watcher that cannot start exits instead, with status 1 and a message that says why and
what to do: that is the case when it cannot open the store or write its pid file, as in a
data folder that is read-only, not its own or on a full disk (it could record nothing,
and without its pid file a second watcher could start beside it). ``imessenger watch``
reports it like every command does, without a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imessenger.agents import Profile
from imessenger.approval import answers
from imessenger.config import Config
from imessenger.delivery import Courier
from imessenger.errors import ImessengerError, StoreError
from imessenger.paths import data_dir, ensure_data_dir, fault_advice, write_private_file
from imessenger.protocol import delimiters
from imessenger.screen import Prompt, Screen, State, classify
from imessenger.sessions import Sessions
from imessenger.status import (
    STATUS_VERSION,
    StatusFormats,
    file_label,
    render_line,
    write_status,
)
from imessenger.store import InboxKind, MessageState, SessionRecord, Store
from imessenger.tmux import (
    CLIENT_EXIT,
    OUTPUT,
    PANE_DEAD,
    SESSIONS_CHANGED,
    ControlClient,
    ControlEvent,
    PaneInfo,
    Tmux,
)

logger = logging.getLogger(__name__)

#: The owner of the inbox notices meant for the person at the keyboard.
USER = "user"
#: How long an exit waits before its notice, so that ``isesh stop`` (which forgets the
#: session right after it ended) raises none.
EXIT_GRACE_S = 1.0
#: How long a prompt that vanished waits for a second read before it counts as closed.
PROMPT_GONE_S = 0.05
#: Messages in these states were submitted and may still get a reply on screen.
_OUTSTANDING = (
    MessageState.DELIVERED,
    MessageState.QUEUED,
    MessageState.TIMED_OUT,
    MessageState.UNCONFIRMED,
)
#: The delay before work that failed is tried again, doubled after each failure up to
#: the second value.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0


def memory_path(server: str) -> Path:
    """Where the watcher of a tmux server keeps what it has notified."""
    return data_dir() / f"watch-{file_label(server)}.json"


def prompt_key(prompt: Prompt) -> str:
    """A fingerprint of a prompt: question, subject and options, not the highlight."""
    options = [(o.key, o.label, str(o.meaning)) for o in prompt.options]
    text = json.dumps([prompt.question, prompt.subject, options], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- faults: logged once, tried again later ------------------------------------------------


def _why(error: BaseException | str) -> str:
    """The words for a failure; for a file-system error, with what to do about it."""
    if isinstance(error, OSError):
        advice = fault_advice(data_dir(), error)
        return f"{error}; {advice}" if advice else str(error)
    return str(error)


class Retry:
    """One kind of work that can fail for a reason outside the watcher, and when to try it again.

    The first failure of a streak is logged as a warning, the next ones at debug level,
    and the first success after it once more: a fault that lasts shows up once in the log,
    not once a round. After each failure the work waits longer before it is tried again.
    A streak shorter than ``patience`` seconds is logged at debug level only: for a state
    that can be passing, such as no tmux server while ``isesh stop`` ends the last session.
    """

    def __init__(self, what: str, *, patience: float = 0.0) -> None:
        self.what = what  # "write the status file": what could not be done
        self.patience = patience
        self.failures = 0
        self.due = 0.0  # monotonic time from which it may be tried again
        self._since = 0.0
        self._warned = False

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def ready(self, now: float) -> bool:
        """True when the work may be tried (it has not failed, or its delay is over)."""
        return now >= self.due

    def failed(self, error: BaseException | str) -> None:
        """Count a failure, log it if it is news, and put the next try off."""
        now = time.monotonic()
        self.failures += 1
        if self.failures == 1:
            self._since = now
        self.due = now + min(RETRY_FIRST_S * 2 ** min(self.failures - 1, 10), RETRY_MAX_S)
        if not self._warned and now - self._since >= self.patience:
            self._warned = True
            logger.warning(
                "cannot %s: %s; the watcher carries on and tries again", self.what, _why(error)
            )
        else:
            logger.debug("still cannot %s (try %d): %s", self.what, self.failures, _why(error))

    def succeeded(self) -> None:
        """The work was done: end the streak of failures (and say so if it was logged)."""
        if self._warned:
            logger.info("could %s again, after %d failed tries", self.what, self.failures)
        self.failures = 0
        self.due = 0.0
        self._warned = False

    def drop(self) -> None:
        """The work is not needed any more: end the streak without a word."""
        self._warned = False
        self.succeeded()


@dataclass(frozen=True)
class _Notice:
    """An inbox entry the watcher owes: written once, as soon as the store takes it."""

    owner: str
    kind: InboxKind
    title: str
    body: str


# --- what survives a restart ---------------------------------------------------------------


@dataclass
class Remembered:
    """What was notified about one run of a session (``started_at`` tells runs apart)."""

    started_at: float
    prompt: str | None = None  # the key of the open prompt already notified
    exited: bool = False  # its exit (or disappearance) was notified


class Memory:
    """The notices already given, by session, kept in a small JSON file (atomic writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sessions: dict[str, Remembered] = {}

    @classmethod
    def load(cls, path: Path) -> Memory:
        memory = cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return memory
        for name, entry in (data.get("sessions") or {}).items():
            with contextlib.suppress(KeyError, TypeError, ValueError):
                memory.sessions[name] = Remembered(
                    float(entry["started_at"]), entry.get("prompt"), bool(entry.get("exited"))
                )
        return memory

    def of(self, name: str, started_at: float) -> Remembered:
        """The entry of this run of the session (a new run starts a new entry)."""
        entry = self.sessions.get(name)
        if entry is None or entry.started_at != started_at:
            entry = self.sessions[name] = Remembered(started_at)
        return entry

    def forget(self, keep: set[str]) -> bool:
        """Drop the sessions not in ``keep``; True when something was dropped."""
        gone = [name for name in self.sessions if name not in keep]
        for name in gone:
            del self.sessions[name]
        return bool(gone)

    def save(self) -> None:
        """Write the file (atomically); OSError when the data directory cannot take it."""
        data = {
            "version": 1,
            "sessions": {
                name: {"started_at": e.started_at, "prompt": e.prompt, "exited": e.exited}
                for name, e in sorted(self.sessions.items())
            },
        }
        ensure_data_dir()
        write_private_file(self.path, json.dumps(data, ensure_ascii=False))


# --- the sessions followed -----------------------------------------------------------------


@dataclass
class Followed:
    """One session the watcher follows, as it last read it."""

    record: SessionRecord
    profile: Profile
    client: ControlClient | None = None
    pane: PaneInfo | None = None
    screen: Screen = field(default_factory=lambda: Screen(State.UNKNOWN))
    since: float = field(default_factory=time.time)  # when the state last changed
    dirty_since: float | None = None  # first change not read yet (monotonic)
    described: bool = False  # ``pane`` is up to date (else the next read asks tmux)
    prompt: str | None = None  # key of the prompt on screen (notified)
    prompt_gone_at: float | None = None  # a read without that prompt (monotonic)
    exit_due: float | None = None  # when to give the exit notice (monotonic)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def state(self) -> State:
        return self.screen.state


@dataclass(frozen=True)
class _Done:
    """A worker finished a job of this kind for this session (``error``: it failed)."""

    kind: str
    session: str = ""
    error: BaseException | None = field(default=None, compare=False)


_Event = ControlEvent | _Done | None


class Watcher:
    """Follows the managed sessions of one tmux server until :meth:`stop`.

    Run it with :meth:`run` in the thread that made it (its store belongs to that
    thread); :meth:`stop` may be called from anywhere (a signal handler).
    """

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.tmux: Tmux = sessions.tmux
        self.store: Store = sessions.store
        self.config: Config = sessions.config
        self.server = self.tmux.label
        self.debounce = int(self.config.get("watch.debounce_ms")) / 1000
        self.interval = max(int(self.config.get("watch.interval_ms")), 10) / 1000
        self.notify_command = str(self.config.get("watch.notify_command"))
        self.tmux_message = bool(self.config.get("watch.tmux_message"))
        self.formats = StatusFormats.from_values(dict(self.config.get("status")))
        self.memory = Memory.load(memory_path(self.server))
        self.followed: dict[str, Followed] = {}
        self.gone: dict[str, Followed] = {}  # vanished sessions whose notice waits (exit_due)
        self.records: dict[str, SessionRecord] = {}
        self.pending_targets: set[str] = set()
        self.outstanding: dict[str, list[str]] = {}  # target -> ids of unanswered messages
        self.unread: dict[str, int] = {}
        self.pending_count = 0
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="imessenger-work")
        self._ui = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imessenger-tmux-ui")
        self._delivering: set[str] = set()
        self._lookout: ControlClient | None = None  # the client that reports dead panes
        self._dead: set[str] = set()  # ids of the sessions whose pane is dead
        self._unwaited: set[str] = set()  # unanswered messages nobody waits for
        self._collecting = False
        self._collect_again = False
        self._rescan_wanted = True
        self._file_marks: tuple[Any, ...] | None = None
        self._socket_mark: tuple[int, int, int] | None = None
        self._next_tick = 0.0
        self._status_shown: dict[str, Any] | None = None
        self._status_refresh_queued = False
        self._notifiers: list[subprocess.Popen[bytes]] = []
        self._owed: list[_Notice] = []  # inbox notices not written yet, oldest first
        self._memory_dirty = False  # the memory changed since it was last saved
        self._status_retry = Retry("write the status file")
        self._notice_retry = Retry("write inbox notices")
        self._memory_retry = Retry("save what was notified")
        self._store_retry = Retry("read the database")
        self._server_retry = Retry("reach the tmux server", patience=EXIT_GRACE_S)
        self._collect_retry = Retry("collect late replies")
        self._delivery_retries: dict[str, Retry] = {}  # by target
        self._round_retry = Retry("finish a round of watching")

    # -- running ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()
        self._events.put(None)

    def run(self) -> None:
        """Follow the sessions until :meth:`stop`; close every control client at the end."""
        logger.info("watching tmux server %s", self.server)
        try:
            self._refresh_store()
            self._collect_replies()  # replies printed while no watcher ran
            while not self._stop.is_set():
                self._step_safely()
        finally:
            for followed in self.followed.values():
                self._detach(followed)
            self._workers.shutdown(wait=True, cancel_futures=True)
            self._ui.shutdown(wait=True, cancel_futures=True)
            for proc in self._notifiers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(1)
            logger.info("stopped watching tmux server %s", self.server)

    def _step_safely(self) -> None:
        """One round; a fault that nothing else caught is logged once and the round retried.

        A round that failed half way may have lost an event: the next one looks at the
        sessions and the store again instead of trusting what it knew.
        """
        try:
            self._step()
        except (ImessengerError, OSError) as error:
            self._round_retry.failed(error)
            self._rescan_wanted = True
            self._file_marks = None
            self._stop.wait(max(0.0, self._round_retry.due - time.monotonic()))
        else:
            if self._round_retry.failing:
                self._round_retry.succeeded()

    def _step(self) -> None:
        now = time.monotonic()
        if self._rescan_wanted or (self._server_retry.failing and self._server_retry.ready(now)):
            self._rescan_wanted = False
            self._rescan()
        now = time.monotonic()
        timeout = max(0.0, min(self._next_due(), self._next_tick) - now)
        try:
            self._handle(self._events.get(timeout=timeout))
            while True:
                self._handle(self._events.get_nowait())
        except queue.Empty:
            pass
        now = time.monotonic()
        for followed in list(self.followed.values()):
            self._check(followed, now)
        for name, followed in list(self.gone.items()):
            if followed.exit_due is not None and now >= followed.exit_due:
                del self.gone[name]
                self._notice_gone(followed)
        if now >= self._next_tick:
            self._next_tick = now + self.interval
            self._tick(now)
        self._try_again(now)
        self._publish()

    def _retries(self) -> list[Retry]:
        """Every kind of work the loop tries again by itself once its delay is over."""
        fixed = [self._status_retry, self._notice_retry, self._memory_retry, self._server_retry]
        return [*fixed, self._collect_retry, *self._delivery_retries.values()]

    def _try_again(self, now: float) -> None:
        """Try again the work that failed and whose delay is over."""
        for name, retry in list(self._delivery_retries.items()):
            if retry.ready(now):
                self._deliver_if_ready(name)
        if self._collect_retry.failing and self._collect_retry.ready(now):
            self._collect_replies()
        if self._owed or self._memory_dirty:
            self._flush()

    def _next_due(self) -> float:
        """When the loop must wake up next: a read, a notice, or a retry whose delay ends."""
        now = time.monotonic()
        waits = [retry.due for retry in self._retries() if retry.failing and retry.due > now]
        due = min(waits, default=float("inf"))
        for followed in self.followed.values():
            if followed.dirty_since is not None:
                due = min(due, followed.dirty_since + self.debounce)
            if followed.exit_due is not None:
                due = min(due, followed.exit_due)
        for followed in self.gone.values():
            if followed.exit_due is not None:
                due = min(due, followed.exit_due)
        return due

    def _handle(self, event: _Event) -> None:
        if event is None:
            return
        if isinstance(event, _Done):
            self._finished(event)
            return
        followed = self.followed.get(event.session)
        if event.kind == OUTPUT and followed is not None:
            if followed.dirty_since is None:
                followed.dirty_since = time.monotonic()
            if event.value == "moved":
                followed.described = False  # another pane may be the active one
        elif event.kind == PANE_DEAD:
            self._dead_panes_changed(set(event.value.split()))
        elif event.kind == SESSIONS_CHANGED:
            self._rescan_wanted = True
        elif event.kind == CLIENT_EXIT:
            if followed is not None and followed.client is not None and not followed.client.alive:
                self._detach(followed)
            self._rescan_wanted = True

    def _check(self, followed: Followed, now: float) -> None:
        if followed.dirty_since is not None and now >= followed.dirty_since + self.debounce:
            followed.dirty_since = None
            self._read(followed)
        if followed.exit_due is not None and now >= followed.exit_due:
            followed.exit_due = None
            self._notice_exit(followed)

    # -- following sessions ---------------------------------------------------------------

    def _rescan(self) -> None:
        """Follow every recorded session that runs; let go of the others.

        No session at all while some are recorded means that the tmux server is gone (or
        not started again yet): look for it again later, with a backoff.
        """
        try:
            panes = {pane.session: pane for pane in self.tmux.panes()}
        except ImessengerError as error:
            self._server_retry.failed(error)  # keep following what is followed; look again
            return
        if panes:
            self._server_retry.succeeded()
        elif self.records:
            self._server_retry.failed(f'no session runs on tmux server "{self.server}"')
        else:
            self._server_retry.drop()  # nothing to follow: no need for a server
        for name, record in self.records.items():
            if name not in panes:
                continue
            followed = self.followed.get(name)
            if followed is not None and followed.record.started_at != record.started_at:
                self._detach(followed)  # a new run under the same name
                followed = None
            if followed is None:
                profile = (
                    self.sessions.profiles.get(record.agent) or self.sessions.profiles["shell"]
                )
                followed = self.followed[name] = Followed(record, profile)
            if followed.client is None or not followed.client.alive:
                self._attach(followed)
        for name in [n for n in self.followed if n not in panes or n not in self.records]:
            followed = self.followed.pop(name)
            self._detach(followed)
            if name in panes or not panes:
                continue  # forgotten by isesh, or the whole server is gone: nothing to say
            # Closed while the server runs: say so, unless isesh stop forgets it meanwhile.
            followed.exit_due = time.monotonic() + EXIT_GRACE_S
            self.gone[name] = followed
        self._keep_a_lookout()

    def _dead_panes_changed(self, dead: set[str]) -> None:
        """Read again the sessions whose pane died (or came back) since the last report."""
        changed = dead ^ self._dead
        self._dead = dead
        for followed in self.followed.values():
            client = followed.client
            if client is not None and client.session_id in changed:
                followed.described = False
                if followed.dirty_since is None:
                    followed.dirty_since = time.monotonic()

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
        client = ControlClient(self.tmux, followed.name, self._events.put)
        try:
            client.start()
        except (ImessengerError, OSError) as error:
            logger.info("cannot follow %s: %s", followed.name, error)
            return
        followed.client = client
        followed.described = False
        followed.dirty_since = time.monotonic()  # read it now: it may have changed meanwhile
        logger.info("following %s (%s)", followed.name, followed.record.agent)

    def _detach(self, followed: Followed) -> None:
        client, followed.client = followed.client, None
        if client is not None:
            client.close()

    def _read(self, followed: Followed) -> None:
        """Read the session's screen through its control client and act on its state."""
        client = followed.client
        if client is None or not client.alive:
            self._rescan_wanted = True
            return
        try:
            pane, text = client.read_pane(info=not followed.described or followed.pane is None)
        except ImessengerError as error:  # the session, its client or the whole server went
            logger.debug("reading %s: %s", followed.name, error)
            self._rescan_wanted = True
            return
        if pane is None:
            pane = followed.pane
        followed.described = True
        assert pane is not None
        profile = followed.profile
        starting = time.time() - followed.record.started_at < profile.startup_ms / 1000
        screen = classify(text, profile, dead=pane.dead, starting=starting)
        self._update(followed, pane, screen, text)

    def _update(self, followed: Followed, pane: PaneInfo, screen: Screen, text: str) -> None:
        before = followed.state
        followed.pane, followed.screen = pane, screen
        if screen.state is not before:
            followed.since = time.time()
            logger.debug("%s: %s -> %s", followed.name, before, screen.state)
        self._follow_prompt(followed, screen)
        if screen.state is State.EXITED:
            remembered = self.memory.of(followed.name, followed.record.started_at)
            if not remembered.exited and followed.exit_due is None:
                followed.exit_due = time.monotonic() + EXIT_GRACE_S
        ready = screen.state is State.IDLE and not screen.input_text
        if ready and followed.name in self.pending_targets:
            self._deliver(followed.name)
        waiting_ids = self.outstanding.get(followed.name)
        if waiting_ids and (
            (ready and before is not State.IDLE) or self._shows_reply_end(text, waiting_ids)
        ):
            self._collect_replies()

    def _shows_reply_end(self, text: str, ids: list[str]) -> bool:
        start = str(self.config.get("protocol.reply_start"))
        end = str(self.config.get("protocol.reply_end"))
        return any(delimiters(mid, start, end).end in text for mid in ids)

    # -- prompts ------------------------------------------------------------------------------

    def _follow_prompt(self, followed: Followed, screen: Screen) -> None:
        remembered = self.memory.of(followed.name, followed.record.started_at)
        if screen.state is State.ASKING and screen.prompt is not None:
            key = prompt_key(screen.prompt)
            followed.prompt_gone_at = None
            if key == followed.prompt:
                return
            followed.prompt = key
            if remembered.prompt != key:
                remembered.prompt = key
                self._notice_prompt(followed, screen.prompt)
                self._save_memory()
            return
        if followed.prompt is None and remembered.prompt is None:
            return
        now = time.monotonic()
        if followed.prompt_gone_at is None:
            # Gone in one read: maybe a screen caught mid-redraw. Read once more to be sure.
            followed.prompt_gone_at = now
            if followed.dirty_since is None:
                followed.dirty_since = now - self.debounce + PROMPT_GONE_S
            return
        followed.prompt = None
        followed.prompt_gone_at = None
        if remembered.prompt is not None:
            remembered.prompt = None
            self._save_memory()

    def _notice_prompt(self, followed: Followed, prompt: Prompt) -> None:
        name = followed.name
        subject = prompt.about()
        logger.info('"%s" is asking: %s', name, subject)
        title = f'"{name}" is asking: {subject}'
        body = (
            f"{prompt.text}\n\n"
            f"Answer with `imessenger approve {name}` (yes), `imessenger approve {name} 2` "
            f"(yes, and don't ask again) or `imessenger deny {name}`."
        )
        self._give(InboxKind.PROMPT, title, body, USER, name)
        self.unread[USER] = self.unread.get(USER, 0) + 1
        if self.tmux_message:
            text = f'imessenger: "{name}" asks: {subject}  (imessenger approve {name})'
            self._ui.submit(self._show_message, text)
        self._notify("asking", name, title)

    # -- exits --------------------------------------------------------------------------------

    def _still_recorded(self, followed: Followed) -> bool | None:
        """Whether isesh still records this run of the session; None: the store cannot say."""
        try:
            record = self.store.get_session(self.server, followed.name)
        except StoreError as error:
            self._store_retry.failed(error)
            return None
        return record is not None and record.started_at == followed.record.started_at

    def _notice_exit(self, followed: Followed) -> None:
        recorded = self._still_recorded(followed)
        if recorded is None:  # cannot tell now: look again later
            followed.exit_due = time.monotonic() + EXIT_GRACE_S
            return
        if not recorded:
            return  # isesh stop ended it
        remembered = self.memory.of(followed.name, followed.record.started_at)
        if remembered.exited:
            return
        remembered.exited = True
        status = followed.pane.dead_status if followed.pane is not None else None
        how = f" with status {status}" if status is not None else ""
        title = f'"{followed.name}" exited'
        body = (
            f"Its agent ({followed.record.agent}) exited{how}. Its last screen stays readable "
            f"(`isesh logs {followed.name}`) until `isesh stop {followed.name}`."
        )
        logger.info('"%s" exited%s', followed.name, how)
        self._give(InboxKind.NOTICE, title, body, USER)
        self._save_memory()
        self.unread[USER] = self.unread.get(USER, 0) + 1
        self._notify("exited", followed.name, title)

    def _notice_gone(self, followed: Followed) -> None:
        """The session vanished from a running server; say so once (not after isesh stop)."""
        recorded = self._still_recorded(followed)
        if recorded is False:
            return  # isesh stop forgot it
        try:
            running: bool | None = followed.name in self.tmux.session_names()
        except ImessengerError as error:
            logger.debug("listing the sessions for %s: %s", followed.name, error)
            running = None
        if recorded is None or running is None:  # cannot tell now: look again later
            followed.exit_due = time.monotonic() + EXIT_GRACE_S
            self.gone[followed.name] = followed
            return
        if running:
            return
        remembered = self.memory.of(followed.name, followed.record.started_at)
        if remembered.exited:
            return
        remembered.exited = True
        title = f'"{followed.name}" ended'
        body = (
            f"Its tmux session was closed outside isesh. Forget it with "
            f"`isesh stop {followed.name}`."
        )
        logger.info('"%s" ended (its session was closed)', followed.name)
        self._give(InboxKind.NOTICE, title, body, USER)
        self._save_memory()
        self.unread[USER] = self.unread.get(USER, 0) + 1
        self._notify("exited", followed.name, title)

    # -- what the watcher writes: notices and its memory ------------------------------------

    def _give(self, kind: InboxKind, title: str, body: str, *owners: str) -> None:
        """Write an inbox notice for each owner, now or, if the store refuses, later."""
        self._owed.extend(_Notice(owner, kind, title, body) for owner in owners)
        self._flush()

    def _save_memory(self) -> None:
        """Save what was notified, now or (after the notices it records) later."""
        self._memory_dirty = True
        self._flush()

    def _flush(self) -> None:
        """Write what is owed: the inbox notices, then the memory of what was notified.

        In that order, so that the memory file never records a notice that the store
        lacks. Each notice is removed once written, so none is written twice.
        """
        now = time.monotonic()
        if self._owed and self._notice_retry.ready(now):
            while self._owed:
                notice = self._owed[0]
                try:
                    self.store.add_inbox(notice.owner, notice.kind, notice.title, notice.body)
                except StoreError as error:
                    self._notice_retry.failed(error)
                    break
                self._owed.pop(0)
            else:
                self._notice_retry.succeeded()
        if self._memory_dirty and not self._owed and self._memory_retry.ready(now):
            try:
                self.memory.save()
            except OSError as error:
                self._memory_retry.failed(error)
            else:
                self._memory_dirty = False
                self._memory_retry.succeeded()

    # -- the database and the server, looked at every interval ------------------------------

    def _tick(self, now: float) -> None:
        socket = self._stat(self.tmux.socket_file())
        # with the time too: a new server's socket often gets the inode of the old one
        socket_mark = (socket.st_dev, socket.st_ino, socket.st_ctime_ns) if socket else None
        if socket_mark != self._socket_mark:
            self._socket_mark = socket_mark
            self._rescan_wanted = True
        self._reap_notifiers()
        path = self.store.path
        marks = tuple(
            (stat.st_size, stat.st_mtime_ns) if stat is not None else None
            for stat in (self._stat(path), self._stat(path.with_name(path.name + "-wal")))
        )
        if marks != self._file_marks and self._store_retry.ready(now):
            self._file_marks = marks
            self._refresh_store()

    @staticmethod
    def _stat(path: Path) -> os.stat_result | None:
        try:
            return path.stat()
        except OSError:
            return None

    def _refresh_store(self) -> None:
        """Re-read what other processes may have changed: records, pending messages, inboxes.

        When the store cannot be read, what the watcher knows stays as it is, and the store
        is read again at a tick once the retry's delay is over.
        """
        try:
            listed = self.store.list_sessions(self.server)
            messages = self.store.list_messages(self.server, limit=None)
            unread = self.store.unread_counts()
        except StoreError as error:
            self._store_retry.failed(error)
            self._file_marks = None
            return
        self._store_retry.succeeded()
        records = {r.name: r for r in listed}
        if records.keys() != self.records.keys() or any(
            self.records[n].started_at != r.started_at for n, r in records.items()
        ):
            self._rescan_wanted = True
        self.records = records
        if self.memory.forget(set(records)):
            self._save_memory()
        pending: set[str] = set()
        outstanding: dict[str, list[str]] = {}
        unwaited: set[str] = set()
        count = 0
        for message in messages:
            if message.state in (MessageState.PENDING, MessageState.DELIVERING):
                # a claim left by a process that died is settled by deliver_pending too
                pending.add(message.target)
                count += message.state is MessageState.PENDING
            elif (
                message.state in _OUTSTANDING
                and message.reply is None
                and not message.raw
                and not message.waiting
            ):
                outstanding.setdefault(message.target, []).append(message.id)
                unwaited.add(message.id)
        self.pending_targets, self.outstanding, self.pending_count = pending, outstanding, count
        if unwaited - self._unwaited:
            # a sender just stopped waiting (it gave up, or was killed: the store reads
            # a dead waiter as gone): its reply may be on screen already
            self._collect_replies()
        self._unwaited = unwaited
        self.unread = unread
        for name in sorted(pending):
            self._deliver_if_ready(name)

    # -- work on other threads -------------------------------------------------------------

    def _deliver_if_ready(self, name: str) -> None:
        """Deliver to ``name`` if it has pending messages and is idle with an empty input."""
        followed = self.followed.get(name)
        if name not in self.pending_targets or followed is None:
            return
        if followed.state is State.IDLE and not followed.screen.input_text:
            self._deliver(name)

    def _deliver(self, name: str) -> None:
        retry = self._delivery_retries.get(name)
        if name in self._delivering or (retry is not None and not retry.ready(time.monotonic())):
            return
        self._delivering.add(name)
        future = self._workers.submit(self._deliver_in_worker, name)
        self._when_done(future, _Done("deliver", name))

    def _deliver_in_worker(self, name: str) -> None:
        with Store.open(self.store.path) as store:
            courier = Courier(Sessions(Tmux(self.tmux.socket_name), store, self.config))
            for record, delivery in courier.deliver_pending(name):
                logger.info("message %s -> %s: %s", record.id, name, delivery.outcome.value)

    def _collect_replies(self) -> None:
        if self._collecting:
            self._collect_again = True
            return
        if not self.outstanding or not self._collect_retry.ready(time.monotonic()):
            return
        self._collecting = True
        future = self._workers.submit(self._collect_in_worker)
        self._when_done(future, _Done("collect"))

    def _collect_in_worker(self) -> None:
        with Store.open(self.store.path) as store:
            courier = Courier(Sessions(Tmux(self.tmux.socket_name), store, self.config))
            for record in courier.collect_late_replies():
                logger.info(
                    "late reply from %s to %s (%s)", record.target, record.sender, record.id
                )

    def _when_done(self, future: Future[None], done: _Done) -> None:
        def report(finished: Future[None]) -> None:
            error = finished.exception() if not finished.cancelled() else None
            self._events.put(_Done(done.kind, done.session, error))

        future.add_done_callback(report)

    def _finished(self, done: _Done) -> None:
        """A worker's job ended: note how (its failures are tried again later)."""
        if done.kind == "deliver":
            name = done.session
            self._delivering.discard(name)
            retry = self._delivery_retries.pop(name, None) or Retry(f'deliver to "{name}"')
            if done.error is None:
                retry.succeeded()
            else:
                retry.failed(done.error)
                self._delivery_retries[name] = retry
        elif done.kind == "collect":
            self._collecting = False
            if done.error is None:
                self._collect_retry.succeeded()
            else:
                self._collect_retry.failed(done.error)
            if self._collect_again:
                self._collect_again = False
                self._collect_replies()
        self._file_marks = None  # the worker wrote to the store: look again at the next tick

    def _show_message(self, text: str) -> None:
        for client in self.tmux.clients():
            if not client.control:
                with contextlib.suppress(ImessengerError):
                    self.tmux.display_message(client.name, text)

    def _refresh_status_lines(self) -> None:
        self._status_refresh_queued = False
        for client in self.tmux.clients():
            if not client.control:
                with contextlib.suppress(ImessengerError):
                    self.tmux.refresh_status(client.name)

    def _notify(self, event: str, session: str, text: str) -> None:
        if not self.notify_command.strip():
            return
        env = dict(os.environ)
        env.update(IMESSENGER_EVENT=event, IMESSENGER_EVENT_SESSION=session)
        env["IMESSENGER_EVENT_TEXT"] = text
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", self.notify_command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as error:
            logger.warning("cannot run the notify command: %s", error)
            return
        self._notifiers.append(proc)

    def _reap_notifiers(self) -> None:
        self._notifiers = [proc for proc in self._notifiers if proc.poll() is None]

    # -- the status cache ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status cache as it should read now (without its time stamp)."""
        sessions = []
        for name in sorted(self.followed):
            followed = self.followed[name]
            prompt = followed.screen.prompt
            sessions.append(
                {
                    "name": name,
                    "agent": followed.record.agent,
                    "state": str(followed.state),
                    "since": followed.since,
                    "asking": prompt.about() if prompt is not None else None,
                    "question": prompt.question if prompt is not None else None,
                    "choices": [str(c) for c in answers(name, prompt).values()] if prompt else [],
                    "input": bool(followed.screen.input_text),
                    "pending": name in self.pending_targets,
                    "unread": self.unread.get(name, 0),
                }
            )
        asking = sum(1 for s in sessions if s["state"] == State.ASKING)
        unread = self.unread.get(USER, 0)
        return {
            "version": STATUS_VERSION,
            "server": self.server,
            "pid": os.getpid(),
            "asking": asking,
            "unread_user": unread,
            "pending": self.pending_count,
            "line": render_line(asking, unread, self.formats),
            "stopped_line": self.formats.stopped,
            "sessions": sessions,
        }

    def _publish(self) -> None:
        """Write the status cache when what it says changed (later, if it cannot now)."""
        data = self.status()
        if data == self._status_shown or not self._status_retry.ready(time.monotonic()):
            return
        try:
            write_status(self.server, {**data, "updated_at": time.time()})
        except OSError as error:
            self._status_retry.failed(error)
            return
        self._status_retry.succeeded()
        counts = ("asking", "unread_user")
        line_changed = self._status_shown is None or any(
            data[key] != self._status_shown[key] for key in counts
        )
        self._status_shown = data
        if line_changed and not self._status_refresh_queued:
            self._status_refresh_queued = True
            self._ui.submit(self._refresh_status_lines)
