"""``imessenger inbox`` and ``log``: what is waiting for you, and what happened."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from imessenger.app.api import Api
from imessenger.core.visible import json_text
from imessenger.interfaces.cli.group import echo, pass_api
from imessenger.interfaces.cli.render import event_line, print_prompt, when

if TYPE_CHECKING:
    from imessenger.app.values import HostFailure, PromptView, Session
    from imessenger.core.values import InboxEntry


# --- inbox entries -----------------------------------------------------------------------


def _entry_json(entry: InboxEntry) -> dict[str, Any]:
    return {
        "host": entry.host,
        "id": entry.id,
        "owner": entry.owner,
        "kind": str(entry.kind),
        "message_id": entry.message_id,
        "title": entry.title,
        "body": entry.body,
        "created_at": entry.created_at,
        "read_at": entry.read_at,
        "unread": entry.read_at is None,
    }


def _print_entries(entries: list[InboxEntry], *, show_read: bool) -> None:
    for entry in entries:
        mark = ""
        if show_read:
            mark = "new   " if entry.read_at is None else "read  "
        there = f"  (on {entry.host})" if entry.host else ""
        echo(f"{mark}{when(entry.created_at)}  {entry.kind:<7}  {entry.title}{there}")
        for line in entry.body.splitlines():
            echo(f"    {line}".rstrip())


# --- live prompts --------------------------------------------------------------------------


def _prompt_json(prompt: PromptView) -> dict[str, Any]:
    return {
        "id": prompt.id,
        "question": prompt.question,
        "subject": prompt.subject,
        "text": prompt.text,
        "options": [
            {
                "key": option.key,
                "label": option.label,
                "meaning": str(option.meaning),
                "selected": option.selected,
                "keys": list(option.keys),
                "answer": str(option.answer) if option.answer is not None else None,
                "command": option.command,
            }
            for option in prompt.options
        ],
    }


def _session_json(name: str, agent: str, state: str, prompt: PromptView | None) -> dict[str, Any]:
    host, colon, there = name.partition(":")
    return {
        "host": host if colon else None,
        "name": there if colon else name,
        "agent": agent,
        "state": state,
        "prompt": _prompt_json(prompt) if prompt is not None else None,
    }


def _live_json(view: Session, prompt: PromptView | None) -> dict[str, Any]:
    return _session_json(view.name, view.agent, str(view.state), prompt)


def _unreachable(failures: list[HostFailure]) -> None:
    """Name each host that could not be asked; exit 1 once the rest is shown."""
    for failure in failures:
        echo(f"Error: {failure.why}", err=True)


def _waiting(api: Api, as_json: bool) -> None:
    found = api.waiting()
    if as_json:
        asking = [_session_json(p.session, p.agent, p.state, p) for p in found.prompts]
        echo(json_text({"asking": asking}))
    else:
        if not found.prompts and not found.unreachable:
            click.echo("no session is asking for permission", err=True)
        for index, prompt in enumerate(found.prompts):
            if index:
                echo()
            print_prompt(prompt)
    _unreachable(found.unreachable)
    if found.unreachable:
        sys.exit(1)


@click.command()
@click.argument("session", required=False)
@click.option("--peek", is_flag=True, help="Leave the entries unread.")
@click.option("--all", "show_all", is_flag=True, help="Show entries already read too.")
@click.option("--waiting", is_flag=True, help="Show every session that is asking for permission.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_api
def inbox(
    api: Api, session: str | None, peek: bool, show_all: bool, waiting: bool, as_json: bool
) -> None:
    """Show your unread inbox: messages still pending, late replies, notices.

    Reading marks the entries read (--peek leaves them unread). Your inbox is
    that of `imessenger whoami`; your inbox on every host of the config
    ([hosts.NAME]) is shown (and read) too. With SESSION: that session's unread entries
    (left unread: they are for that session to read) and the permission
    prompt it is waiting on, with the key `approve` would press and the
    prompt's id (`approve --prompt ID` answers that prompt and no later one).
    --waiting shows every session that is asking, to answer them in turn.

    \b
    Examples:
      imessenger inbox
      imessenger inbox worker-1
      imessenger inbox buildbox:worker-1
      imessenger inbox --waiting
      imessenger inbox --peek --json
    """
    if waiting:
        if session is not None or peek or show_all:
            raise click.UsageError("--waiting takes no SESSION, --peek or --all")
        _waiting(api, as_json)
        return
    found = api.inbox(session, peek=peek, include_read=show_all)
    for warning in found.warnings:
        echo(f"warning: {warning}", err=True)
    if as_json:
        data: dict[str, Any] = {
            "owner": found.owner,
            "entries": [_entry_json(e) for e in found.entries],
        }
        if session is not None:
            data["session"] = _live_json(found.live, found.prompt) if found.live else None
        echo(json_text(data))
        _unreachable(found.unreachable)
        if found.unreachable:
            sys.exit(1)
        return
    if found.entries:
        _print_entries(found.entries, show_read=show_all)
    else:
        which = "entries" if show_all else "unread entries"
        click.echo(f'no {which} in the inbox of "{found.owner}"', err=True)
    if session is None:
        _unreachable(found.unreachable)
        if found.unreachable:
            sys.exit(1)
        return
    if found.live is None:
        click.echo(f'session "{session}" is not running', err=True)
    elif found.prompt is not None:
        if found.entries:
            echo()
        print_prompt(found.prompt)
    else:
        click.echo(f'"{session}" is not asking for permission (it is {found.live.state})', err=True)


# --- log -----------------------------------------------------------------------------------


@click.command()
@click.argument("session", required=False)
@click.option(
    "-n",
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Show this many of the latest events.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_api
def log(api: Api, session: str | None, limit: int, as_json: bool) -> None:
    """Show the history of messages, replies and approvals, oldest first.

    With SESSION: only what it sent, received or was answered.

    \b
    Examples:
      imessenger log
      imessenger log worker-1 -n 20
      imessenger log buildbox:worker-1
    """
    shown = api.log(session, limit=limit)
    if as_json:
        echo(json_text([e.fields for e in shown.events]))
        return
    if not shown.events:
        whose = f' for "{shown.session}"' if shown.session else ""
        click.echo(f"nothing in the log{whose} yet", err=True)
        return
    for event in shown.events:
        echo(event_line(event))
