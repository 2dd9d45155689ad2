"""``imessenger demo``: the guided tour (imessenger/interfaces/tour.py), printed step by step."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from imessenger.app.api import Api
from imessenger.core.errors import ImessengerError
from imessenger.interfaces.cli.group import echo
from imessenger.interfaces.cli.render import event_line, print_prompt, report_approval

if TYPE_CHECKING:
    from imessenger.interfaces.tour import Result, Step, Tour

logger = logging.getLogger(__name__)


def tour_socket(ctx: click.Context) -> str:
    """Return the server the tour runs on: ``-L NAME`` when given, else ``imessenger-demo``.

    ``$IMESSENGER_TMUX_SOCKET`` is ignored on purpose: it is set inside every
    session isesh starts, and the tour must never run on a server you work on.
    """
    from imessenger.interfaces.tour import DEFAULT_SOCKET

    parent = ctx.parent
    if parent is not None and parent.get_parameter_source("socket_name") is (
        ParameterSource.COMMANDLINE
    ):
        name = parent.params.get("socket_name")
        if name:
            return str(name)
    return DEFAULT_SOCKET


def _render(result: Result) -> None:
    """Print a step's result as the real command prints it (the agents' text made visible
    on a terminal)."""
    from imessenger.interfaces.tour import (
        ApprovedStep,
        LoggedStep,
        SentStep,
        StartedStep,
        StoppedStep,
        WaitingStep,
    )

    if isinstance(result, StartedStep):
        view = result.view
        echo(f'started "{view.name}" ({view.agent}) in {view.directory}')
    elif isinstance(result, SentStep):
        sent = result.result
        if sent.reply is not None:
            echo(sent.reply)
        else:
            echo(f"message {sent.message.id} {sent.outcome.value}")
    elif isinstance(result, WaitingStep):
        for index, prompt in enumerate(result.prompts):
            if index:
                echo()
            print_prompt(prompt)
    elif isinstance(result, ApprovedStep):
        report_approval(result.approval)
    elif isinstance(result, LoggedStep):
        for event in result.events:
            echo(event_line(event))
    elif isinstance(result, StoppedStep):
        echo(f'stopped "{result.name}" ({result.how})')


def _show(step: Step) -> None:
    click.echo()
    click.echo(click.style(f"{step.number}. {step.title}", bold=True))
    for line in step.note:
        click.echo(f"   {line}")
    for shown in step.shown:
        click.echo(click.style(f"$ {shown.command}", fg="cyan"))
        if shown.result is not None:
            _render(shown.result)


def _abort(tour: Tour) -> None:
    """Remove what the tour started after a failure; a second failure is only logged."""
    try:
        tour.abort()
    except ImessengerError as error:
        logger.warning("could not stop the demo on %s: %s", tour.socket, error)
        click.echo(
            f"warning: could not stop the demo: {error}; stop it with "
            f"`tmux -L {tour.socket} kill-server`",
            err=True,
        )


@click.command()
@click.option("--keep", is_flag=True, help="Leave the sessions running, to attach and look around.")
@click.option(
    "--restart", is_flag=True, help="Stop a demo left running by --keep, then start afresh."
)
@click.pass_context
def demo(ctx: click.Context, keep: bool, restart: bool) -> None:
    """A guided tour for newcomers that needs nothing but tmux.

    It starts a coordinator and two demo agents on a private tmux server
    ("imessenger-demo", or the one -L names; never $IMESSENGER_TMUX_SOCKET),
    sends a message and prints the reply, makes an agent ask for permission,
    finds the prompt in the inbox, approves it and shows the log. Each step
    prints the command you would type and its output. At the end it stops
    the sessions and the server, unless --keep. A demo left running is
    reported; --restart replaces it.

    \b
    Examples:
      imessenger demo
      imessenger demo --keep
      imessenger -L my-demo demo --restart
    """
    from imessenger.interfaces.tour import Tour

    began = time.monotonic()
    socket = tour_socket(ctx)
    tour = Tour(Api(socket), Path.cwd())
    replaced = tour.prepare(restart=restart)
    if replaced:
        click.echo(f'stopped the earlier demo on "{socket}" ({", ".join(replaced)})')
    click.echo(f'imessenger demo: a guided tour on the private tmux server "{socket}".')
    click.echo("Each step shows the command you would type, then its output.")
    try:
        for step in tour.steps(keep=keep):
            _show(step)
    except BaseException:
        if keep:
            click.echo(
                f"the demo is left running (--keep): stop it with `tmux -L {socket} kill-server`",
                err=True,
            )
        else:
            _abort(tour)
        raise
    click.echo()
    if keep:
        if os.environ.get("TMUX"):
            click.echo(
                "You are inside tmux: attach from another terminal, "
                f"or with `TMUX= tmux -L {socket} attach -t worker-1`."
            )
        click.echo(f'The demo is running on tmux server "{socket}" until you stop it.')
    else:
        seconds = time.monotonic() - began
        click.echo(
            f"Done in {seconds:.1f}s. `imessenger demo --keep` leaves the sessions running "
            "to look around."
        )
