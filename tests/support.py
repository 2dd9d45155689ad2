"""Helpers the tests share: polling with a deadline, running the command lines, starting
the demo agent, and reading what tmux, the store and the watcher show."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shlex
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from click.testing import CliRunner, Result

from imessenger.adapters.tmux import AgentPane

if TYPE_CHECKING:
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux
    from imessenger.core.screen import Prompt, State
    from imessenger.core.values import MessageRecord, MessageState

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], seconds: float = 10.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.02)
    pytest.fail(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


def stays(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Read ``check`` again and again for ``seconds``: it must hold every time.

    It is how a test says that something does not happen (or happens only once) within a
    while: never a fixed sleep and one look at the end.
    """
    deadline = time.monotonic() + seconds
    reads = 0
    while time.monotonic() < deadline:
        assert check(), f"{what} stopped holding after {reads} reads"
        reads += 1
        time.sleep(0.01)  # a cheap check would otherwise keep a CPU from what it watches
    assert reads > 1


def run_isesh(*args: str) -> Result:
    """Run ``isesh`` in-process and return click's result (exit code, stdout, stderr)."""
    from imessenger.interfaces.cli.isesh import cli as isesh_cli

    return CliRunner().invoke(isesh_cli, list(args), catch_exceptions=False)


def run_imessenger(*args: str, stdin: str | None = None) -> Result:
    """Run ``imessenger`` in-process and return click's result."""
    from imessenger.interfaces.cli.main import cli as imessenger_cli

    return CliRunner().invoke(imessenger_cli, list(args), input=stdin, catch_exceptions=False)


def inbox_json(*args: str) -> Any:
    """``imessenger inbox --json ARGS``, which must succeed, as parsed from its JSON."""
    import json

    result = run_imessenger("inbox", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def python_cli(module: str = "imessenger") -> list[str]:
    """The argv that runs a command line as its own process (``python -m imessenger``)."""
    return [sys.executable, "-m", module]


def pane_environment() -> dict[str, str]:
    """The test's environment for a program a tmux pane runs: its data and config folders
    (IMESSENGER_*, XDG_*) and its HOME."""
    found = {k: v for k, v in os.environ.items() if k.startswith(("IMESSENGER", "XDG"))}
    return {**found, "HOME": os.environ["HOME"]}


#: What the tests' configuration holds (conftest.py writes it for every test not marked
#: ``default_config``): no command starts a watcher by itself, so that a test runs only the
#: watchers it starts, and a pending message waits for ``deliver`` or the test's watcher.
AUTOSTART_OFF = "[watch]\nautostart = false\n"


class _Suite:
    """What conftest.py set for the running test."""

    autostart_off = False  # write_config keeps AUTOSTART_OFF in what it writes


SUITE = _Suite()


def write_config(text: str) -> Path:
    """Write the user's config file (``$IMESSENGER_CONFIG``, else the XDG one) and return
    its path; with ``autostart = false`` added (see AUTOSTART_OFF), unless the test is
    marked ``default_config`` or ``text`` sets ``watch.autostart`` itself."""
    from imessenger.adapters import paths

    path = paths.user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_autostart_off(text) if SUITE.autostart_off else text, encoding="utf-8")
    return path


def _autostart_off(text: str) -> str:
    """``text`` with ``autostart = false`` in its ``[watch]`` table (added when it has none);
    a file that is no TOML (a test of one) as it is: it starts nothing."""
    import re
    import tomllib

    try:
        watch = tomllib.loads(text).get("watch")
    except tomllib.TOMLDecodeError:
        return text
    if watch is None:
        return f"{text.rstrip()}\n\n{AUTOSTART_OFF}" if text.strip() else AUTOSTART_OFF
    if "autostart" in watch:
        return text
    header = re.search(r"^\[watch\][ \t]*(#.*)?$", text, re.MULTILINE)
    assert header, "write [watch] as a table: the tests add autostart = false to it"
    return f"{text[: header.end()]}\nautostart = false{text[header.end() :]}"


def demo_profile(name: str, **changes: object) -> Path:
    """Write the user's config file with one profile, ``name``: the demo agent's, with
    ``changes``; return its path."""
    import tomli_w

    from imessenger.adapters.config_files import load_config

    table = {**load_config().values["agents"]["demo"], **changes}
    return write_config(tomli_w.dumps({"agents": {name: table}}))


def demo_command(*agent_args: str) -> list[str]:
    """The argv that runs the demo agent with ``agent_args`` (``--startup-ms 0``...)."""
    return [sys.executable, "-m", "imessenger.demo.agent", *agent_args]


def state_of(tmux: Tmux, name: str) -> State:
    """What session ``name`` is doing as imessenger reads it now (on a store of its own)."""
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config
    from imessenger.adapters.store import Store

    with Store.open(server=tmux.label) as store:
        return Sessions(tmux, store, load_config()).view(name).state


def open_store() -> Store:
    """The store of the test's data folder, opened for the tmux server the environment
    names (the ``tmux`` fixture's, which the command lines find the same way)."""
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux

    return Store.open(server=Tmux.from_environment().label)


def message_state(message_id: str) -> MessageState:
    """The state the store gives message ``message_id`` now (it must exist)."""
    with open_store() as store:
        record = store.messages.get(message_id)
    assert record is not None, f"no message {message_id} in the store"
    return record.state


def the_pending(store: Store, target: str) -> MessageRecord:
    """The one message pending for ``target``: waited for, since a watcher that runs may
    hold it claimed for a moment (it tries a delivery, and puts it back)."""
    found = wait_for(
        lambda: (messages := store.messages.pending(target)) and messages,
        what=f"the message pending for {target}",
    )
    [message] = found
    return message


def message_with(text: str) -> MessageRecord | None:
    """The newest message whose body holds ``text``, if any (sent on the tmux server the
    environment names)."""
    with open_store() as store:
        return next((m for m in store.messages.latest(limit=None) if text in m.body), None)


def ids_on_any_server(store: Store, table: str) -> list[object]:
    """The id of every row of ``table`` ("messages", "approvals") in the store's file,
    whatever tmux server it was recorded on (the store lists those of the server it was
    opened for): for a test that nothing was recorded at all."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        return [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def start_demo(
    name: str = "w1", *agent_args: str, idle: bool = True, folder: Path | None = None
) -> None:
    """Start the demo agent as session ``name`` with ``isesh start``, on the test's tmux
    server (the ``tmux`` fixture's: the command lines find it through the environment).

    ``agent_args`` are given to the demo agent (else the demo profile's command runs);
    ``folder`` is its working directory; with ``idle`` (the default) wait until
    imessenger reads it as idle.
    """
    from imessenger.adapters.tmux import Tmux
    from imessenger.core.screen import State

    args = ["start", name, "--agent", "demo"]
    if folder is not None:
        args += ["-d", str(folder)]
    if agent_args:
        args += ["--", *demo_command(*agent_args)]
    result = run_isesh(*args)
    assert result.exit_code == 0, result.output
    if idle:
        socket = os.environ.get("IMESSENGER_TMUX_SOCKET")
        assert socket, "start_demo needs the test's tmux server: take the tmux fixture"
        tmux = Tmux(socket)
        wait_for(lambda: state_of(tmux, name) is State.IDLE, what=f"{name} idle")


def ask(sessions: Sessions, name: str, message: str) -> Prompt:
    """Send the demo agent a message with a directive (``ASK[...]``); wait for its prompt."""
    sent = run_imessenger("send", name, message, "--no-reply")
    assert sent.exit_code == 0, sent.output
    return wait_for(lambda: sessions.view(name).screen.prompt, what=f"{name} asking")


def prompt_id(name: str) -> str:
    """The id of the prompt session ``name`` shows, as ``inbox --waiting --json`` gives it."""
    import json

    shown = run_imessenger("inbox", "--waiting", "--json")
    assert shown.exit_code == 0, shown.output
    [found] = [row for row in json.loads(shown.stdout)["asking"] if row["name"] == name]
    identity = found["prompt"]["id"]
    assert isinstance(identity, str), found
    assert len(identity) == 10, found
    return identity


def answer_by_hand(tmux: Tmux, sessions: Sessions, name: str, key: str, shows: str) -> None:
    """Answer the demo agent's prompt in its pane, as a person would (``key``), not through
    imessenger; wait until it shows ``shows`` and is idle again."""
    from imessenger.core.screen import State

    AgentPane.of(tmux, name).press([key])
    wait_for(lambda: shows in AgentPane.of(tmux, name).look(history=200), what=shows)
    wait_for(lambda: sessions.view(name).state is State.IDLE, what=f"{name} idle")


def start_demo_in_shell(tmux: Tmux, name: str, agent: str = "demo") -> int:
    """Start the demo agent as session ``name`` under a shell (with profile ``agent``);
    once idle, return its pid.

    tmux continues any program of its own that stops, so a test that stops the agent
    (SIGSTOP, as if it were starved of CPU) needs it one process further down.
    """
    demo = shlex.join(demo_command("--startup-ms", "0"))
    started = run_isesh("start", name, "--agent", agent, "--", "sh", "-c", f"{demo}; exit")
    assert started.exit_code == 0, started.output
    wait_for(lambda: "? for help" in AgentPane.of(tmux, name).look(), what=f"{name} idle")
    shell = tmux.pane(name).pid
    with open(f"/proc/{shell}/task/{shell}/children") as listing:
        [agent] = [int(child) for child in listing.read().split()]
    return agent


def delivered(store: Store, message_id: str) -> bool:
    """True once the message was submitted to its target (or even answered)."""
    from imessenger.core.values import MessageState

    message = store.messages.get(message_id)
    done = (MessageState.DELIVERED, MessageState.QUEUED, MessageState.REPLIED)
    return message is not None and message.state in done


def scrollback(tmux: Tmux, name: str, history: int = 2000) -> str:
    """The text of a session's pane with ``history`` lines of scrollback."""
    return AgentPane.of(tmux, name).look(history=history)


def echoes(tmux: Tmux, name: str, message_id: str) -> int:
    """How many times the demo agent in session ``name`` shows message ``message_id`` as
    submitted (its echo of the envelope's first line, in 5000 lines of scrollback)."""
    return scrollback(tmux, name, 5000).count(f"❯ [imessenger] message {message_id} from")


def watched(server: str, name: str) -> dict[str, Any] | None:
    """The watcher's view of session ``name`` on tmux server ``server`` (its label), from
    its status cache; None while it does not follow it."""
    from imessenger.adapters.status_cache import read_status

    for entry in read_status(server).data.get("sessions", []):
        if entry["name"] == name:
            return dict(entry)
    return None


def watched_state(server: str, name: str) -> str | None:
    """The state the watcher publishes for session ``name`` (None: not followed)."""
    entry = watched(server, name)
    return str(entry["state"]) if entry else None


@dataclass
class Watching:
    """An ``imessenger watch -v`` process of the test (see the ``watcher`` fixture), and
    its log."""

    proc: subprocess.Popen[bytes]
    log: Path
    server: str

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def said(self, level: str, words: str) -> int:
        """How many lines of its log, at this level (WARNING, INFO, DEBUG), hold ``words``."""
        return sum(f" {level} " in line and words in line for line in self.text().splitlines())

    def entry(self, name: str) -> dict[str, Any] | None:
        """Its view of a session, from its status cache (None: not followed)."""
        return watched(self.server, name)

    def state(self, name: str) -> str | None:
        return watched_state(self.server, name)


class Terminal:
    """A real terminal client: ``tmux attach`` in a pseudo-terminal whose output is kept."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.name = ""
        self._seen = bytearray()
        self._lock = threading.Lock()

    def drain(self) -> None:
        """Keep what the terminal is sent, until it closes (run it in a thread)."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._seen += chunk

    def shows(self, text: str) -> bool:
        """True once the terminal was sent ``text`` (as tmux draws it, escapes aside)."""
        with self._lock:
            return text.encode() in self._seen

    def mark(self) -> int:
        """How much the terminal was sent so far (for :meth:`sent_since`)."""
        with self._lock:
            return len(self._seen)

    def sent_since(self, mark: int) -> bytes:
        """What the terminal was sent after ``mark`` (:meth:`mark`)."""
        with self._lock:
            return bytes(self._seen[mark:])

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)


@contextlib.contextmanager
def attached(
    tmux: Tmux, target: str, *, utf8: bool = False, size: tuple[int, int] | None = None
) -> Iterator[Terminal]:
    """A :class:`Terminal` attached to session ``target`` (``tmux -u`` with ``utf8``; of
    ``size`` rows and columns, else the pseudo-terminal's own), once tmux lists it as a
    client; ended (by its pid) at the end."""
    argv = tmux.argv(*(["-u"] if utf8 else []), "attach-session", "-t", target)
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["TERM"] = "xterm-256color"
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes tmux at once
        if size is not None:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
        os.execve(argv[0], argv, env)
    terminal = Terminal(fd)
    reader = threading.Thread(target=terminal.drain, daemon=True)
    reader.start()
    try:
        terminal.name = wait_for(
            lambda: next((c.name for c in tmux.clients() if not c.control), None),
            what="the terminal client",
        )
        yield terminal
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
        reader.join(5)
