"""``imessenger config``: show the merged configuration, find and create the user's file."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click

from imessenger.app.api import Api
from imessenger.core.errors import ImessengerError

logger = logging.getLogger(__name__)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn an ImessengerError raised by ``command`` into a click error with its exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ImessengerError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from exc

    return wrapper


def toml_value(value: Any) -> str:
    """Render a configuration value as a TOML value on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string; this also keeps newlines on one line.
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@click.group("config", context_settings=CONTEXT_SETTINGS)
def config_group() -> None:
    """Show imessenger's settings and manage your configuration file.

    The shipped defaults apply unless your file (see `imessenger config path`)
    sets a key; it may also add agent profiles as [agents.NAME] tables.

    \b
    Example:
        imessenger config show send
    """


@config_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print values and sources as JSON.")
@reports_errors
def show(key: str | None, as_json: bool) -> None:
    """Print each setting (or those under KEY) and where its value came from.

    Each line reads `key = value  # from SOURCE`, where SOURCE is
    "default: conf/FILE" or the path of your file. With --json, prints one
    object {"values": {...}, "sources": {"dotted.key": SOURCE}}.

    \b
    Examples:
        imessenger config show
        imessenger config show send.timeout_ms
        imessenger config show agents.claude --json
    """
    loaded = Api().user_config()
    sources = loaded.sources
    if key is not None:
        selected = loaded.lookup(key)
        sources = {
            dotted: source
            for dotted, source in sources.items()
            if dotted == key or dotted.startswith(key + ".")
        }
        values: Any = selected
    else:
        values = loaded.values
    if as_json:
        click.echo(json.dumps({"values": values, "sources": sources}, indent=2, ensure_ascii=False))
        return
    for dotted, value in loaded.flat().items():
        if dotted in sources:
            click.echo(f"{dotted} = {toml_value(value)}  # from {sources[dotted]}")


@config_group.command("path", context_settings=CONTEXT_SETTINGS)
@reports_errors
def path() -> None:
    """Print your configuration file's path (and on stderr whether it exists).

    The path is $IMESSENGER_CONFIG if set, else $XDG_CONFIG_HOME/imessenger/config.toml
    (~/.config/imessenger/config.toml without XDG_CONFIG_HOME).

    \b
    Example:
        $EDITOR "$(imessenger config path)"
    """
    where = Api().config_file()
    click.echo(str(where))
    why = " (from $IMESSENGER_CONFIG)" if os.environ.get("IMESSENGER_CONFIG") else ""
    if where.is_file():
        click.echo(f"exists{why}", err=True)
    else:
        click.echo(
            f"does not exist{why}; create it with `imessenger config init`",
            err=True,
        )


@config_group.command("init", context_settings=CONTEXT_SETTINGS)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@reports_errors
def init(force: bool) -> None:
    """Write a starter configuration file at `imessenger config path`.

    The file explains itself in a header comment and lists the general
    settings with their default values commented out, so it changes nothing
    until you uncomment a key. An existing file is kept unless you give --force.

    \b
    Example:
        imessenger config init && $EDITOR "$(imessenger config path)"
    """
    where = Api().write_starter_config(force=force)
    click.echo(f"wrote {where}")
