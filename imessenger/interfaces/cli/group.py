"""What both command lines share: the click group class, the socket option, the Api, and
:func:`echo`, how text that may hold an agent's is printed.

A command gets the :class:`imessenger.app.Api` of its run with ``@pass_api``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from imessenger import __version__
from imessenger.app.api import Api
from imessenger.core.errors import ImessengerError
from imessenger.core.visible import for_terminal

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])


class Group(click.Group):
    """A click group that loads its commands on first use and reports errors.

    ``lazy`` maps a command name to ``"module:attribute"``: a command's module
    is imported only when that command runs (or help lists it), so a command
    does not pay for the imports of all the others. An
    :class:`ImessengerError` becomes a message on stderr and its exit code.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImessengerError as error:
            echo(f"Error: {error}", err=True)  # it may quote an agent's text
            sys.exit(error.exit_code)


def not_blank(what: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback that refuses an empty or blank value (a usage error, exit 2) instead
    of taking it for "not given"; ``what``: what to give instead, in words."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise click.BadParameter(f"it is empty: give {what}", ctx, param)
        return value

    return check


def socket_option(func: F) -> F:
    """The ``-L/--socket-name`` option (env ``IMESSENGER_TMUX_SOCKET``), as on tmux itself."""
    return click.option(
        "-L",
        "--socket-name",
        "socket_name",
        envvar="IMESSENGER_TMUX_SOCKET",
        metavar="NAME",
        callback=not_blank("the tmux server's socket name, or leave -L out for the default"),
        help="tmux server socket name (default: $IMESSENGER_TMUX_SOCKET, else the default server).",
    )(func)


def version_option(prog: str) -> Callable[[F], F]:
    return click.version_option(__version__, "-V", "--version", prog_name=prog)


pass_api = click.make_pass_decorator(Api)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print ``text``, which may hold an agent's text (or a pane's, or another host's).

    To a terminal, control and invisible characters are shown as stand-ins
    (:func:`imessenger.core.visible.for_terminal`: line feeds and tabs keep their meaning),
    so that nothing in it can act on the terminal: set the clipboard, retitle the
    window, move the cursor. To anything else (a file, a pipe) it is written exactly as
    it is: ``imessenger send w1 ... > file`` keeps every byte of the reply (click.echo
    alone would take ANSI sequences out there).
    """
    stream = sys.stderr if err else sys.stdout
    if _is_terminal(stream):
        text = for_terminal(text)
    click.echo(text, err=err, nl=nl, color=True)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or closed
        return False
