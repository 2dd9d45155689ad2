"""Other hosts, reached over ssh: ``[hosts.NAME]`` in the config, and ``HOST:SESSION``.

A host is what ``ssh`` takes (``destination``, an ``~/.ssh/config`` alias or
``user@machine``), extra ``ssh_args``, and the ``command`` that runs imessenger there
(``imessenger`` on the remote ``PATH`` by default; a shell word list, written by the
user, as the remote shell reads it). Host names follow the session-name alphabet.

``HOST:SESSION`` names a session on a host; a plain ``SESSION`` is local. ``:`` is
outside the name alphabet, so a target is one or the other, never both. Pure: the
ssh calls are :mod:`imessenger.adapters.ssh`.

>>> split_target("buildbox:worker-1")
('buildbox', 'worker-1')
>>> split_target("worker-1")
(None, 'worker-1')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imessenger.core.errors import ConfigError, UsageError
from imessenger.core.names import LOCAL, RULE, check_name, is_valid_name

#: The keys of a ``[hosts.NAME]`` table, with their defaults (None: required).
HOST_KEYS: dict[str, Any] = {"destination": None, "ssh_args": [], "command": "imessenger"}


@dataclass(frozen=True)
class Host:
    """One ``[hosts.NAME]`` of the config."""

    name: str
    destination: str
    ssh_args: tuple[str, ...] = ()
    command: str = "imessenger"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: str) -> Host:
        """Type a checked ``[hosts.NAME]`` table; raise ConfigError for an unusable one."""
        if not is_valid_name(name):
            raise ConfigError(
                f'{where}: [hosts.{name}]: "{name}" is not a usable host name: {RULE}'
            )
        if name == LOCAL:
            raise ConfigError(
                f'{where}: [hosts.{LOCAL}]: "{LOCAL}" names this host (`isesh list --host '
                f"{LOCAL}`): give that host another name"
            )
        destination = table.get("destination")
        if not isinstance(destination, str) or not destination.strip():
            raise ConfigError(
                f'{where}: [hosts.{name}] needs destination = "..." (what `ssh` takes: '
                'an alias of ~/.ssh/config or "user@machine")'
            )
        if destination.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in destination):
            raise ConfigError(
                f"{where}: hosts.{name}.destination {destination!r} is not one ssh destination "
                "(no leading '-', no spaces or control characters); put options in ssh_args"
            )
        command = str(table.get("command", HOST_KEYS["command"]))
        if not command.strip() or any(ord(ch) < 32 for ch in command):
            raise ConfigError(
                f"{where}: hosts.{name}.command must name the imessenger command on that host, "
                'on one line (for example "imessenger" or "~/.local/bin/imessenger")'
            )
        ssh_args = tuple(str(arg) for arg in table.get("ssh_args", HOST_KEYS["ssh_args"]))
        return cls(name, destination, ssh_args, command)


def split_target(target: str) -> tuple[str | None, str]:
    """``"HOST:SESSION"`` -> (HOST, SESSION); a plain name -> (None, name). Checks neither."""
    host, colon, rest = target.partition(":")
    if not colon:
        return None, target
    return host, rest


def host_of(target: str, hosts: Mapping[str, Host], what: str = "session") -> Host | None:
    """The configured host ``target`` names (None: a local target).

    Raises UsageError for a host the config does not have, InvalidName for a name
    outside the alphabet.
    """
    name, rest = split_target(target)
    if name is None:
        return None
    check_name(name, "host")
    check_name(rest, what)
    host = hosts.get(name)
    if host is None:
        known = ", ".join(sorted(hosts)) or "none yet"
        raise UsageError(
            f'no host "{name}" in the config (known: {known}): add [hosts.{name}] with '
            "destination = ... (see `imessenger config show hosts`)"
        )
    return host
