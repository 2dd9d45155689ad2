"""The ``readers`` grant holds in every view: what another session asks, and the messages it
exchanged, reach an agent session only when the policy lets it read that session.

The agent is a shell started by isesh, and each command is typed into its pane, as an
agent's shell tool runs it (see test_security.py). The MCP server is connected in
process, for the session the test process names (as test_mcp.py does).
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from support import Watching, ask, run_imessenger, start_demo, wait_for, write_config
from test_security import ShellAgent, imessenger

from imessenger.actions.sessions import Sessions
from imessenger.adapters.status_cache import read_status
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.api import Api
from imessenger.interfaces.mcp.server import build_server

#: What the victim's prompt asks about: no view may show it to an agent without the grant.
SECRET = "rm -rf ~/precious-plans"


def isesh(*args: str) -> str:
    """The shell command line that runs isesh with these arguments."""
    return imessenger(*args).replace(" -m imessenger", " -m imessenger.interfaces.cli.isesh", 1)


@pytest.fixture
def agents(tmux: Tmux, sessions: Sessions, tmp_path: Path) -> dict[str, ShellAgent]:
    """Two shell agents, "reader" (granted ``readers``) and "evil" (no grant), and a demo
    session "victim" asking about SECRET."""
    write_config('[policy]\nreaders = ["reader"]\n')
    found = {}
    for name in ("reader", "evil"):
        folder = tmp_path / name
        folder.mkdir()
        found[name] = ShellAgent(tmux, name, folder)
    start_demo("victim")
    ask(sessions, "victim", f"ASK[{SECRET}] the user's secret plan")
    return found


def victim_in(status: dict[str, object]) -> dict[str, object]:
    """The victim's entry in a status (empty until the watcher follows it)."""
    sessions = status["sessions"]
    assert isinstance(sessions, list)
    return next((dict(e) for e in sessions if e["name"] == "victim"), {})


def test_status_shows_an_agent_only_the_prompts_it_may_read(
    tmux: Tmux, agents: dict[str, ShellAgent], watching: Watching
) -> None:
    wait_for(
        lambda: victim_in(read_status(tmux.label).as_json()).get("asking") == SECRET,
        what="the watcher to publish the prompt",
    )
    evil, reader = agents["evil"], agents["reader"]
    for command in (
        imessenger("status", "--json"),
        # the first line that --follow prints, then it is stopped
        f"timeout 8 {imessenger('status', '--json', '--follow')} | head -n 1",
    ):
        code, output = evil.run(command)
        assert code == 0, output
        entry = victim_in(json.loads(output))
        assert entry["state"] == "asking"  # that it asks is for everyone to see
        assert (entry["asking"], entry["question"], entry["choices"]) == (None, None, [])
        assert entry["prompt_id"] is None  # nor which prompt it is
        assert SECRET not in output
        code, output = reader.run(command)
        assert code == 0, output
        assert victim_in(json.loads(output))["asking"] == SECRET
        assert victim_in(json.loads(output))["prompt_id"]
    user = json.loads(run_imessenger("status", "--json").stdout)
    assert victim_in(user)["asking"] == SECRET


def test_isesh_list_shows_an_agent_only_the_prompts_it_may_read(
    tmux: Tmux, agents: dict[str, ShellAgent]
) -> None:
    code, output = agents["evil"].run(isesh("list", "--json"))
    assert code == 0, output
    [victim] = [row for row in json.loads(output) if row["name"] == "victim"]
    assert (victim["state"], victim["asking"]) == ("asking", None)
    assert SECRET not in output
    code, output = agents["reader"].run(isesh("list", "--json"))
    assert code == 0, output
    [victim] = [row for row in json.loads(output) if row["name"] == "victim"]
    assert victim["asking"] == SECRET


def test_the_approval_menu_shows_an_agent_only_the_prompts_it_may_read(
    tmux: Tmux, agents: dict[str, ShellAgent]
) -> None:
    menu = imessenger("approve-menu", "-c", "/dev/null", "--print")
    code, output = agents["evil"].run(menu)
    assert code == 0, output
    assert SECRET not in output
    assert "victim" not in output
    code, output = agents["reader"].run(menu)
    assert code == 0, output
    assert f"-victim (demo): {SECRET}" in output


def test_the_dashboard_in_an_agent_pane_shows_no_prompt_or_message_of_others(
    tmux: Tmux, agents: dict[str, ShellAgent]
) -> None:
    evil = agents["evil"]
    pane = AgentPane.of(tmux, "evil")
    pane.type(imessenger("dashboard"))
    pane.press(["Enter"])
    shown = wait_for(
        lambda: (text := pane.look()) and "victim" in text and "asking" in text and text,
        what="the dashboard drawn in evil's pane",
    )
    try:
        assert SECRET not in shown
        assert "secret plan" not in shown  # the user's message to it, and its reply
    finally:
        pane.type("q")
    code, _ = evil.run("true")  # the shell is back: the dashboard ended
    assert code == 0


def test_mcp_sessions_shows_an_agent_only_the_prompts_it_may_read(
    tmux: Tmux, agents: dict[str, ShellAgent], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def listed(name: str) -> dict[str, object]:
        monkeypatch.setenv("IMESSENGER_SESSION", name)
        async with Client(build_server(Api()), mode="auto") as client:
            result = await client.call_tool("sessions", {})
        assert result.structured_content is not None
        [victim] = [s for s in result.structured_content["sessions"] if s["name"] == "victim"]
        return dict(victim)

    evil = anyio.run(listed, "evil")
    assert (evil["state"], evil["asking"]) == ("asking", None)
    assert anyio.run(listed, "reader")["asking"] == SECRET


def test_a_pending_message_tells_its_agent_sender_no_prompt_it_may_not_read(
    tmux: Tmux, agents: dict[str, ShellAgent]
) -> None:
    for name, sees in (("evil", False), ("reader", True)):
        code, output = agents[name].run(imessenger("send", "--json", "victim", "after the prompt"))
        assert code == 3, output  # pending: the victim is asking
        why = json.loads(output)["why"]
        assert why.startswith('"victim" is waiting at a permission prompt')
        assert (SECRET in output) is sees
        code, output = agents[name].run(imessenger("inbox", "--json"))
        assert code == 0, output
        [notice] = [e for e in json.loads(output)["entries"] if e["kind"] == "pending"]
        assert (SECRET in notice["body"]) is sees
    assert SECRET in run_imessenger("send", "--no-reply", "victim", "and mine").output
