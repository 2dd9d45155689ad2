"""The ``imessenger`` console script: the status line and the hooks without click, all
else through it.

tmux runs ``imessenger status`` for its status bar every few seconds, so that
one form, ``imessenger [-L NAME] status [--plain]``, is answered here without
importing click (about half of what the command costs). So is ``imessenger hook
event KIND``, which an agent's hooks run at each of its events. Any other
arguments, ``--json`` and ``--help`` included, go to the click command line.
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


def _hook_event(kind: str) -> int:
    """``imessenger hook event KIND`` (see imessenger.interfaces.cli.hook): record, print nothing.

    Exits 1 on any fault, never 2: Claude Code takes a hook's status 2 as "deny".
    """
    from imessenger.app.api import Api
    from imessenger.core.errors import ImessengerError

    payload = "" if kind == "aider" else sys.stdin.read()  # Aider's stdin is the terminal
    try:
        Api(None).hook_event(kind, payload)
    except ImessengerError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    """Run ``imessenger`` with the arguments of this process: in the watcher's command
    server when one runs and takes it (imessenger.interfaces.cli.thin), else here."""
    args = sys.argv[1:]
    from imessenger.interfaces.cli.thin import hand_over, leave

    status = hand_over(args)
    if status is not None:
        leave(status)
    run(args)


def run(args: list[str]) -> None:
    """Run ``imessenger ARGS`` in this process."""
    if len(args) == 3 and args[:2] == ["hook", "event"]:
        sys.exit(_hook_event(args[2]))
    fast = _fast_status(args)
    if fast is not None:
        from imessenger.adapters.status_cache import read_status

        server, plain = fast
        report = read_status(server)
        print(report.plain() if plain else report.line())
        return
    from imessenger.interfaces.cli.main import cli

    cli(args=args, prog_name="imessenger")
