"""``imessenger``: send messages to agents, read replies and inboxes, answer permission prompts."""

from __future__ import annotations

import click

from imessenger.cli.app import CONTEXT_SETTINGS, App, Group, pass_app, socket_option, version_option
from imessenger.cli.config import config_group
from imessenger.cli.messaging import deliver, reply, send


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@socket_option
@version_option("imessenger")
@click.pass_context
def cli(ctx: click.Context, socket_name: str | None) -> None:
    """Coordinate AI coding agents running in tmux sessions.

    \b
    Example:
      isesh start worker-1 -d ./backend
      imessenger send worker-1 "Build the login component"
    """
    ctx.obj = App(socket_name)


@cli.command()
@pass_app
def whoami(app: App) -> None:
    """Print the name messages are sent from.

    It is $IMESSENGER_SESSION (set in sessions isesh starts), else the tmux
    session this runs in, else "user".

    \b
    Example:
      imessenger whoami
    """
    from imessenger.sessions import whoami as identity

    click.echo(identity(app.tmux))


cli.add_command(config_group, "config")
cli.add_command(send)
cli.add_command(reply)
cli.add_command(deliver)
