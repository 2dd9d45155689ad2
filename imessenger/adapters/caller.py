"""Who is calling: the agent session a process runs in, or the user.

A process runs *in* a pane when the pane's program is one of its ancestors, or when
the pane's terminal is its controlling terminal. That, read from /proc and from the
tmux server, decides who a caller is: never ``$IMESSENGER_SESSION``, ``$TMUX`` or
``$TMUX_PANE`` alone, which any process can set. The rules, in the order
:func:`identify` applies them:

1. A process with no tmux server among its ancestors runs in no pane, unless its
   controlling terminal is a pane's of the server the command is for (a daemon
   that left the pane's process tree but kept its terminal). Otherwise it is the
   user (named ``$IMESSENGER_SESSION`` when set, else "user").
2. Otherwise the server above it is found by its process (its listening socket, read
   from /proc), whatever server the command names, and its panes are listed once.
3. Found in a session isesh started (tmux holds the session option
   ``@imessenger-agent``, which isesh sets), it is that agent session, with the data
   folder and config file isesh started it with, and that run of it (its
   ``instance``: a session started again under the name is another). A claim to be
   anyone else (``$IMESSENGER_SESSION`` naming another session, or "user") is refused
   with :class:`Impersonation`.
4. Found in a session isesh did not start (a person's own tmux session), it is the
   user, named after that session unless ``$IMESSENGER_SESSION`` says otherwise.
5. Under a tmux server but in none of its panes, tmux itself started it for a
   client (a key binding's ``run-shell``, a popup): it is the user, "user", whatever
   ``$IMESSENGER_SESSION`` it got from the session's environment.

A caller that names an agent session while running in no pane (a test, or a person
acting for a session) is taken as that session: a claim that only narrows what it
may do needs no proof. A process that leaves its pane's process tree on purpose (a
daemon that double-forks and drops its terminal) or that drives tmux itself is not
stopped: this is a guardrail within one Unix user, not a sandbox (see the README's
security section).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from imessenger.adapters.procfs import (
    ancestors,
    controlling_tty,
    is_tmux_server,
    socket_of,
    tty_device,
)
from imessenger.adapters.tmux import PaneOwner, Tmux
from imessenger.core.errors import NoTmuxServer, PolicyRefused, TmuxCommandFailed
from imessenger.core.names import PERSON
from imessenger.core.values import instance_of

logger = logging.getLogger(__name__)

#: The caller's name when it runs in no session.
USER = PERSON


@dataclass(frozen=True)
class Caller:
    """Who runs this command.

    ``name`` is the inbox it reads and the sender it sends as. ``agent`` is True for an
    agent session isesh started (the policy restricts it); False for the user.
    ``server`` is the tmux server of that session ("" when it runs in no pane).
    """

    name: str
    agent: bool
    server: str = ""
    #: for an agent found in its pane: the data folder and config file isesh started it with
    home: str = ""
    config: str = ""
    #: for an agent: which run of its session it is (imessenger.adapters.store.instance_of); a
    #: session started again under the name is another
    instance: str = ""

    @classmethod
    def user(cls, name: str = USER) -> Caller:
        """The user, running in no agent session."""
        return cls(name, agent=False)


class Impersonation(PolicyRefused):
    """A process in one session claims to be another, or to be the user."""

    def __init__(self, claimed: str, actual: str) -> None:
        who = "the user" if claimed == USER else f'session "{claimed}"'
        super().__init__(
            f'refused: this process runs in agent session "{actual}" but claims to be {who} '
            "(IMESSENGER_SESSION); an agent acts only as its own session. "
            "Run the command from a terminal outside the agent sessions"
        )
        self.claimed = claimed
        self.actual = actual


class SessionEnded(PolicyRefused):
    """A process of an agent session that has ended acts for it still (an MCP server that
    outlived its agent): the session of that name now, if any, is another."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f'refused: this process acts for a session "{name}" that has ended (stopped, or '
            f'started again since: the "{name}" running now is another one), and nothing is '
            "done in the name of a session that has ended; restart the agent, whose MCP "
            "server (imessenger mcp) starts with it"
        )
        self.name = name


# --- identifying ------------------------------------------------------------------------------

#: The process this one acts for (None: itself); see :func:`act_for`.
_acting_for: int | None = None


def act_for(pid: int) -> None:
    """Identify callers from process ``pid`` instead of this one, for the rest of its life.

    The watcher's command server runs a thin client's command in a fork of itself
    (imessenger.interfaces.cli.command_server): the caller is the client, whose pid the kernel
    gave with the connection, not the server's child. Set once, right after the fork;
    never from anything a caller says.
    """
    global _acting_for
    _acting_for = pid


def acting_process() -> int:
    """The pid of the process this command runs for (see :func:`act_for`)."""
    return os.getpid() if _acting_for is None else _acting_for


def _server_above(chain: list[int]) -> Tmux | None:
    """The tmux server this process runs under (found by process, not by $TMUX), or None."""
    for pid in chain[1:]:
        if not is_tmux_server(pid):
            continue
        path = socket_of(pid)
        if path is None:
            # /proc does not say: trust $TMUX only when it names this very server
            socket, _, rest = os.environ.get("TMUX", "").partition(",")
            if socket and rest.split(",", 1)[0] == str(pid):
                path = socket
        return Tmux(socket_path=path) if path else None
    return None


def identify(tmux: Tmux) -> Caller:
    """Return who runs this process (see the module docstring); Impersonation on a false claim.

    ``tmux`` is the server the command is for; the caller's own server is found from
    its process tree, whichever server the command names.
    """
    claimed = os.environ.get("IMESSENGER_SESSION") or None
    chain = ancestors(_acting_for)
    tty = controlling_tty(_acting_for)
    server = _server_above(chain)
    if server is None:
        # Left its pane's process tree (a daemon that forked twice)? Unless it also
        # dropped its terminal, that terminal still names the pane.
        owner = _owner_of_tty(tmux, tty) if tty else None
        return _in_pane(owner, claimed, tmux) if owner else _claim(claimed, tmux)
    pids = set(chain)
    try:
        owners = server.pane_owners()
    except (NoTmuxServer, TmuxCommandFailed):
        return _claim(claimed, tmux)
    for owner in owners:
        if owner.pid in pids or (tty and tty_device(owner.tty) == tty):
            return _in_pane(owner, claimed, tmux)
    # Under a tmux server but in no pane: tmux itself started it for a client (a key
    # binding's run-shell, a popup, a hook), that is, for the person at the terminal.
    # Its $IMESSENGER_SESSION came from the session's environment, not from a claim.
    return Caller.user()


def _owner_of_tty(tmux: Tmux, tty: int) -> PaneOwner | None:
    """The pane of ``tmux`` whose terminal is ``tty``, if any."""
    try:
        owners = tmux.pane_owners()
    except (NoTmuxServer, TmuxCommandFailed):
        return None
    return next((owner for owner in owners if tty_device(owner.tty) == tty), None)


def _in_pane(owner: PaneOwner, claimed: str | None, tmux: Tmux) -> Caller:
    if not owner.agent:
        # a person's own tmux session: the user, under that session's name
        if claimed is not None:
            return _claim(claimed, tmux)
        return Caller(owner.session, agent=False)
    if claimed is not None and claimed != owner.agent:
        raise Impersonation(claimed, owner.agent)
    return Caller(
        owner.agent,
        agent=True,
        server=owner.server,
        home=owner.home,
        config=owner.config,
        instance=instance_of(owner.server_pid, owner.session_id, owner.session_created),
    )


def _claim(claimed: str | None, tmux: Tmux) -> Caller:
    """A caller in no agent pane: the user, or the agent session it names."""
    if claimed is None or claimed == USER:
        return Caller.user()
    owner = next((o for o in _owners(tmux) if o.agent and o.agent == claimed), None)
    if owner is None:
        return Caller(claimed, agent=False)
    return Caller(
        claimed,
        agent=True,
        server=tmux.label,
        instance=instance_of(owner.server_pid, owner.session_id, owner.session_created),
    )


def _owners(tmux: Tmux) -> list[PaneOwner]:
    try:
        return tmux.pane_owners()
    except (NoTmuxServer, TmuxCommandFailed):
        return []
