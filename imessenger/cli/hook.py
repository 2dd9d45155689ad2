"""``imessenger hook ...``: what the agents' own hooks call, from inside their sessions."""

from __future__ import annotations

import click

from imessenger.api import Api
from imessenger.cli.app import pass_api


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
