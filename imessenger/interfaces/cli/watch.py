"""``imessenger watch``, ``status``, ``dashboard``, ``tmux-conf`` and the tmux plugin's helpers
(``approve-menu``, ``compose``, ``jump``, ``restore-on-start``)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from imessenger.app.api import Api
from imessenger.core.published import status_json
from imessenger.core.visible import json_text
from imessenger.interfaces.cli.group import echo, not_blank, pass_api

# --- watch ---------------------------------------------------------------------------------


@click.command()
@click.option("--daemon", is_flag=True, help="Run in the background; the log goes to a file.")
@click.option("--stop", is_flag=True, help="Stop the watcher of this tmux server.")
@click.option("-v", "--verbose", is_flag=True, help="Log every state change.")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    hidden=True,
    help="Log to this file instead of stderr (what --daemon starts the watcher with).",
)
@click.option(
    "--autostarted",
    is_flag=True,
    hidden=True,
    help="End once the tmux server is gone; say nothing when a watcher runs already "
    "(what a command that starts the watcher by itself runs).",
)
@pass_api
def watch(
    api: Api, daemon: bool, stop: bool, verbose: bool, log_file: Path | None, autostarted: bool
) -> None:
    """Follow every agent session and act as soon as one changes.

    One watcher runs per tmux server; a second one says so and exits. The
    commands that need it start it when none runs (`isesh start`, a `send`
    that leaves a message pending, `imessenger mcp`; [watch] autostart), and
    that one ends when its tmux server is gone. It
    hears of every change of the sessions isesh started within milliseconds
    (through tmux control-mode clients, without polling) and then: records a
    notice in your inbox and shows a tmux message when a session starts
    asking for permission; delivers pending messages, in order, when their
    target is ready; puts late replies in their sender's inbox; notes when an
    agent exits. `imessenger status` and the dashboard read what it sees.

    \b
    Examples:
      imessenger watch              # in the foreground, logging to stderr
      imessenger watch --daemon     # in the background (the tmux plugin does this)
      imessenger watch --stop
    """
    from imessenger.core.errors import WatcherRunning

    if daemon and stop:
        raise click.UsageError("give --daemon or --stop, not both")
    if autostarted and (daemon or stop):
        raise click.UsageError("--autostarted runs the watcher here: leave out --daemon and --stop")
    if stop:
        stopped = api.stop_watcher()
        click.echo(stopped.message, err=stopped.pid is None)
        return
    if daemon:
        click.echo(api.start_watcher(verbose=verbose).message)
        return
    try:
        api.watch(log_file, verbose=verbose, autostarted=autostarted)
    except WatcherRunning as running:  # a second watcher says so and exits, without failing
        if not autostarted:  # two commands started one each at once: nothing to say
            click.echo(str(running).split(";")[0], err=True)


# --- status --------------------------------------------------------------------------------


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the watcher's status as JSON.")
@click.option("--plain", is_flag=True, help="Print the counts in words.")
@click.option(
    "--follow", is_flag=True, help="With --json: print it again, a line, each time it changes."
)
@pass_api
def status(api: Api, as_json: bool, plain: bool, follow: bool) -> None:
    """Print one short line for tmux's status bar: sessions asking, unread notices.

    It reads the small file the watcher keeps up to date (no tmux call, no
    database), so it can run every status interval. It prints nothing when
    nothing is waiting, and says so when no watcher runs.

    \b
    Examples:
      imessenger status             # ⚠ 2 asking · ✉ 3
      imessenger status --plain     # 2 asking, 3 unread
      imessenger status --json
      imessenger status --json --follow   # what another host's watcher reads
    """
    if as_json and plain:
        raise click.UsageError("give --json or --plain, not both")
    if follow:
        if not as_json:
            raise click.UsageError("--follow prints JSON lines: give --json too")
        try:
            for seen in api.follow_status():
                line = seen.published.line if seen.watching else api.status().line()
                echo(json_text(status_json(api.server_label, seen, line), compact=True))
        except (BrokenPipeError, KeyboardInterrupt):
            sys.exit(0)  # nobody reads any more
    report = api.status()
    if as_json:
        echo(json_text(report.as_json()))
    elif plain:
        click.echo(report.plain())
    else:
        click.echo(report.line())


# --- dashboard -----------------------------------------------------------------------------


@click.command()
@pass_api
def dashboard(api: Api) -> None:
    """Show every session, its state and what it asks; answer, send and jump from there.

    Each session shows its agent, state, the command it asks about, its last
    message and reply, and its unread count. Keys: up/down (or j/k) pick a
    session, y approve, a approve and don't ask again, n deny, s send a
    message, Enter jump to the session, q quit. The screen is redrawn when
    the watcher reports a change (without a watcher it reads the panes itself
    every watch.interval_ms).

    \b
    Example:
      imessenger dashboard
    """
    from imessenger.interfaces.dashboard import run_dashboard

    run_dashboard(api, client=os.environ.get("IMESSENGER_TMUX_CLIENT") or None)


# --- the tmux plugin -----------------------------------------------------------------------


def _command() -> list[str]:
    """The argv that runs this imessenger again (the console script, else python -m)."""
    script = Path(sys.argv[0])
    if script.name == "imessenger" and script.is_file():
        return [str(script.resolve())]
    return [sys.executable, "-m", "imessenger"]


@click.command("tmux-conf")
def tmux_conf() -> None:
    """Print the lines that load imessenger's tmux plugin, for ~/.tmux.conf (without TPM).

    \b
    Example:
      imessenger tmux-conf >> ~/.tmux.conf
    """
    from imessenger.interfaces.menu import plugin_conf

    click.echo(plugin_conf(_command()))


def _answer_from_menu(
    api: Api, client: str, session: str, choice_text: str, prompt: str | None
) -> None:
    """Answer one prompt (the prompt of id ``prompt``, the one the menu showed) and show the
    outcome on the client (the menu's items do this)."""
    from imessenger.core.answers import describe
    from imessenger.core.errors import ImessengerError
    from imessenger.core.values import Choice

    try:
        choice = Choice(choice_text)
    except ValueError:
        raise click.BadParameter(
            f"CHOICE must be one of {', '.join(c.value for c in Choice)}", param_hint="--answer"
        ) from None
    failed: ImessengerError | None = None
    try:
        done = api.answer(session, choice, prompt)
        text = f'imessenger: "{session}": {describe(done.choice)} ("{done.option.label}")'
    except ImessengerError as error:
        failed = error
        text = f"imessenger: {error}"
    echo(text, err=True)
    with contextlib.suppress(ImessengerError):  # the client may have gone meanwhile
        api.show_message(client, text)
    if failed is not None:
        sys.exit(failed.exit_code)  # shown on the client already; the exit code says it too


@click.command("approve-menu")
@click.option(
    "-c",
    "--client",
    "client",
    required=True,
    callback=not_blank("a client as tmux names it (#{client_name}, tmux list-clients)"),
    help="The tmux client to show it on.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the menu's items instead.")
@click.option(
    "--answer",
    nargs=2,
    metavar="SESSION CHOICE",
    help="Answer SESSION (yes-once, yes-always or no) and show the outcome on the client.",
)
@click.option(
    "--prompt",
    "prompt",
    metavar="ID",
    help="With --answer: answer only the prompt of this id (the one the menu showed).",
)
@pass_api
def approve_menu(
    api: Api, client: str, print_only: bool, answer: tuple[str, str] | None, prompt: str | None
) -> None:
    """Show a tmux menu of the sessions asking for permission, to answer them.

    Each session has "Yes", "Yes, don't ask again" (when its prompt has it),
    "No" and "Show". The plugin's key runs this; --print lists the items and
    their tmux commands instead. The items run `approve-menu --answer` with
    the id of the prompt shown (--prompt): nothing is pressed when the
    session shows another prompt by the time the item is picked.

    \b
    Examples:
      imessenger approve-menu -c /dev/pts/3
      imessenger approve-menu -c /dev/pts/3 --answer worker-1 yes-once
      imessenger approve-menu -c /dev/pts/3 --answer worker-1 yes-once --prompt 3f9a0c2e1b
    """
    if answer is not None:
        _answer_from_menu(api, client, *answer, prompt)
        return
    if prompt is not None:
        raise click.UsageError("--prompt goes with --answer")
    from imessenger.core.errors import NoSuchSession
    from imessenger.interfaces.menu import approval_menu

    shown = []
    for entry in api.asking():
        if ":" in entry.name:  # another host's: answered there, nothing to show here
            shown.append((entry, ""))
            continue
        try:  # an id, never a name tmux may misread; a session gone meanwhile is left out
            shown.append((entry, api.session_id(entry.name)))
        except NoSuchSession:
            continue
    socket = ["-L", api.socket_name] if api.socket_name else []
    menu = approval_menu(shown, [*_command(), *socket], client)
    if print_only:
        echo(menu.title.strip())
        for item in menu.items:
            echo(f"{item.label}\t{item.key}\t{item.command}" if item.label else "")
        return
    api.show_menu(client, menu.title, menu.items)


def _pick_target(api: Api) -> str | None:
    names = [session.name for session in api.list_sessions().sessions]
    if not names:
        click.echo("no agent sessions (start one with `isesh start NAME`)")
        return None
    for index, name in enumerate(names, start=1):
        click.echo(f"  {index}. {name}")
    while True:
        picked = click.prompt(
            "Send to (number or name, empty to cancel)", default="", show_default=False
        )
        picked = picked.strip()
        if not picked:
            return None
        if picked.isdigit() and 1 <= int(picked) <= len(names):
            return names[int(picked) - 1]
        if picked in names:
            return picked
        click.echo(f'no session "{picked}"')


def _read_body() -> str:
    click.echo('Write the message; end it with a line holding only "." (or Ctrl-D).')
    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if not line or line.rstrip("\r\n") == ".":
            break
        lines.append(line.rstrip("\r\n"))
    return "\n".join(lines)


@click.command()
@click.argument("target", required=False)
@click.option("--wait-key", is_flag=True, help="Wait for Enter before exiting (in a popup).")
@pass_api
def compose(api: Api, target: str | None, wait_key: bool) -> None:
    """Pick a session, write a multi-line message and send it (the plugin's send popup).

    The message ends with a line holding a single "." or with Ctrl-D. It is
    sent without waiting for the reply; a late reply lands in your inbox.

    \b
    Example:
      imessenger compose worker-1
    """
    from imessenger.core.errors import ImessengerError

    try:
        if target is not None:
            api.view(target)  # a bad name (an empty one too: never "pick one"), or none there
        name = target if target is not None else _pick_target(api)
        if name is None:
            return
        click.echo(f"To {name}.")
        body = _read_body()
        if not body.strip():
            click.echo("empty message: nothing sent")
            return
        result = api.send(name, body, wait=False)
        why = f" ({result.why})" if result.why else ""
        echo(f"message {result.message.id} to {name}: {result.outcome.value}{why}")
    except ImessengerError as error:
        echo(f"Error: {error}", err=True)
        if not wait_key:
            sys.exit(error.exit_code)
    finally:
        if wait_key:
            click.prompt("Press Enter to close", default="", show_default=False, prompt_suffix="")


@click.command()
@click.option(
    "-c",
    "--client",
    "client",
    required=True,
    callback=not_blank("a client as tmux names it (#{client_name}, tmux list-clients)"),
    help="The tmux client to switch.",
)
@pass_api
def jump(api: Api, client: str) -> None:
    """Switch a tmux client to the next session that is asking for permission.

    \b
    Example:
      imessenger jump -c /dev/pts/3
    """
    from imessenger.interfaces.menu import next_in_turn

    here = [entry.name for entry in api.asking() if ":" not in entry.name]
    name = next_in_turn(here, api.client_session(client))
    if name is not None:
        api.switch(client, name)
    if name is None:
        api.show_message(client, "imessenger: no session is asking")
        click.echo("no session is asking for permission", err=True)
        return
    click.echo(name)


@click.command("restore-on-start")
@pass_api
def restore_on_start(api: Api) -> None:
    """Restore the sessions that ended with the tmux server, and say so on its clients.

    What the tmux plugin runs when its tmux server starts (@imessenger-restore
    on). Each session of this tmux server that isesh remembers and that ended
    without `isesh stop` (with its server, a reboot, or its agent) is restored
    as `isesh restore` does, in its own conversation; those stopped with
    `isesh stop` stay restorable by name, and other hosts' are left to their
    own servers. A summary shows on every tmux client, and what was done with
    each session waits in your inbox. Exit 1 when one could not be restored.

    \b
    Example:
      imessenger restore-on-start
    """
    from imessenger.core.errors import ImessengerError

    try:
        done = api.restore_on_start()
    except ImessengerError as error:
        with contextlib.suppress(ImessengerError):
            api.show_everywhere(f"imessenger: could not restore the sessions: {error}")
        raise
    for r in done.sessions:
        echo(f"{r.name}: {r.outcome}" + (f" ({r.detail})" if r.detail else ""))
    if done.started or done.failed:
        why = ": `imessenger inbox` says why" if done.failed else ""
        with contextlib.suppress(ImessengerError):
            api.show_everywhere(f"imessenger: {done.summary()}{why}")
    if done.failed:
        sys.exit(1)
