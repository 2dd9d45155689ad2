"""The notices the watcher gives, each once, and how it writes them.

* a prompt appears (``asking``): an inbox notice for "user" and for the session; one
  notice per appearance of a prompt, not per redraw (the prompt must be gone for two
  reads in a row to count as closed, like :mod:`imessenger.actions.approval` does). Its
  occurrence is found or recorded in the store on each read, as every reader of a prompt
  does (:func:`imessenger.actions.approval.observe`), its id put in the notice and the status
  cache, and it is closed there once it is gone;
* a session ended (``exited``: its agent exited, or its tmux session was closed outside
  isesh): a notice for "user", once per run of the session;
* a turn ended (``done``), a session stalled (``stuck``), a turn failed (``error``): a
  notice for "user", which :mod:`imessenger.watcher.attention` decides;
* what was notified is kept in the :class:`Memory`, so a restarted watcher does not
  repeat a notice.

Every notice goes to the channels :meth:`Notices.tell` lists, for the events
``watch.notify_on`` names (an event left out is still remembered as told): the inbox, a
message on every attached tmux client (``watch.tmux_message``), the
``watch.notify_command``, a desktop notification (``watch.desktop``) and an alert on every
attached terminal (``watch.bell``). Done, stuck and error are told nowhere while an
attached client shows the session's pane (the person sees it), unless
``watch.notify_when_looking``; asking and exited are told whoever looks.

An inbox notice that the store refuses is kept and written, once, when the store takes
it. The memory file is saved only after the notices it records are written, so a
watcher restarted in between gives such a notice again rather than never.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from imessenger.core.attention import SEEN_WHEN_LOOKING, Event, alert, fit
from imessenger.core.config import WatchSettings
from imessenger.core.errors import StoreError
from imessenger.core.names import PERSON
from imessenger.core.screen import Prompt, Screen, State, about
from imessenger.core.values import HookEventRecord, InboxKind, instance_of
from imessenger.watcher.display import Display
from imessenger.watcher.following import Followed
from imessenger.watcher.hook_checks import HOOK_WAIT_S
from imessenger.watcher.memory import Memory
from imessenger.watcher.notify import Desktop, NotifyCommand
from imessenger.watcher.retry import Retry
from imessenger.watcher.store_view import StoreView

logger = logging.getLogger(__name__)

#: The owner of the inbox notices meant for the person at the keyboard.
USER = PERSON
#: How long a prompt that vanished waits for a second read before it counts as closed.
PROMPT_GONE_S = 0.05
#: The most characters of a tmux message.
MESSAGE_MAX = 200


@dataclass(frozen=True)
class _Notice:
    """An inbox entry the watcher owes: written once, as soon as the store takes it."""

    owner: str
    kind: InboxKind
    title: str
    body: str


class Notices:
    """Gives the notices of one tmux server, and keeps in ``memory`` what it gave."""

    def __init__(
        self, view: StoreView, memory: Memory, display: Display, settings: WatchSettings
    ) -> None:
        self.view = view
        self.memory = memory
        self.display = display
        self.notify = NotifyCommand(settings.notify_command)
        self.desktop = Desktop(settings.desktop)
        self.settings = settings
        self.notice_retry = Retry("write inbox notices")
        self.memory_retry = Retry("save what was notified")
        self._owed: list[_Notice] = []  # inbox notices not written yet, oldest first
        self._memory_dirty = False  # the memory changed since it was last saved
        self._hook_noticed: set[int] = set()  # hook events notified without a screen prompt
        self._unrecorded: set[str] = set()  # sessions whose prompt the store refused

    # -- prompts ------------------------------------------------------------------------------

    def follow_prompt(
        self, followed: Followed, screen: Screen, hook: HookEventRecord | None, waits: bool
    ) -> float | None:
        """Note the prompt on screen (or its absence) and notify a new one.

        ``hook`` is the open event in which the session's hook says it asks; with
        ``waits`` (the session's hooks report asking), a new prompt waits up to
        ``HOOK_WAIT_S`` for it, and its notice names what the hook says it asks about.
        Returns when to read the screen again, in seconds, or None: a prompt that went
        missing from this read only (the screen may be caught mid-redraw) is read once
        more ``PROMPT_GONE_S`` from now, a prompt that waits for its hook at the end
        of the wait.
        """
        remembered = self.memory.of(followed.name, followed.record.started_at)
        if screen.state is State.ASKING and screen.prompt is not None:
            key = screen.prompt.fingerprint()
            followed.prompt_gone_at = None
            self._observe(followed, screen.prompt)
            if key == followed.prompt:
                return None
            if remembered.prompt != key:
                now = time.monotonic()
                if waits and hook is None:
                    since = followed.prompt_waits_since or now
                    followed.prompt_waits_since = since
                    if now < since + HOOK_WAIT_S:
                        return since + HOOK_WAIT_S - now
                followed.prompt_waits_since = None
                remembered.prompt = key
                self._notice_prompt(followed, screen.prompt, hook)
                self.save_memory()
            followed.prompt = key
            return None
        followed.prompt_waits_since = None
        if followed.prompt is None and remembered.prompt is None and followed.occurrence is None:
            return None
        if followed.prompt_gone_at is None:
            followed.prompt_gone_at = time.monotonic()
            return PROMPT_GONE_S
        followed.prompt = None
        followed.prompt_gone_at = None
        self._closed(followed)
        if remembered.prompt is not None:
            remembered.prompt = None
            self.save_memory()
        return None

    def _observe(self, followed: Followed, prompt: Prompt) -> None:
        """Find (or record) the occurrence of the prompt on screen; a store that refuses
        leaves it unknown until the next read."""
        pane = followed.pane
        if pane is None:
            return
        try:
            followed.occurrence = self.view.store.prompts.observe(
                followed.name,
                instance_of(pane.server_pid, pane.session_id, pane.session_created),
                prompt.fingerprint(),
                prompt.about(),
            )
        except StoreError as error:
            if followed.name not in self._unrecorded:  # once, not on every read
                logger.warning('the prompt of "%s" could not be recorded: %s', followed.name, error)
            self._unrecorded.add(followed.name)
            followed.occurrence = None
        else:
            self._unrecorded.discard(followed.name)

    def _closed(self, followed: Followed) -> None:
        """The prompt on screen is gone: close its occurrence (a store that refuses leaves
        it open: the next prompt seen closes it)."""
        occurrence, followed.occurrence = followed.occurrence, None
        if occurrence is None:
            return
        try:
            self.view.store.prompts.mark_closed(occurrence.id)
        except StoreError as error:
            logger.warning('the prompt of "%s" could not be closed: %s', followed.name, error)

    def _notice_prompt(
        self, followed: Followed, prompt: Prompt, hook: HookEventRecord | None
    ) -> None:
        name = followed.name
        subject = about(prompt.about(), hook.detail) if hook is not None else prompt.about()
        logger.info('"%s" is asking: %s', name, subject)
        title = f'"{name}" is asking: {subject}'
        said = f"Its hook reported it ({hook.event}) and its screen shows:\n" if hook else ""
        occurrence = followed.occurrence
        bound = f" --prompt {occurrence.id}" if occurrence is not None else ""
        body = (
            f"{said}{prompt.text}\n\n"
            f"Answer with `imessenger approve {name}{bound}` (yes), "
            f"`imessenger approve {name} 2{bound}` (yes, and don't ask again) or "
            f"`imessenger deny {name}{bound}`."
        )
        self._asking(name, title, body, f'"{name}" asks: {subject}  (imessenger approve {name})')

    def hook_says_asking(self, followed: Followed, hook: HookEventRecord) -> None:
        """Notify, once, that the session's hook says it asks while its screen shows no
        prompt that its profile can read: a person must look (the keys wait for one)."""
        if hook.id in self._hook_noticed:
            return
        self._hook_noticed.add(hook.id)
        name = followed.name
        subject = about(hook.event, hook.detail)
        logger.warning(
            '"%s": its hook says it asks (%s), its screen shows no prompt', name, subject
        )
        title = f'"{name}" is asking (says its hook): {subject}'
        body = (
            f"The agent's hook ({hook.event}) says it asks about:\n{hook.detail}\n\n"
            f'but its screen shows no prompt that the profile "{followed.record.agent}" can '
            f"read, so `imessenger approve {name}` cannot answer it. Look at it "
            f"(`isesh attach {name}`), and see `isesh explain {name}` to fix the profile."
        )
        self._asking(name, title, body, f'"{name}" asks (its hook says): {subject}')

    def _asking(self, name: str, title: str, body: str, message: str) -> None:
        """Tell that ``name`` asks: an inbox notice for the user and the session."""
        self.tell(name, Event.ASKING, title, body, message, kind=InboxKind.PROMPT)

    # -- every notice ---------------------------------------------------------------------------

    def tell(
        self,
        name: str,
        event: Event,
        title: str,
        body: str,
        message: str,
        *,
        kind: InboxKind = InboxKind.NOTICE,
        pane: str | None = None,
    ) -> bool:
        """Tell the person of ``event`` on every channel: an inbox notice for the user (and,
        for a prompt, the session), a tmux message (``message``), the notify command, the
        desktop, the terminals' alert.

        False when it was not told: ``watch.notify_on`` leaves the event out, or an
        attached client shows the session's pane (``pane``, its id) and the event is one
        the person sees there (see the module docstring). The caller remembers it as told
        either way: it is not told later.
        """
        settings = self.settings
        if event not in settings.notify_on:
            logger.info('"%s": %s (not told: watch.notify_on leaves it out)', name, event)
            return False
        if (
            event in SEEN_WHEN_LOOKING
            and not settings.notify_when_looking
            and pane is not None
            and self.display.looking_at(pane)
        ):
            logger.info('"%s": %s (not told: a client shows its pane)', name, event)
            return False
        owners = (USER, name) if kind is InboxKind.PROMPT else (USER,)
        self._give(kind, title, body, *owners)
        self.view.count_unread(USER)
        if settings.tmux_message:
            self.display.show(fit(f"imessenger: {message}", MESSAGE_MAX))
        self.notify.run(str(event), name, title)
        self.desktop.run(str(event), title, body)
        self.display.alert(alert(settings.bell, title))
        return True

    # -- ends ---------------------------------------------------------------------------------

    def told_end(self, followed: Followed) -> bool:
        """Whether the end of this run of the session was notified already."""
        return self.memory.of(followed.name, followed.record.started_at).exited

    def ended(self, followed: Followed, *, closed: bool) -> None:
        """Say once per run that the session ended: its agent exited, or (``closed``) its
        tmux session was closed outside isesh."""
        remembered = self.memory.of(followed.name, followed.record.started_at)
        if remembered.exited:
            return
        remembered.exited = True
        name = followed.name
        if closed:
            title = f'"{name}" ended'
            body = f"Its tmux session was closed outside isesh. Forget it with `isesh stop {name}`."
            logger.info('"%s" ended (its session was closed)', name)
        else:
            status = followed.pane.dead_status if followed.pane is not None else None
            how = f" with status {status}" if status is not None else ""
            title = f'"{name}" exited'
            body = (
                f"Its agent ({followed.record.agent}) exited{how}. Its last screen stays "
                f"readable (`isesh logs {name}`) until `isesh stop {name}`."
            )
            logger.info('"%s" exited%s', name, how)
        self.tell(name, Event.EXITED, title, body, title)
        self.save_memory()

    # -- what is written: the inbox notices, then the memory ----------------------------------

    def forget_unrecorded(self) -> None:
        """Forget what was notified about the sessions the store no longer records."""
        if self.memory.forget(set(self.view.records)):
            self.save_memory()

    def save_memory(self) -> None:
        """Save what was notified, now or (after the notices it records) later."""
        self._memory_dirty = True
        self.flush()

    def flush(self) -> None:
        """Write what is owed: the inbox notices, then the memory of what was notified.

        In that order, so that the memory file never records a notice that the store
        lacks. Each notice is removed once written, so none is written twice.
        """
        now = time.monotonic()
        if self._owed and self.notice_retry.ready(now):
            while self._owed:
                notice = self._owed[0]
                try:
                    self.view.store.inbox.add(notice.owner, notice.kind, notice.title, notice.body)
                except StoreError as error:
                    self.notice_retry.failed(error)
                    break
                self._owed.pop(0)
            else:
                self.notice_retry.succeeded()
        if self._memory_dirty and not self._owed and self.memory_retry.ready(now):
            try:
                self.memory.save()
            except OSError as error:
                self.memory_retry.failed(error)
            else:
                self._memory_dirty = False
                self.memory_retry.succeeded()

    def try_again(self) -> None:
        """Write what is still owed (each write waits for its retry's delay)."""
        if self._owed or self._memory_dirty:
            self.flush()

    def retries(self) -> list[Retry]:
        return [self.notice_retry, self.memory_retry]

    def reap(self) -> None:
        """Forget the programs run for notices that ended."""
        self.notify.reap()
        self.desktop.reap()

    def close(self) -> None:
        """Give the programs run for notices a second to end."""
        self.notify.close()
        self.desktop.close()

    def _give(self, kind: InboxKind, title: str, body: str, *owners: str) -> None:
        """Write an inbox notice for each owner, now or, if the store refuses, later."""
        self._owed.extend(_Notice(owner, kind, title, body) for owner in owners)
        self.flush()
