"""``imessenger remote``: what another host's imessenger runs here, over ssh.

The call comes as one line of the wire format on stdin (imessenger.core.wire); this host's
API does it (:meth:`imessenger.app.api.Api.serve`) and writes the answer on stdout. Only
``isesh attach`` comes on the command line instead (``remote --protocol N isesh attach
NAME``): its stdin is the terminal. A caller of another protocol is refused (exit 65).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from imessenger import __version__
from imessenger.core import wire


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
@click.argument("tool", type=click.Choice(["isesh"]), required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def remote(protocol: int, caller_version: str, tool: str | None, args: tuple[str, ...]) -> NoReturn:
    """Do a call of another host's imessenger (over ssh).

    Another host's imessenger runs this here, for a HOST:SESSION of its user;
    nobody needs to type it. The call comes as one JSON line on stdin, and the
    answer goes out the same way; `isesh attach NAME` comes as words, in a
    terminal. It refuses (exit 65) a caller of another protocol.

    \b
    Example:
      echo '{"protocol": 3, "version": "0.1.0", "call": "list_sessions", "args": {}}' \\
        | imessenger remote --protocol 3
    """
    if protocol != wire.PROTOCOL:
        click.echo(
            f"it runs imessenger {__version__} (protocol {wire.PROTOCOL}); the calling host runs "
            f"{caller_version} (protocol {protocol}): install the same version on both "
            f"(`pip install imessenger=={__version__}` on the calling host, or "
            f"`pip install imessenger=={caller_version}` here)",
            err=True,
        )
        sys.exit(wire.EXIT_INCOMPATIBLE)
    if tool is not None:
        if list(args[:1]) != ["attach"] or len(args) != 2:
            raise click.UsageError("only `isesh attach NAME` comes on the command line")
        from imessenger.interfaces.cli.isesh import cli

        cli.main(args=list(args), prog_name=tool, standalone_mode=True)
        sys.exit(0)
    from imessenger.app.api import Api

    _hang_up_when_the_caller_leaves()
    line = sys.stdin.readline()

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    sys.exit(Api().serve(line, write))


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
