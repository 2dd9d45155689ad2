"""Who is calling: the agent session a process runs in, or the user.

A process runs *in* a pane when the pane's program is one of its ancestors, or when
the pane's terminal is its controlling terminal. That, read from /proc and from the
tmux server, decides who a caller is: never ``$IMESSENGER_SESSION``, ``$TMUX`` or
``$TMUX_PANE`` alone, which any process can set. The rules, in the order
:func:`identify` applies them:

1. A process with no tmux server among its ancestors runs in no pane: it is the
   user (named ``$IMESSENGER_SESSION`` when set, else "user"). No tmux call is made.
2. Otherwise the server above it is found by its process (its listening socket, read
   from /proc), whatever server the command names, and its panes are listed once.
3. Found in a session isesh started (tmux holds the session option
   ``@imessenger-agent``, which isesh sets), it is that agent session, with the data
   folder and config file isesh started it with. A claim to be anyone else
   (``$IMESSENGER_SESSION`` naming another session, or "user") is refused with
   :class:`Impersonation`.
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

import contextlib
import logging
import os
from dataclasses import dataclass

from imessenger.errors import NoTmuxServer, PolicyRefused, TmuxCommandFailed
from imessenger.tmux import PaneOwner, Tmux

logger = logging.getLogger(__name__)

#: The caller's name when it runs in no session.
USER = "user"
#: How far up the process tree to look (a pane's program is rarely more than a few up).
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Caller:
    """Who runs this command.

    ``name`` is the inbox it reads and the sender it sends as. ``agent`` is True for an
    agent session isesh started (the policy restricts it); False for the user.
    ``server`` is the tmux server of that session ("" when it runs in no pane), and
    ``verified`` says whether the pane was found (False: a claim, or no pane).
    """

    name: str
    agent: bool
    server: str = ""
    verified: bool = False
    #: for an agent found in its pane: the data folder and config file isesh started it with
    home: str = ""
    config: str = ""

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


# --- the process tree, read from /proc -------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def ancestors(pid: int | None = None) -> list[int]:
    """Return ``pid`` (default: this process) and its ancestors, nearest first."""
    chain: list[int] = []
    current = os.getpid() if pid is None else pid
    while current > 1 and current not in chain and len(chain) < _MAX_DEPTH:
        chain.append(current)
        fields = _stat_fields(current)
        if fields is None or len(fields) < 2 or not fields[1].isdigit():
            break
        current = int(fields[1])
    return chain


def controlling_tty(pid: int | None = None) -> int:
    """Return the device number of the process's controlling terminal (0: none)."""
    fields = _stat_fields(os.getpid() if pid is None else pid)
    if fields is None or len(fields) < 5 or not fields[4].lstrip("-").isdigit():
        return 0
    return int(fields[4])


def _is_tmux_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as comm:
            return comm.read().strip().startswith("tmux")
    except OSError:
        return False


def _tty_device(path: str) -> int:
    try:
        return os.stat(path).st_rdev
    except OSError:
        return 0


def _socket_of(server_pid: int) -> str | None:
    """The path of the listening socket of the tmux server ``server_pid``, from /proc."""
    inodes: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{server_pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{server_pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("/"):
                    return fields[7]
    except OSError:
        return None
    return None


# --- identifying ------------------------------------------------------------------------------


def _server_above(chain: list[int]) -> Tmux | None:
    """The tmux server this process runs under (found by process, not by $TMUX), or None."""
    for pid in chain[1:]:
        if not _is_tmux_server(pid):
            continue
        path = _socket_of(pid)
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
    chain = ancestors()
    server = _server_above(chain)
    if server is None:
        return _claim(claimed, tmux)
    pids = set(chain)
    tty = controlling_tty()
    try:
        owners = server.pane_owners()
    except (NoTmuxServer, TmuxCommandFailed):
        return _claim(claimed, tmux)
    for owner in owners:
        if owner.pid in pids or (tty and _tty_device(owner.tty) == tty):
            return _in_pane(owner, claimed, tmux)
    # Under a tmux server but in no pane: tmux itself started it for a client (a key
    # binding's run-shell, a popup, a hook), that is, for the person at the terminal.
    # Its $IMESSENGER_SESSION came from the session's environment, not from a claim.
    return Caller.user()


def _in_pane(owner: PaneOwner, claimed: str | None, tmux: Tmux) -> Caller:
    if not owner.agent:
        # a person's own tmux session: the user, under that session's name
        if claimed is not None:
            return _claim(claimed, tmux)
        return Caller(owner.session, agent=False, verified=True)
    if claimed is not None and claimed != owner.agent:
        raise Impersonation(claimed, owner.agent)
    return Caller(
        owner.agent,
        agent=True,
        server=owner.server,
        verified=True,
        home=owner.home,
        config=owner.config,
    )


def _claim(claimed: str | None, tmux: Tmux) -> Caller:
    """A caller in no agent pane: the user, or the agent session it names."""
    if claimed is None or claimed == USER:
        return Caller.user()
    agent = claimed in {o.agent for o in _owners(tmux) if o.agent}
    return Caller(claimed, agent=agent, server=tmux.label if agent else "")


def _owners(tmux: Tmux) -> list[PaneOwner]:
    try:
        return tmux.pane_owners()
    except (NoTmuxServer, TmuxCommandFailed):
        return []
