"""What both command lines share: the click group class, the socket option, lazy services."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from imessenger import __version__
from imessenger.errors import ImessengerError

if TYPE_CHECKING:
    from imessenger.access import Access
    from imessenger.caller import Caller
    from imessenger.config import Config
    from imessenger.sessions import Sessions
    from imessenger.store import Store
    from imessenger.tmux import Tmux

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
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)


class App:
    """Services for one command run, made on first use (so --help stays fast)."""

    def __init__(self, socket_name: str | None) -> None:
        self.socket_name = socket_name

    @functools.cached_property
    def tmux(self) -> Tmux:
        from imessenger.tmux import Tmux

        return Tmux.from_environment(self.socket_name)

    @functools.cached_property
    def caller(self) -> Caller:
        """Who runs this command: found from the process tree (see imessenger.caller)."""
        from imessenger.caller import identify

        return identify(self.tmux)

    @functools.cached_property
    def config(self) -> Config:
        """The configuration; for an agent session, the file isesh started it with."""
        from pathlib import Path

        from imessenger.config import load_config

        recorded = self.caller.config if self.caller.agent else ""
        return load_config(Path(recorded) if recorded else None)

    @functools.cached_property
    def store(self) -> Store:
        """The store; for an agent session, the one in the data folder isesh started it with."""
        from pathlib import Path

        from imessenger.store import DB_FILENAME, Store

        home = self.caller.home if self.caller.agent else ""
        return Store.open(Path(home) / DB_FILENAME if home else None)

    @functools.cached_property
    def access(self) -> Access:
        """What the caller may do, under the policy of the config in force."""
        from imessenger.access import access_for

        return access_for(self.tmux, self.store, self.config, self.caller)

    @functools.cached_property
    def sessions(self) -> Sessions:
        from imessenger.sessions import Sessions

        return Sessions(self.tmux, self.store, self.config)


def socket_option(func: F) -> F:
    """The ``-L/--socket-name`` option (env ``IMESSENGER_TMUX_SOCKET``), as on tmux itself."""
    return click.option(
        "-L",
        "--socket-name",
        "socket_name",
        envvar="IMESSENGER_TMUX_SOCKET",
        metavar="NAME",
        help="tmux server socket name (default: $IMESSENGER_TMUX_SOCKET, else the default server).",
    )(func)


def version_option(prog: str) -> Callable[[F], F]:
    return click.version_option(__version__, "-V", "--version", prog_name=prog)


pass_app = click.make_pass_decorator(App)
