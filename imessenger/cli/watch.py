"""``imessenger watch``, ``status``, ``dashboard``, ``tmux-conf`` and the tmux plugin's helpers
(``approve-menu``, ``compose``, ``jump``)."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imessenger.cli.app import App, pass_app
from imessenger.paths import touch_private_file

if TYPE_CHECKING:
    from imessenger.watcher import Watcher

#: How long ``watch --daemon`` and ``watch --stop`` wait for the watcher to start or end.
_START_S = 15.0


def _server(app: App) -> str:
    """The label of the tmux server (as Tmux.label has it), without loading tmux code."""
    return app.socket_name or "default"


# --- watch ---------------------------------------------------------------------------------


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are 0600 whatever the umask (it holds message text)."""

    def _open(self) -> Any:
        touch_private_file(self.baseFilename)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop a line that cannot be written (a full disk): no traceback, the watcher goes on.

        logging's default prints a traceback to stderr, which for the daemon is this same
        log: it would turn up there once the disk has room again.
        """


def _log_to(path: Path | None, verbose: bool) -> None:
    import logging.handlers

    from imessenger.status import data_file_error

    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = _PrivateLog(path, maxBytes=1_000_000, backupCount=1, encoding="utf-8")
        except OSError as error:
            raise data_file_error("open the log", path, error) from error
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("imessenger")
    root.addHandler(handler)
    root.setLevel(level)


def _run_watcher(app: App) -> None:
    from imessenger.status import PidFile, WatcherRunning
    from imessenger.watcher import Watcher

    pid_file = PidFile(_server(app))
    try:
        pid_file.acquire()
    except WatcherRunning as running:
        click.echo(str(running).split(";")[0], err=True)
        return
    try:
        watcher = Watcher(app.sessions)
        _stop_on_signals(watcher)
        watcher.run()
    finally:
        pid_file.release()


def _stop_on_signals(watcher: Watcher) -> None:
    def stop(signum: int, frame: object) -> None:
        watcher.stop()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)


def _start_daemon(app: App, verbose: bool) -> None:
    import subprocess

    from imessenger.paths import ensure_data_dir
    from imessenger.status import data_file_error, log_path, running_pid

    server = _server(app)
    pid = running_pid(server)
    if pid is not None:
        click.echo(f'imessenger watch is already running for tmux server "{server}" (pid {pid})')
        return
    log = log_path(server)
    argv = [sys.executable, "-m", "imessenger"]
    if app.socket_name:
        argv += ["-L", app.socket_name]
    argv += ["watch", "--log-file", str(log)] + (["--verbose"] if verbose else [])
    try:
        ensure_data_dir()
        touch_private_file(log)
        with open(log, "ab") as output:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
            )
    except OSError as error:
        raise data_file_error("start the watcher with its log", log, error) from error
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        pid = running_pid(server)
        if pid == child.pid:
            click.echo(
                f'imessenger watch started for tmux server "{server}" (pid {pid}); log: {log}'
            )
            return
        status = child.poll()
        if status is not None:
            if pid is not None:  # another one won the race
                click.echo(f'imessenger watch is already running for "{server}" (pid {pid})')
                return
            raise click.ClickException(f"the watcher exited at once (status {status}); see {log}")
        time.sleep(0.02)
    raise click.ClickException(f"the watcher did not start within {_START_S:g}s; see {log}")


def _stop_watcher(app: App) -> None:
    from imessenger.status import running_pid

    server = _server(app)
    pid = running_pid(server)
    if pid is None:
        click.echo(f'no watcher runs for tmux server "{server}"', err=True)
        return
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _START_S
    while running_pid(server) is not None:
        if time.monotonic() >= deadline:
            raise click.ClickException(f"the watcher (pid {pid}) did not stop; look at it with ps")
        time.sleep(0.02)
    click.echo(f'stopped the watcher of tmux server "{server}" (pid {pid})')


@click.command()
@click.option("--daemon", is_flag=True, help="Run in the background; the log goes to a file.")
@click.option("--stop", is_flag=True, help="Stop the watcher of this tmux server.")
@click.option("-v", "--verbose", is_flag=True, help="Log every state change.")
@click.option("--log-file", type=click.Path(path_type=Path, dir_okay=False), hidden=True)
@pass_app
def watch(app: App, daemon: bool, stop: bool, verbose: bool, log_file: Path | None) -> None:
    """Follow every agent session and act as soon as one changes.

    One watcher runs per tmux server; a second one says so and exits. It
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
    from imessenger.policy import Action

    if daemon and stop:
        raise click.UsageError("give --daemon or --stop, not both")
    app.access.require(Action.MANAGE)
    if stop:
        _stop_watcher(app)
        return
    if daemon:
        _start_daemon(app, verbose)
        return
    _log_to(log_file, verbose)
    _run_watcher(app)


# --- status --------------------------------------------------------------------------------


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the watcher's status as JSON.")
@click.option("--plain", is_flag=True, help="Print the counts in words.")
@pass_app
def status(app: App, as_json: bool, plain: bool) -> None:
    """Print one short line for tmux's status bar: sessions asking, unread notices.

    It reads the small file the watcher keeps up to date (no tmux call, no
    database), so it can run every status interval. It prints nothing when
    nothing is waiting, and says so when no watcher runs.

    \b
    Examples:
      imessenger status             # ⚠ 2 asking · ✉ 3
      imessenger status --plain     # 2 asking, 3 unread
      imessenger status --json
    """
    from imessenger.status import read_status

    if as_json and plain:
        raise click.UsageError("give --json or --plain, not both")
    report = read_status(_server(app))
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    elif plain:
        click.echo(report.plain())
    else:
        click.echo(report.line())


# --- dashboard -----------------------------------------------------------------------------


@click.command()
@pass_app
def dashboard(app: App) -> None:
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
    from imessenger.dashboard import run_dashboard

    run_dashboard(app.sessions, client=os.environ.get("IMESSENGER_TMUX_CLIENT") or None)


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
    from imessenger.menu import plugin_conf

    click.echo(plugin_conf(_command()))


def _answer_from_menu(app: App, client: str, session: str, choice_text: str) -> None:
    """Answer one prompt and show the outcome on the client (the menu's items do this)."""
    from imessenger.approval import answer, describe
    from imessenger.errors import ImessengerError
    from imessenger.store import Choice

    try:
        choice = Choice(choice_text)
    except ValueError:
        raise click.BadParameter(
            f"CHOICE must be one of {', '.join(c.value for c in Choice)}", param_hint="--answer"
        ) from None
    failed: ImessengerError | None = None
    try:
        done = answer(app.sessions, session, choice, access=app.access)
        text = f'imessenger: "{session}": {describe(done.choice)} ("{done.option.label}")'
    except ImessengerError as error:
        failed = error
        text = f"imessenger: {error}"
    click.echo(text, err=True)
    with contextlib.suppress(ImessengerError):  # the client may have gone meanwhile
        app.tmux.display_message(client, text)
    if failed is not None:
        sys.exit(failed.exit_code)  # shown on the client already; the exit code says it too


@click.command("approve-menu")
@click.option("-c", "--client", "client", required=True, help="The tmux client to show it on.")
@click.option("--print", "print_only", is_flag=True, help="Print the menu's items instead.")
@click.option(
    "--answer",
    nargs=2,
    metavar="SESSION CHOICE",
    help="Answer SESSION (yes-once, yes-always or no) and show the outcome on the client.",
)
@pass_app
def approve_menu(app: App, client: str, print_only: bool, answer: tuple[str, str] | None) -> None:
    """Show a tmux menu of the sessions asking for permission, to answer them.

    Each session has "Yes", "Yes, don't ask again" (when its prompt has it),
    "No" and "Show". The plugin's key runs this; --print lists the items and
    their tmux commands instead. The items run `approve-menu --answer`.

    \b
    Examples:
      imessenger approve-menu -c /dev/pts/3
      imessenger approve-menu -c /dev/pts/3 --answer worker-1 yes-once
    """
    if answer is not None:
        _answer_from_menu(app, client, *answer)
        return
    from imessenger.menu import approval_menu

    menu = approval_menu(app.sessions, _command(), client)
    if print_only:
        click.echo(menu.title.strip())
        for item in menu.items:
            click.echo(f"{item.label}\t{item.key}\t{item.command}" if item.label else "")
        return
    app.tmux.display_menu(client, menu.title, menu.items)


def _pick_target(app: App) -> str | None:
    names = [view.name for view in app.sessions.views()]
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
@pass_app
def compose(app: App, target: str | None, wait_key: bool) -> None:
    """Pick a session, write a multi-line message and send it (the plugin's send popup).

    The message ends with a line holding a single "." or with Ctrl-D. It is
    sent without waiting for the reply; a late reply lands in your inbox.

    \b
    Example:
      imessenger compose worker-1
    """
    from imessenger.delivery import Courier
    from imessenger.errors import ImessengerError

    try:
        name = target or _pick_target(app)
        if name is None:
            return
        click.echo(f"To {name}.")
        body = _read_body()
        if not body.strip():
            click.echo("empty message: nothing sent")
            return
        result = Courier(app.sessions).send(name, body, sender=app.caller.name, wait=False)
        why = f" ({result.why})" if result.why else ""
        click.echo(f"message {result.message.id} to {name}: {result.outcome.value}{why}")
    except ImessengerError as error:
        click.echo(f"Error: {error}", err=True)
        if not wait_key:
            sys.exit(error.exit_code)
    finally:
        if wait_key:
            click.prompt("Press Enter to close", default="", show_default=False, prompt_suffix="")


@click.command()
@click.option("-c", "--client", "client", required=True, help="The tmux client to switch.")
@pass_app
def jump(app: App, client: str) -> None:
    """Switch a tmux client to the next session that is asking for permission.

    \b
    Example:
      imessenger jump -c /dev/pts/3
    """
    from imessenger.menu import client_session, next_asking

    name = next_asking(app.sessions, client_session(app.sessions, client))
    if name is None:
        app.tmux.display_message(client, "imessenger: no session is asking")
        click.echo("no session is asking for permission", err=True)
        return
    app.tmux.switch_client(client, name)
    click.echo(name)
