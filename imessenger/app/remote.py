"""Sessions on other hosts: ``HOST:SESSION``, each call done by that host's imessenger.

The remote side does the work next to its panes and its store (delivery, confirmation,
waiting for the reply); this side makes one ssh call (:mod:`imessenger.adapters.ssh`) and hands
back what the remote command printed and exited with, or, for the views that span
every host (``isesh list``, the inbox, the prompts waiting), its JSON.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imessenger.app.services import Services
from imessenger.core.errors import ImessengerError
from imessenger.core.names import check_name
from imessenger.core.policy import Action

if TYPE_CHECKING:
    from imessenger.adapters.ssh import Completed
    from imessenger.core.targets import Host
    from imessenger.core.values import Choice

#: Seconds a remote call may take beyond what it waits for itself.
CALL_MARGIN_S = 30.0


@dataclass(frozen=True)
class FromHost:
    """What one host answered to a call made of every host: what its command printed
    (and exited with), or why it could not be asked."""

    host: str
    done: Completed | None = None
    error: str = ""

    @property
    def answered(self) -> bool:
        """It could be asked, and its command succeeded."""
        return self.done is not None and self.done.code == 0

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


@dataclass(frozen=True)
class HostApproval:
    """What approve or deny did on another host (recorded there, and here)."""

    session: str  # HOST:SESSION
    choice: Choice
    about: str
    option: str
    keys: tuple[str, ...]
    closed: bool
    delivered: int
    #: the id of the prompt answered, there ("" when that host did not say)
    prompt_id: str = ""


@dataclass(frozen=True)
class HostSent:
    """What ``send`` did on another host, as that host's imessenger told it."""

    id: str
    target: str  # HOST:SESSION
    state: str  # a MessageState value, or "" when the host said nothing readable
    reply: str | None = None
    reply_via: str | None = None
    why: str | None = None


class HostActions(Services):
    """Calls to the hosts of ``[hosts.NAME]``."""

    @property
    def hosts(self) -> dict[str, Host]:
        return self.config.settings.hosts

    def host_of(self, target: str, what: str = "session") -> Host | None:
        """The host ``target`` (``HOST:SESSION``) names; None for a local target.

        Raises UsageError for a host the config lacks, InvalidName for a bad name.
        """
        from imessenger.core.targets import host_of

        return host_of(target, self.hosts, what)

    def on_host(
        self,
        host: Host,
        tool: str,
        args: list[str],
        *,
        stdin: str | None = None,
        waits_s: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Completed:
        """Run ``TOOL ARGS`` on ``host``; ``waits_s``: how long the command itself may wait;
        ``stop`` (set by another thread) hangs up, as a dropped link would.

        The host's imessenger acts as its user, who may do everything there, so this
        host's policy is applied first, as for a session here (see :func:`action_of`;
        a refusal is recorded here and raised).
        """
        from imessenger.adapters import ssh

        self._require(host, tool, args)
        timeout = waits_s + CALL_MARGIN_S
        return ssh.run(host, tool, args, stdin=stdin, timeout=timeout, stop=stop)

    def _require(self, host: Host, tool: str, args: list[str]) -> None:
        action = action_of(tool, args)
        subject = f"{host.name}:{_positional(args)}"
        if action is Action.REPLY:
            # only a message's target may reply; none is here, so only the user
            self.access.require(Action.REPLY, subject, always=not self.access.is_user)
        elif action is not None:
            self.access.require(action, subject)

    def attach_on_host(self, host: Host, args: list[str]) -> int:
        """``isesh ARGS`` on ``host``, in this terminal."""
        from imessenger.adapters import ssh

        self._require(host, "isesh", args)
        return ssh.attach(host, args)

    def send_on_host(
        self,
        host: Host,
        session: str,
        body: str,
        *,
        wait: bool = True,
        timeout_ms: int | None = None,
        stop: threading.Event | None = None,
    ) -> HostSent:
        """Send ``body`` to ``session`` on ``host``, where its imessenger delivers it and
        waits for the reply; ``stop`` (set by another thread) ends the wait, and the
        reply goes to the inbox there, as on Ctrl-C.

        Raises the host's error (the CLI's message and exit status), or ssh's.
        """
        from imessenger.adapters import ssh

        check_name(session)  # refused here: never a call to the host for nothing
        args = ["send", session, "-", "--json", *([] if wait else ["--no-reply"])]
        args += ["--timeout", str(timeout_ms)] if timeout_ms is not None else []
        waits = (timeout_ms or self.config.settings.send.timeout_ms) / 1000 if wait else 0.0
        try:
            done = self.on_host(host, "imessenger", args, stdin=body, waits_s=waits, stop=stop)
        except ssh.ConnectionDropped:
            if stop is None or not stop.is_set():
                raise
            return HostSent("", f"{host.name}:{session}", "timed_out", why="no longer waited for")
        try:
            data = json.loads(done.stdout)
            sent = HostSent(
                id=str(data["id"]),
                target=f"{host.name}:{session}",
                state=str(data["state"]),
                reply=data.get("reply"),
                reply_via=data.get("reply_via"),
                why=data.get("why"),
            )
        except (ValueError, KeyError, TypeError):
            said = done.stderr.strip().removeprefix("Error: ") or f"exit status {done.code}"
            raise ssh.RemoteFailed(f'host "{host.name}": {said}', done.code) from None
        return sent

    def answer_on_host(
        self, host: Host, session: str, choice: Choice, prompt: str | None = None
    ) -> HostApproval:
        """Answer the prompt of ``session`` on ``host`` (approve or deny, by ``choice``);
        with ``prompt``, only the prompt of that id (that host's).

        The host's imessenger answers it and records it; so does this side, in its
        own log, as the caller's answer to ``HOST:SESSION``. Raises Refused (this
        host's policy), BadPromptId, ImessengerError with the host's message (and exit
        status) when it answered nothing.
        """
        from imessenger.actions.approval import parse_prompt_id
        from imessenger.adapters.ssh import RemoteFailed
        from imessenger.core.values import Choice

        check_name(session)  # refused here: never a call to the host for nothing
        number = "2" if choice is Choice.YES_ALWAYS else "1"
        args = ["deny", session] if choice is Choice.NO else ["approve", session, number]
        if prompt is not None:
            args += ["--prompt", parse_prompt_id(prompt)]
        done = self.on_host(host, "imessenger", [*args, "--json"])
        if done.code != 0:
            said = done.stderr.strip().removeprefix("Error: ") or f"exit status {done.code}"
            raise RemoteFailed(f'host "{host.name}": {said}', done.code)
        try:
            data = json.loads(done.stdout)
            answered = HostApproval(
                session=f"{host.name}:{data['session']}",
                choice=Choice(data["choice"]),
                about=str(data["about"]),
                option=str(data["option"]),
                keys=tuple(str(k) for k in data["keys"]),
                closed=bool(data["closed"]),
                delivered=sum(1 for sent in data["delivered"] if sent.get("state") != "pending"),
                prompt_id=str(data.get("prompt_id") or ""),
            )
        except (ValueError, KeyError, TypeError):
            raise ImessengerError(
                f'host "{host.name}" answered the prompt of "{session}" but said nothing this '
                f"side can read: look with `imessenger log {host.name}:{session}`"
            ) from None
        self.store.add_approval(
            actor=self.caller.name,
            server=self.tmux.label,
            session=answered.session,
            prompt=answered.about,
            subject=str(data.get("subject", "")),
            choice=answered.choice,
            option_label=answered.option,
            key=" ".join(answered.keys),
            closed=answered.closed,
            at=float(data["at"]),
        )
        return answered

    def every_host(self, tool: str, args: list[str], only: str | None = None) -> list[FromHost]:
        """Run ``TOOL ARGS`` on every host (``only``: on that one), all at once.

        A host that is down gives its error; the others what they printed. No host is
        asked when the policy would not let the caller do it (what a host shows is
        its user's, an inbox for one): the caller sees this host's only.
        """
        if only is not None:
            check_name(only, "host")
        action = action_of(tool, args)
        if action is not None and not self.access.allows(action):
            return []
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


#: What each command on another host needs of the policy here (see :func:`action_of`).
_ACTIONS: dict[tuple[str, str], Action] = {
    ("isesh", "start"): Action.MANAGE,
    ("isesh", "stop"): Action.MANAGE,
    ("isesh", "logs"): Action.MANAGE,
    ("isesh", "attach"): Action.MANAGE,
    ("isesh", "explain"): Action.MANAGE,
    ("imessenger", "approve"): Action.APPROVE,
    ("imessenger", "deny"): Action.APPROVE,
    ("imessenger", "reply"): Action.REPLY,
    ("imessenger", "inbox"): Action.READ,  # there, every inbox is another's
    ("imessenger", "log"): Action.READ,
}


def action_of(tool: str, args: list[str]) -> Action | None:
    """What the policy must grant the caller for ``TOOL ARGS`` on another host.

    None for what every session may do (list sessions, send, deliver).
    """
    command = args[0] if args else ""
    if (tool, command) == ("imessenger", "send"):
        return Action.SEND_RAW if "--raw" in args else None
    return _ACTIONS.get((tool, command))


def _positional(args: list[str]) -> str:
    """The first argument after the command that is not an option (the session)."""
    return next((arg for arg in args[1:] if not arg.startswith("-")), "")
