"""Messages done here: send, wait for a reply, reply, deliver, read inboxes and the log.

The door (imessenger.app.api) has checked the names and the policy before any of this
runs; what the caller may see is handed in (``sees``), never asked here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imessenger.app.prompts import prompt_view
from imessenger.app.services import Services
from imessenger.app.values import Inbox, Log

if TYPE_CHECKING:
    import threading

    from imessenger.actions.sessions import SessionView
    from imessenger.core.history import Event
    from imessenger.core.values import MessageRecord, SendResult


class MessageActions(Services):
    """What send, reply, deliver, inbox and log do here."""

    def send(
        self,
        target: str,
        body: str,
        *,
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
        stop: threading.Event | None = None,
        sees: Callable[[str], bool] | None = None,
    ) -> SendResult:
        """Send ``body`` to session ``target`` from the caller; wait for the reply unless
        ``wait`` is off. ``sees`` says whether the caller may see a session's prompt (why a
        message waits names the prompt only then).

        Raises NotDelivered (nothing pasted), NoSuchSession, TargetExited; an
        interruption (KeyboardInterrupt, or ``stop`` set by another thread: an
        interface whose request was cancelled) leaves the message recorded, no
        longer waited for (timed out), and a late reply goes to the caller's inbox.
        """
        return self._courier(sees).send(
            target,
            body,
            sender=self.caller.name,
            sender_instance=self.caller.instance,
            raw=raw,
            wait=wait,
            timeout_ms=timeout_ms,
            stop=stop,
        )

    def wait_for_reply(
        self, sent: SendResult, timeout_ms: int, *, stop: threading.Event | None = None
    ) -> SendResult:
        """Wait up to ``timeout_ms`` for the reply to a message sent without waiting (or until
        ``stop`` is set)."""
        return self._replies().wait_for_reply(sent, timeout_ms, time.monotonic(), stop=stop)

    def reply(self, message: MessageRecord, text: str) -> MessageRecord:
        """Record ``text`` as the reply to ``message`` (the door checked that the caller is
        its target)."""
        from imessenger.actions.replies import reply_to

        return reply_to(self._replies(), message, text)

    def deliver(self, target: str | None = None) -> list[SendResult]:
        """Deliver the pending messages of ``target`` (None: of every session that has some).

        Late replies found on the way go to their senders' inboxes.
        """
        courier = self._courier()
        targets = [target] if target is not None else courier.targets_with_pending()
        done = [sent for name in targets for sent in courier.deliver_pending(name)]
        self._replies().collect_late_replies()
        return done

    def own_inbox(self, *, peek: bool = False, include_read: bool = False) -> Inbox:
        """Read the caller's inbox (``peek`` leaves it unread), after looking for late
        replies on the screens."""
        from imessenger.core.errors import ImessengerError, NoTmuxServer

        warnings = []
        try:
            self._replies().collect_late_replies()
        except NoTmuxServer:
            pass  # no sessions, so no replies on any screen
        except ImessengerError as error:
            warnings.append(f"could not look for late replies: {error}")
        me = self.caller.name
        entries = self.store.inbox.read(me, peek=peek, include_read=include_read)
        return Inbox(me, entries, warnings=warnings)

    def inbox_of(
        self, session: str, *, include_read: bool = False
    ) -> tuple[Inbox, SessionView | None]:
        """A session's inbox, only looked at (it is that session's to read), with the session
        as it is now (None when it is gone; NoSuchSession when it has no inbox either) and
        the prompt it shows."""
        from imessenger.core.errors import NoSuchSession

        live: SessionView | None
        try:
            live = self.sessions.view(session)
        except NoSuchSession:
            live = None
        entries = self.store.inbox.read(session, peek=True, include_read=include_read)
        if live is None and not entries:
            self.sessions.view(session)  # raises NoSuchSession, listing the sessions there are
        prompt = prompt_view(self.sessions, live) if live is not None else None
        return Inbox(session, entries, session, None, prompt), live

    def log(self, session: str | None = None, *, limit: int = 50) -> Log:
        """The latest ``limit`` events (messages, replies, approvals, refusals) of ``session``
        (None: of every session), oldest first."""
        return Log(session, self._history(session, limit))

    def _history(self, session: str | None, limit: int) -> list[Event]:
        from imessenger.core import history

        store = self.store
        return history.latest(
            store.messages.latest(session, limit=limit),
            store.approvals.latest(session, limit=limit),
            store.refusals.latest(session, limit=limit),
            limit,
        )
