"""``isesh``: start, list, attach, stop and read agent sessions in tmux."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imessenger.app.api import Api
from imessenger.core.attention import duration
from imessenger.core.usage import estimate_cost, short_cost, short_count
from imessenger.interfaces.cli.group import (
    CONTEXT_SETTINGS,
    Group,
    echo,
    not_blank,
    pass_api,
    socket_option,
    version_option,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from imessenger.app.values import Restorable, Session
    from imessenger.core.usage import Price
    from imessenger.core.values import Usage


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
@click.option(
    "--agent",
    "agent",
    metavar="PROFILE",
    callback=not_blank(
        "a profile (`imessenger config show agents` lists them), or leave --agent out"
    ),
    help="Agent profile (default from config).",
)
@click.option("--attach", is_flag=True, help="Attach to the session after starting it.")
@click.option(
    "--worktree",
    is_flag=True,
    help="Work in a git worktree of the -d repository, on a branch of its own.",
)
@click.option(
    "--branch",
    metavar="BRANCH",
    callback=not_blank("a branch name for the worktree, or leave --branch out"),
    help="The worktree's new branch (default: the session's name).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_api
def start(
    api: Api,
    name: str,
    directory: Path,
    agent: str | None,
    attach: bool,
    worktree: bool,
    branch: str | None,
    command: tuple[str, ...],
) -> None:
    """Start agent session NAME, detached, in its own tmux session.

    The agent is the profile's command (default profile `claude`), or the
    COMMAND given after `--`.

    \b
    Examples:
      isesh start mgr-frontend -d ./frontend
      isesh start coordinator
      isesh start w1 -d /tmp/w1 --agent shell -- cat
      isesh start buildbox:w1 -d src/app     # on host buildbox, -d a folder there
      isesh start w2 -d ./repo --worktree    # in a worktree of ./repo, on branch w2
      isesh start w3 -d ./repo --worktree --branch fix-login
    """
    # On another host, the folder is that host's (relative: to its home); "." is its home.
    view = api.start(name, directory, agent, command, worktree=worktree, branch=branch)
    on = f" on branch {view.branch}" if view.branch else ""
    echo(f'started "{view.name}" ({view.agent}) in {shlex.quote(view.directory)}{on}')
    socket = ["-L", api.socket_name] if api.socket_name and view.host is None else []
    if attach:
        sys.exit(api.attach(view.name))
    echo(f"attach with: {shlex.join(['isesh', *socket, 'attach', view.name])}")


def _age(seconds: float) -> str:
    return duration(seconds)


@cli.command("list")
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="Also sessions isesh did not start, and those it remembers that do not run.",
)
@click.option(
    "--host",
    "only",
    metavar="HOST",
    callback=not_blank('a host of the config, or "local"'),
    help='Only this host\'s ("local": this one).',
)
@click.option(
    "--usage",
    "with_usage",
    is_flag=True,
    help="Also the tokens each session used and their estimated cost, read from each "
    "agent's own record (slower: each record file is read).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_api
def list_(api: Api, include_all: bool, only: str | None, with_usage: bool, as_json: bool) -> None:
    """List agent sessions with their live state, on this host and every other.

    States: starting, idle, busy, stuck (busy for [watch] stuck_after_ms with
    no progress), asking (waiting for a permission answer), exited, unknown;
    with --all, restorable (isesh remembers it and it does not run: `isesh
    restore` brings it back). While a watcher runs, each state says how long
    the session has been in it ("busy 4m"; --json: state_since, when it entered
    it, null without a watcher). A session on another host
    ([hosts.NAME] in the config) is named HOST:SESSION; a host that cannot be
    reached is named on stderr (exit 1) and the others are listed.

    With --usage, the tokens each session's model used so far, from the
    agent's own record: IN (input read fresh, cache writes included), OUT,
    CACHE (input read from the prompt cache), and COST, estimated from the
    [prices."MODEL"] of the config ("-" for a model without a price, or a
    session whose agent records no usage). --json gives them as "usage".

    \b
    Examples:
      isesh list --all
      isesh list --host buildbox
      isesh list --usage
    """
    listed = api.list_sessions(include_all=include_all, only=only, usage=with_usage)
    rows = [_row(session) for session in listed.sessions]
    rows += [_restorable_row(session) for session in listed.restorable]
    used = [s.usage for s in listed.sessions] + [r.usage for r in listed.restorable]
    for failure in listed.unreachable:
        echo(f"Error: {failure.why}", err=True)
    if with_usage:
        prices = api.settings.prices
        for row, usage in zip(rows, used, strict=True):
            row["usage"] = _usage_json(usage, prices) if usage is not None else None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        more = _usage_columns(used, api.settings.prices) if with_usage else []
        _print_rows(
            rows, with_host=bool(api.hosts), with_branch=any(r["branch"] for r in rows), more=more
        )
    else:
        hint = "" if include_all else " (--all shows sessions isesh did not start)"
        click.echo(f"no agent sessions{hint}", err=True)
    if listed.unreachable:
        sys.exit(1)


def _row(v: Session) -> dict[str, Any]:
    return {
        "host": v.host,
        "name": v.name.split(":", 1)[1] if v.host else v.name,
        "agent": v.agent,
        "directory": v.directory,
        "state": v.shown_state,
        "state_since": v.state_since,
        "started_at": v.started_at,
        "age_seconds": round(max(0.0, time.time() - v.started_at), 1),
        "managed": v.managed,
        "pane": v.pane,
        "asking": v.screen.prompt.subject if v.screen.prompt else None,
        "branch": v.branch,
        "restorable": False,
        "stopped_at": None,
    }


def _restorable_row(r: Restorable) -> dict[str, Any]:
    return {
        "host": r.host,
        "name": r.name.split(":", 1)[1] if r.host else r.name,
        "agent": r.agent,
        "directory": r.directory,
        "state": "restorable",
        "state_since": None,
        "started_at": r.started_at,
        "stopped_at": r.stopped_at,
        "age_seconds": round(max(0.0, time.time() - r.started_at), 1),
        "managed": True,
        "pane": None,
        "asking": None,
        "branch": r.branch,
        "restorable": True,
    }


def _state_for(row: dict[str, Any]) -> str:
    """The STATE column: the state, and how long the session has been in it when its
    watcher saw it enter it ("busy 4m")."""
    since = row["state_since"]
    if since is None:
        return str(row["state"])
    return f"{row['state']} {duration(time.time() - float(since))}"


def _print_rows(
    rows: list[dict[str, Any]],
    *,
    with_host: bool,
    with_branch: bool,
    more: list[tuple[str, ...]] | None = None,
) -> None:
    """The table; ``more`` are columns added at the right (a header, then each row's)."""
    header: tuple[str, ...] = ("NAME", "HOST", "AGENT", "BRANCH", "DIRECTORY", "STATE", "AGE")
    cells: list[tuple[str, ...]] = [
        (
            f"{row['host']}:{row['name']}" if row["host"] else str(row["name"]),
            str(row["host"] or "local"),
            str(row["agent"]) if row["managed"] else f"{row['agent']}?",
            str(row["branch"] or "-"),
            str(row["directory"] or "-"),
            _state_for(row),
            _age(float(row["age_seconds"])),
        )
        for row in rows
    ]
    if more:
        header += more[0]
        cells = [line + added for line, added in zip(cells, more[1:], strict=True)]
    hidden = {"HOST"} if not with_host else set()
    hidden |= {"BRANCH"} if not with_branch else set()
    keep = [i for i in range(len(header)) if header[i] not in hidden]
    table = [tuple(line[i] for i in keep) for line in [header, *cells]]
    widths = [max(len(line[i]) for line in table) for i in range(len(keep))]
    for line in table:
        echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _usage_columns(used: list[Usage | None], prices: Mapping[str, Price]) -> list[tuple[str, ...]]:
    """The columns ``--usage`` adds: the header, then each session's (in the table's
    order); "-" where there is no usage."""
    columns: list[tuple[str, ...]] = [("IN", "OUT", "CACHE", "COST")]
    for usage in used:
        if usage is None:
            columns.append(("-", "-", "-", "-"))
            continue
        columns.append(
            (
                short_count(usage.input_tokens + usage.cache_write_tokens),
                short_count(usage.output_tokens),
                short_count(usage.cache_read_tokens),
                short_cost(estimate_cost(usage, prices)),
            )
        )
    return columns


def _usage_json(usage: Usage, prices: Mapping[str, Price]) -> dict[str, Any]:
    """A session's usage as ``--json`` gives it: the counts, the model of the last
    response, and each model's share, each with its estimated cost (null: no price)."""

    def counts(part: Usage) -> dict[str, Any]:
        return {
            "input_tokens": part.input_tokens,
            "output_tokens": part.output_tokens,
            "cache_read_tokens": part.cache_read_tokens,
            "cache_write_tokens": part.cache_write_tokens,
            "total_tokens": part.total_tokens,
            "turns": part.turns,
            "estimated_cost": estimate_cost(part, prices),
        }

    return {
        "model": usage.model,
        **counts(usage),
        "models": [{"model": part.model, **counts(part)} for part in usage.models()],
    }


@cli.command()
@click.argument("name")
@pass_api
def attach(api: Api, name: str) -> None:
    """Attach to session NAME (switches the client when already inside tmux).

    \b
    Example:
      isesh attach worker-1
      isesh attach buildbox:worker-1
    """
    code = api.attach(name)
    if code:
        sys.exit(code)


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Kill at once, without asking the agent to exit.")
@click.option(
    "--remove-worktree",
    is_flag=True,
    help="Also remove its worktree (refused while it holds uncommitted work) and forget it.",
)
@pass_api
def stop(api: Api, name: str, force: bool, remove_worktree: bool) -> None:
    """Stop session NAME: ask the agent to exit, wait a grace period, then kill it.

    It stays restorable (`isesh restore NAME`). With --remove-worktree, the
    git worktree isesh made for it is removed too, and its branch when it is
    merged or has no commit of its own; while the worktree holds uncommitted
    work, nothing is stopped or deleted and what is uncommitted is named.

    \b
    Example:
      isesh stop worker-1
      isesh stop buildbox:worker-1
      isesh stop w2 --remove-worktree
    """
    how = api.stop(name, force=force, remove_worktree=remove_worktree)
    if remove_worktree:
        echo(f'stopped "{name}" ({how})')
    else:
        echo(f'stopped "{name}" ({how}); `isesh restore {name}` brings it back')


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--fresh",
    is_flag=True,
    help="Start anew a session whose conversation cannot be resumed (else it is reported).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_api
def restore(api: Api, names: tuple[str, ...], fresh: bool, as_json: bool) -> None:
    """Bring back the sessions isesh remembers that do not run, each in its own conversation.

    With no NAME, every remembered session, here and on every host; a
    session that runs is left alone, so it can be run again. Each comes back
    with its name, folder, profile and worktree, its agent resuming its own
    conversation (Claude Code and Gemini CLI --resume, Codex resume, Aider
    its chat history), and the messages that waited for it are delivered
    once it is ready. One that cannot be brought back is named with why
    (exit 1), and the others are restored.

    \b
    Examples:
      isesh restore                  # after a reboot or a killed tmux server
      isesh restore worker-1 buildbox:w2
      isesh restore --fresh w3       # w3's conversation is gone: start it anew
    """
    done = api.restore(names, fresh=fresh)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "host": r.host,
                        "name": r.name.split(":", 1)[1] if r.host else r.name,
                        "outcome": str(r.outcome),
                        "detail": r.detail,
                    }
                    for r in done.sessions
                ],
                indent=2,
            )
        )
    else:
        for r in done.sessions:
            echo(f"{r.name}: {r.outcome}" + (f" ({r.detail})" if r.detail else ""))
        if not done.sessions and not done.unreachable:
            click.echo("isesh remembers no session to restore", err=True)
    for failure in done.unreachable:
        echo(f"Error: {failure.why}", err=True)
    if done.unreachable or any(str(r.outcome) == "failed" for r in done.sessions):
        sys.exit(1)


@cli.command()
@click.argument("name")
@pass_api
def forget(api: Api, name: str) -> None:
    """Forget session NAME, which does not run: `isesh restore` will not bring it back.

    Its folder (a worktree too) is left as it is; the file isesh kept of its
    agent's conversation goes.

    \b
    Example:
      isesh forget worker-1
      isesh forget buildbox:worker-1
    """
    forgotten = api.forget(name)
    kept = f"; its worktree {shlex.quote(forgotten.worktree)} is kept" if forgotten.worktree else ""
    echo(f'forgot "{name}"{kept}')


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
      isesh logs buildbox:worker-1
    """
    echo(api.logs(name, lines))


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
      isesh explain buildbox:worker-1
    """
    from imessenger.interfaces.cli.explain import as_json as explanation_json
    from imessenger.interfaces.cli.explain import render

    explained = api.explain(name)
    echo(explanation_json(explained) if as_json else render(explained))


if __name__ == "__main__":
    cli(prog_name="isesh")
