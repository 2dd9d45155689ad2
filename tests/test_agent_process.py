"""The agent's own process in a pane, found under the wrappers of its command line, and
what its command line and environment say: where it writes its record, whether it can
start imessenger's MCP server (real tmux, real processes)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from support import run_isesh, wait_for

from imessenger.actions.sessions import _tools_pending, tools_missing
from imessenger.adapters import agent_process
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.values import SessionRecord

SLEEPER = "import time; time.sleep(120)"


def start_wrapped(name: str, *argv: str) -> int:
    started = run_isesh("start", name, "--agent", "shell", "--", *argv)
    assert started.exit_code == 0, started.output
    pid = AgentPane.of(Tmux.from_environment(), name).info.pid
    assert pid is not None
    return pid


def test_the_agent_is_found_under_env_and_a_shell(tmux: Tmux) -> None:
    env = shutil.which("env")
    assert env is not None
    pane = start_wrapped(
        "s1", "sh", "-c", f'{env} -i FOO=bar {sys.executable} -c "{SLEEPER}" marker-1; :'
    )
    # the shell's own -c text holds the marker too: the agent is the deepest that does
    found = wait_for(
        lambda: (seen := agent_process.find(pane, "marker-1")) and seen.pid != pane and seen,
        what="the agent process under the shell",
    )
    assert found.environment == {"FOO": "bar"}
    assert "marker-1" in found.argv
    assert agent_process.find(pane, "no-such-marker") is None
    assert agent_process.find(None, "marker-1") is None


def test_an_agent_whose_environment_lost_its_mcp_home_does_not_wait_for_tools(
    tmux: Tmux, tmp_path: Path
) -> None:
    files = str(tmp_path / "files")
    env = shutil.which("env")
    assert env is not None
    wiped = start_wrapped("g1", env, "-i", sys.executable, "-c", SLEEPER, "--policy", files)
    kept = start_wrapped(
        "g2", env, f"GEMINI_CLI_HOME={files}/gemini-home", sys.executable, "-c", SLEEPER, files
    )

    def record(name: str, instance: str) -> SessionRecord:
        return SessionRecord(
            "default", name, "gemini", str(tmp_path), (), __import__("time").time(),
            mcp="gemini", files_dir=files, instance=instance,
        )  # fmt: skip

    why = wait_for(
        lambda: tools_missing(record("g1", "i-1"), wiped), what="the wiped environment seen"
    )
    assert "GEMINI_CLI_HOME" in why
    assert not _tools_pending(record("g1", "i-1"), wiped)  # ready when its screen is
    wait_for(lambda: agent_process.find(kept, files), what="the second agent")
    assert tools_missing(record("g2", "i-2"), kept) == ""
    assert _tools_pending(record("g2", "i-2"), kept)  # its tools can come: wait for them
