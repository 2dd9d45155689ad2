"""Sessions on other hosts: ``HOST:SESSION``, each call done by that host's imessenger.

The remote side does the work next to its panes and its store (delivery, confirmation,
waiting for the reply); this side makes one ssh call (:mod:`imessenger.ssh`) and hands
back what the remote command printed and exited with, or, for the views that span
every host (``isesh list``, the inbox, the prompts waiting), its JSON.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imessenger.api.services import Services
from imessenger.errors import ImessengerError

if TYPE_CHECKING:
    from imessenger.hosts import Host
    from imessenger.ssh import Completed

#: Seconds a remote call may take beyond what it waits for itself.
CALL_MARGIN_S = 30.0


@dataclass(frozen=True)
class FromHost:
    """What one host answered to a call made of every host: what its command printed
    (and exited with), or why it could not be asked."""

    host: str
    done: Completed | None = None
    error: str = ""

    def json(self) -> Any:
        """What it printed, as JSON; raises ImessengerError when it failed or printed none."""
        if self.done is None:
            raise ImessengerError(self.error)
        if self.done.code != 0:
            said = self.done.stderr.strip() or f"exit status {self.done.code}"
            raise ImessengerError(f'host "{self.host}": {said}')
        try:
            return json.loads(self.done.stdout)
        except ValueError:
            raise ImessengerError(f'host "{self.host}" answered no JSON') from None


class HostActions(Services):
    """Calls to the hosts of ``[hosts.NAME]``."""

    @property
    def hosts(self) -> dict[str, Host]:
        return self.config.settings.hosts

    def host_of(self, target: str, what: str = "session") -> Host | None:
        """The host ``target`` (``HOST:SESSION``) names; None for a local target.

        Raises UsageError for a host the config lacks, InvalidName for a bad name.
        """
        from imessenger.hosts import host_of

        return host_of(target, self.hosts, what)

    def on_host(
        self,
        host: Host,
        tool: str,
        args: list[str],
        *,
        stdin: str | None = None,
        waits_s: float = 0.0,
    ) -> Completed:
        """Run ``TOOL ARGS`` on ``host``; ``waits_s``: how long the command itself may wait."""
        from imessenger import ssh

        return ssh.run(host, tool, args, stdin=stdin, timeout=waits_s + CALL_MARGIN_S)

    def attach_on_host(self, host: Host, args: list[str]) -> int:
        """``isesh ARGS`` on ``host``, in this terminal."""
        from imessenger import ssh

        return ssh.attach(host, args)

    def every_host(self, tool: str, args: list[str], only: str | None = None) -> list[FromHost]:
        """Run ``TOOL ARGS`` on every host (``only``: on that one), all at once.

        A host that is down gives its error; the others what they printed.
        """
        hosts = [h for name, h in sorted(self.hosts.items()) if only is None or name == only]

        def ask(host: Host) -> FromHost:
            try:
                return FromHost(host.name, self.on_host(host, tool, args))
            except ImessengerError as error:
                return FromHost(host.name, error=str(error))

        if not hosts:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            return list(pool.map(ask, hosts))
