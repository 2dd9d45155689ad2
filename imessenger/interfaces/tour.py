"""The guided tour behind ``imessenger demo``: its steps, run with the real library calls.

The tour starts its own tmux server (socket ``imessenger-demo`` unless told
another name) with a coordinator (a shell) and two demo agents, then does what
a user would: sends a message and reads the reply, lets an agent ask for
permission, finds the prompt, approves it and reads the log. Each :class:`Step`
carries the command a user would type for it and the result of doing it with
the same :class:`imessenger.app.Api` call that command makes (``start``,
``send``, ``answer``...); the command line prints them (imessenger/interfaces/cli/demo.py).

The data (messages, approvals, session records) goes to the user's normal data
folder, recorded under the tour's server name, so that after ``--keep`` every
command works on the demo with ``-L imessenger-demo``. It starts no watcher
(``[watch] autostart``): each step shows what its own call did, in order.

Safety: the tour only ever stops sessions it started. A server that already
runs on its socket is reused only with ``restart`` and only when every session
on it is one the tour starts (same name, recorded with the same profile).
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imessenger.app.api import Api
from imessenger.app.values import PromptView, Session
from imessenger.core.errors import ImessengerError, NoSuchSession, UsageError
from imessenger.core.history import Event
from imessenger.core.values import Approval, Choice, MessageState, SendResult

logger = logging.getLogger(__name__)

#: The tmux socket the tour runs on unless ``-L NAME`` names another.
DEFAULT_SOCKET = "imessenger-demo"
COORDINATOR = "coordinator"
#: The sessions the tour starts, in order, with their agent profiles.
PROFILES: dict[str, str] = {COORDINATOR: "shell", "worker-1": "demo", "worker-2": "demo"}
#: The multi-line message of step 2; the demo agent answers a message with its text.
GREETING = "Hello worker-1.\nThis message is on three lines,\nand the demo agent sends it back."
#: The command worker-2 asks permission for (the demo agent only pretends to run it).
ASKED_COMMAND = "touch notes.txt"
ASK_MESSAGE = f"Please create notes.txt. ASK[{ASKED_COMMAND}]"
#: How long a step waits for an agent to show what the tour expects, in seconds.
STEP_TIMEOUT_S = 15.0
#: How many log events step 6 shows: the message, the approval and the reply.
LOG_EVENTS = 3


# --- errors ------------------------------------------------------------------------------------


class DemoAlreadyRunning(ImessengerError):
    """The tour's server already runs (left by ``--keep``); nothing was started."""

    def __init__(self, socket: str, names: list[str]) -> None:
        minus_l = "" if socket == DEFAULT_SOCKET else f"-L {socket} "
        super().__init__(
            f'a demo is already running on tmux server "{socket}" (sessions: {", ".join(names)}). '
            f"Look at it with `tmux -L {socket} attach -t worker-1`, stop it with "
            f"`tmux -L {socket} kill-server`, or start afresh with "
            f"`imessenger {minus_l}demo --restart`"
        )
        self.socket = socket


class NotADemoServer(ImessengerError):
    """The server on the tour's socket runs sessions the tour did not start."""

    def __init__(self, socket: str, foreign: list[str]) -> None:
        super().__init__(
            f'tmux server "{socket}" runs sessions the demo did not start '
            f"({', '.join(foreign)}), so the demo leaves it alone. Run the demo on another "
            f"server with `imessenger -L NAME demo`, or stop those sessions with "
            f"`isesh -L {socket} stop NAME`"
        )
        self.foreign = foreign


class TourStalled(ImessengerError):
    """An agent did not do in time what the tour waits for."""


# --- steps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedStep:
    """A session the tour started (``isesh start``)."""

    view: Session


@dataclass(frozen=True)
class SentStep:
    """A message sent; ``result.reply`` is its reply when the step waited for one."""

    result: SendResult


@dataclass(frozen=True)
class WaitingStep:
    """The prompts sessions are waiting on (``imessenger inbox --waiting``)."""

    prompts: tuple[PromptView, ...]


@dataclass(frozen=True)
class ApprovedStep:
    """A prompt answered (``imessenger approve``)."""

    approval: Approval


@dataclass(frozen=True)
class LoggedStep:
    """What ``imessenger log SESSION -n LIMIT`` shows: its latest events, oldest first."""

    events: tuple[Event, ...]


@dataclass(frozen=True)
class StoppedStep:
    """A session stopped (``isesh stop``): ``how`` is "exited" or "killed"."""

    name: str
    how: str


Result = StartedStep | SentStep | WaitingStep | ApprovedStep | LoggedStep | StoppedStep


@dataclass(frozen=True)
class Shown:
    """One command a user would type, and the result of doing it (None: a hint only)."""

    command: str
    result: Result | None = None


@dataclass(frozen=True)
class Step:
    """One numbered step of the tour: a title, a few lines of explanation, its commands."""

    number: int
    title: str
    note: tuple[str, ...]
    shown: tuple[Shown, ...]


# --- the tour ----------------------------------------------------------------------------------


class Tour:
    """The tour on one private tmux server, with the user's store and configuration.

    ``directory`` is the folder the sessions start in; the messages are sent from
    ``api``'s caller (``imessenger whoami``).
    """

    def __init__(self, api: Api, directory: Path) -> None:
        socket = api.socket_name
        if not socket or socket == "default":
            raise UsageError(
                "the demo runs on a private tmux server, never on the default one: "
                "name it with `imessenger -L NAME demo` (default: imessenger-demo)"
            )
        self.api = api
        self.socket = socket
        self.directory = directory
        self.poll = api.settings.send.poll_s

    def command(self, program: str, *args: str) -> str:
        """Return the command line a user types to do this on the tour's server."""
        return shlex.join([program, "-L", self.socket, *args])

    # -- before and after

    def prepare(self, *, restart: bool = False) -> list[str]:
        """Check that the tour's server is free; with ``restart``, stop an earlier demo on it.

        Returns the sessions stopped. Raises NotADemoServer when the server runs
        sessions the tour did not start, DemoAlreadyRunning when an earlier demo
        runs and ``restart`` is not given, TmuxNotInstalled without tmux.
        """
        views = self.api.list_sessions(include_all=True, only="local").sessions
        if not views:
            return []
        names = [view.name for view in views]
        foreign = [v.name for v in views if not v.managed or PROFILES.get(v.name) != v.agent]
        if foreign:
            raise NotADemoServer(self.socket, foreign)
        if not restart:
            raise DemoAlreadyRunning(self.socket, names)
        logger.info("stopping the earlier demo on %s: %s", self.socket, names)
        self.abort()
        return names

    def abort(self) -> None:
        """Remove the tour's sessions and its server at once (after a failure or for a restart)."""
        for name in PROFILES:
            self.api.forget_session(name)
        self.api.end_server()

    # -- the steps

    def steps(self, *, keep: bool = False) -> Iterator[Step]:
        """Run the tour, yielding each step once it is done.

        Without ``keep`` the last step stops the sessions and the server; with
        it, the last step says how to look at them and stop them later. Raises
        ImessengerError when a step fails; the caller then calls :meth:`abort`.
        """
        yield self._start()
        yield self._converse()
        sent, step = self._ask()
        yield step
        shown, step = self._waiting()
        yield step
        yield self._approve(shown)
        yield self._log(sent)
        yield self._keep() if keep else self._stop()

    def _start(self) -> Step:
        shown = []
        for name, agent in PROFILES.items():
            # no watcher: the tour shows each step as it does it, on a server it ends
            view = self.api.start(name, self.directory, agent, watcher=False)
            command = self.command("isesh", "start", name, "--agent", agent)
            shown.append(Shown(command, StartedStep(view)))
        return Step(
            1,
            "Start a coordinator and two demo agents, each in its own tmux session",
            (
                f'They run on the private tmux server "{self.socket}" (-L): your own tmux',
                "sessions are not touched. The coordinator is a shell where you (or a",
                "coordinating agent) type imessenger commands.",
            ),
            tuple(shown),
        )

    def _converse(self) -> Step:
        result = self.api.send("worker-1", GREETING)
        if result.outcome is not MessageState.REPLIED:
            raise TourStalled(
                f"worker-1 did not reply to message {result.message.id} ({result.outcome}"
                f"{': ' + result.why if result.why else ''}); look at it with "
                f"`isesh -L {self.socket} logs worker-1`"
            )
        return Step(
            2,
            "Send worker-1 a message on three lines and print its reply",
            (
                "send pastes it as one bracketed paste, checks that the agent took it and waits",
                "for the reply, which the agent prints between two delimiter lines (or gives",
                "with `imessenger reply`). The demo agent answers with the text it got.",
            ),
            (Shown(self.command("imessenger", "send", "worker-1", GREETING), SentStep(result)),),
        )

    def _ask(self) -> tuple[SendResult, Step]:
        result = self.api.send("worker-2", ASK_MESSAGE, wait=False)
        if result.outcome not in (MessageState.DELIVERED, MessageState.QUEUED):
            raise TourStalled(
                f"worker-2 did not take message {result.message.id} ({result.outcome}"
                f"{': ' + result.why if result.why else ''}); look at it with "
                f"`isesh -L {self.socket} logs worker-2`"
            )
        return result, Step(
            3,
            "Give worker-2 a task that needs permission",
            (
                f"ASK[...] makes the demo agent ask before it runs `{ASKED_COMMAND}`, as Claude",
                "Code and Codex do. --no-reply returns as soon as the agent took the message.",
            ),
            (
                Shown(
                    self.command("imessenger", "send", "worker-2", "--no-reply", ASK_MESSAGE),
                    SentStep(result),
                ),
            ),
        )

    def _waiting(self) -> tuple[PromptView, Step]:
        prompt = self._until_asking("worker-2")
        return prompt, Step(
            4,
            "See who is waiting for a permission answer",
            (
                "The inbox reads the prompt off worker-2's screen: the command it wants to run,",
                "its options, the key each one takes, the command that answers with it and",
                "the prompt's id, which ties the answer to this prompt and no later one.",
            ),
            (Shown(self.command("imessenger", "inbox", "--waiting"), WaitingStep((prompt,))),),
        )

    def _until_asking(self, name: str) -> PromptView:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            view = self.api.view(name)
            prompt = self.api.prompt_of(view) if view.state == "asking" else None
            if prompt is not None:
                return prompt
            if view.state == "exited" or time.monotonic() >= deadline:
                raise TourStalled(
                    f'"{name}" did not show its permission prompt within {STEP_TIMEOUT_S:g}s '
                    f"(its screen reads {view.state}); look at it with "
                    f"`isesh -L {self.socket} logs {name}`"
                )
            time.sleep(self.poll)

    def _approve(self, shown: PromptView) -> Step:
        # The tour's agents are its own, on its own tmux server: it answers them as their user.
        approval = self.api.as_user().answer("worker-2", Choice.YES_ONCE, shown.id)
        bound = ["--prompt", shown.id] if shown.id else []
        return Step(
            5,
            "Approve it",
            (
                "approve picks the option by what its label says (yes, this once), never by",
                "its number, presses its key, checks that the prompt closed and records it.",
            ),
            (
                Shown(
                    self.command("imessenger", "approve", "worker-2", *bound),
                    ApprovedStep(approval),
                ),
            ),
        )

    def _log(self, sent: SendResult) -> Step:
        result = self.api.wait_for_reply(sent, int(STEP_TIMEOUT_S * 1000))
        if result.outcome is not MessageState.REPLIED:
            raise TourStalled(
                f"worker-2 did not answer message {sent.message.id} after the approval; "
                f"look at it with `isesh -L {self.socket} logs worker-2`"
            )
        logged = self.api.log("worker-2", limit=LOG_EVENTS)
        return Step(
            6,
            "worker-2 goes on and answers; the log shows what happened",
            (
                "Every message, reply and answer to a prompt is recorded, with who and when.",
                "A reply that nobody waits for goes to the sender's inbox (`imessenger inbox`).",
            ),
            (
                Shown(
                    self.command("imessenger", "log", "worker-2", "-n", str(LOG_EVENTS)),
                    LoggedStep(tuple(logged.events)),
                ),
            ),
        )

    def _stop(self) -> Step:
        shown = []
        for name in reversed(PROFILES):
            # The workers leave on /exit; the coordinator is a shell and is killed at once.
            force = name == COORDINATOR
            args = ["stop", name, "--force"] if force else ["stop", name]
            try:
                how = self.api.stop(name, force=force)
            except NoSuchSession:
                how = "already gone"
            shown.append(Shown(self.command("isesh", *args), StoppedStep(name, how)))
        self.api.end_server()  # a tmux.conf with exit-empty off keeps it alive
        return Step(
            7,
            "Clean up",
            (
                "Stop the sessions; the private tmux server exits with the last one.",
                f"The history stays: `{self.command('imessenger', 'log')}`.",
            ),
            tuple(shown),
        )

    def _keep(self) -> Step:
        return Step(
            7,
            "The demo keeps running: look around",
            (
                "Attach to an agent (leave again with Ctrl-b d), try commands from here, or",
                f'attach to "{COORDINATOR}" and type them there, where they need no -L.',
                "Stop everything when you are done with the last command.",
            ),
            (
                Shown(shlex.join(["tmux", "-L", self.socket, "attach", "-t", "worker-1"])),
                Shown(self.command("isesh", "list")),
                Shown(self.command("imessenger", "send", "worker-2", "Hello again")),
                Shown(self.command("imessenger", "inbox", "--waiting")),
                Shown(shlex.join(["tmux", "-L", self.socket, "kill-server"])),
            ),
        )
