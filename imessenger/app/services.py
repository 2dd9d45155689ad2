"""The services every action works with (tmux, the caller, the configuration, the store,
the policy, the sessions), each made on first use, so that a command pays only for what
it touches."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

    from imessenger.actions.delivery import Courier
    from imessenger.actions.replies import Replies
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.caller import Caller
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux
    from imessenger.app.access import Access
    from imessenger.core.config import Config


class Services:
    """The services of one tmux server, for the caller of this process.

    ``Services(socket_name)`` finds everything from the environment, as a command does;
    :meth:`over` builds one on services already made (the tour, tests).
    """

    def __init__(self, socket_name: str | None = None) -> None:
        self.socket_name = socket_name

    @classmethod
    def over(cls, tmux: Tmux, store: Store, config: Config, caller: Caller | None = None) -> Self:
        """One on these services (the caller is found from the process tree unless given)."""
        api = cls(tmux.socket_name)
        api.__dict__.update(tmux=tmux, store=store, config=config)
        if caller is not None:
            api.__dict__["caller"] = caller
        return api

    @contextlib.contextmanager
    def on_this_thread(self) -> Iterator[Self]:
        """The same caller, configuration and tmux server, with a store of this thread's own
        (on the same file), closed at the end: for an interface that acts on worker threads,
        since a Store belongs to the thread that opened it. The caller is the one this Api
        found, not found again; an agent session that has ended since (stopped, or
        started again: another run of it under the name) acts no more: SessionEnded."""
        from imessenger.adapters.caller import SessionEnded
        from imessenger.adapters.store import Store

        caller = self.caller
        with Store.open(self._store_file(), server=self.tmux.label) as store:
            if (
                caller.agent
                and caller.instance
                and not store.sessions.is_current(caller.name, caller.instance)
            ):
                raise SessionEnded(caller.name)
            yield self.over(self.tmux, store, self.config, caller)

    def as_user(self) -> Self:
        """The same services, acting as the user: for the tour, whose agents are its own, on
        its own tmux server. (The boundary is the process: a command finds its caller.)"""
        from imessenger.adapters.caller import Caller

        return self.over(self.tmux, self.store, self.config, Caller.user(self.caller.name))

    # -- services, made on first use

    @functools.cached_property
    def tmux(self) -> Tmux:
        from imessenger.adapters.tmux import Tmux

        return Tmux.from_environment(self.socket_name)

    @functools.cached_property
    def caller(self) -> Caller:
        """Who runs this: found from the process tree (see imessenger.adapters.caller)."""
        from imessenger.adapters.caller import identify

        return identify(self.tmux)

    @functools.cached_property
    def config(self) -> Config:
        """The configuration; for an agent session, the file isesh started it with."""
        from imessenger.adapters.config_files import load_config

        recorded = self.caller.config if self.caller.agent else ""
        return load_config(Path(recorded) if recorded else None)

    @functools.cached_property
    def store(self) -> Store:
        """The store, opened for this tmux server; for an agent session, the one in the data
        folder isesh started it with."""
        from imessenger.adapters.store import Store

        return Store.open(self._store_file(), server=self.tmux.label)

    def _store_file(self) -> Path | None:
        """The store's file: the one open already, else for an agent session the one in the
        data folder isesh started it with (None: the data folder of this environment)."""
        from imessenger.adapters.store import DB_FILENAME

        opened = self.__dict__.get("store")
        if opened is not None:
            path: Path = opened.path
            return path
        home = self.caller.home if self.caller.agent else ""
        return Path(home) / DB_FILENAME if home else None

    @functools.cached_property
    def access(self) -> Access:
        """What the caller may do, under the policy of the configuration in force."""
        from imessenger.app.access import access_for

        return access_for(self.tmux, self.store, self.config, self.caller)

    @functools.cached_property
    def sessions(self) -> Sessions:
        from imessenger.actions.sessions import Sessions

        return Sessions(self.tmux, self.store, self.config)

    @property
    def server(self) -> str:
        """The label of the tmux server, without loading the tmux code (as Tmux.label has it)."""
        return self.socket_name or "default"

    # -- who

    def whoami(self) -> str:
        """The name messages are sent from: the session this runs in, else "user"."""
        return self.caller.name

    def _courier(self, sees: Callable[[str], bool] | None = None) -> Courier:
        from imessenger.actions.delivery import Courier

        return Courier(self.sessions, sees)

    def _replies(self) -> Replies:
        from imessenger.actions.replies import Replies

        return Replies(self.sessions)
