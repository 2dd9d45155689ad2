"""``imessenger mcp``: the tools for agents, as an MCP server on stdin and stdout."""

from __future__ import annotations

import click

from imessenger.app.api import Api
from imessenger.interfaces.cli.group import pass_api


@click.command()
@pass_api
def mcp(api: Api) -> None:
    """Serve imessenger's tools to an agent over MCP, on stdin and stdout.

    An agent runs it as one of its MCP servers (add it to the agent's MCP
    settings, as below): the tools act for the agent's session (found from the
    process tree, as every command does), under the policy. Tools: sessions,
    send, reply, inbox, approve, deny (see the README's "Tools for agents").
    Nothing but MCP is written to stdout; it runs until the client closes
    stdin. It starts the tmux server's watcher when none runs ([watch]
    autostart), so that the messages it leaves pending are delivered.

    \b
    Examples:
      imessenger mcp
      claude mcp add imessenger -- imessenger mcp
    """
    from imessenger.interfaces.mcp.server import serve

    api.autostart_watcher()
    serve(api)
