"""``imessenger inbox`` and ``log``: what is waiting for you, and what happened."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from imessenger.cli.app import App, pass_app
from imessenger.cli.render import (
    approval_event,
    event_line,
    message_events,
    print_prompt,
    refusal_event,
    when,
)
from imessenger.errors import ImessengerError, NoSuchSession

if TYPE_CHECKING:
    from imessenger.screen import Prompt
    from imessenger.sessions import SessionView
    from imessenger.store import InboxEntry


# --- inbox entries -----------------------------------------------------------------------


def _entry_json(entry: InboxEntry) -> dict[str, Any]:
    return {
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
        click.echo(f"{mark}{when(entry.created_at)}  {entry.kind:<7}  {entry.title}")
        for line in entry.body.splitlines():
            click.echo(f"    {line}".rstrip())


# --- live prompts --------------------------------------------------------------------------


def _prompt_json(view: SessionView, prompt: Prompt, app: App) -> dict[str, Any]:
    from imessenger.approval import answers, command_for

    profile = app.sessions.view_profile(view)
    chosen = answers(view.name, prompt)
    return {
        "question": prompt.question,
        "subject": prompt.subject,
        "text": prompt.text,
        "options": [
            {
                "key": option.key,
                "label": option.label,
                "meaning": str(option.meaning),
                "selected": option.selected,
                "keys": profile.keys_for(option),
                "answer": str(chosen[option.key]) if option.key in chosen else None,
                "command": command_for(view.name, chosen[option.key])
                if option.key in chosen
                else None,
            }
            for option in prompt.options
        ],
    }


def _session_json(view: SessionView, app: App) -> dict[str, Any]:
    prompt = view.screen.prompt
    return {
        "name": view.name,
        "agent": view.agent,
        "state": str(view.state),
        "prompt": _prompt_json(view, prompt, app) if prompt is not None else None,
    }


def _waiting(app: App, as_json: bool) -> None:
    from imessenger.approval import asking

    views = asking(app.sessions)
    if as_json:
        click.echo(
            json.dumps(
                {"asking": [_session_json(v, app) for v in views]}, ensure_ascii=False, indent=2
            )
        )
        return
    if not views:
        click.echo("no session is asking for permission", err=True)
        return
    for index, view in enumerate(views):
        if index:
            click.echo()
        assert view.screen.prompt is not None
        print_prompt(view, view.screen.prompt, app)


def _live(app: App, session: str) -> SessionView | None:
    try:
        return app.sessions.view(session)
    except NoSuchSession:
        return None


@click.command()
@click.argument("session", required=False)
@click.option("--peek", is_flag=True, help="Leave the entries unread.")
@click.option("--all", "show_all", is_flag=True, help="Show entries already read too.")
@click.option("--waiting", is_flag=True, help="Show every session that is asking for permission.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def inbox(
    app: App, session: str | None, peek: bool, show_all: bool, waiting: bool, as_json: bool
) -> None:
    """Show your unread inbox: messages still pending, late replies, notices.

    Reading marks the entries read (--peek leaves them unread). Your inbox is
    that of `imessenger whoami`. With SESSION: that session's unread entries
    (left unread: they are for that session to read) and the permission
    prompt it is waiting on, with the key `approve` would press. --waiting
    shows every session that is asking, to answer them in turn.

    \b
    Examples:
      imessenger inbox
      imessenger inbox worker-1
      imessenger inbox --waiting
      imessenger inbox --peek --json
    """
    from imessenger.delivery import Courier
    from imessenger.errors import NoTmuxServer
    from imessenger.names import check_name
    from imessenger.policy import Action

    if waiting:
        if session is not None or peek or show_all:
            raise click.UsageError("--waiting takes no SESSION, --peek or --all")
        if not app.access.allows(Action.APPROVE):
            app.access.require(Action.READ)  # approvers, readers and the user may look
        _waiting(app, as_json)
        return
    me = app.caller.name
    if session is not None and session != me:
        check_name(session)
        app.access.require(Action.READ, session)
    if session is None or session == me:
        try:
            Courier(app.sessions).collect_late_replies()
        except NoTmuxServer:
            pass  # no sessions, so no replies on any screen
        except ImessengerError as error:
            click.echo(f"warning: could not look for late replies: {error}", err=True)
        owner = me
    else:
        owner = session
        peek = True
    view = _live(app, session) if session is not None else None
    entries = app.store.read_inbox(owner, peek=peek, include_read=show_all)
    if session is not None and view is None and not entries:
        app.sessions.view(session)  # raises NoSuchSession, listing the sessions there are
    if as_json:
        data: dict[str, Any] = {"owner": owner, "entries": [_entry_json(e) for e in entries]}
        if session is not None:
            data["session"] = _session_json(view, app) if view is not None else None
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if entries:
        _print_entries(entries, show_read=show_all)
    else:
        which = "entries" if show_all else "unread entries"
        click.echo(f'no {which} in the inbox of "{owner}"', err=True)
    if session is None:
        return
    if view is None:
        click.echo(f'session "{session}" is not running', err=True)
    elif view.screen.prompt is not None:
        if entries:
            click.echo()
        print_prompt(view, view.screen.prompt, app)
    else:
        click.echo(f'"{session}" is not asking for permission (it is {view.state})', err=True)


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
@pass_app
def log(app: App, session: str | None, limit: int, as_json: bool) -> None:
    """Show the history of messages, replies and approvals, oldest first.

    With SESSION: only what it sent, received or was answered.

    \b
    Examples:
      imessenger log
      imessenger log worker-1 -n 20
    """
    from imessenger.names import check_name
    from imessenger.policy import Action

    server = app.tmux.label
    if session is not None:
        check_name(session)
    if not app.access.allows(Action.READ, session or ""):
        if session is not None:
            app.access.require(Action.READ, session)  # records the refusal and raises
        session = app.caller.name  # an agent sees its own messages only
    events = [
        event
        for message in app.store.list_messages(server, session, limit=limit)
        for event in message_events(message)
    ]
    events += [
        approval_event(record)
        for record in app.store.list_approvals(session, limit=limit, server=server)
    ]
    events += [
        refusal_event(record)
        for record in app.store.list_refusals(session, limit=limit, server=server)
    ]
    events.sort(key=lambda pair: pair[0])
    shown = [event for _, event in events[-limit:]]
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    if not shown:
        whose = f' for "{session}"' if session else ""
        click.echo(f"nothing in the log{whose} yet", err=True)
        return
    for event in shown:
        click.echo(event_line(event))
