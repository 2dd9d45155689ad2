"""``imessenger``: send messages to agents, read replies and inboxes, answer permission prompts."""

from __future__ import annotations

import click

from imessenger.app.api import Api
from imessenger.interfaces.cli.group import (
    CONTEXT_SETTINGS,
    Group,
    pass_api,
    socket_option,
    version_option,
)

#: Each command's home; its module is imported only when the command runs.
COMMANDS = {
    "send": "imessenger.interfaces.cli.messaging:send",
    "reply": "imessenger.interfaces.cli.messaging:reply",
    "deliver": "imessenger.interfaces.cli.messaging:deliver",
    "inbox": "imessenger.interfaces.cli.inbox:inbox",
    "log": "imessenger.interfaces.cli.inbox:log",
    "approve": "imessenger.interfaces.cli.prompts:approve",
    "deny": "imessenger.interfaces.cli.prompts:deny",
    "config": "imessenger.interfaces.cli.config:config_group",
    "demo": "imessenger.interfaces.cli.demo:demo",
    "watch": "imessenger.interfaces.cli.watch:watch",
    "status": "imessenger.interfaces.cli.watch:status",
    "dashboard": "imessenger.interfaces.cli.watch:dashboard",
    "tmux-conf": "imessenger.interfaces.cli.watch:tmux_conf",
    "approve-menu": "imessenger.interfaces.cli.watch:approve_menu",
    "compose": "imessenger.interfaces.cli.watch:compose",
    "jump": "imessenger.interfaces.cli.watch:jump",
    "restore-on-start": "imessenger.interfaces.cli.watch:restore_on_start",
    "hook": "imessenger.interfaces.cli.hook:hook",
    "mcp": "imessenger.interfaces.cli.agent_tools:mcp",
    "remote": "imessenger.interfaces.cli.serving:remote",
}


@click.group(cls=Group, lazy=COMMANDS, context_settings=CONTEXT_SETTINGS)
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
    ctx.obj = Api(socket_name)


@cli.command()
@pass_api
def whoami(api: Api) -> None:
    """Print the name messages are sent from (your inbox is the one of that name).

    Inside a session isesh started, it is that session (found from the process
    tree, not from $IMESSENGER_SESSION alone); in another tmux session, that
    session's name; elsewhere $IMESSENGER_SESSION, else "user".

    \b
    Example:
      imessenger whoami
    """
    click.echo(api.whoami())
