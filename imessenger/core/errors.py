"""The exceptions imessenger raises: one base class, each message says what to do."""

from __future__ import annotations


class ImessengerError(Exception):
    """Base of every error imessenger reports to a user.

    ``exit_code`` is what the command line exits with when this error reaches it.
    """

    exit_code = 1


class TmuxNotInstalled(ImessengerError):
    def __init__(self) -> None:
        super().__init__(
            "tmux is not installed (or not on PATH): install tmux >= 3.2, "
            "for example `apt-get install tmux` or `brew install tmux`"
        )


class NoTmuxServer(ImessengerError):
    def __init__(self, socket: str | None) -> None:
        where = f'tmux server "{socket}"' if socket else "default tmux server"
        super().__init__(
            f"no {where} is running: start a session first, for example `isesh start worker-1 -d .`"
        )


class NoSuchSession(ImessengerError):
    def __init__(self, name: str, existing: list[str]) -> None:
        listing = ", ".join(existing) if existing else "(none)"
        super().__init__(f'no session named "{name}"; running sessions: {listing}')
        self.name = name
        self.existing = existing


class NotRemembered(ImessengerError):
    """isesh remembers no session of that name (``isesh list --all`` lists those it does)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f'isesh remembers no session "{name}": `isesh list --all` lists those it does'
        )
        self.name = name


class TmuxCommandFailed(ImessengerError):
    def __init__(self, command: str, stderr: str) -> None:
        super().__init__(f"tmux {command} failed: {stderr}")
        self.command = command
        self.stderr = stderr


class PaneInMode(ImessengerError):
    """A person is in a tmux mode in the pane (copy mode): nothing was pasted or pressed."""

    def __init__(self, session: str) -> None:
        super().__init__(
            f'the pane of "{session}" is in a tmux mode (someone scrolled back in copy mode): '
            "nothing was pasted; it is delivered once the mode ends (press q in that pane)"
        )
        self.session = session


class ConfigError(ImessengerError):
    """A configuration file is invalid; the message names file, key and reason."""


class StoreError(ImessengerError):
    """The SQLite store could not be read or written."""


class UsageError(ImessengerError):
    """Input that the command cannot act on (bad name, missing directory...)."""


class EmptyArgument(UsageError):
    """An argument given empty, or only blanks, where a value is needed: a usage error
    (exit 2, as the command line's own), never taken for "none given"."""

    exit_code = 2


class PolicyRefused(ImessengerError):
    """The caller may not do this (the policy, or a false claim of identity); nothing was done.

    Exit 77, as sysexits' EX_NOPERM: distinct from every other failure, so that a script
    (or an agent) can tell "not allowed" from "did not work".
    """

    exit_code = 77


class TargetExited(ImessengerError):
    def __init__(self, name: str, existing: list[str]) -> None:
        listing = ", ".join(existing) if existing else "(none)"
        super().__init__(
            f'session "{name}" has exited: restart it with `isesh stop {name}` and '
            f"`isesh start {name} ...`; running sessions: {listing}"
        )


class WatcherRunning(ImessengerError):
    """Another watcher already follows this tmux server."""

    def __init__(self, server: str, pid: int | None) -> None:
        which = f" (pid {pid})" if pid else ""
        super().__init__(
            f'imessenger watch is already running for tmux server "{server}"{which}; '
            "stop it with `imessenger watch --stop` to start another"
        )
        self.server = server
        self.pid = pid
