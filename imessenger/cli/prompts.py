"""``imessenger approve`` and ``deny``: answer agents' permission prompts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from imessenger.cli.app import App, pass_app
from imessenger.cli.render import report_approval
from imessenger.errors import ImessengerError

if TYPE_CHECKING:
    from imessenger.store import Choice


def _answer_one(app: App, session: str, choice: Choice) -> None:
    from imessenger.approval import answer
    from imessenger.names import check_name

    check_name(session)
    report_approval(answer(app.sessions, session, choice, access=app.access))


def _answer_all(app: App, choice: Choice) -> None:
    from imessenger.approval import NothingAsking, SessionExited, answer, asking
    from imessenger.policy import Action

    app.access.require(Action.APPROVE)
    views = [view for view in asking(app.sessions) if view.name != app.caller.name]
    if not views:
        click.echo("no session is asking for permission", err=True)
        return
    answered = skipped = 0
    failed: list[str] = []
    for view in views:
        try:
            report_approval(answer(app.sessions, view.name, choice, access=app.access))
            answered += 1
        except (NothingAsking, SessionExited):
            skipped += 1
            click.echo(f'"{view.name}" is no longer asking: skipped', err=True)
        except ImessengerError as error:
            failed.append(view.name)
            click.echo(f'"{view.name}" not answered: {error}', err=True)
    summary = f"answered {answered} of {len(views)} asking session(s)"
    if skipped:
        summary += f", {skipped} no longer asking"
    if failed:
        summary += f", {len(failed)} not answered ({', '.join(failed)})"
    click.echo(summary)
    if failed:
        sys.exit(1)


@click.command()
@click.argument("session", required=False)
@click.argument("choice", required=False)
@click.option("--all", "every", is_flag=True, help="Answer every session that is asking.")
@pass_app
def approve(app: App, session: str | None, choice: str | None, every: bool) -> None:
    """Say yes to the permission prompt SESSION is waiting on.

    CHOICE 1 (the default) is "yes, this once", 2 is "yes, and don't ask
    again". The option is picked by what its label on the screen means, not
    by its number, and nothing is pressed when the session is not asking, has
    no option with that meaning, or its screen cannot be read with certainty.
    Every answer is recorded (`imessenger log`). Exit codes: 0 answered,
    1 refused or not confirmed, 2 usage.

    \b
    Examples:
      imessenger approve worker-1
      imessenger approve worker-1 2
      imessenger approve --all
    """
    from imessenger.approval import parse_choice

    if every:
        if session is not None and choice is not None:
            raise click.UsageError("with --all, give only CHOICE (1 or 2), no session name")
        _answer_all(app, parse_choice(session if choice is None else choice))
        return
    if session is None:
        raise click.UsageError("name the SESSION to answer, or use --all")
    _answer_one(app, session, parse_choice(choice))


@click.command()
@click.argument("session")
@pass_app
def deny(app: App, session: str) -> None:
    """Say no to the permission prompt SESSION is waiting on.

    The "No" option is picked by its label, as `approve` does; nothing is
    pressed when there is none. The answer is recorded (`imessenger log`).

    \b
    Example:
      imessenger deny worker-1
    """
    from imessenger.store import Choice

    _answer_one(app, session, Choice.NO)
