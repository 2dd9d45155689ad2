"""Who a name stands for, on real tmux: names no session may take, and a session as one
run of it (a session started again under an old name is not the old one).

Agents are shells started by isesh (commands typed into their panes, as an agent's shell
tool runs them) or the demo agent; the person is this test process, in no pane, or a
shell in a tmux session isesh did not start.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import python_cli, run_imessenger, run_isesh, wait_for

from imessenger import paths
from imessenger.errors import UsageError
from imessenger.tmux import AgentPane, Tmux

EXIT_USAGE = UsageError.exit_code


def write_config(text: str) -> None:
    config = paths.user_config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")


# --- names no session may take ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("user", '"user" is the person'),
        ("local", '"local" names this host'),
        ("buildbox", '"buildbox" is a host of the config ([hosts.buildbox])'),
        ("alice", '"alice" is the name you send as'),
    ],
)
def test_a_session_may_not_take_a_name_that_stands_for_someone_else(
    tmux: Tmux, monkeypatch: pytest.MonkeyPatch, name: str, why: str
) -> None:
    write_config('[hosts.buildbox]\ndestination = "me@buildbox"\n')
    monkeypatch.setenv("IMESSENGER_SESSION", "alice")  # the person, outside tmux, as alice
    started = run_isesh("start", name, "--agent", "shell", "--", "cat")
    assert started.exit_code == EXIT_USAGE, started.output
    assert f'no session may be named "{name}": {why}' in started.stderr
    assert "pick another name" in started.stderr
    assert tmux.session_names() == []  # nothing started
    assert run_isesh("start", "worker-1", "--agent", "shell", "--", "cat").exit_code == 0


@pytest.fixture
def other_server(tmux: Tmux) -> Iterator[Tmux]:
    """A second tmux server of the test's own (not started yet); ended afterwards."""
    other = Tmux(f"{tmux.socket_name}-b")
    yield other
    if other.is_running():
        other.run("kill-server")


def run_in(pane: AgentPane, command: list[str], folder: Path) -> tuple[int, str]:
    """Type ``command`` into the shell of ``pane``; return its exit status and output."""
    out, rc = folder / "out", folder / "rc"
    rc.unlink(missing_ok=True)
    pane.type(f"{shlex.join(command)} > {out} 2>&1; echo $? > {rc}")
    pane.press(["Enter"])
    wait_for(lambda: rc.is_file() and rc.read_text().strip(), 30, f"{command} to end")
    return int(rc.read_text()), out.read_text()


def test_the_person_in_their_own_tmux_session_may_not_give_its_name_to_an_agent(
    tmux: Tmux, other_server: Tmux, tmp_path: Path
) -> None:
    # the person's own session "main" (isesh did not start it): they send as "main"
    tmux.new_session("main", tmp_path, ["sh"], environment={}, width=120, height=30)
    pane = AgentPane.of(tmux, "main")
    assert run_in(pane, [*python_cli(), "whoami"], tmp_path) == (0, "main\n")
    # an agent "main" on another tmux server would read the replies sent to the person
    isesh = [*python_cli("imessenger.cli.isesh"), "-L", str(other_server.socket_name)]
    code, output = run_in(
        pane, [*isesh, "start", "main", "--agent", "shell", "--", "cat"], tmp_path
    )
    assert code == EXIT_USAGE, output
    assert 'no session may be named "main": "main" is the name you send as' in output
    assert other_server.session_names() == []


def test_a_tmux_session_named_user_is_not_the_person(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # made with tmux itself, not isesh: whatever runs in it would answer as the person
    tmux.new_session("user", tmp_path, ["cat"], environment={}, width=80, height=24)
    assert run_isesh("start", "w1", "--agent", "shell", "--", "cat").exit_code == 0
    monkeypatch.setenv("IMESSENGER_SESSION", "w1")  # an agent asks "the person"
    sent = run_imessenger("send", "--no-reply", "user", "is the plan approved?")
    assert sent.exit_code == EXIT_USAGE, sent.output
    assert '"user" is the person, not a session' in sent.stderr
    assert "tmux rename-session" in sent.stderr
    assert "plan approved" not in AgentPane.of(tmux, "user").look(history=100)
    with_json = run_imessenger("send", "--json", "--no-reply", "user", "hello")
    assert with_json.exit_code == EXIT_USAGE
    log = json.loads(run_imessenger("log", "--json").stdout)
    assert not [event for event in log if event.get("target") == "user"]  # nothing recorded
