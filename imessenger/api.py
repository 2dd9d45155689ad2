"""imessenger's actions: one method of :class:`Api` for each thing a user or an agent does.

Every interface calls this and nothing below it: the command lines (``cli/``), the
tmux plugin's menu, the dashboard and the tour, and next the MCP server and remote
hosts. A method takes and returns plain typed values (the dataclasses here, and the
records of the modules it calls), and raises the project's errors, each carrying its
exit code (see imessenger.errors). It prints nothing.

Each action applies the same checks, in this order:

1. The names it is given are in the session-name alphabet (imessenger.names).
2. The caller, found from the process tree (imessenger.caller), may do it under
   the policy (imessenger.access); a refusal is recorded and raised (exit 77).
3. Then the work is done by the module that owns it: sessions (start, look,
   stop), delivery (send, reply, deliver), approval (answer a prompt), the
   watcher's daemon (watch) and status (the status line).

The services (tmux, the caller, the configuration, the store, the policy) are made
on first use, so that a command pays only for what it touches. The value types the
interfaces need (``MessageState``, ``Choice``, ``SessionView`` ...) can be imported from
here; their modules load when first used.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imessenger.errors import ImessengerError, UsageError
from imessenger.history import Event as Event
from imessenger.policy import Action

if TYPE_CHECKING:
    from imessenger.access import Access
    from imessenger.approval import Approval as Approval
    from imessenger.caller import Caller
    from imessenger.config import Config
    from imessenger.delivery import Courier
    from imessenger.delivery import NotDelivered as NotDelivered
    from imessenger.delivery import SendResult as SendResult
    from imessenger.menu import Menu as Menu
    from imessenger.screen import Meaning
    from imessenger.sessions import Sessions
    from imessenger.sessions import SessionView as SessionView
    from imessenger.status import Status as Status
    from imessenger.status import WatcherRunning as WatcherRunning
    from imessenger.store import Choice as Choice
    from imessenger.store import InboxEntry as InboxEntry
    from imessenger.store import MessageRecord as MessageRecord
    from imessenger.store import MessageState as MessageState
    from imessenger.store import Store
    from imessenger.tmux import Tmux
    from imessenger.watcher.daemon import Daemon as Daemon
    from imessenger.watcher.daemon import Stopped as Stopped

#: The value types importable from here, and the module each one is defined in.
_VALUE_TYPES = {
    "Approval": "imessenger.approval",
    "Choice": "imessenger.store",
    "InboxEntry": "imessenger.store",
    "Menu": "imessenger.menu",
    "MessageRecord": "imessenger.store",
    "MessageState": "imessenger.store",
    "NotDelivered": "imessenger.delivery",
    "SendResult": "imessenger.delivery",
    "SessionView": "imessenger.sessions",
    "Status": "imessenger.status",
    "WatcherRunning": "imessenger.status",
}


def __getattr__(name: str) -> Any:
    """Load a value type's module when the type is first asked for (PEP 562)."""
    module = _VALUE_TYPES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


# --- what the actions return ------------------------------------------------------------------


@dataclass(frozen=True)
class OptionView:
    """One option of a live prompt: the keys that pick it, and what approve/deny would say."""

    key: str
    label: str
    meaning: Meaning
    selected: bool
    keys: tuple[str, ...]
    #: the answer that picks this option (None when approve/deny never pick it)
    answer: Choice | None
    #: the command that gives that answer, shell-quoted
    command: str | None


@dataclass(frozen=True)
class PromptView:
    """The permission prompt a session is waiting on, as the commands show it."""

    session: str
    agent: str
    state: str
    question: str
    subject: str
    text: str
    options: tuple[OptionView, ...]

    def about(self) -> str:
        """What the prompt asks about, on one line (its subject, else its question)."""
        lines = [line.strip() for line in self.subject.splitlines() if line.strip()]
        if not lines:
            return self.question
        return lines[0] + (" …" if len(lines) > 1 else "")


@dataclass(frozen=True)
class Inbox:
    """An inbox as read: its owner, its entries and, for a session, the prompt it shows."""

    owner: str
    entries: list[InboxEntry]
    #: the session asked about (None for one's own inbox)
    session: str | None = None
    #: that session as it is now, when it runs
    live: SessionView | None = None
    prompt: PromptView | None = None
    #: what could not be done on the way (e.g. looking for late replies)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answered:
    """What ``approve --all`` did: the answers given, the sessions skipped or failed."""

    asked: int
    approvals: list[Approval]
    #: sessions that stopped asking before their turn came
    skipped: list[str]
    #: (session, error) for each session that could not be answered
    failed: list[tuple[str, str]]


@dataclass(frozen=True)
class Log:
    """What ``log`` shows: the events of one session (None: of every session)."""

    session: str | None
    events: list[Event]


@dataclass(frozen=True)
class Asking:
    """A session that is asking: what it asks about and which answers its prompt has."""

    name: str
    agent: str
    about: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Row:
    """One session as the dashboard shows it."""

    name: str
    agent: str
    state: str
    asking: str | None = None
    choices: tuple[str, ...] = ()
    last_message: str = ""
    last_reply: str = ""
    unread: int = 0
    pending: bool = False


@dataclass
class Overview:
    """Every session at a glance (the dashboard): the rows and the header's counts."""

    rows: list[Row] = field(default_factory=list)
    watching: bool = False
    user_unread: int = 0


def first_line(text: str | None, width: int = 60) -> str:
    """The first non-blank line of ``text``, cut to ``width`` (with "…" when cut or longer).

    >>> first_line("  \\nFix the login form\\nthen the tests", 40)
    'Fix the login form…'
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line, more = lines[0], len(lines) > 1
    if len(line) > width:
        line, more = line[: width - 1], True
    return line + ("…" if more else "")


# --- the actions ----------------------------------------------------------------------------


class Api:
    """The actions on the sessions of one tmux server, for the caller of this process.

    ``Api(socket_name)`` finds everything from the environment, as a command does;
    :meth:`over` builds one on services already made (the tour, tests).
    """

    def __init__(self, socket_name: str | None = None) -> None:
        self.socket_name = socket_name

    @classmethod
    def over(cls, tmux: Tmux, store: Store, config: Config, caller: Caller | None = None) -> Api:
        """An Api on these services (the caller is found from the process tree unless given)."""
        api = cls(tmux.socket_name)
        api.__dict__.update(tmux=tmux, store=store, config=config)
        if caller is not None:
            api.__dict__["caller"] = caller
        return api

    def as_user(self) -> Api:
        """The same services, acting as the user: for the tour, whose agents are its own, on
        its own tmux server. (The boundary is the process: a command finds its caller.)"""
        from imessenger.caller import Caller

        return Api.over(self.tmux, self.store, self.config, Caller.user(self.caller.name))

    # -- services, made on first use

    @functools.cached_property
    def tmux(self) -> Tmux:
        from imessenger.tmux import Tmux

        return Tmux.from_environment(self.socket_name)

    @functools.cached_property
    def caller(self) -> Caller:
        """Who runs this: found from the process tree (see imessenger.caller)."""
        from imessenger.caller import identify

        return identify(self.tmux)

    @functools.cached_property
    def config(self) -> Config:
        """The configuration; for an agent session, the file isesh started it with."""
        from imessenger.config import load_config

        recorded = self.caller.config if self.caller.agent else ""
        return load_config(Path(recorded) if recorded else None)

    @functools.cached_property
    def store(self) -> Store:
        """The store; for an agent session, the one in the data folder isesh started it with."""
        from imessenger.store import DB_FILENAME, Store

        home = self.caller.home if self.caller.agent else ""
        return Store.open(Path(home) / DB_FILENAME if home else None)

    @functools.cached_property
    def access(self) -> Access:
        """What the caller may do, under the policy of the configuration in force."""
        from imessenger.access import access_for

        return access_for(self.tmux, self.store, self.config, self.caller)

    @functools.cached_property
    def sessions(self) -> Sessions:
        from imessenger.sessions import Sessions

        return Sessions(self.tmux, self.store, self.config)

    @property
    def server(self) -> str:
        """The label of the tmux server, without loading the tmux code (as Tmux.label has it)."""
        return self.socket_name or "default"

    # -- who

    def whoami(self) -> str:
        """The name messages are sent from: the session this runs in, else "user"."""
        return self.caller.name

    # -- sessions

    def start(
        self, name: str, directory: Path, agent: str | None = None, command: Sequence[str] = ()
    ) -> SessionView:
        """Start agent session ``name`` in ``directory``, detached; return it as it starts."""
        check_name(name)
        self.access.require(Action.MANAGE, name)
        return self.sessions.start(name, directory, agent, list(command))

    def list_sessions(self, *, include_all: bool = False) -> list[SessionView]:
        """The sessions isesh started (with ``include_all``, every session), with live states."""
        return self.sessions.views(include_all=include_all)

    def view(self, name: str) -> SessionView:
        """One session as it is now (started by isesh or not); NoSuchSession when absent."""
        check_name(name)
        return self.sessions.view(name)

    def forget_session(self, name: str) -> None:
        """Drop isesh's record of session ``name``; its tmux session, if any, is not touched."""
        check_name(name)
        self.access.require(Action.MANAGE, name)
        self.store.forget_session(self.tmux.label, name)

    def end_server(self) -> None:
        """End the tmux server and every session on it (the tour's private server)."""
        from imessenger.errors import NoTmuxServer

        self.access.require(Action.MANAGE)
        with contextlib.suppress(NoTmuxServer):  # it exited with its last session
            self.tmux.run("kill-server")

    def attach(self, name: str) -> None:
        """Attach this terminal to session ``name`` (switch the client inside tmux)."""
        check_name(name)
        self.access.require(Action.MANAGE, name)
        self.tmux.attach(name)

    def stop(self, name: str, *, force: bool = False) -> str:
        """Stop session ``name``; return "exited" (it left when asked) or "killed"."""
        check_name(name)
        self.access.require(Action.MANAGE, name)
        return self.sessions.stop(name, force=force)

    def logs(self, name: str, lines: int) -> str:
        """The text of the session's pane with up to ``lines`` lines of scrollback."""
        check_name(name)
        self.access.require(Action.MANAGE, name)
        return self.sessions.logs(name, lines)

    # -- messages

    def send(
        self,
        target: str,
        body: str,
        *,
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
    ) -> SendResult:
        """Send ``body`` to ``target`` from the caller; wait for the reply unless ``wait`` is off.

        Raises NotDelivered (nothing pasted), NoSuchSession, TargetExited; an
        interruption (KeyboardInterrupt) leaves the message recorded, and a late
        reply goes to the caller's inbox.
        """
        check_name(target)
        if not body.strip():
            raise UsageError("the message is empty: nothing to send")
        if raw:
            self.access.require(Action.SEND_RAW, target)
        return self._courier().send(
            target, body, sender=self.caller.name, raw=raw, wait=wait, timeout_ms=timeout_ms
        )

    def wait_for_reply(self, sent: SendResult, timeout_ms: int) -> SendResult:
        """Wait up to ``timeout_ms`` for the reply to a message sent without waiting."""
        return self._courier().wait_for_reply(sent, timeout_ms, time.monotonic())

    def reply(self, message_id: str, text: str) -> MessageRecord:
        """Record ``text`` as the reply to message ``message_id``: only its target may."""
        from imessenger.delivery import reply_to

        return reply_to(self._courier(), message_id, text, self.access)

    def deliver(self, target: str | None = None) -> list[SendResult]:
        """Deliver the pending messages of ``target`` (else of every session that has some).

        Late replies found on the way go to their senders' inboxes.
        """
        courier = self._courier()
        targets = [check_name(target)] if target else courier.targets_with_pending()
        done = [sent for name in targets for sent in courier.deliver_pending(name)]
        courier.collect_late_replies()
        return done

    def inbox(
        self, session: str | None = None, *, peek: bool = False, include_read: bool = False
    ) -> Inbox:
        """Read the caller's inbox (``peek`` leaves it unread), or a session's, with its prompt.

        One's own inbox is read after looking for late replies on the screens. A
        session's inbox is only looked at (it is that session's to read), and the
        permission prompt it shows comes with it.
        """
        from imessenger.errors import NoSuchSession, NoTmuxServer

        me = self.caller.name
        if session is not None and session != me:
            check_name(session)
            self.access.require(Action.READ, session)
            live: SessionView | None
            try:
                live = self.sessions.view(session)
            except NoSuchSession:
                live = None
            entries = self.store.read_inbox(session, peek=True, include_read=include_read)
            if live is None and not entries:
                self.sessions.view(session)  # raises NoSuchSession, listing the sessions there are
            prompt = self.prompt_of(live) if live is not None else None
            return Inbox(session, entries, session, live, prompt)
        warnings = []
        try:
            self._courier().collect_late_replies()
        except NoTmuxServer:
            pass  # no sessions, so no replies on any screen
        except ImessengerError as error:
            warnings.append(f"could not look for late replies: {error}")
        entries = self.store.read_inbox(me, peek=peek, include_read=include_read)
        if session is None:
            return Inbox(me, entries, warnings=warnings)
        try:
            live = self.sessions.view(session)
        except NoSuchSession:
            if not entries:
                raise
            live = None
        prompt = self.prompt_of(live) if live is not None else None
        return Inbox(me, entries, session, live, prompt, warnings)

    def log(self, session: str | None = None, *, limit: int = 50) -> Log:
        """The latest ``limit`` events (messages, replies, approvals, refusals), oldest first.

        An agent that may not read the whole log sees its own messages only.
        """
        if session is not None:
            check_name(session)
        if not self.access.allows(Action.READ, session or ""):
            if session is not None:
                self.access.require(Action.READ, session)  # records the refusal and raises
            session = self.caller.name
        return Log(session, self._history(session, limit))

    def _history(self, session: str | None, limit: int) -> list[Event]:
        from imessenger import history

        server = self.tmux.label
        store = self.store
        return history.latest(
            store.list_messages(server, session, limit=limit),
            store.list_approvals(session, limit=limit, server=server),
            store.list_refusals(session, limit=limit, server=server),
            limit,
        )

    # -- prompts

    def prompt_of(self, view: SessionView) -> PromptView | None:
        """The prompt ``view`` shows, with each option's keys and answer; None when none."""
        from imessenger.approval import answers, command_for

        prompt = view.screen.prompt
        if prompt is None:
            return None
        profile = self.sessions.view_profile(view)
        chosen = answers(view.name, prompt)
        options = tuple(
            OptionView(
                key=option.key,
                label=option.label,
                meaning=option.meaning,
                selected=option.selected,
                keys=tuple(profile.drive.keys_for(option)),
                answer=chosen.get(option.key),
                command=command_for(view.name, chosen[option.key])
                if option.key in chosen
                else None,
            )
            for option in prompt.options
        )
        return PromptView(
            view.name,
            view.agent,
            str(view.state),
            prompt.question,
            prompt.subject,
            prompt.text,
            options,
        )

    def waiting(self) -> list[PromptView]:
        """Every session asking for permission, read from its pane, with its prompt.

        Approvers, readers and the user may look.
        """
        from imessenger.approval import asking

        if not self.access.allows(Action.APPROVE):
            self.access.require(Action.READ)
        found = (self.prompt_of(view) for view in asking(self.sessions))
        return [prompt for prompt in found if prompt is not None]

    def answer(self, session: str, choice: Choice) -> Approval:
        """Answer ``session``'s prompt with the option that means ``choice``; record it.

        Nothing is pressed when the session is not asking, has no such option, or
        its screen cannot be read with certainty (see imessenger.approval).
        """
        from imessenger.approval import answer

        check_name(session)
        return answer(self.sessions, session, choice, access=self.access)

    def approve(self, session: str, choice: str | None = None) -> Approval:
        """Say yes: CHOICE "1" (default) once, "2" and don't ask again."""
        return self.answer(session, parse_choice(choice))

    def deny(self, session: str) -> Approval:
        """Say no."""
        from imessenger.store import Choice

        return self.answer(session, Choice.NO)

    def answer_all(self, choice: Choice) -> Answered:
        """Answer every session asking (but the caller's own) with ``choice``, in name order."""
        from imessenger.approval import NothingAsking, SessionExited, asking

        self.access.require(Action.APPROVE)
        names = [view.name for view in asking(self.sessions) if view.name != self.caller.name]
        approvals: list[Approval] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        for name in names:
            try:
                approvals.append(self.answer(name, choice))
            except (NothingAsking, SessionExited):
                skipped.append(name)
            except ImessengerError as error:
                failed.append((name, str(error)))
        return Answered(len(names), approvals, skipped, failed)

    def asking(self) -> list[Asking]:
        """The sessions asking, by name: from the watcher's status when it runs, else the panes."""
        from imessenger.names import is_valid_name
        from imessenger.store import Choice

        status = self.status()
        if status.watching:
            found = []
            for entry in status.data.get("sessions", []):
                if entry.get("state") != "asking" or not is_valid_name(str(entry.get("name"))):
                    continue
                choices = tuple(Choice(c) for c in entry.get("choices", []) if c in set(Choice))
                found.append(
                    Asking(str(entry["name"]), str(entry["agent"]), str(entry["asking"]), choices)
                )
            return sorted(found, key=lambda a: a.name)
        return sorted(
            (
                Asking(
                    p.session,
                    p.agent,
                    p.about(),
                    tuple(o.answer for o in p.options if o.answer is not None),
                )
                for p in self._asking_prompts()
            ),
            key=lambda a: a.name,
        )

    def _asking_prompts(self) -> list[PromptView]:
        from imessenger.approval import asking

        found = (self.prompt_of(view) for view in asking(self.sessions))
        return [prompt for prompt in found if prompt is not None]

    # -- watching

    def watch(self, log_file: Path | None = None, *, verbose: bool = False) -> None:
        """Follow every session of the server until stopped (SIGTERM, SIGINT, SIGHUP).

        Logs to ``log_file`` (else stderr). Raises WatcherRunning when a watcher runs
        already for this server.
        """
        from imessenger.watcher.daemon import log_to, run_watcher

        self.access.require(Action.MANAGE)
        log_to(log_file, verbose=verbose)
        run_watcher(self.server, self.sessions)

    def start_watcher(self, *, verbose: bool = False) -> Daemon:
        """Start the watcher in the background, logging to its file; say whether it started."""
        from imessenger.watcher.daemon import start_daemon

        self.access.require(Action.MANAGE)
        return start_daemon(self.server, self.socket_name, verbose=verbose)

    def stop_watcher(self) -> Stopped:
        """Stop the watcher of this server, and wait until it has."""
        from imessenger.watcher.daemon import stop_watcher

        self.access.require(Action.MANAGE)
        return stop_watcher(self.server)

    def status(self) -> Status:
        """What the watcher last published (no tmux call, no database)."""
        from imessenger.status import read_status

        return read_status(self.server)

    def overview(self) -> Overview:
        """Every session at a glance: states from the watcher (else the panes), the rest from
        the store."""
        status = self.status()
        entries: list[dict[str, Any]]
        if status.watching:
            entries = list(status.data.get("sessions", []))
        else:
            entries = []
            for view in self.sessions.views():
                prompt = self.prompt_of(view)
                entries.append(
                    {
                        "name": view.name,
                        "agent": view.agent,
                        "state": str(view.state),
                        "asking": prompt.about() if prompt is not None else None,
                        "choices": [str(o.answer) for o in prompt.options if o.answer]
                        if prompt is not None
                        else [],
                    }
                )
        messages = self.store.list_messages(self.tmux.label, limit=500)
        pending = {m.target for m in messages if m.state == "pending"}
        unread = self.store.unread_counts()
        rows = []
        for entry in entries:
            name = str(entry["name"])
            last, reply = _last_exchange(messages, name)
            rows.append(
                Row(
                    name=name,
                    agent=str(entry.get("agent", "")),
                    state=str(entry.get("state", "unknown")),
                    asking=entry.get("asking"),
                    choices=tuple(entry.get("choices") or ()),
                    last_message=last,
                    last_reply=reply,
                    unread=unread.get(name, 0),
                    pending=name in pending,
                )
            )
        return Overview(rows, status.watching, unread.get("user", 0))

    # -- the tmux plugin

    def approval_menu(self, command: list[str], client: str) -> Menu:
        """The plugin's menu of the sessions asking; its items run ``command`` (imessenger)."""
        from imessenger.errors import NoSuchSession
        from imessenger.menu import approval_menu

        found = []
        for entry in self.asking():
            try:  # an id, never a name tmux may misread; a session gone meanwhile is left out
                found.append((entry, self.tmux.session_id(entry.name)))
            except NoSuchSession:
                continue
        socket = ["-L", self.tmux.socket_name] if self.tmux.socket_name else []
        return approval_menu(found, [*command, *socket], client)

    def show_menu(self, client: str, menu: Menu) -> None:
        """Show ``menu`` on tmux client ``client``."""
        self.tmux.display_menu(client, menu.title, menu.items)

    def show_message(self, client: str, text: str) -> None:
        """Show ``text`` in the status line of tmux client ``client``."""
        self.tmux.display_message(client, text)

    def jump(self, client: str) -> str | None:
        """Switch ``client`` to the next session asking (by name, wrapping); None when none."""
        from imessenger.menu import next_in_turn

        current = next((c.session for c in self.tmux.clients() if c.name == client), None)
        name = next_in_turn([entry.name for entry in self.asking()], current)
        if name is not None:
            self.tmux.switch_client(client, name)
        return name

    def switch(self, client: str, name: str) -> None:
        """Switch tmux client ``client`` to session ``name``."""
        check_name(name)
        self.tmux.switch_client(client, name)

    def popup_client(self) -> str | None:
        """In a tmux popup (``$TMUX`` set, no pane), the terminal client that opened it.

        That is the terminal client with the latest input: the key that opened the popup.
        """
        import os

        if not os.environ.get("TMUX") or os.environ.get("TMUX_PANE"):
            return None
        terminals = [c for c in self.tmux.clients() if not c.control]
        if not terminals:
            return None
        return max(terminals, key=lambda c: c.activity).name

    def changes_to_watch(self) -> list[Path]:
        """The files whose size and time change when what the dashboard shows changes."""
        from imessenger.status import status_path

        db = self.store.path
        return [status_path(self.tmux.label), db, db.with_name(db.name + "-wal")]

    # -- configuration

    def user_config(self) -> Config:
        """The configuration of the user's file (``config_file``) over the shipped defaults."""
        from imessenger.config import load_config

        return load_config()

    def config_file(self) -> Path:
        """The user's configuration file: $IMESSENGER_CONFIG, else the XDG config home."""
        from imessenger.paths import user_config_path

        return user_config_path()

    def write_starter_config(self, *, force: bool = False) -> Path:
        """Write the starter configuration at ``config_file`` (0600); return where.

        An existing file is kept unless ``force``; an agent session is refused.
        """
        from imessenger import paths
        from imessenger.config import load_config, starter_text

        if self.caller.agent:
            self.access.require(Action.CONFIGURE)
        where = self.config_file()
        if where.exists() and not force:
            raise UsageError(f"{where} already exists; use --force to overwrite it")
        text = starter_text()
        try:
            # 0600 in folders made 0700, whatever the umask: the file may come to hold
            # settings that are nobody else's business.
            paths.make_private_dir(where.parent)
            paths.write_private_file(where, text)
        except OSError as exc:
            raise UsageError(f"cannot write {where}: {exc.strerror}") from exc
        load_config(where)  # the starter must load back; a ConfigError here is a bug
        return where

    # -- below

    def _courier(self) -> Courier:
        from imessenger.delivery import Courier

        return Courier(self.sessions)


def parse_choice(text: str | None) -> Choice:
    """The answer CHOICE stands for: "1" (or None) yes once, "2" yes always; BadChoice else."""
    from imessenger.approval import parse_choice as parse

    return parse(text)


def describe(choice: Choice) -> str:
    """An answer in words: "yes, this once", "yes, and don't ask again" or "no"."""
    from imessenger import approval

    return approval.describe(choice)


def check_name(name: str) -> str:
    """Return ``name`` when it is in the session-name alphabet; InvalidName (exit 1) else."""
    from imessenger import names

    return names.check_name(name)


def _last_exchange(messages: list[MessageRecord], name: str) -> tuple[str, str]:
    """The last message to ``name`` and its reply (or what became of it), newest first list."""
    for message in messages:
        if message.target != name:
            continue
        reply = f"({message.state})" if message.reply is None else first_line(message.reply)
        return first_line(message.body), reply
    return "", ""
