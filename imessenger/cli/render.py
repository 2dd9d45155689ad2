"""How the commands show prompts, approvals and history: shared by inbox, approve, log, demo."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from imessenger.approval import Approval
    from imessenger.cli.app import App
    from imessenger.screen import Prompt
    from imessenger.sessions import SessionView
    from imessenger.store import ApprovalRecord, MessageRecord, RefusalRecord


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


def print_prompt(view: SessionView, prompt: Prompt, app: App) -> None:
    """Print a live prompt: question, subject, each option with its keys and command."""
    from imessenger.approval import answers, command_for

    profile = app.sessions.view_profile(view)
    chosen = answers(view.name, prompt)
    click.echo(f'"{view.name}" ({view.agent}) asks: {prompt.question}')
    for line in prompt.subject.splitlines():
        click.echo(f"    {line}")
    width = max(len(f"{o.key}. {o.label}") for o in prompt.options)
    for option in prompt.options:
        keys = " ".join(profile.keys_for(option))
        label = f"{option.key}. {option.label}".ljust(width)
        how = command_for(view.name, chosen[option.key]) if option.key in chosen else "-"
        click.echo(f"  {label}  key {keys:<6} {how}".rstrip())


def report_approval(approval: Approval) -> None:
    """Print what approve or deny did."""
    from imessenger.approval import describe
    from imessenger.store import Choice

    verb = "denied" if approval.choice is Choice.NO else "approved"
    keys = " ".join(approval.keys)
    click.echo(
        f'{verb} "{approval.session}": {approval.prompt.about()} -- {describe(approval.choice)} '
        f'(pressed {keys}: "{approval.option.label}")'
    )
    if approval.delivered:
        count = len(approval.delivered)
        click.echo(f'delivered {count} waiting message(s) to "{approval.session}"', err=True)
    if approval.delivery_error:
        click.echo(
            f'warning: waiting messages to "{approval.session}" were not delivered: '
            f"{approval.delivery_error}",
            err=True,
        )


def message_events(message: MessageRecord) -> list[tuple[float, dict[str, Any]]]:
    """Return a message and its reply as log events (time, fields)."""
    events: list[tuple[float, dict[str, Any]]] = [
        (
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
            (
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


def approval_event(record: ApprovalRecord) -> tuple[float, dict[str, Any]]:
    """Return an answered prompt as a log event (time, fields)."""
    return (
        record.at,
        {
            "kind": "denial" if record.choice == "no" else "approval",
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


def refusal_event(record: RefusalRecord) -> tuple[float, dict[str, Any]]:
    """Return an action the policy refused as a log event (time, fields)."""
    return (
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


def event_line(event: dict[str, Any]) -> str:
    """Return one log event as a line of text."""
    stamp = when(float(event["at"]))
    kind = event["kind"]
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
