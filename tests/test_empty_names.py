"""An empty or blank name is a usage error everywhere, and nothing is done.

Walks every command of ``imessenger`` and ``isesh`` (click's command tree), every
method of the Api and every MCP tool: each parameter that names a session, a target
(``HOST:SESSION``), a host, a tmux client, a socket or an agent profile is given an
empty name, a blank one, and ``HOST:`` / ``:SESSION`` halves. Each must be refused as a
usage error (exit 2; an ImessengerError with exit code 2; a tool error) saying what to
give, with nothing done: no message delivered or recorded, no session started or
stopped, no inbox entry read. A parameter a new command adds must be classified below,
or the walk fails: so a name added later is tried too.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import click
import pytest
from mcp import Client
from support import run_imessenger, run_isesh, start_demo, wait_for, write_config

from imessenger.actions.sessions import Sessions
from imessenger.adapters.paths import data_dir
from imessenger.adapters.store import DB_FILENAME
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.api import Api
from imessenger.core.errors import ImessengerError
from imessenger.core.targets import host_of
from imessenger.core.values import Choice, MessageState
from imessenger.interfaces.cli.isesh import cli as isesh_cli
from imessenger.interfaces.cli.main import cli as imessenger_cli
from imessenger.interfaces.mcp.server import build_server

#: A host of the config, never reached (nothing may be sent to it).
HOST = "box"
#: Session names, targets: local or HOST:SESSION.
SESSIONS = ["", " ", " \t ", "\n", ":", ":w1", f"{HOST}:", f"{HOST}: ", f"{HOST}:\t"]
#: What takes a single name (a host, a profile, a tmux client, a socket): empty, blank.
PLAIN = ["", " ", "\t"]
#: Message ids, which may be HOST:ID.
IDS = ["", " ", ":", ":abc", f"{HOST}:"]

#: What a refusal says: what to give instead.
SAYS_WHAT_TO_DO = (
    r"(must not be empty|contains .*): use letters|is empty: give "
    r"|must be the id of a prompt \(10 hex digits, as `imessenger inbox --waiting` shows it\)"
)

#: Every parameter of every command that takes a name: how to run the command with the
#: value V there (the other arguments valid), and the bad values to try.
NAMED: dict[tuple[str, str], tuple[list[str], list[str]]] = {
    ("imessenger", "socket_name"): (["-L", "V", "whoami"], PLAIN),
    ("imessenger approve", "session"): (["approve", "V"], SESSIONS),
    ("imessenger approve-menu", "client"): (["approve-menu", "-c", "V", "--print"], PLAIN),
    ("imessenger approve-menu", "answer"): (
        ["approve-menu", "-c", "c1", "--answer", "V", "yes-once"],
        SESSIONS,
    ),
    ("imessenger approve", "prompt"): (["approve", "w1", "--prompt", "V"], PLAIN),
    ("imessenger approve-menu", "prompt"): (
        ["approve-menu", "-c", "c1", "--answer", "w1", "yes-once", "--prompt", "V"],
        PLAIN,
    ),
    ("imessenger compose", "target"): (["compose", "V"], SESSIONS),
    ("imessenger deliver", "target"): (["deliver", "V"], SESSIONS),
    ("imessenger deny", "session"): (["deny", "V"], SESSIONS),
    ("imessenger deny", "prompt"): (["deny", "w1", "--prompt", "V"], PLAIN),
    ("imessenger inbox", "session"): (["inbox", "V"], SESSIONS),
    ("imessenger jump", "client"): (["jump", "-c", "V"], PLAIN),
    ("imessenger log", "session"): (["log", "V"], SESSIONS),
    ("imessenger reply", "message_id"): (["reply", "V", "an answer"], IDS),
    ("imessenger send", "target"): (["send", "V", "hello", "--no-reply"], SESSIONS),
    ("isesh", "socket_name"): (["-L", "V", "list"], PLAIN),
    ("isesh attach", "name"): (["attach", "V"], SESSIONS),
    ("isesh explain", "name"): (["explain", "V"], SESSIONS),
    ("isesh forget", "name"): (["forget", "V"], SESSIONS),
    ("isesh list", "only"): (["list", "--host", "V"], PLAIN),
    ("isesh logs", "name"): (["logs", "V"], SESSIONS),
    ("isesh restore", "names"): (["restore", "V"], SESSIONS),
    ("isesh start", "name"): (["start", "V", "--agent", "demo"], SESSIONS),
    ("isesh start", "agent"): (["start", "w9", "--agent", "V"], PLAIN),
    ("isesh start", "agent on a host"): (["start", f"{HOST}:w9", "--agent", "V"], PLAIN),
    ("isesh stop", "name"): (["stop", "V"], SESSIONS),
    ("isesh start", "branch"): (["start", "w9", "--worktree", "--branch", "V"], PLAIN),
}

#: The parameters that take no name, and why.
UNNAMED: dict[tuple[str, str], str] = {
    ("imessenger", "version"): "a flag",
    ("imessenger approve", "choice"): "1 or 2",
    ("imessenger config show", "key"): "a setting's key",
    ("imessenger hook codex-notify", "chained"): "Codex's own notify program",
    ("imessenger hook codex-notify", "payload"): "Codex's JSON",
    ("imessenger hook event", "kind"): "an event kind, one of a fixed list",
    ("imessenger log", "limit"): "a number",
    ("imessenger remote", "protocol"): "a number",
    ("imessenger remote", "caller_version"): "a version",
    ("imessenger remote", "tool"): "imessenger or isesh",
    ("imessenger remote", "args"): "the relayed command's, which checks its own names",
    ("imessenger reply", "text"): "the reply",
    ("imessenger send", "message"): "the message",
    ("imessenger send", "file"): "a file",
    ("imessenger send", "timeout_ms"): "a number",
    ("imessenger watch", "log_file"): "a file",
    ("isesh", "version"): "a flag",
    ("isesh logs", "lines"): "a number",
    ("isesh start", "directory"): "a folder",
    ("isesh start", "command"): "the agent's command line",
}


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command of both command lines (groups too), by its path."""

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                yield from walk(sub, f"{path} {name}")

    yield from walk(imessenger_cli, "imessenger")
    yield from walk(isesh_cli, "isesh")


def test_every_parameter_of_every_command_is_classified() -> None:
    found = {
        (path, param.name)
        for path, command in commands()
        for param in command.params
        if param.name is not None
        and not (isinstance(param, click.Option) and param.is_flag and param.name != "version")
    }
    named = {key for key in NAMED if key[1] != "agent on a host"}
    assert found == named | set(UNNAMED)


def snapshot(tmux: Tmux) -> tuple[Any, ...]:
    """What a command could have done: the store's rows, the tmux sessions, w1's screen."""
    with sqlite3.connect(data_dir() / DB_FILENAME) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {table: sorted(map(repr, db.execute(f"SELECT * FROM {table}"))) for table in tables}
    db.close()
    return rows, sorted(tmux.session_names()), AgentPane.of(tmux, "w1").look()


@pytest.fixture
def w1_with_a_pending_message(tmux: Tmux, sessions: Sessions) -> str:
    """Session w1 (the demo agent), a message pending for it that `deliver` would deliver
    now, and a host in the config; the message's id."""
    write_config(f'[hosts.{HOST}]\ndestination = "{HOST}.invalid"\n')
    start_demo("w1")
    pane = AgentPane.of(tmux, "w1")
    pane.type("half typed")
    wait_for(lambda: "half typed" in pane.look(), what="the typed text")
    sent = run_imessenger("send", "w1", "wait for me", "--no-reply")
    assert sent.exit_code == 3, sent.output  # pending: w1 has half-typed input
    pane.press(["BSpace"] * len("half typed"))
    wait_for(lambda: "half typed" not in pane.look(), what="the typed text erased")
    [pending] = sessions.store.messages.latest()
    assert pending.state is MessageState.PENDING
    return pending.id


def test_every_command_refuses_an_empty_or_blank_name_and_does_nothing(
    tmux: Tmux, w1_with_a_pending_message: str
) -> None:
    before = snapshot(tmux)
    wrong: list[str] = []
    for (path, param), (argv, values) in NAMED.items():
        run = run_isesh if path.startswith("isesh") else run_imessenger
        for value in values:
            args = [value if arg == "V" else arg for arg in argv]
            result = run(*args)
            said = result.output.strip()
            if result.exit_code != 2 or not re.search(SAYS_WHAT_TO_DO, said):
                wrong.append(f"{path} {param}={value!r}: exit {result.exit_code}: {said!r}")
            elif snapshot(tmux) != before:
                wrong.append(f"{path} {param}={value!r}: did something: {said!r}")
                before = snapshot(tmux)
    assert wrong == [], "\n".join(wrong)


# --- the Api -------------------------------------------------------------------------------

#: The Api's parameters that take a name, by their name.
NAME_PARAMETERS = {"name", "session", "target", "message_id", "only", "agent"}


#: Every Api method with such a parameter: how to call it with the value V there.
API_CALLS: dict[tuple[str, str], tuple[Callable[[Api, str], object], list[str]]] = {
    ("answer", "session"): (lambda api, v: api.answer(v, Choice.YES_ONCE), SESSIONS),
    ("approve", "session"): (lambda api, v: api.approve(v), SESSIONS),
    ("attach", "name"): (lambda api, v: api.attach(v), SESSIONS),
    ("deliver", "target"): (lambda api, v: api.deliver(v), SESSIONS),
    ("deny", "session"): (lambda api, v: api.deny(v), SESSIONS),
    ("list_sessions", "only"): (lambda api, v: api.list_sessions(only=v), PLAIN),
    ("explain", "name"): (lambda api, v: api.explain(v), SESSIONS),
    ("forget", "name"): (lambda api, v: api.forget(v), SESSIONS),
    ("forget_session", "name"): (lambda api, v: api.forget_session(v), SESSIONS),
    ("inbox", "session"): (lambda api, v: api.inbox(v), SESSIONS),
    ("log", "session"): (lambda api, v: api.log(v), SESSIONS),
    ("logs", "name"): (lambda api, v: api.logs(v, 10), SESSIONS),
    ("reply", "message_id"): (lambda api, v: api.reply(v, "an answer"), PLAIN),
    ("send", "target"): (lambda api, v: api.send(v, "hello", wait=False), SESSIONS),
    ("session_id", "name"): (lambda api, v: api.session_id(v), SESSIONS),
    ("start", "name"): (lambda api, v: api.start(v, Path("."), "demo"), SESSIONS),
    ("start", "agent"): (lambda api, v: api.start("w9", Path("."), v), PLAIN),
    ("stop", "name"): (lambda api, v: api.stop(v), SESSIONS),
    ("switch", "name"): (lambda api, v: api.switch("c1", v), SESSIONS),
    ("view", "name"): (lambda api, v: api.view(v), SESSIONS),
}
#: Questions that act on nothing: may the caller see that session's prompt?
API_QUESTIONS = {("sees_prompt", "session")}


def api_parameters() -> set[tuple[str, str]]:
    found = set()
    for name, method in inspect.getmembers(Api, predicate=inspect.isfunction):
        if name.startswith("_"):
            continue
        found |= {
            (name, param) for param in inspect.signature(method).parameters
            if param in NAME_PARAMETERS
        }  # fmt: skip
    return found


def test_every_api_method_that_takes_a_name_is_walked() -> None:
    assert api_parameters() == set(API_CALLS) | API_QUESTIONS


def test_every_api_method_refuses_an_empty_or_blank_name_and_does_nothing(
    tmux: Tmux, w1_with_a_pending_message: str
) -> None:
    before = snapshot(tmux)
    wrong: list[str] = []
    api = Api()
    for (method, param), (call, values) in API_CALLS.items():
        for value in values:
            try:
                call(api, value)
            except ImessengerError as error:
                if error.exit_code != 2 or not re.search(SAYS_WHAT_TO_DO, str(error)):
                    wrong.append(f"{method} {param}={value!r}: exit {error.exit_code}: {error}")
            else:
                wrong.append(f"{method} {param}={value!r}: accepted")
            if snapshot(tmux) != before:
                wrong.append(f"{method} {param}={value!r}: did something")
                before = snapshot(tmux)
    for value in SESSIONS:
        if ":" in value:
            with pytest.raises(ImessengerError) as raised:
                host_of(value, api.hosts)
            assert raised.value.exit_code == 2
    assert wrong == [], "\n".join(wrong)


# --- the MCP tools -------------------------------------------------------------------------

#: Every string input of every tool that names something: the valid arguments besides.
MCP_NAMED: dict[tuple[str, str], tuple[dict[str, Any], list[str]]] = {
    ("send", "target"): ({"message": "hello", "wait": False}, SESSIONS),
    ("inbox", "session"): ({"peek": True}, SESSIONS),
    ("approve", "session"): ({"prompt_id": "0123456789"}, SESSIONS),
    ("approve", "prompt_id"): ({"session": "w1"}, PLAIN),
    ("deny", "session"): ({"prompt_id": "0123456789"}, SESSIONS),
    ("deny", "prompt_id"): ({"session": "w1"}, PLAIN),
    ("reply", "message_id"): ({"text": "an answer"}, PLAIN),
}
#: The string inputs that name nothing.
MCP_UNNAMED = {("send", "message"), ("reply", "text")}


def string_inputs(schema: dict[str, Any]) -> set[str]:
    found = set()
    for name, spec in schema.get("properties", {}).items():
        kinds = [spec, *spec.get("anyOf", [])]
        if any(kind.get("type") == "string" for kind in kinds):
            found.add(name)
    return found


def test_every_mcp_tool_refuses_an_empty_or_blank_name_and_does_nothing(
    tmux: Tmux, w1_with_a_pending_message: str
) -> None:
    async def walk() -> tuple[set[tuple[str, str]], list[str]]:
        before = snapshot(tmux)
        wrong: list[str] = []
        async with Client(build_server(Api()), mode="legacy") as client:
            tools = (await client.list_tools()).tools
            inputs = {(t.name, name) for t in tools for name in string_inputs(t.input_schema)}
            for (tool, param), (others, values) in MCP_NAMED.items():
                for value in values:
                    result = await client.call_tool(tool, {param: value, **others})
                    said = " ".join(getattr(block, "text", "") for block in result.content)
                    if not result.is_error or not re.search(SAYS_WHAT_TO_DO, said):
                        wrong.append(f"{tool} {param}={value!r}: {said!r}")
                    if snapshot(tmux) != before:
                        wrong.append(f"{tool} {param}={value!r}: did something")
                        before = snapshot(tmux)
        return inputs, wrong

    inputs, wrong = anyio.run(walk)
    assert inputs == set(MCP_NAMED) | MCP_UNNAMED
    assert wrong == [], "\n".join(wrong)
