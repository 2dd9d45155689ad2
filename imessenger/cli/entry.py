"""The ``imessenger`` console script: the status line without click, all else through it.

tmux runs ``imessenger status`` for its status bar every few seconds, so that
one form, ``imessenger [-L NAME] status [--plain]``, is answered here without
importing click (about half of what the command costs); any other arguments,
``--json`` and ``--help`` included, go to the click command line.
"""

from __future__ import annotations

import os
import sys


def _fast_status(args: list[str]) -> tuple[str, bool] | None:
    """Return (server, plain) when ``args`` ask for the plain status line, else None."""
    socket = None
    if args[:1] in (["-L"], ["--socket-name"]) and len(args) >= 2:
        socket, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("-L") and len(args[0]) > 2:
        socket, args = args[0][2:], args[1:]
    if args not in (["status"], ["status", "--plain"]):
        return None
    server = socket or os.environ.get("IMESSENGER_TMUX_SOCKET") or "default"
    return server, args == ["status", "--plain"]


def main() -> None:
    """Run ``imessenger`` with the arguments of this process."""
    fast = _fast_status(sys.argv[1:])
    if fast is not None:
        from imessenger.status import read_status

        server, plain = fast
        report = read_status(server)
        print(report.plain() if plain else report.line())
        return
    from imessenger.cli.main import cli

    cli(prog_name="imessenger")
