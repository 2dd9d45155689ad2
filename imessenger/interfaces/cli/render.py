"""How the commands show prompts, approvals and history: shared by inbox, approve, log, demo.

They print with :func:`imessenger.interfaces.cli.group.echo`: on a terminal, an agent's text in them
(a prompt's question, subject and labels, a log's messages) has its control characters
shown as stand-ins.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from imessenger.interfaces.cli.group import echo

if TYPE_CHECKING:
    from imessenger.app.values import PromptView
    from imessenger.core.history import Event
    from imessenger.core.values import Approval


def when(at: float) -> str:
    """Return a local date and time, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def one_line(text: str, width: int = 72) -> str:
    """Return the first non-blank line, cut to width, with "…" when there was more."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    more = len(lines) > 1
    if len(first) > width:
        first, more = first[: width - 1], True
    return first + ("…" if more else "")


def print_prompt(prompt: PromptView) -> None:
    """Print a live prompt: question, subject, each option with its keys and command, and
    its id."""
    echo(f'"{prompt.session}" ({prompt.agent}) asks: {prompt.question}')
    for line in prompt.subject.splitlines():
        echo(f"    {line}")
    width = max(len(f"{o.key}. {o.label}") for o in prompt.options)
    for option in prompt.options:
        keys = " ".join(option.keys)
        label = f"{option.key}. {option.label}".ljust(width)
        echo(f"  {label}  key {keys:<6} {option.command or '-'}".rstrip())
    if prompt.id is not None:
        echo(f"  prompt {prompt.id}")


def report_approval(approval: Approval) -> None:
    """Print what approve or deny did."""
    from imessenger.core.answers import describe
    from imessenger.core.values import Choice, MessageState

    verb = "denied" if approval.choice is Choice.NO else "approved"
    keys = " ".join(approval.keys)
    echo(
        f'{verb} "{approval.session}": {approval.prompt.about()} -- {describe(approval.choice)} '
        f'(pressed {keys}: "{approval.option.label}")'
    )
    for sent in approval.delivered:
        why = f" ({sent.why})" if sent.why and sent.outcome is not MessageState.QUEUED else ""
        echo(
            f'waiting message {sent.message.id} to "{approval.session}": {sent.outcome.value}{why}',
            err=True,
        )
    if approval.delivery_error:
        echo(
            f'warning: waiting messages to "{approval.session}" were not delivered: '
            f"{approval.delivery_error}",
            err=True,
        )


def approval_json(approval: Approval) -> dict[str, Any]:
    """What approve or deny did, as JSON (what another host's imessenger reads)."""
    return {
        "session": approval.session,
        "agent": approval.agent,
        "prompt_id": approval.prompt_id,
        "choice": str(approval.choice),
        "about": approval.prompt.about(),
        "subject": approval.prompt.subject,
        "option": approval.option.label,
        "keys": list(approval.keys),
        "closed": approval.closed,
        "at": approval.record.at,
        "delivered": [
            {"id": sent.message.id, "state": str(sent.outcome), "why": sent.why}
            for sent in approval.delivered
        ],
        "delivery_error": approval.delivery_error,
    }


def event_line(shown: Event) -> str:
    """Return one log event as a line of text."""
    event = shown.fields
    stamp = when(shown.at)
    kind = shown.kind
    if kind == "refusal":
        subject = event["session"] or "-"
        return (
            f"{stamp}  {kind:<8}  {event['actor']} -> {subject}  {event['action']} "
            f"refused (rule {event['rule']})"
        )
    if kind in ("message", "reply"):
        route = f"{event['from']} -> {event['to']}"
        tail = f"[{event['state']}]" if kind == "message" else f"(via {event['via']})"
        return f"{stamp}  {kind:<8}  {route}  {event['id']}  {tail}  {one_line(event['text'])}"
    closed = "closed" if event["closed"] else "NOT closed"
    subject = one_line(event["subject"]) or "-"
    return (
        f"{stamp}  {kind:<8}  {event['actor']} -> {event['session']}  {event['choice']} "
        f'"{event["option"]}" key {event["key"]} ({closed})  {subject}'
    )
