"""The log: messages, replies, approvals and refusals as events in time order.

Pure: records of the store in, :class:`Event` values out. ``imessenger log`` prints
them (as lines or JSON), and the tour shows the same lines.

>>> from imessenger.adapters.store import RefusalRecord
>>> refused = RefusalRecord(1, 12.0, "w1", "default", "approve", "w2", "policy.approvers")
>>> [(event.kind, event.fields["rule"]) for event in latest([], [], [refused], 10)]
[('refusal', 'policy.approvers')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imessenger.core.values import ApprovalRecord, MessageRecord, RefusalRecord


@dataclass(frozen=True)
class Event:
    """One line of the log: a message, a reply, an approval, a denial or a refusal."""

    kind: str
    at: float
    #: the event's fields as ``imessenger log --json`` prints them (``kind`` and ``at`` too)
    fields: dict[str, Any]


def message_events(message: MessageRecord) -> list[Event]:
    """A message, and its reply when it has one."""
    events = [
        Event(
            "message",
            message.created_at,
            {
                "kind": "message",
                "at": message.created_at,
                "id": message.id,
                "from": message.sender,
                "to": message.target,
                "state": str(message.state),
                "text": message.body,
                "error": message.error,
            },
        )
    ]
    if message.reply is not None and message.replied_at is not None:
        events.append(
            Event(
                "reply",
                message.replied_at,
                {
                    "kind": "reply",
                    "at": message.replied_at,
                    "id": message.id,
                    "from": message.target,
                    "to": message.sender,
                    "via": message.reply_via,
                    "text": message.reply,
                },
            )
        )
    return events


def approval_event(record: ApprovalRecord) -> Event:
    """An answered prompt: an approval, or a denial."""
    kind = "denial" if record.choice == "no" else "approval"
    return Event(
        kind,
        record.at,
        {
            "kind": kind,
            "at": record.at,
            "actor": record.actor,
            "session": record.session,
            "choice": str(record.choice),
            "option": record.option_label,
            "key": record.key,
            "closed": record.closed,
            "subject": record.subject,
            "prompt": record.prompt,
        },
    )


def refusal_event(record: RefusalRecord) -> Event:
    """An action the policy refused."""
    return Event(
        "refusal",
        record.at,
        {
            "kind": "refusal",
            "at": record.at,
            "actor": record.actor,
            "action": record.action,
            "session": record.subject,
            "rule": record.rule,
        },
    )


def latest(
    messages: Iterable[MessageRecord],
    approvals: Iterable[ApprovalRecord],
    refusals: Iterable[RefusalRecord],
    limit: int,
) -> list[Event]:
    """The latest ``limit`` events of these records, oldest first."""
    events = [event for message in messages for event in message_events(message)]
    events += [approval_event(record) for record in approvals]
    events += [refusal_event(record) for record in refusals]
    events.sort(key=lambda event: event.at)
    return events[-limit:]
