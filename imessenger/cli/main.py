"""``imessenger``: send messages to agents, read replies and inboxes, answer permission prompts."""

from __future__ import annotations

import click

from imessenger.api import Api
from imessenger.cli.app import CONTEXT_SETTINGS, Group, pass_api, socket_option, version_option

#: Each command's home; its module is imported only when the command runs.
COMMANDS = {
    "send": "imessenger.cli.messaging:send",
    "reply": "imessenger.cli.messaging:reply",
    "deliver": "imessenger.cli.messaging:deliver",
    "inbox": "imessenger.cli.inbox:inbox",
    "log": "imessenger.cli.inbox:log",
    "approve": "imessenger.cli.prompts:approve",
    "deny": "imessenger.cli.prompts:deny",
    "config": "imessenger.cli.config:config_group",
    "demo": "imessenger.cli.demo:demo",
    "watch": "imessenger.cli.watch:watch",
    "status": "imessenger.cli.watch:status",
    "dashboard": "imessenger.cli.watch:dashboard",
    "tmux-conf": "imessenger.cli.watch:tmux_conf",
    "approve-menu": "imessenger.cli.watch:approve_menu",
    "compose": "imessenger.cli.watch:compose",
    "jump": "imessenger.cli.watch:jump",
    "hook": "imessenger.cli.hook:hook",
    "mcp": "imessenger.cli.agent_tools:mcp",
    "remote": "imessenger.cli.remote:remote",
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
