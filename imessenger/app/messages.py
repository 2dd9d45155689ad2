"""The actions on messages: send, wait for a reply, reply, deliver, read inboxes and the log."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from imessenger.app.prompts import prompt_view
from imessenger.app.services import Services
from imessenger.app.values import Inbox, Log, check_name
from imessenger.core.errors import EmptyArgument, ImessengerError, UsageError
from imessenger.core.names import PERSON
from imessenger.core.policy import Action

if TYPE_CHECKING:
    import threading

    from imessenger.actions.sessions import SessionView
    from imessenger.core.history import Event
    from imessenger.core.values import MessageRecord, SendResult


class MessageActions(Services):
    """What send, reply, deliver, inbox and log do."""

    def send(
        self,
        target: str,
        body: str,
        *,
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
        stop: threading.Event | None = None,
    ) -> SendResult:
        """Send ``body`` to ``target`` from the caller; wait for the reply unless ``wait`` is off.

        Raises NotDelivered (nothing pasted), NoSuchSession, TargetExited; an
        interruption (KeyboardInterrupt, or ``stop`` set by another thread: an
        interface whose request was cancelled) leaves the message recorded, no
        longer waited for (timed out), and a late reply goes to the caller's inbox.
        """
        check_name(target)
        if target == PERSON:
            # a tmux session of that name (isesh starts none) would answer in the person's name
            raise UsageError(
                f'"{PERSON}" is the person, not a session: messages go to agent sessions, and '
                "the person reads the replies to theirs in their inbox. A tmux session of that "
                "name is not the person: rename it with `tmux rename-session` to reach it"
            )
        if not body.strip():
            raise UsageError("the message is empty: nothing to send")
        if raw:
            self.access.require(Action.SEND_RAW, target)
        return self._courier().send(
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
        return self._courier().wait_for_reply(sent, timeout_ms, time.monotonic(), stop=stop)

    def reply(self, message_id: str, text: str) -> MessageRecord:
        """Record ``text`` as the reply to message ``message_id``: only its target may."""
        from imessenger.actions.delivery import reply_to

        if not message_id.strip():
            raise EmptyArgument(
                "the message id is empty: give the id the message's envelope names "
                "(for example 3f9c2a1b)"
            )
        return reply_to(self._courier(), message_id, text, self.access)

    def deliver(self, target: str | None = None) -> list[SendResult]:
        """Deliver the pending messages of ``target`` (else, None, of every session that has
        some: an empty name is refused, never taken for "every session").

        Late replies found on the way go to their senders' inboxes.
        """
        if target is not None:
            check_name(target)
        courier = self._courier()
        targets = [target] if target is not None else courier.targets_with_pending()
        done = [sent for name in targets for sent in courier.deliver_pending(name)]
        courier.collect_late_replies()
        return done

    def inbox(
        self, session: str | None = None, *, peek: bool = False, include_read: bool = False
    ) -> Inbox:
        """Read the caller's inbox (``peek`` leaves it unread), or a session's, with its prompt.

        One's own inbox is read after looking for late replies on the screens. A
        session's inbox is only looked at (it is that session's to read), and the
        permission prompt it shows comes with it.
        """
        from imessenger.core.errors import NoSuchSession, NoTmuxServer

        me = self.caller.name
        if session is not None and session != me:
            check_name(session)
            self.access.require(Action.READ, session)
            live: SessionView | None
            try:
                live = self.sessions.view(session)
            except NoSuchSession:
                live = None
            entries = self.store.read_inbox(session, peek=True, include_read=include_read)
            if live is None and not entries:
                self.sessions.view(session)  # raises NoSuchSession, listing the sessions there are
            prompt = prompt_view(self.sessions, live) if live is not None else None
            return Inbox(session, entries, session, live, prompt)
        warnings = []
        try:
            self._courier().collect_late_replies()
        except NoTmuxServer:
            pass  # no sessions, so no replies on any screen
        except ImessengerError as error:
            warnings.append(f"could not look for late replies: {error}")
        entries = self.store.read_inbox(me, peek=peek, include_read=include_read)
        if session is None:
            return Inbox(me, entries, warnings=warnings)
        try:
            live = self.sessions.view(session)
        except NoSuchSession:
            if not entries:
                raise
            live = None
        prompt = prompt_view(self.sessions, live) if live is not None else None
        return Inbox(me, entries, session, live, prompt, warnings)

    def log(self, session: str | None = None, *, limit: int = 50) -> Log:
        """The latest ``limit`` events (messages, replies, approvals, refusals), oldest first.

        An agent that may not read the whole log sees its own messages only.
        """
        if session is not None:
            check_name(session)
        if not self.access.allows(Action.READ, session or ""):
            if session is not None:
                self.access.require(Action.READ, session)  # records the refusal and raises
            session = self.caller.name
        return Log(session, self._history(session, limit))

    def _history(self, session: str | None, limit: int) -> list[Event]:
        from imessenger.core import history

        server = self.tmux.label
        store = self.store
        return history.latest(
            store.list_messages(server, session, limit=limit),
            store.list_approvals(session, limit=limit, server=server),
            store.list_refusals(session, limit=limit, server=server),
            limit,
        )
