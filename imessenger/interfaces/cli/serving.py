"""Both sides of a call to another host.

``imessenger remote --protocol N`` is what another host's imessenger runs here over
ssh (see imessenger.adapters.ssh), the call as JSON on stdin: ``isesh ARGS`` or ``imessenger
ARGS``, as this host's user, once the protocol checks. :func:`relay` is the calling side: it prints
what the remote command printed and exits with its status; :func:`print_each` prints
what every host printed, for the commands that look at all of them. What a host printed
is printed here as a command here prints its own output
(:func:`imessenger.interfaces.cli.group.echo`):
the remote command writes to a pipe, so exactly; here, to a terminal, with its control
characters shown.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from imessenger import __version__
from imessenger.interfaces.cli.group import echo

if TYPE_CHECKING:
    from imessenger.app import Api, FromHost, Host

TOOLS = ("isesh", "imessenger")


@click.command(
    hidden=True,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--protocol",
    type=int,
    required=True,
    help="The calling host's protocol version: a call of another version is refused (exit 65).",
)
@click.option(
    "--caller-version",
    default="?",
    help="The calling host's imessenger version, named in the refusal.",
)
@click.argument("tool", type=click.Choice(TOOLS), required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def remote(protocol: int, caller_version: str, tool: str | None, args: tuple[str, ...]) -> NoReturn:
    """Run a command for another host's imessenger (over ssh).

    Another host's imessenger runs this here, for a HOST:SESSION of its user;
    nobody needs to type it. The call comes as JSON on stdin ({"tool":
    "isesh" or "imessenger", "args": [...], "input": the command's stdin}), or
    as TOOL ARGS (for `isesh attach`, in a terminal). It refuses (exit 65) a
    caller of another protocol.

    \b
    Example:
      echo '{"tool": "isesh", "args": ["list", "--json"]}' | imessenger remote --protocol 1
    """
    from imessenger.app import EXIT_INCOMPATIBLE, PROTOCOL

    if protocol != PROTOCOL:
        click.echo(
            f"it runs imessenger {__version__} (protocol {PROTOCOL}); the calling host runs "
            f"{caller_version} (protocol {protocol}): install the same version on both "
            f"(`pip install imessenger=={__version__}` on the calling host, or "
            f"`pip install imessenger=={caller_version}` here)",
            err=True,
        )
        sys.exit(EXIT_INCOMPATIBLE)
    if tool is None:
        tool, args = _read_request()
    _hang_up_when_the_caller_leaves()
    if tool == "isesh":
        from imessenger.interfaces.cli.isesh import cli
    else:
        from imessenger.interfaces.cli.main import cli
    cli.main(args=list(args), prog_name=tool, standalone_mode=True)
    sys.exit(0)


def _read_request() -> tuple[str, tuple[str, ...]]:
    """The call on stdin; the command's own input becomes its stdin."""
    import io
    import json

    try:
        call = json.loads(sys.stdin.read())
        tool, args, given = call["tool"], call["args"], call.get("input")
        if tool not in TOOLS or not all(isinstance(a, str) for a in args):
            raise ValueError("no such tool, or an argument that is not a string")
        if given is not None and not isinstance(given, str):
            raise ValueError("input is not a string")
    except (ValueError, KeyError, TypeError) as error:
        click.echo(f"Error: the call on stdin cannot be read ({error})", err=True)
        sys.exit(2)
    data = (given or "").encode("utf-8", "surrogateescape")
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    return tool, tuple(args)


def _hang_up_when_the_caller_leaves() -> None:
    """Give this process SIGHUP once nobody reads what it prints (the ssh connection
    dropped): a ``send`` waiting for its reply then settles as on Ctrl-C, so that the
    reply goes to the inbox here instead of to a closed pipe."""
    import os
    import select
    import signal
    import threading

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (an in-process run): nothing to watch

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, select.POLLERR | select.POLLHUP)
        while True:
            for _, events in poller.poll():
                if events & (select.POLLERR | select.POLLHUP):
                    os.kill(os.getpid(), signal.SIGHUP)
                    return

    threading.Thread(target=watch, name="caller-gone", daemon=True).start()


def relay(
    api: Api,
    host: Host,
    tool: str,
    args: list[str],
    *,
    stdin: str | None = None,
    waits_s: float = 0.0,
) -> NoReturn:
    """Run ``TOOL ARGS`` on ``host``, print what it printed, exit with its status."""
    done = api.on_host(host, tool, args, stdin=stdin, waits_s=waits_s)
    if done.stdout:
        echo(done.stdout, nl=False)
    if done.stderr:
        echo(done.stderr, nl=False, err=True)
    sys.exit(done.code)


def print_each(answers: list[FromHost]) -> bool:
    """Print what each host printed, under its name; True when every host answered.

    A host that could not be asked is named on stderr; the others are printed anyway.
    """
    for answer in answers:
        if answer.done is None:
            echo(f"Error: {answer.error}", err=True)
            continue
        if answer.done.stdout or answer.done.stderr:
            echo(f"-- on host {answer.host} --")
        if answer.done.stdout:
            echo(answer.done.stdout, nl=False)
        if answer.done.stderr:
            echo(answer.done.stderr, nl=False, err=True)
    return all(answer.answered for answer in answers)
