"""``imessenger approve`` and ``deny``: answer agents' permission prompts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from imessenger.app.api import Api
from imessenger.core.answers import parse_choice
from imessenger.core.visible import json_text
from imessenger.interfaces.cli.group import echo, pass_api
from imessenger.interfaces.cli.render import approval_json, report_approval

if TYPE_CHECKING:
    from imessenger.core.values import Approval


def _answer_all(api: Api, choice_text: str | None) -> bool:
    """Answer every session that asks, here and on every host; False when one could not
    be answered, or a host could not be asked."""
    done = api.answer_all(parse_choice(choice_text))
    for failure in done.unreachable:
        echo(f"Error: {failure.why}", err=True)
    if not done.asked:
        click.echo("no session is asking for permission", err=True)
        return not done.unreachable
    for approval in done.approvals:
        report_approval(approval)
    for name, why in done.skipped:
        click.echo(f'"{name}" skipped: {why}', err=True)
    for name, error in done.failed:
        echo(f'"{name}" not answered: {error}', err=True)
    summary = f"answered {len(done.approvals)} of {done.asked} asking session(s)"
    if done.skipped:
        summary += f", {len(done.skipped)} skipped"
    if done.failed:
        summary += f", {len(done.failed)} not answered ({', '.join(n for n, _ in done.failed)})"
    click.echo(summary)
    return not done.failed and not done.unreachable


_PROMPT_HELP = (
    "Answer only the prompt with this id (as `inbox --waiting` shows it): nothing is "
    "pressed when the open prompt is another."
)


@click.command()
@click.argument("session", required=False)
@click.argument("choice", required=False)
@click.option("--prompt", "prompt", metavar="ID", help=_PROMPT_HELP)
@click.option("--all", "every", is_flag=True, help="Answer every session that is asking.")
@click.option("--json", "as_json", is_flag=True, help="Print what was answered as JSON.")
@pass_api
def approve(
    api: Api,
    session: str | None,
    choice: str | None,
    prompt: str | None,
    every: bool,
    as_json: bool,
) -> None:
    """Say yes to the permission prompt SESSION is waiting on.

    CHOICE 1 (the default) is "yes, this once", 2 is "yes, and don't ask
    again". The option is picked by what its label on the screen means, not
    by its number, and nothing is pressed when the session is not asking, has
    no option with that meaning, or its screen cannot be read with certainty.
    The answer is for one prompt: with --prompt ID, the prompt of that id
    (`inbox --waiting` shows each prompt's id), else the prompt open when the
    command starts; nothing is pressed when another is open by the time the
    key would be, and a prompt is answered once (a second approver is told
    who answered it). Every answer is recorded (`imessenger log`). Exit
    codes: 0 answered, 1 refused or not confirmed, 2 usage, 6 answered
    already.

    \b
    Examples:
      imessenger approve worker-1
      imessenger approve worker-1 2
      imessenger approve worker-1 --prompt 3f9a0c2e1b
      imessenger approve buildbox:worker-1
      imessenger approve --all
    """
    if every:
        if session is not None and choice is not None:
            raise click.UsageError("with --all, give only CHOICE (1 or 2), no session name")
        if prompt is not None:
            raise click.UsageError(
                "with --all, each session's prompt is the one it shows now: no --prompt"
            )
        choice_text = session if choice is None else choice
        if not _answer_all(api, choice_text):
            sys.exit(1)
        return
    if session is None:
        raise click.UsageError("name the SESSION to answer, or use --all")
    _report(api.approve(session, choice, prompt), as_json)


def _report(approval: Approval, as_json: bool) -> None:
    if as_json:
        echo(json_text(approval_json(approval)))
    else:
        report_approval(approval)


@click.command()
@click.argument("session")
@click.option("--prompt", "prompt", metavar="ID", help=_PROMPT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print what was answered as JSON.")
@pass_api
def deny(api: Api, session: str, prompt: str | None, as_json: bool) -> None:
    """Say no to the permission prompt SESSION is waiting on.

    The "No" option is picked by its label, as `approve` does; nothing is
    pressed when there is none. The answer is for one prompt, as with
    `approve` (--prompt ID). The answer is recorded (`imessenger log`).

    \b
    Example:
      imessenger deny worker-1
      imessenger deny worker-1 --prompt 3f9a0c2e1b
      imessenger deny buildbox:worker-1
    """
    _report(api.deny(session, prompt), as_json)
