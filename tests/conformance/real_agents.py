"""The real agent programs: installing them once per checkout, running them in a test.

The agents are installed into ``.cache/agents/`` of the checkout (git-ignored), once for
all test runs: the npm packages (Claude Code, Codex, Gemini CLI) with npm, Aider with pip
into a virtual environment of its own. A file lock keeps parallel runs from installing at
the same time, and a marker file says that an install is complete. Where node, npm or
Python's venv is missing, or the install fails, the tests skip and say why; with
``IMESSENGER_REQUIRE_AGENTS=1`` (which .ci/run sets) they fail instead, so that CI never
passes without them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_model import FakeModelServer, Script
from support import run_isesh, wait_for

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.errors import NoTmuxServer
from imessenger.core.profiles import load_profiles

#: Set to 1 to make a missing node/npm or a failed install fail the suite instead of skip it.
REQUIRE_ENV = "IMESSENGER_REQUIRE_AGENTS"

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "agents"

CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
CLAUDE_VERSION = "2.1.332"
CODEX_PACKAGE = "@openai/codex"
CODEX_VERSION = "0.169.0"
GEMINI_PACKAGE = "@google/gemini-cli"
GEMINI_VERSION = "0.61.0"
#: Gemini CLI 0.61.0 says ``engines: node >= 20``.
GEMINI_NODE = 20
QWEN_PACKAGE = "@qwen-code/qwen-code"
#: Qwen Code 0.24.4 says ``engines: node >= 22``, and runs on 20 all the same.
QWEN_VERSION = "0.24.4"
AIDER_PACKAGE = "aider-chat"
AIDER_VERSION = "0.86.2"
COPILOT_PACKAGE = "@github/copilot"
COPILOT_VERSION = "1.0.102"
OPENCODE_PACKAGE = "opencode-ai"
OPENCODE_VERSION = "1.18.33"

#: What an agent in the tests is given as its API key (the fake servers take anything).
FAKE_KEY = "sk-imessenger-conformance-0123456789abcdef"


def _unavailable(reason: str) -> None:
    """Skip (or, with IMESSENGER_REQUIRE_AGENTS=1, fail) because an agent cannot run."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: the agent tests must run here)", pytrace=False)
    pytest.skip(reason)


# --- installing the agents ------------------------------------------------------------------


def _version_of(program: Path) -> str:
    try:
        done = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        return f"cannot run: {error}"
    return (done.stdout + done.stderr).strip()


def _node_major() -> int | None:
    """The major version of the node on PATH (None: it cannot say)."""
    try:
        done = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    head = done.stdout.strip().lstrip("v").split(".")[0]
    return int(head) if head.isdigit() else None


def npm_install(package: str, version: str, program: str, *, node: int = 0) -> Path:
    """Install ``package@version`` into .cache/agents once; return the path of ``program``.

    Skips (or fails, see REQUIRE_ENV) when node or npm is missing, node is older than
    ``node`` (a major version), or the install fails.
    """
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed: cannot install {package}@{version}")
    if node:
        major = _node_major()
        if major is None or major < node:
            _unavailable(f"{package}@{version} needs node >= {node}; this node is {major}")
    slug = package.strip("@").replace("/", "-")
    prefix = CACHE / f"{slug}-{version}"
    marker = prefix / ".imessenger-installed"
    binary = prefix / "node_modules" / ".bin" / program
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{slug}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (marker.is_file() and binary.exists()):
            shutil.rmtree(prefix, ignore_errors=True)
            prefix.mkdir(parents=True)
            command = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
            command += ["--loglevel=error", f"{package}@{version}"]
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=900, check=False
                )
            except subprocess.TimeoutExpired:
                _unavailable(f"`{' '.join(command)}` took more than 15 minutes")
            if done.returncode != 0 or not binary.exists():
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                _unavailable(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")
            marker.write_text(f"{package}@{version}\n")
    said = _version_of(binary)
    if version not in said:
        _unavailable(f"{binary} --version says {said!r}, not {version}")
    return binary


def pip_install(package: str, version: str, program: str) -> Path:
    """Install ``package==version`` into a virtual environment of its own in .cache/agents,
    once; return the path of its ``program``.

    The environment is made with the Python that runs the tests. Skips (or fails, see
    REQUIRE_ENV) when it cannot be made or the install fails.
    """
    prefix = CACHE / f"{package}-{version}"
    marker = prefix / ".imessenger-installed"
    binary = prefix / "bin" / program
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{package}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (marker.is_file() and binary.exists()):
            shutil.rmtree(prefix, ignore_errors=True)
            pip = [str(prefix / "bin" / "python"), "-m", "pip", "install", "-q"]
            steps = [
                [sys.executable, "-m", "venv", str(prefix)],
                [*pip, "--disable-pip-version-check", f"{package}=={version}"],
            ]
            for command in steps:
                try:
                    done = subprocess.run(
                        command, capture_output=True, text=True, timeout=900, check=False
                    )
                except subprocess.TimeoutExpired:
                    _unavailable(f"`{' '.join(command)}` took more than 15 minutes")
                if done.returncode != 0:
                    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                    _unavailable(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")
            if not binary.exists():
                _unavailable(f"installing {package}=={version} made no {binary}")
            marker.write_text(f"{package}=={version}\n")
    said = _version_of(binary)
    if version not in said:
        _unavailable(f"{binary} --version says {said!r}, not {version}")
    return binary


def profile_command(profile: str, program: Path) -> list[str]:
    """The command of an agent profile (conf/agents.toml), run with the installed program."""
    found = load_profiles(load_config()).get(profile)
    assert found is not None, f"no agent profile {profile!r}"
    return [str(program), *found.launch.command[1:]]


# --- one agent in one test ----------------------------------------------------------------------


@dataclass
class Agent:
    """One agent program of a test: its profile, argv, folder, fake model and tmux server."""

    profile: str
    argv: list[str]
    workdir: Path
    script: Script
    server: FakeModelServer
    tmux: Tmux

    def start(self, name: str) -> None:
        """``isesh start NAME --agent PROFILE -d WORKDIR -- ARGV...``."""
        result = run_isesh(
            "start", name, "--agent", self.profile, "-d", str(self.workdir), "--", *self.argv
        )
        assert result.exit_code == 0, result.output

    def state(self, name: str) -> str:
        """The state ``isesh list --json`` shows for the session."""
        result = run_isesh("list", "--json")
        assert result.exit_code == 0, result.output
        rows = {row["name"]: row for row in json.loads(result.stdout)}
        return str(rows[name]["state"])

    def screen_state(self, name: str) -> tuple[str, str | None]:
        """The classified state and input-box text of the session's screen."""
        with Store.open(server=self.tmux.label) as store:
            view = Sessions(self.tmux, store, load_config()).view(name)
        return str(view.state), view.screen.input_text

    def screen(self, name: str, history: int = 3000) -> str:
        """The session's pane text with scrollback."""
        return AgentPane.of(self.tmux, name).look(history=history)

    def wait_for_turn(self, name: str, needle: str, seconds: float = 30.0) -> str:
        """Wait until a user turn containing ``needle`` reached the model; return its text.

        When none does, the failure shows the session's screen: whether the message sits
        in the input box, was never pasted, or the agent is stuck elsewhere.
        """
        try:
            return self.script.wait_for_turn(needle, seconds)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe screen of {name}:\n{self.screen(name)}") from None

    def wait_state(self, name: str, state: str, seconds: float = 30.0) -> None:
        """Wait until ``isesh list`` shows ``state``; a failure shows the screen and the
        turns the model saw, so a flake in CI can be told apart from a stuck agent."""
        try:
            wait_for(lambda: self.state(name) == state, seconds, f'"{name}" to be {state}')
        except pytest.fail.Exception as error:
            turns = "\n".join(repr(turn[-200:]) for turn in self.script.turns)
            pytest.fail(
                f"{error}\nthe model saw {len(self.script.turns)} turns:\n{turns}\n"
                f"the screen of {name}:\n{self.screen(name)}"
            )

    def processes(self, name: str) -> list[int]:
        """The pids of the session's program and of every process below it."""
        pid = self.tmux.pane(name).pid
        return _descendants([pid]) if pid else []


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` that still run (zombies do not count)."""
    return [pid for pid in pids if _alive(pid)]


def _descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_everything(tmux: Tmux, *, isesh_stop: bool = False) -> None:
    """Kill the test's tmux server and make sure that every agent process is gone.

    ``isesh_stop``: first stop every session with ``isesh stop --force``, which also ends
    the pane's process group (Gemini CLI 0.61.0, once it has answered a message, outlives a
    mere kill of its tmux server).
    """
    pids = [pane.pid for pane in tmux.panes() if pane.pid]
    processes = _descendants(pids) if pids else []
    failed: list[str] = []
    if isesh_stop:
        for name in tmux.session_names():
            result = run_isesh("stop", "--force", name)
            if result.exit_code != 0:
                failed.append(result.output)
    # the server may exit by itself in between, once ``isesh stop`` ended its last session
    with contextlib.suppress(NoTmuxServer):
        tmux.run("kill-server")
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in processes if _alive(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"agent processes outlived their tmux server: {left}"
    assert not failed, f"`isesh stop --force` failed: {failed}"
