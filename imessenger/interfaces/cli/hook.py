"""``imessenger hook ...``: what the agents' own hooks call, from inside their sessions."""

from __future__ import annotations

import sys

import click

from imessenger.app.api import Api
from imessenger.core.errors import ImessengerError
from imessenger.interfaces.cli.group import pass_api


@click.group()
def hook() -> None:
    """Record what an agent's own hook reports (isesh installs these; not for people).

    \b
    Example (what isesh gives Codex CLI as its notify program):
      codex -c 'notify=["imessenger", "hook", "codex-notify"]'
    """


@hook.command(
    "codex-notify",
    # the user's program comes with its own options: everything after the first
    # argument is an argument
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("chained", nargs=-1)
@click.argument("payload")
@pass_api
def codex_notify(api: Api, chained: tuple[str, ...], payload: str) -> None:
    """Codex CLI's notify program: PAYLOAD is the JSON Codex gives at the end of a turn.

    CHAINED (before PAYLOAD) is the user's own notify program, run after with PAYLOAD.

    \b
    Example:
      imessenger hook codex-notify '{"type": "agent-turn-complete", "thread-id": "..."}'
    """
    api.codex_turn_ended(payload, chained)


@hook.command("event")
@click.argument("kind")
@pass_api
def event(api: Api, kind: str) -> None:
    """Record an event of the agent this runs in: what its KIND hook reports.

    KIND is the profile's `hooks` key: claude, demo, copilot and opencode (the plugin
    isesh gives OpenCode) give the event as JSON on stdin; aider gives nothing (its
    stdin is the terminal, and is not read). Prints nothing: an agent may take a hook's
    output as an answer.

    \b
    Example (one of the hooks isesh gives Claude Code):
      echo '{"hook_event_name": "Stop", "session_id": "..."}' | imessenger hook event claude
    """
    payload = "" if kind == "aider" else sys.stdin.read()
    try:
        api.hook_event(kind, payload)
    except ImessengerError as error:
        # Exit 1, whatever the error: Claude Code takes a hook's exit status 2 as "deny".
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
