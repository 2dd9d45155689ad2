"""``isesh``: start, list, attach, stop and read agent sessions in tmux."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import click

from imessenger.api import Api
from imessenger.cli.app import CONTEXT_SETTINGS, Group, pass_api, socket_option, version_option


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@socket_option
@version_option("isesh")
@click.pass_context
def cli(ctx: click.Context, socket_name: str | None) -> None:
    """Start and manage AI coding agents, each in its own tmux session.

    \b
    Example:
      isesh start worker-1 -d ./backend       # Claude Code in ./backend
      isesh start w2 --agent demo             # the built-in demo agent
      isesh list
    """
    ctx.obj = Api(socket_name)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option(
    "-d",
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default="the current folder",
    help="Folder the agent works in.",
)
@click.option("--agent", "agent", metavar="PROFILE", help="Agent profile (default from config).")
@click.option("--attach", is_flag=True, help="Attach to the session after starting it.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_api
def start(
    api: Api, name: str, directory: Path, agent: str | None, attach: bool, command: tuple[str, ...]
) -> None:
    """Start agent session NAME, detached, in its own tmux session.

    The agent is the profile's command (default profile `claude`), or the
    COMMAND given after `--`.

    \b
    Examples:
      isesh start mgr-frontend -d ./frontend
      isesh start coordinator
      isesh start w1 -d /tmp/w1 --agent shell -- cat
    """
    view = api.start(name, directory, agent, command)
    click.echo(f'started "{view.name}" ({view.agent}) in {shlex.quote(view.directory)}')
    socket = ["-L", api.tmux.socket_name] if api.tmux.socket_name else []
    if attach:
        api.attach(view.name)
    else:
        click.echo(f"attach with: {shlex.join(['isesh', *socket, 'attach', view.name])}")


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


@cli.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also sessions isesh did not start.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_api
def list_(api: Api, include_all: bool, as_json: bool) -> None:
    """List agent sessions with their live state.

    States: starting, idle, busy, asking (waiting for a permission answer),
    exited, unknown.

    \b
    Example:
      isesh list --all
    """
    views = api.list_sessions(include_all=include_all)
    if as_json:
        rows = [
            {
                "name": v.name,
                "agent": v.agent,
                "directory": v.directory,
                "state": str(v.state),
                "started_at": v.started_at,
                "age_seconds": round(v.age, 1),
                "managed": v.managed,
                "pane": v.pane.info.pane_id,
                "asking": v.screen.prompt.subject if v.screen.prompt else None,
            }
            for v in views
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not views:
        hint = "" if include_all else " (--all shows sessions isesh did not start)"
        click.echo(f"no agent sessions{hint}", err=True)
        return
    header = ("NAME", "AGENT", "DIRECTORY", "STATE", "AGE")
    rows_text = [
        (
            v.name,
            v.agent if v.managed else f"{v.agent}?",
            v.directory or "-",
            str(v.state),
            _age(time.time() - v.started_at),
        )
        for v in views
    ]
    widths = [max(len(r[i]) for r in [header, *rows_text]) for i in range(len(header))]
    for row in [header, *rows_text]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cli.command()
@click.argument("name")
@pass_api
def attach(api: Api, name: str) -> None:
    """Attach to session NAME (switches the client when already inside tmux).

    \b
    Example:
      isesh attach worker-1
    """
    api.attach(name)


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Kill at once, without asking the agent to exit.")
@pass_api
def stop(api: Api, name: str, force: bool) -> None:
    """Stop session NAME: ask the agent to exit, wait a grace period, then kill it.

    \b
    Example:
      isesh stop worker-1
    """
    how = api.stop(name, force=force)
    click.echo(f'stopped "{name}" ({how})')


@cli.command()
@click.argument("name")
@click.option(
    "-n",
    "--lines",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Lines of scrollback to include above the screen.",
)
@pass_api
def logs(api: Api, name: str, lines: int) -> None:
    """Print the text of session NAME's pane, scrollback included.

    \b
    Example:
      isesh logs worker-1 -n 200
    """
    click.echo(api.logs(name, lines))


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@pass_api
def explain(api: Api, name: str, as_json: bool) -> None:
    """Explain why session NAME reads as its state, to fix its profile's patterns.

    Shows which rule decided the state and which screen lines (by row, 1 at the
    top) and which profile patterns (as key[index] 'pattern') matched: the
    markers, the input box, the prompt's question, options and their meanings,
    and why there is no prompt when a question was found.

    \b
    Example:
      isesh explain worker-1
      isesh explain worker-1 --json
    """
    from imessenger.cli.explain import as_json as explanation_json
    from imessenger.cli.explain import render

    explained = api.explain(name)
    click.echo(explanation_json(explained) if as_json else render(explained))


if __name__ == "__main__":
    cli(prog_name="isesh")
