"""The API: one method per thing a user or an agent does, wherever the session runs.

Every interface calls this and nothing below it: the command lines, the tmux plugin's
menu, the dashboard, the tour and the MCP server. A method takes and returns plain typed
values (imessenger.core.values, imessenger.app.values) and raises the project's errors,
each carrying its exit code (imessenger.core.errors). It prints nothing.

Each method is a door, and applies the same checks, in this order:

1. The names it is given are in the session-name alphabet (imessenger.core.names), and
   a ``HOST:`` names a host of the configuration (imessenger.core.targets).
2. The caller, found from the process tree (imessenger.adapters.caller), may do it under
   this host's policy (imessenger.app.access): a refusal is recorded and raised (exit
   77). This is the one place the policy is checked; what a caller may see (another
   session's prompt, its messages) is decided here and handed down.
3. Then the work is done where the session runs, once decided: here
   (:class:`~imessenger.app.here.Here`) or on another host
   (:class:`~imessenger.app.remote.Remote`, the same methods over ssh). A view of every
   session (the sessions, the inbox, the prompts waiting) asks every host and merges
   what they say; a host that cannot be asked is named in the result, the others are
   shown anyway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from imessenger.app.here import Here
from imessenger.app.values import (
    AnsweredAll,
    Asking,
    Explained,
    HostFailure,
    Inbox,
    Listing,
    Log,
    Overview,
    PromptView,
    Restorable,
    Restoration,
    Session,
    Waiting,
)
from imessenger.core.errors import EmptyArgument, ImessengerError, UsageError
from imessenger.core.names import PERSON, check_name
from imessenger.core.policy import Action, Refusal
from imessenger.core.published import state_since
from imessenger.core.screen import Screen
from imessenger.core.values import (
    Approval,
    Choice,
    MessageRecord,
    MessageState,
    RememberedSession,
    Restored,
    RestoreOutcome,
    SendResult,
)

if TYPE_CHECKING:
    from typing import Self

    from imessenger.actions.sessions import SessionView
    from imessenger.adapters.caller import Caller
    from imessenger.adapters.status_cache import Status
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux
    from imessenger.adapters.tmux.runner import MenuItem
    from imessenger.app.remote import Remote
    from imessenger.core.config import Config, Settings
    from imessenger.core.published import Observed, SessionStatus
    from imessenger.core.targets import Host
    from imessenger.core.values import HookEventRecord
    from imessenger.watcher.daemon import Daemon, Stopped

_T = TypeVar("_T")


def _restorable(remembered: RememberedSession) -> Restorable:
    return Restorable(
        name=remembered.name,
        agent=remembered.agent,
        directory=remembered.directory,
        started_at=remembered.started_at,
        stopped_at=remembered.stopped_at,
        branch=remembered.branch,
    )


class Api:
    """The actions of the caller of this process, on this host's tmux server and on the
    hosts of the configuration.

    ``Api(socket_name)`` finds everything from the environment, as a command does;
    :meth:`over` builds one on services already made (the tour, tests).
    """

    def __init__(self, socket_name: str | None = None, *, here: Here | None = None) -> None:
        self.here = here if here is not None else Here(socket_name)

    @classmethod
    def over(cls, tmux: Tmux, store: Store, config: Config, caller: Caller | None = None) -> Self:
        """One on these services (the caller is found from the process tree unless given)."""
        return cls(here=Here.over(tmux, store, config, caller))

    @contextlib.contextmanager
    def on_this_thread(self) -> Iterator[Self]:
        """The same caller and configuration, with a store of this thread's own (see
        :meth:`Services.on_this_thread`)."""
        with self.here.on_this_thread() as here:
            yield type(self)(here=here)

    def as_user(self) -> Self:
        """The same services, acting as the user (the tour's agents are its own)."""
        return type(self)(here=self.here.as_user())

    # -- who, and what they may see

    def whoami(self) -> str:
        """The name messages are sent from: the session this runs in, else "user"."""
        return self.here.caller.name

    @property
    def settings(self) -> Settings:
        """The settings in force (the configuration's typed values)."""
        return self.here.config.settings

    @property
    def socket_name(self) -> str | None:
        """The tmux server's socket name (None: the default server)."""
        return self.here.socket_name

    @property
    def server_label(self) -> str:
        """The tmux server's label: its socket name, or "default"."""
        return self.here.server

    @property
    def hosts(self) -> dict[str, Host]:
        """The hosts of the configuration, by name."""
        return self.here.config.settings.hosts

    def sees_prompt(self, session: str) -> bool:
        """Whether the caller may see what ``session`` (or ``HOST:SESSION``) asks: the user
        may, and an agent that the policy lets read that session (``readers``) or answer
        its prompts (``approvers``). Everyone may see that a session is asking."""
        if not self.here.caller.agent:
            return True
        access = self.here.access
        return access.allows(Action.READ, session) or access.allows(Action.APPROVE, session)

    def _reads(self, session: str) -> bool:
        return self.here.access.allows(Action.READ, session)

    def _require(self, action: Action, subject: str = "") -> None:
        self.here.access.require(action, subject)

    # -- where a target is

    def _where(self, target: str, what: str = "session") -> tuple[Host | None, str]:
        """The host ``target`` names (None: this one) and the name there; checks both."""
        from imessenger.core.targets import host_of, split_target

        host = host_of(target, self.hosts, what)
        if host is None:
            return None, check_name(target, what)
        return host, split_target(target)[1]

    def _remote(self, host: Host) -> Remote:
        from imessenger.app.remote import Remote

        return Remote(host)

    def _every_host(
        self, ask: Callable[[Remote], _T], only: str | None = None
    ) -> tuple[list[_T], list[HostFailure]]:
        """What ``ask`` gets of every host (``only``: of that one), all at once; the hosts
        that could not be asked, with why."""
        hosts = [h for name, h in sorted(self.hosts.items()) if only is None or name == only]
        if not hosts:
            return [], []

        def one(host: Host) -> tuple[_T | None, HostFailure | None]:
            try:
                return ask(self._remote(host)), None
            except ImessengerError as error:
                return None, HostFailure(host.name, str(error))

        from concurrent.futures import ThreadPoolExecutor  # only with hosts: 3 ms to load

        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            done = list(pool.map(one, hosts))
        found = [value for value, failure in done if failure is None and value is not None]
        return found, [failure for _, failure in done if failure is not None]

    # -- values out

    def _session(
        self, view: SessionView, branch: str = "", watched: SessionStatus | None = None
    ) -> Session:
        """A live view as a plain value (no pane handle): only what it reads; with what its
        watcher published of it (``watched``), whether it is stuck and since when it is in
        its state (:func:`imessenger.core.published.state_since`)."""
        screen = view.screen
        if self.here.caller.agent and not self.sees_prompt(view.name):
            screen = Screen(screen.state, queued=screen.queued)  # not what it asks or typed
        stuck, since = state_since(str(view.state), watched)
        return Session(
            name=view.name,
            agent=view.agent,
            directory=view.directory,
            started_at=view.started_at,
            managed=view.managed,
            screen=screen,
            instance=view.instance,
            pane=view.pane.info.pane_id,
            tools_pending=view.tools_pending,
            branch=branch,
            stuck=stuck,
            state_since=since,
        )

    def _shown(self, session: Session) -> Session:
        """A session of another host, as the caller may see it."""
        if self.sees_prompt(session.name):
            return session
        return replace(session, screen=Screen(session.state, queued=session.screen.queued))

    # -- sessions

    def start(
        self,
        name: str,
        directory: Path,
        agent: str | None = None,
        command: Sequence[str] = (),
        *,
        watcher: bool = True,
        worktree: bool = False,
        branch: str | None = None,
    ) -> Session:
        """Start agent session ``name`` (or ``HOST:NAME``, its folder that host's) in
        ``directory``, detached; return it as it starts. Here, with ``watcher``, the
        watcher of the server is started too unless one runs or ``[watch] autostart`` is
        off (the tour, which runs its own show on a private server, starts none)."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            remote = self._remote(host)
            return self._shown(
                remote.start(there, directory, agent, list(command), worktree, branch)
            )
        view = self.here.start(there, directory, agent, command, worktree=worktree, branch=branch)
        made = next((r.branch for r in self.here.remembered() if r.name == there), "")
        started = self._session(view, made)
        if watcher:
            self.here.autostart_watcher()  # see imessenger.app.watching
        return started

    def list_sessions(
        self,
        *,
        include_all: bool = False,
        only: str | None = None,
        everywhere: bool = True,
        usage: bool = False,
    ) -> Listing:
        """The sessions isesh started (with ``include_all``, every session) here and on every
        host (``only``: on that host, or "local"); an agent sees the prompt of a session
        only where it may (:meth:`sees_prompt`). With ``usage``, each with the tokens it
        used, read from its agent's record by the host it runs on (a read of each file)."""
        if only is not None and not only.strip():
            raise EmptyArgument('the host is empty: give a host of the config, or "local"')
        if only is not None and only != "local" and only not in self.hosts:
            known = ", ".join(["local", *sorted(self.hosts)])
            raise UsageError(f'no host "{only}" in the config: use one of {known}')
        found: list[Session] = []
        restorable: list[Restorable] = []
        if only in (None, "local"):
            remembered = {r.name: r for r in self.here.remembered()}
            views = self.here.list_sessions(include_all=include_all)
            status = self.here.status()  # one small file: what the watcher published
            watched = {w.name: w for w in status.published.sessions} if status.watching else {}
            found = [
                self._session(
                    v,
                    remembered[v.name].branch if v.name in remembered else "",
                    watched.get(v.name),
                )
                for v in views
            ]
            if include_all:
                running = {v.name for v in views}
                restorable = [_restorable(r) for n, r in remembered.items() if n not in running]
            if usage:
                found = [replace(s, usage=self.here.usage(s.name)) for s in found]
                restorable = [
                    replace(r, usage=self.here.usage(r.name, remembered[r.name]))
                    for r in restorable
                ]
        if only == "local" or not everywhere:
            return Listing(found, restorable=restorable)
        there, unreachable = self._every_host(
            lambda remote: remote.listing(include_all=include_all, usage=usage), only
        )
        found += [self._shown(session) for listed in there for session in listed.sessions]
        restorable += [r for listed in there for r in listed.restorable]
        return Listing(found, unreachable, restorable)

    def restore(
        self, names: Sequence[str] = (), *, fresh: bool = False, everywhere: bool = True
    ) -> Restoration:
        """Bring back the sessions isesh remembers that do not run (those named, ``HOST:NAME``
        for another host's; with none named, every one here and on every host), each
        resuming its own conversation; what was done with each (imessenger.actions.restoring).
        Here, the watcher is started too (unless one runs or autostart is off): it delivers
        what waited for them once they are ready."""
        self._require(Action.MANAGE)
        by_host: dict[str | None, list[str]] = {}
        for name in names:
            host, there = self._where(name)
            self._require(Action.MANAGE, name)
            by_host.setdefault(host.name if host else None, []).append(there)
        done: list[Restored] = []
        unreachable: list[HostFailure] = []
        if not names or None in by_host:
            done = self.here.restore(by_host.get(None, []), fresh=fresh)
            if any(r.outcome is not RestoreOutcome.FAILED for r in done):
                self.here.autostart_watcher()
        if not everywhere:
            return Restoration(done)
        if names:
            for host_name, plain in sorted((h, n) for h, n in by_host.items() if h is not None):
                try:
                    done += self._remote(self.hosts[host_name]).restore(plain, fresh=fresh)
                except ImessengerError as error:
                    unreachable.append(HostFailure(host_name, str(error)))
        else:
            found, unreachable = self._every_host(lambda remote: remote.restore([], fresh=fresh))
            done += [r for listed in found for r in listed]
        return Restoration(done, unreachable)

    def restore_on_start(self) -> Restoration:
        """Bring back the sessions of this tmux server that ended without ``isesh stop``
        (with their server, a reboot, or their agent), as :meth:`restore` does, and leave
        what was done in the caller's inbox: what the tmux plugin runs when its server
        starts. A session stopped with ``isesh stop`` stays restorable by name; other
        hosts' sessions are left to their own servers."""
        self._require(Action.MANAGE)
        names = [r.name for r in self.here.remembered() if r.stopped_at is None]
        if not names:
            return Restoration([])
        done = self.restore(names, everywhere=False)
        self.here.note_restored(done)
        return done

    def forget(self, name: str) -> RememberedSession:
        """Forget session ``name`` (``HOST:NAME``), which does not run: restore will not
        bring it back. What was remembered of it is returned (its folder is left)."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            return self._remote(host).forget(there)
        return self.here.forget(there)

    def view(self, name: str) -> Session:
        """One session as it is now (started by isesh or not); NoSuchSession when absent."""
        host, there = self._where(name)
        if host is not None:
            return self._shown(self._remote(host).view(there))
        return self._session(self.here.sessions.view(there))

    def forget_session(self, name: str) -> None:
        """Drop isesh's record of session ``name`` here; its tmux session is not touched."""
        self._require(Action.MANAGE, check_name(name))
        self.here.forget_session(name)

    def end_server(self) -> None:
        """End this host's tmux server and every session on it (the tour's private server)."""
        self._require(Action.MANAGE)
        self.here.end_server()

    def attach(self, name: str) -> int:
        """Attach this terminal to session ``name`` (inside tmux: switch the client); for
        another host's, ssh there with this terminal and return its exit status."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            return self._remote(host).attach(there)
        self.here.attach(there)
        return 0

    def stop(self, name: str, *, force: bool = False, remove_worktree: bool = False) -> str:
        """Stop session ``name``; return "exited" (it left when asked) or "killed". With
        ``remove_worktree``, its git worktree goes too, unless it holds uncommitted work
        (then nothing is stopped), and the session is forgotten."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            return self._remote(host).stop(there, force=force, remove_worktree=remove_worktree)
        return self.here.stop(there, force=force, remove_worktree=remove_worktree)

    def logs(self, name: str, lines: int) -> str:
        """The text of the session's pane with up to ``lines`` lines of scrollback."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            return self._remote(host).logs(there, lines)
        return self.here.logs(there, lines)

    def explain(self, name: str) -> Explained:
        """Why session ``name``'s screen reads as it does (see imessenger.core.screen)."""
        host, there = self._where(name)
        self._require(Action.MANAGE, name)
        if host is not None:
            return self._remote(host).explain(there)
        return self.here.explain(there)

    # -- messages

    def send(
        self,
        target: str,
        body: str,
        *,
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
        stop: threading.Event | None = None,
    ) -> SendResult:
        """Send ``body`` to ``target`` from the caller; wait for the reply unless ``wait`` is
        off. See imessenger.actions.delivery for what happens, and what can go wrong (and
        imessenger.actions.replies for the reply).

        An interruption (KeyboardInterrupt, or ``stop`` set by another thread) leaves the
        message recorded, no longer waited for, and a late reply goes to the caller's
        inbox (there, for another host's session).
        """
        host, there = self._where(target)
        if there == PERSON:
            # a tmux session of that name (isesh starts none) would answer in the person's name
            raise UsageError(
                f'"{PERSON}" is the person, not a session: messages go to agent sessions, and '
                "the person reads the replies to theirs in their inbox. A tmux session of that "
                "name is not the person: rename it with `tmux rename-session` to reach it"
            )
        if not body.strip():
            raise UsageError("the message is empty: nothing to send")
        if raw:
            self._require(Action.SEND_RAW, target)
        if host is not None:
            return self._remote(host).send(
                there,
                body,
                raw=raw,
                wait=wait,
                timeout_ms=timeout_ms,
                default_timeout_ms=self.settings.send.timeout_ms,
                stop=stop,
            )
        sent = self.here.send(
            there, body, raw=raw, wait=wait, timeout_ms=timeout_ms, stop=stop, sees=self.sees_prompt
        )
        if sent.outcome is MessageState.PENDING:
            self.here.autostart_watcher()  # it delivers the message once the target is ready
        return sent

    def wait_for_reply(
        self, sent: SendResult, timeout_ms: int, *, stop: threading.Event | None = None
    ) -> SendResult:
        """Wait up to ``timeout_ms`` for the reply to a message sent here without waiting."""
        if ":" in sent.message.id:
            raise UsageError("the reply to a message on another host is waited for there")
        return self.here.wait_for_reply(sent, timeout_ms, stop=stop)

    def reply(self, message_id: str, text: str) -> MessageRecord:
        """Record ``text`` as the reply to message ``message_id`` (``HOST:ID``: of that
        host): only the session the message was sent to may, from its own run (the user
        may speak for it)."""
        from imessenger.adapters.store import UnknownMessage

        if not message_id.strip():
            raise EmptyArgument(
                "the message id is empty: give the id the message's envelope names "
                "(for example 3f9c2a1b)"
            )
        host, there = self._where(message_id, "message id")
        if host is not None:
            # only a message's target may reply; none is here, so only the user
            access = self.here.access
            access.require(Action.REPLY, message_id, always=not access.is_user)
            return self._remote(host).reply(there, text)
        store = self.here.store
        message = store.messages.get(there)
        if message is None:
            raise UnknownMessage(there, store.path)
        access = self.here.access
        access.require(Action.REPLY, message.target, always=True)
        caller = self.here.caller
        if (
            caller.agent
            and caller.instance
            and message.target_instance not in ("", caller.instance)
        ):
            access.refuse(
                Action.REPLY,
                message.target,
                Refusal(
                    "reply-to-own",
                    f'this message was sent to an earlier session "{message.target}", which '
                    "has ended; the one running now is another",
                ),
            )
        return self.here.reply(message, text)

    def deliver(self, target: str | None = None) -> list[SendResult]:
        """Deliver the pending messages of ``target`` (None: of every session here that has
        some: an empty name is refused, never taken for "every session")."""
        if target is None:
            return self.here.deliver(None)
        host, there = self._where(target)
        if host is not None:
            return self._remote(host).deliver(there)
        return self.here.deliver(there)

    def inbox(
        self,
        session: str | None = None,
        *,
        peek: bool = False,
        include_read: bool = False,
        everywhere: bool = True,
    ) -> Inbox:
        """Read the caller's inbox (of every host, for the user; ``peek`` leaves it unread),
        or look at a session's (``HOST:SESSION`` too), with the prompt it shows.

        Reading another session's inbox takes the policy's ``readers``; what the user's
        inbox on another host holds is that host's user's, so an agent reads it only
        where it may read.
        """
        me = self.whoami()
        if session is not None and session != me:
            host, there = self._where(session)
            self._require(Action.READ, session)
            if host is not None:
                return self._remote(host).inbox(there, include_read=include_read)
            found, live = self.here.inbox_of(there, include_read=include_read)
            return replace(found, live=self._session(live) if live is not None else None)
        own = self.here.own_inbox(peek=peek, include_read=include_read)
        if session is not None:  # one's own session: its prompt too
            with contextlib.suppress(ImessengerError):
                _, live = self.here.inbox_of(me)
                own = replace(
                    own,
                    session=me,
                    live=self._session(live) if live is not None else None,
                    prompt=self.here.prompt_of(live) if live is not None else None,
                )
        if not everywhere or session is not None or not self._reads(""):
            return own
        inboxes, unreachable = self._every_host(
            lambda remote: remote.inbox(peek=peek, include_read=include_read)
        )
        entries = [*own.entries, *(entry for inbox in inboxes for entry in inbox.entries)]
        return replace(own, entries=entries, unreachable=unreachable)

    def log(self, session: str | None = None, *, limit: int = 50) -> Log:
        """The latest ``limit`` events (messages, replies, approvals, refusals), oldest first.

        An agent that may not read the whole log sees its own messages only.
        """
        if session is not None:
            host, there = self._where(session)
            if host is not None:
                self._require(Action.READ, session)
                return self._remote(host).log(there, limit=limit)
        if not self._reads(session or ""):
            if session is not None:
                self._require(Action.READ, session)  # records the refusal and raises
            session = self.whoami()
        return self.here.log(session, limit=limit)

    # -- prompts

    def waiting(self, *, everywhere: bool = True) -> Waiting:
        """Every session asking for permission, here and on every host, with its prompt.

        Approvers, readers and the user may look.
        """
        if not self.here.access.allows(Action.APPROVE):
            self._require(Action.READ)
        found = self.here.waiting()
        if not everywhere:
            return Waiting(found)
        there, unreachable = self._every_host(lambda remote: remote.waiting())
        return Waiting([*found, *(p for prompts in there for p in prompts)], unreachable)

    def prompt_of(self, shown: Session) -> PromptView | None:
        """The prompt a session (as :meth:`view` gave it) shows; None when none."""
        if shown.host is not None:
            found = self._remote(self.hosts[shown.host]).inbox(shown.name.split(":", 1)[1])
            return found.prompt
        if not self.sees_prompt(shown.name):
            return None
        return self.here.prompt_of(self.here.sessions.view(shown.name))

    def answer(self, session: str, choice: Choice, prompt: str | None = None) -> Approval:
        """Answer ``session``'s prompt with the option that means ``choice``; record it.

        ``prompt`` is the id of the prompt the answer is for (as :meth:`waiting` shows
        it); None: the one on screen now. Nothing is pressed when the session is not
        asking, shows another prompt, was answered already, has no such option, or its
        screen cannot be read with certainty (see imessenger.actions.approval). An
        answer on another host is recorded there, and here as the caller's.
        """
        host, there = self._where(session)
        self._require(Action.APPROVE, session)
        if host is None:
            done = self.here.answer(there, choice, prompt)
            if any(sent.outcome is MessageState.PENDING for sent in done.delivered):
                self.here.autostart_watcher()  # it delivers them once the turn ends
            return done
        answered = self._remote(host).answer(there, choice, prompt)
        self.here.store.approvals.add(
            actor=self.whoami(),
            session=answered.session,
            prompt=answered.prompt.about(),
            subject=answered.prompt.subject,
            choice=answered.choice,
            option_label=answered.option.label,
            key=" ".join(answered.keys),
            closed=answered.closed,
            at=answered.record.at,
        )
        return answered

    def approve(
        self, session: str, choice: str | None = None, prompt: str | None = None
    ) -> Approval:
        """Say yes: CHOICE "1" (default) once, "2" and don't ask again; to prompt ``prompt``."""
        from imessenger.core.answers import parse_choice

        return self.answer(session, parse_choice(choice), prompt)

    def deny(self, session: str, prompt: str | None = None) -> Approval:
        """Say no (to prompt ``prompt``)."""
        return self.answer(session, Choice.NO, prompt)

    def answer_all(self, choice: Choice, *, everywhere: bool = True) -> AnsweredAll:
        """Answer every session asking (but the caller's own), here and on every host, with
        ``choice``: each the prompt it showed when this began."""
        self._require(Action.APPROVE)
        done = self.here.answer_all(choice)
        if not everywhere:
            return done
        there, unreachable = self._every_host(lambda remote: remote.answer_all(choice))
        for answered in there:
            done = AnsweredAll(
                done.asked + answered.asked,
                [*done.approvals, *answered.approvals],
                [*done.skipped, *answered.skipped],
                [*done.failed, *answered.failed],
            )
        return replace(done, unreachable=unreachable)

    # -- the tmux plugin

    def asking(self) -> list[Asking]:
        """The sessions asking (the other hosts' as HOST:SESSION), each with the id of its
        prompt; an agent gets only those whose prompts it may see."""
        return [entry for entry in self.here.asking() if self.sees_prompt(entry.name)]

    def session_id(self, name: str) -> str:
        """tmux's id of session ``name`` here ("$3"): a target tmux never misreads."""
        return self.here.tmux.session_id(check_name(name))

    def show_menu(self, client: str, title: str, items: Sequence[MenuItem]) -> None:
        """Show a menu on tmux client ``client``, its items made for tmux by the menu
        interface (imessenger.interfaces.menu)."""
        self.here.tmux.display_menu(client, title, items)

    def show_message(self, client: str, text: str) -> None:
        """Show ``text`` in the status line of tmux client ``client``."""
        self.here.show_message(client, text)

    def show_everywhere(self, text: str) -> None:
        """Show ``text`` in the status line of every tmux client a person looks at."""
        self.here.show_everywhere(text)

    def client_session(self, client: str) -> str | None:
        """The session tmux client ``client`` shows (None: no such client)."""
        return next((c.session for c in self.here.tmux.clients() if c.name == client), None)

    def switch(self, client: str, name: str) -> None:
        """Switch tmux client ``client`` to session ``name``."""
        self.here.switch(client, check_name(name))

    def popup_client(self) -> str | None:
        """In a tmux popup, the terminal client that opened it (None: not in a popup)."""
        return self.here.popup_client()

    def changes_to_watch(self) -> list[Path]:
        """The files whose size and time change when what the dashboard shows changes."""
        return self.here.changes_to_watch()

    def overview(self) -> Overview:
        """Every session at a glance (the dashboard): states from the watcher (else the
        panes), with the other hosts' sessions as their watchers published them. A
        session's prompt only where the caller may see it, the last exchange only where
        it may read that session's messages (or sent or received them itself)."""
        return self.here.overview(self._reads, self.sees_prompt)

    # -- the watcher

    def watch(
        self, log_file: Path | None = None, *, verbose: bool = False, autostarted: bool = False
    ) -> None:
        """Follow every session of the server until stopped (see imessenger.watcher);
        ``autostarted``: or until the server is gone (the watcher a command started)."""
        self._require(Action.MANAGE)
        self.here.watch(log_file, verbose=verbose, autostarted=autostarted)

    def start_watcher(self, *, verbose: bool = False) -> Daemon:
        """Start the watcher in the background; say whether it started."""
        self._require(Action.MANAGE)
        return self.here.start_watcher(verbose=verbose)

    def stop_watcher(self) -> Stopped:
        """Stop the watcher of this server, and wait until it has."""
        self._require(Action.MANAGE)
        return self.here.stop_watcher()

    def autostart_watcher(self) -> bool:
        """Start the watcher of this server in the background unless one runs or ``[watch]
        autostart`` is off, without waiting for it; True when one was started. Never fails
        (see imessenger.app.watching).

        Any caller may: it is what a command that needs the watcher does by itself (as
        tmux starts its server), and the watcher runs as the user, not as the caller.
        """
        return self.here.autostart_watcher()

    def status(self) -> Status:
        """What the watcher last published; an agent sees the prompts of the sessions it
        may see them of, and only that the others are asking."""
        report = self.here.status()
        if not self.here.caller.agent:
            return report
        return report.without_prompts(self.sees_prompt)

    def follow_status(self, interval_s: float = 0.2) -> Iterator[Observed]:
        """The status, once now and again each time it changes (what another host's
        watcher follows this host through)."""
        return self.here.follow_status(interval_s, self.status)

    # -- another host's calls

    def serve(self, line: str, write: Callable[[str], None]) -> int:
        """Do the call of another host's imessenger that ``line`` holds (the wire format,
        imessenger.core.wire), as this host's user; ``write`` its answer. Returns the exit
        status for ``imessenger remote``."""
        from imessenger.app.remote import serve

        return serve(self, line, write)

    # -- the agents' own reports

    def hook_event(self, kind: str, payload: str) -> HookEventRecord | None:
        """Record the event a ``kind`` hook of the caller's session reports."""
        return self.here.hook_event(kind, payload)

    def codex_turn_ended(self, payload: str, chained: Sequence[str] = ()) -> bool:
        """Codex's notify program: learn the session's thread id, pass the payload on."""
        return self.here.codex_turn_ended(payload, chained)

    def mcp_connected(self) -> bool:
        """Mark the caller's session as having its MCP tools connected."""
        return self.here.mcp_connected()

    # -- the configuration

    def config_file(self) -> Path:
        """The user's configuration file: $IMESSENGER_CONFIG, else the XDG config home."""
        return self.here.config_file()

    def user_config(self) -> Config:
        """The configuration of the user's file over the shipped defaults."""
        return self.here.user_config()

    def write_starter_config(self, *, force: bool = False) -> Path:
        """Write the starter configuration (0600); an agent session is refused."""
        if self.here.caller.agent:
            self._require(Action.CONFIGURE)
        return self.here.write_starter_config(force=force)
