"""Another host's API: the same actions as here, done by that host's imessenger over ssh.

:class:`Remote` has the methods of the API that a session of another host needs
(start, stop, send, reply, inbox, answer...), with the same arguments and the same
values back, so the door (imessenger.app.api) decides once where an action runs and
calls either place the same way. A call is one ssh call (imessenger.adapters.ssh) to
``imessenger remote`` there, the call and its answer in the typed wire format
(imessenger.core.wire), never a command line's printed output. That host does the work
next to its panes and its store, under its own policy, as its user.

What comes back names that host's sessions as that host knows them; :class:`Remote`
names them ``HOST:SESSION`` (and its messages ``HOST:ID``), as the caller does.

:func:`serve` is the other end: what ``imessenger remote`` runs for a call it reads.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imessenger import __version__
from imessenger.app.values import (
    AnsweredAll,
    Explained,
    Inbox,
    Listing,
    Log,
    OptionView,
    PromptView,
    Restoration,
    Session,
    Waiting,
)
from imessenger.core import wire
from imessenger.core.errors import ImessengerError
from imessenger.core.names import check_name
from imessenger.core.published import Observed
from imessenger.core.values import (
    Approval,
    Choice,
    MessageRecord,
    RememberedSession,
    Restored,
    SendResult,
)

if TYPE_CHECKING:
    from imessenger.core.targets import Host

#: Seconds a call may take beyond what it waits for itself.
CALL_MARGIN_S = 30.0
#: How long an answer may take there: the key, the prompt closing, the waiting messages.
ANSWER_WAIT_S = 60.0


@dataclass(frozen=True)
class Call:
    """One action another host's API takes: its arguments' types and its value's."""

    params: dict[str, Any]
    result: Any
    #: it answers with one value after another (a stream), until the caller hangs up
    stream: bool = False
    #: the arguments that name a session (or a message) of that host: plain names there
    names: tuple[str, ...] = ()


#: The calls, by the API's method names.
CALLS: dict[str, Call] = {
    "start": Call(
        {
            "name": str,
            "directory": Path,
            "agent": str | None,
            "command": list[str],
            "worktree": bool,
            "branch": str | None,
        },
        Session,
        names=("name",),
    ),
    "stop": Call({"name": str, "force": bool, "remove_worktree": bool}, str, names=("name",)),
    "restore": Call({"names": list[str], "fresh": bool}, Restoration, names=("names",)),
    "forget": Call({"name": str}, RememberedSession, names=("name",)),
    "logs": Call({"name": str, "lines": int}, str, names=("name",)),
    "explain": Call({"name": str}, Explained, names=("name",)),
    "view": Call({"name": str}, Session, names=("name",)),
    "list_sessions": Call({"include_all": bool, "usage": bool}, Listing),
    "send": Call(
        {"target": str, "body": str, "raw": bool, "wait": bool, "timeout_ms": int | None},
        SendResult,
        names=("target",),
    ),
    "reply": Call({"message_id": str, "text": str}, MessageRecord, names=("message_id",)),
    "deliver": Call({"target": str | None}, list[SendResult], names=("target",)),
    "inbox": Call(
        {"session": str | None, "peek": bool, "include_read": bool}, Inbox, names=("session",)
    ),
    "log": Call({"session": str | None, "limit": int}, Log, names=("session",)),
    "answer": Call(
        {"session": str, "choice": Choice, "prompt": str | None}, Approval, names=("session",)
    ),
    "waiting": Call({}, Waiting),
    "answer_all": Call({"choice": Choice}, AnsweredAll),
    "follow_status": Call({}, Observed, stream=True),
    "start_watcher": Call({}, Any),
}


class Remote:
    """The API of one other host (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    # -- sessions

    def start(
        self,
        name: str,
        directory: Path,
        agent: str | None,
        command: list[str],
        worktree: bool = False,
        branch: str | None = None,
    ) -> Session:
        args = {
            "name": name,
            "directory": directory,
            "agent": agent,
            "command": command,
            "worktree": worktree,
            "branch": branch,
        }
        return self._session(self._call("start", args))

    def stop(self, name: str, *, force: bool = False, remove_worktree: bool = False) -> str:
        args = {"name": name, "force": force, "remove_worktree": remove_worktree}
        return str(self._call("stop", args))

    def restore(self, names: list[str], *, fresh: bool = False) -> list[Restored]:
        done: Restoration = self._call("restore", {"names": names, "fresh": fresh})
        return [replace(r, name=self._name(r.name), host=self.host.name) for r in done.sessions]

    def forget(self, name: str) -> RememberedSession:
        forgotten: RememberedSession = self._call("forget", {"name": name})
        return replace(forgotten, name=self._name(forgotten.name))

    def logs(self, name: str, lines: int) -> str:
        return str(self._call("logs", {"name": name, "lines": lines}))

    def explain(self, name: str) -> Explained:
        found: Explained = self._call("explain", {"name": name})
        return replace(found, session=self._name(found.session))

    def view(self, name: str) -> Session:
        return self._session(self._call("view", {"name": name}))

    def list_sessions(self, *, include_all: bool = False, usage: bool = False) -> list[Session]:
        return self.listing(include_all=include_all, usage=usage).sessions

    def listing(self, *, include_all: bool = False, usage: bool = False) -> Listing:
        """The sessions there, and (``include_all``) those it remembers that do not run;
        with ``usage``, each with the tokens it used (read there)."""
        listed: Listing = self._call("list_sessions", {"include_all": include_all, "usage": usage})
        return Listing(
            [self._session(s) for s in listed.sessions],
            restorable=[
                replace(r, name=self._name(r.name), host=self.host.name) for r in listed.restorable
            ],
        )

    def attach(self, name: str) -> int:
        """Attach this terminal to session ``name`` there (ssh with a terminal)."""
        from imessenger.adapters import ssh

        return ssh.attach(self.host, wire.PROTOCOL, ["attach", name])

    # -- messages

    def send(
        self,
        target: str,
        body: str,
        *,
        raw: bool = False,
        wait: bool = True,
        timeout_ms: int | None = None,
        default_timeout_ms: int = 30000,
        stop: threading.Event | None = None,
    ) -> SendResult:
        """Send there; ``stop`` (set by another thread) hangs up, as a dropped link would,
        and that host settles the message as on Ctrl-C (its reply goes to the inbox there)."""
        from imessenger.adapters.ssh import ConnectionDropped, HostTimedOut

        args = {"target": target, "body": body, "raw": raw, "wait": wait, "timeout_ms": timeout_ms}
        waits = (timeout_ms or default_timeout_ms) / 1000 if wait else 0.0
        try:
            sent: SendResult = self._call("send", args, waits_s=waits, stop=stop)
        except (ConnectionDropped, HostTimedOut) as lost:
            return self._lost(target, body, raw, lost, cancelled=stop is not None and stop.is_set())
        return self._sent(sent)

    def _lost(
        self, target: str, body: str, raw: bool, lost: ImessengerError, *, cancelled: bool
    ) -> SendResult:
        """What is known of a message whose link dropped (or was hung up on) mid-call: it may
        have been delivered there, and it is not sent again from here."""
        import time

        from imessenger.core.values import MessageState

        name = self._name(target)
        state = MessageState.TIMED_OUT if cancelled else MessageState.UNCONFIRMED
        message = MessageRecord.unrecorded(
            id="",
            server="",
            sender="",
            target=name,
            body=body,
            raw=raw,
            state=state,
            created_at=time.time(),
            error=str(lost),
        )
        if cancelled:
            return SendResult(
                message,
                state,
                f"no longer waited for; a late reply goes to the inbox on {self.host.name}",
            )
        why = (
            f"{lost}. The message may have been delivered; it is not sent again: look with "
            f"`imessenger log {name}`; a late reply goes to your inbox on {self.host.name} "
            "(`imessenger inbox`)"
        )
        return SendResult(message, state, why)

    def reply(self, message_id: str, text: str) -> MessageRecord:
        return self._message(self._call("reply", {"message_id": message_id, "text": text}))

    def deliver(self, target: str | None = None) -> list[SendResult]:
        return [self._sent(sent) for sent in self._call("deliver", {"target": target})]

    def inbox(
        self, session: str | None = None, *, peek: bool = False, include_read: bool = False
    ) -> Inbox:
        args = {"session": session, "peek": peek, "include_read": include_read}
        found: Inbox = self._call("inbox", args)
        return replace(
            found,
            owner=self._name(found.owner) if session is not None else found.owner,
            session=self._name(found.session) if found.session else found.session,
            entries=[self._entry(e) for e in found.entries],
            live=self._session(found.live) if found.live is not None else None,
            prompt=self._prompt(found.prompt) if found.prompt is not None else None,
        )

    def log(self, session: str | None = None, *, limit: int = 50) -> Log:
        found: Log = self._call("log", {"session": session, "limit": limit})
        return replace(found, session=self._name(found.session) if found.session else None)

    # -- prompts

    def answer(self, session: str, choice: Choice, prompt: str | None = None) -> Approval:
        args = {"session": session, "choice": choice, "prompt": prompt}
        found: Approval = self._call("answer", args, waits_s=ANSWER_WAIT_S)
        return replace(
            found,
            session=self._name(found.session),
            delivered=tuple(self._sent(sent) for sent in found.delivered),
        )

    def waiting(self) -> list[PromptView]:
        found: Waiting = self._call("waiting", {})
        return [self._prompt(p) for p in found.prompts]

    def answer_all(self, choice: Choice) -> AnsweredAll:
        found: AnsweredAll = self._call("answer_all", {"choice": choice}, waits_s=ANSWER_WAIT_S)
        return replace(
            found,
            approvals=[replace(a, session=self._name(a.session)) for a in found.approvals],
            skipped=[(self._name(n), why) for n, why in found.skipped],
            failed=[(self._name(n), why) for n, why in found.failed],
        )

    # -- the watcher's stream

    def follow_status(self) -> Iterator[Observed]:
        """That host's status, once now and again each time it changes, until the caller
        stops reading (then the connection is closed). Raises the host's error, or ssh's."""
        from imessenger.adapters import ssh

        process = ssh.connect(self.host, wire.PROTOCOL)
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(wire.call_line("follow_status", {}, __version__))
            process.stdin.flush()
            for line in process.stdout:
                yield wire.read_answer(line, Observed)
        finally:
            process.kill()
            process.wait()

    # -- the call, and the names of what comes back

    def _call(
        self,
        name: str,
        args: dict[str, Any],
        *,
        waits_s: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Any:
        from imessenger.adapters import ssh

        line = wire.call_line(name, args, __version__)
        done = ssh.call(self.host, wire.PROTOCOL, line, timeout=waits_s + CALL_MARGIN_S, stop=stop)
        answer = done.stdout.strip().splitlines()
        if not answer:
            said = done.stderr.strip().removeprefix("Error: ") or f"exit status {done.code}"
            raise ssh.RemoteFailed(f'host "{self.host.name}": {said}', done.code)
        try:
            return wire.read_answer(answer[-1], CALLS[name].result)
        except wire.RemoteError as error:
            raise wire.RemoteError(
                error.kind, f'host "{self.host.name}": {error}', error.exit_code
            ) from None

    def _name(self, name: str) -> str:
        return f"{self.host.name}:{name}"

    def _session(self, session: Session) -> Session:
        return replace(session, name=self._name(session.name), host=self.host.name)

    def _message(self, message: MessageRecord) -> MessageRecord:
        return replace(message, id=self._name(message.id), target=self._name(message.target))

    def _sent(self, sent: SendResult) -> SendResult:
        return replace(sent, message=self._message(sent.message))

    def _entry(self, entry: Any) -> Any:
        message_id = self._name(entry.message_id) if entry.message_id else entry.message_id
        return replace(entry, message_id=message_id, host=self.host.name)

    def _prompt(self, prompt: PromptView) -> PromptView:
        from imessenger.core.answers import command_for

        session = self._name(prompt.session)

        def command(option: OptionView) -> str | None:
            if option.answer is None:
                return None
            return command_for(session, option.answer, prompt.id)

        options = tuple(replace(o, command=command(o)) for o in prompt.options)
        return replace(prompt, session=session, options=options)


# --- the other end --------------------------------------------------------------------------


def serve(api: Any, line: str, write: Callable[[str], None]) -> int:
    """Do the call ``line`` asks of ``api`` (this host's API) and ``write`` its answer (one
    line; several for a stream); return the exit status for ``imessenger remote``.

    Only this host's sessions are named: a ``HOST:`` in a name is refused (no call goes on
    to a third host). SIGHUP and SIGTERM (the caller hung up) end the call as Ctrl-C does.
    """
    try:
        name, raw = wire.read_call(line)
        call = CALLS.get(name)
        if call is None:
            raise wire.WireError(f'there is no call "{name}"')
        args = _arguments(call, raw)
    except ImessengerError as error:
        write(wire.error_line(error))
        return 2
    method = getattr(api, name)
    previous = _interrupted_on_hang_up()
    try:
        if call.stream:
            for value in method(**args):
                write(wire.result_line(value))
            return 0
        kwargs = dict(args)
        if name in ("list_sessions", "inbox", "waiting", "answer_all", "restore"):
            kwargs["everywhere"] = False
        write(wire.result_line(method(**kwargs)))
        return 0
    except ImessengerError as error:
        write(wire.error_line(error))
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _arguments(call: Call, raw: dict[str, Any]) -> dict[str, Any]:
    unknown = set(raw) - set(call.params)
    if unknown:
        raise wire.WireError(f"unknown arguments: {', '.join(sorted(unknown))}")
    args = {key: wire.decode(raw[key], kind) for key, kind in call.params.items() if key in raw}
    for key in call.names:
        value = args.get(key)
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str):
                check_name(one, "message id" if key == "message_id" else "session")
    return args


def _interrupted_on_hang_up() -> dict[int, Any]:
    """SIGHUP and SIGTERM raise KeyboardInterrupt (a send settles as on Ctrl-C)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, interrupt) for sig in (signal.SIGHUP, signal.SIGTERM)}
