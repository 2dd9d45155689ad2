"""``imessenger mcp``: the MCP SDK's own client against the server, on real tmux.

Most tests connect in-process (``mcp.Client`` on the server object: the 2026 protocol
through the SDK's direct dispatcher, or, with ``mode="legacy"``, the handshake the
agents use, as JSON-RPC over memory streams); the stdio tests start ``python -m
imessenger mcp`` as its own process, as an agent does. The caller is this test process:
the user, or the agent session that ``IMESSENGER_SESSION`` names (a process in no pane
is taken for the session it claims, see imessenger.adapters.caller).
"""

from __future__ import annotations

import contextlib
import doctest
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult, TextContent
from support import (
    answer_by_hand,
    ask,
    ids_on_any_server,
    prompt_id,
    run_imessenger,
    run_isesh,
    start_demo,
    stays,
    wait_for,
    write_config,
)

from imessenger.actions.sessions import Sessions
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.app.api import Api
from imessenger.core.screen import State
from imessenger.core.values import MessageRecord, MessageState
from imessenger.interfaces.mcp.server import build_server

pytestmark = pytest.mark.anyio

T = TypeVar("T")

TOOLS = {"sessions", "send", "reply", "inbox", "approve", "deny"}
#: In-process connections: the 2026 protocol (no handshake), and the handshake's.
MODES = ["auto", "legacy"]
PROGRAMS = Path(__file__).resolve().parent / "programs"


@contextlib.asynccontextmanager
async def connect(mode: str = "auto") -> AsyncIterator[Client]:
    """An SDK client connected in-process to a server for this process's caller."""
    async with Client(build_server(Api()), mode=mode) as client:
        yield client


def stdio_server() -> StdioServerParameters:
    """``python -m imessenger mcp`` as its own process, with this test's environment."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "imessenger", "mcp"], env=dict(os.environ)
    )


def text_of(result: CallToolResult) -> str:
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def until(check: Callable[[], T | None], seconds: float = 10.0, what: str = "it") -> T:
    """Poll ``check`` (without blocking the event loop) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        await anyio.sleep(0.02)
    pytest.fail(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


def last_message(store: Store) -> MessageRecord | None:
    found = store.messages.latest(limit=1)
    return found[0] if found else None


def waited_for(store: Store) -> MessageRecord | None:
    """The latest message, once it is delivered and its sender waits for the reply."""
    message = last_message(store)
    taken = (MessageState.DELIVERED, MessageState.QUEUED)
    return message if message is not None and message.waiting and message.state in taken else None


def no_longer_waited_for(store: Store) -> MessageRecord | None:
    message = last_message(store)
    if message is None or message.waiting or message.state is not MessageState.TIMED_OUT:
        return None
    return message


async def late_replies(client: Client, message_id: str) -> list[dict[str, Any]]:
    """The caller's inbox entries about ``message_id``, once there are any (left unread)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        read = structured(await client.call_tool("inbox", {"peek": True}))
        found = [entry for entry in read["entries"] if entry["message_id"] == message_id]
        if found:
            return found
        await anyio.sleep(0.1)
    pytest.fail(f"no reply to message {message_id} reached the inbox")


# --- the tools and their schemas ---------------------------------------------------------


async def test_the_tools_their_inputs_and_outputs(tmux: Tmux) -> None:
    write_config("[send]\ntimeout_ms = 4321\n")
    async with connect() as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == TOOLS
    for tool in listed.values():
        assert tool.description
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
    send = listed["send"].input_schema
    assert send["required"] == ["target", "message"]
    assert (send["properties"]["wait"]["type"], send["properties"]["wait"]["default"]) == (
        "boolean",
        True,
    )
    timeout = send["properties"]["timeout_ms"]
    assert (timeout["type"], timeout["default"], timeout["minimum"]) == ("integer", 4321, 1)
    listing = listed["sessions"].input_schema
    assert (listing["properties"]["usage"]["type"], listing["properties"]["usage"]["default"]) == (
        "boolean",
        False,
    )
    assert listed["reply"].input_schema["required"] == ["message_id", "text"]
    inbox = listed["inbox"].input_schema
    assert "required" not in inbox
    assert inbox["properties"]["peek"]["default"] is False
    approve = listed["approve"].input_schema
    assert approve["required"] == ["session", "prompt_id"]
    assert (
        approve["properties"]["choice"]["enum"],
        approve["properties"]["choice"]["default"],
    ) == (
        [1, 2],
        1,
    )
    assert listed["deny"].input_schema["required"] == ["session", "prompt_id"]
    assert set(listed["send"].output_schema["properties"]) >= {"id", "outcome", "reply"}


# --- sessions --------------------------------------------------------------------------------


async def test_sessions_lists_states_prompts_and_unread_counts(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("coord", "w1", "w2"):
        start_demo(name)
    ask(sessions, "w2", "ASK[touch notes.txt] please")
    sessions.store.inbox.add("w1", "notice", "for w1", "")
    async with connect() as client:
        listed = structured(await client.call_tool("sessions", {}))
        text = text_of(await client.call_tool("sessions", {}))
    assert listed["caller"] == "user"
    rows = {row["name"]: row for row in listed["sessions"]}
    assert rows["w1"] == {
        "name": "w1",
        "agent": "demo",
        "state": "idle",
        "asking": None,
        "prompt_id": None,
        "unread": 1,
        "usage": None,  # not asked for
    }
    assert (rows["w2"]["state"], rows["w2"]["asking"]) == ("asking", "touch notes.txt")
    shown = prompt_id("w2")
    assert rows["w2"]["prompt_id"] == shown  # the id approve and deny take
    assert f"w2 (demo) asking: touch notes.txt (prompt {shown}), 0 unread" in text
    # an agent session sees the states, not the prompts it may not read or answer
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    async with connect() as client:
        seen = structured(await client.call_tool("sessions", {}))
    assert seen["caller"] == "coord"
    rows = {row["name"]: row for row in seen["sessions"]}
    assert (rows["w2"]["state"], rows["w2"]["asking"], rows["w2"]["prompt_id"]) == (
        "asking",
        None,
        None,
    )


async def test_sessions_with_usage(tmux: Tmux) -> None:
    """The tokens each session used, from its agent's record (the demo agent's counts: the
    characters of the message taken and of its answer, see imessenger/demo/agent.py)."""
    write_config("[prices.demo]\ninput = 100000\noutput = 100000\n")
    start_demo("w1")
    assert run_isesh("start", "w2", "--agent", "shell", "--", "cat").exit_code == 0
    sent = run_imessenger("send", "--raw", "--no-reply", "w1", "hello there")
    assert sent.exit_code == 0, sent.output
    answer = "demo got 1 line(s)"

    def counted() -> bool:
        rows = json.loads(run_isesh("list", "--usage", "--json").stdout)
        return any(row["usage"] and row["usage"]["turns"] == 1 for row in rows)

    wait_for(counted, what="the answer counted")
    async with connect() as client:
        listed = structured(await client.call_tool("sessions", {"usage": True}))
        text = text_of(await client.call_tool("sessions", {"usage": True}))
    rows = {row["name"]: row for row in listed["sessions"]}
    assert rows["w1"]["usage"] == {
        "model": "demo",
        "input_tokens": len("hello there"),
        "output_tokens": len(answer),
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "turns": 1,
        "estimated_cost": pytest.approx((11 + 18) * 100000 / 1e6),
    }
    assert rows["w2"]["usage"] is None  # a plain program records none
    assert "w1 (demo) idle, 0 unread, 11 tokens in, 18 out, 0 from the cache (cost 2.90)" in text


# --- send -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_send_waits_and_returns_the_reply(tmux: Tmux, sessions: Sessions, mode: str) -> None:
    start_demo("w1")
    body = "Hello w1.\nThis message is on two lines, with `code` and $(no expansion)."
    async with connect(mode) as client:
        result = await client.call_tool("send", {"target": "w1", "message": body})
    assert text_of(result) == body
    sent = structured(result)
    assert (sent["target"], sent["outcome"], sent["reply"]) == ("w1", "replied", body)
    assert sent["reply_via"] in ("record", "screen")
    record = sessions.store.messages.get(sent["id"])
    assert record is not None
    assert (record.sender, record.state, record.waiting) == ("user", MessageState.REPLIED, False)


async def test_send_without_waiting_returns_the_id_and_outcome(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    async with connect() as client:
        result = await client.call_tool(
            "send", {"target": "w1", "message": "NOREPLY just so you know", "wait": False}
        )
    sent = structured(result)
    assert sent["outcome"] in ("delivered", "queued")
    assert sent["reply"] is None
    assert text_of(result) == f"message {sent['id']} {sent['outcome']}"
    record = sessions.store.messages.get(sent["id"])
    assert record is not None
    assert (record.state.value, record.waiting) == (sent["outcome"], False)


async def test_a_long_wait_reports_progress(tmux: Tmux, sessions: Sessions) -> None:
    start_demo("w1")
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    body = "BUSY[1500] take your time"
    async with connect() as client:
        result = await client.call_tool(
            "send",
            {"target": "w1", "message": body, "timeout_ms": 20000},
            progress_callback=progress,
        )
    assert text_of(result) == body
    assert seen, "no progress notification in 1.5 s of waiting"
    assert all(total == 20.0 for _, total, _ in seen)
    assert all(message and "waiting for w1" in message for _, _, message in seen)
    done = [value for value, _, _ in seen]
    assert done == sorted(done)
    assert done[0] >= 0.9


@pytest.mark.parametrize("mode", MODES)
async def test_a_cancelled_send_stays_recorded_and_its_late_reply_goes_to_the_inbox(
    tmux: Tmux, sessions: Sessions, mode: str
) -> None:
    start_demo("w1")
    body = "BUSY[2000] answer me later"
    async with connect(mode) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.call_tool("send", {"target": "w1", "message": body}))
            await until(lambda: waited_for(sessions.store), what="the message to be waited for")
            group.cancel_scope.cancel()
        # the server learns of the cancellation (over JSON-RPC, a moment later) and stops
        # waiting: the message stays recorded, no longer waited for
        message = await until(
            lambda: no_longer_waited_for(sessions.store), what="the wait to have stopped"
        )
        assert (message.target, message.reply) == ("w1", None)
        # the agent answers later: the reply is collected into the caller's inbox
        replies = await late_replies(client, message.id)
    assert [(e["kind"], e["body"]) for e in replies] == [("reply", body)]
    answered = sessions.store.messages.get(message.id)
    assert answered is not None
    assert (answered.reply, answered.waiting) == (body, False)


# --- reply and inbox -------------------------------------------------------------------------


async def test_reply_answers_a_message_sent_to_the_caller_and_the_inbox_holds_it(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_demo("w1")
    assert run_imessenger("send", "w1", "--no-reply", "NOREPLY answer with the tool").exit_code == 0
    message = last_message(sessions.store)
    assert message is not None
    answer = "Done: 'quotes', `backticks`, $(not run)\nand a second line\n"
    async with connect() as client:  # the user: not the session the message went to
        refused = await client.call_tool("reply", {"message_id": message.id, "text": answer})
    assert refused.is_error
    assert "rule reply-to-own" in text_of(refused)

    monkeypatch.setenv("IMESSENGER_SESSION", "w1")
    async with connect() as client:
        result = await client.call_tool("reply", {"message_id": message.id, "text": answer})
        again = await client.call_tool("reply", {"message_id": message.id, "text": "twice"})
    assert structured(result) == {"message_id": message.id, "to": "user", "to_inbox": True}
    assert text_of(result).startswith(f"reply to user recorded (message {message.id})")
    assert again.is_error
    assert "already has a reply" in text_of(again)
    record = sessions.store.messages.get(message.id)
    assert record is not None
    assert (record.reply, record.reply_via) == (answer, "command")

    monkeypatch.delenv("IMESSENGER_SESSION")
    async with connect() as client:
        peeked = structured(await client.call_tool("inbox", {"peek": True}))
        still = structured(await client.call_tool("inbox", {"peek": True}))
        read = await client.call_tool("inbox", {})
        after = structured(await client.call_tool("inbox", {}))
    assert peeked == still
    assert peeked["owner"] == "user"
    [entry] = peeked["entries"]
    assert (entry["kind"], entry["message_id"], entry["body"], entry["unread"]) == (
        "reply",
        message.id,
        answer,
        True,
    )
    assert [e["id"] for e in structured(read)["entries"]] == [entry["id"]]
    assert f"[reply] {entry['title']}" in text_of(read)
    assert after["entries"] == []


async def test_inbox_of_another_session_shows_its_prompt_and_follows_the_policy(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("coord", "w2"):
        start_demo(name)
    ask(sessions, "w2", "ASK[touch notes.txt] please")
    async with connect() as client:
        looked = structured(await client.call_tool("inbox", {"session": "w2"}))
    assert (looked["owner"], looked["session"], looked["state"]) == ("w2", "w2", "asking")
    assert looked["prompt"]["subject"] == "touch notes.txt"
    assert looked["prompt"]["id"] == prompt_id("w2")
    answers = [option["answer"] for option in looked["prompt"]["options"]]
    assert answers == ["yes-once", "yes-always", "no"]
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    async with connect() as client:
        refused = await client.call_tool("inbox", {"session": "w2"})
    assert refused.is_error
    assert "rule readers" in text_of(refused)


# --- approve and deny ---------------------------------------------------------------------


async def shown_prompt(client: Client, name: str) -> str:
    """The id of the prompt session ``name`` shows, as the sessions tool gives it."""
    listed = structured(await client.call_tool("sessions", {}))["sessions"]
    [row] = [row for row in listed if row["name"] == name]
    assert row["state"] == "asking", row
    assert isinstance(row["prompt_id"], str), row
    return row["prompt_id"]


async def test_an_agent_may_not_approve_by_default(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("coord", "w2"):
        start_demo(name)
    ask(sessions, "w2", "ASK[touch notes.txt] please")
    shown = prompt_id("w2")
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    async with connect() as client:
        approved = await client.call_tool("approve", {"session": "w2", "prompt_id": shown})
        denied = await client.call_tool("deny", {"session": "w2", "prompt_id": shown})
    for refused in (approved, denied):
        assert refused.is_error
        assert refused.structured_content is None
        text = text_of(refused)
        assert text.startswith('refused: session "coord" may not answer the permission prompts')
        assert "rule approvers" in text
        assert "approvers under [policy]" in text
    assert sessions.view("w2").state is State.ASKING  # nothing was pressed
    refusals = sessions.store.refusals.latest("coord")
    assert [(r.action, r.subject, r.rule) for r in refusals] == [("approve", "w2", "approvers")] * 2


async def test_an_approver_approves_and_denies(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[policy]\napprovers = ["coord"]\n')
    for name in ("coord", "w2"):
        start_demo(name)
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    ask(sessions, "w2", "ASK[touch notes.txt] please")
    async with connect() as client:
        shown = await shown_prompt(client, "w2")  # an approver sees the prompt, and its id
        result = await client.call_tool(
            "approve", {"session": "w2", "prompt_id": shown, "choice": 2}
        )
        approved = structured(result)
        assert (approved["session"], approved["prompt_id"]) == ("w2", shown)
        assert (approved["answer"], approved["keys"], approved["closed"]) == (
            "yes-always",
            ["2"],
            True,
        )
        assert approved["about"] == "touch notes.txt"
        assert text_of(result).startswith('approved "w2": touch notes.txt -- yes, and don')
        ask(sessions, "w2", "ASK[rm notes.txt] please")
        second = await shown_prompt(client, "w2")
        assert second != shown
        denied = structured(await client.call_tool("deny", {"session": "w2", "prompt_id": second}))
        assert (denied["answer"], denied["option"], denied["closed"]) == ("no", "No", True)
        own = await client.call_tool("approve", {"session": "coord", "prompt_id": second})
    assert own.is_error  # never one's own prompt (nothing is asking there either)
    assert "rule self" in text_of(own)
    approvals = sessions.store.approvals.latest("w2")
    assert sorted(str(a.choice) for a in approvals) == ["no", "yes-always"]
    assert {a.actor for a in approvals} == {"coord"}


async def test_approve_with_a_stale_prompt_id_presses_nothing(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[policy]\napprovers = ["coord"]\n')
    for name in ("coord", "w2"):
        start_demo(name)
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    ask(sessions, "w2", "ASK[touch one.txt] please")
    async with connect() as client:
        first = await shown_prompt(client, "w2")
        # the agent's view goes stale: the prompt is answered in its pane, and another asks
        answer_by_hand(tmux, sessions, "w2", "3", "● Did not run touch one.txt")
        ask(sessions, "w2", "ASK[rm -rf build] please")
        before = AgentPane.of(tmux, "w2").look()
        approved = await client.call_tool("approve", {"session": "w2", "prompt_id": first})
        denied = await client.call_tool("deny", {"session": "w2", "prompt_id": first})
        for stale in (approved, denied):
            assert stale.is_error
            text = text_of(stale)
            assert f'the prompt {first} of "w2" (touch one.txt) is no longer open' in text
            assert ": rm -rf build); nothing was pressed" in text
        assert AgentPane.of(tmux, "w2").look() == before
        assert sessions.view("w2").state is State.ASKING
        assert ids_on_any_server(sessions.store, "approvals") == []
        current = await shown_prompt(client, "w2")
        done = structured(await client.call_tool("deny", {"session": "w2", "prompt_id": current}))
        assert (done["prompt_id"], done["answer"]) == (current, "no")
        again = await client.call_tool("approve", {"session": "w2", "prompt_id": current})
    assert again.is_error
    assert f'the prompt {current} of "w2" (rm -rf build) was already answered by coord' in (
        text_of(again)
    )
    wait_for(
        lambda: "● Did not run rm -rf build" in AgentPane.of(tmux, "w2").look(),
        what="the prompt denied",
    )


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("send", {"target": "w1", "message": "  \n"}, "the message is empty: nothing to send"),
        ("send", {"target": "bad name", "message": "hi"}, "session name 'bad name' contains ' '"),
        ("send", {"target": "w1"}, "message\n  Field required"),
        ("send", {"target": "w1", "message": "hi", "timeout_ms": 0}, "greater than or equal to 1"),
        (
            "approve",
            {"session": "w1", "prompt_id": "0123456789", "choice": 3},
            "choice\n  Input should be 1 or 2",
        ),
        (
            "approve",
            {"session": "#(touch x)", "prompt_id": "0123456789"},
            "session name '#(touch x)' contains '#'",
        ),
        ("deny", {"session": "", "prompt_id": "0123456789"}, "session name '' must not be empty"),
        ("approve", {"session": "w1"}, "prompt_id\n  Field required"),
        ("deny", {"session": "w1", "prompt_id": "$(touch x)"}, "PROMPT must be the id of a"),
        ("inbox", {"session": "a:b"}, 'no host "a" in the config'),
        ("reply", {"message_id": "deadbeef", "text": "hi"}, 'no message with id "deadbeef"'),
        ("nonesuch", {}, "Unknown tool: nonesuch"),
    ],
    ids=[
        "empty message",
        "bad target",
        "no message",
        "zero timeout",
        "choice 3",
        "hostile session",
        "empty session",
        "no prompt id",
        "hostile prompt id",
        "target syntax",
        "unknown id",
        "unknown tool",
    ],
)
async def test_bad_input_is_a_clear_tool_error(
    tmux: Tmux, tool: str, arguments: dict[str, Any], says: str
) -> None:
    async with connect() as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert says in text_of(result)


# --- over stdio, as an agent runs it --------------------------------------------------------


async def test_over_stdio_send_waits_and_a_cancel_stops_the_wait(
    tmux: Tmux, sessions: Sessions
) -> None:
    start_demo("w1")
    async with Client(stdio_server(), mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("send", {"target": "w1", "message": "over stdio"})
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: client.call_tool("send", {"target": "w1", "message": "BUSY[3000] later"})
            )
            await until(lambda: waited_for(sessions.store), what="the message to be waited for")
            group.cancel_scope.cancel()
        stopped = await until(
            lambda: no_longer_waited_for(sessions.store), what="the server to stop waiting"
        )
    assert names == TOOLS
    assert (text_of(result), structured(result)["outcome"]) == ("over stdio", "replied")
    assert stopped.body == "BUSY[3000] later"


class RawClient:
    """``python -m imessenger mcp`` as its own process, spoken to line by line: what an
    agent's client may send, decodable or not, and every line the server writes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imessenger", "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def request(self, request_id: int | str, method: str, params: dict[str, Any]) -> None:
        line = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        self.send(json.dumps(line).encode())

    def answers(self, count: int, seconds: float = 15.0) -> list[dict[str, Any]]:
        """The next ``count`` lines the server writes, as JSON; fails after ``seconds``."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while len(found) < count:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"timed out after {seconds}s: {count} answer(s) expected, got {found}")
            found.append(json.loads(line))
        return found

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=15)
        self.reader.join(timeout=15)


@contextlib.contextmanager
def raw_client() -> Iterator[RawClient]:
    """A raw client past the handshake the agents use."""
    client = RawClient()
    try:
        client.request(0, "initialize", {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        })  # fmt: skip
        [opened] = client.answers(1)
        assert "result" in opened, opened
        client.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        yield client
    finally:
        client.close()


def tool_call(request_id: object, name: object, arguments: object) -> bytes:
    call = {"name": name, "arguments": arguments}
    line = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": call}
    return json.dumps(line).encode()


#: Over the wire's limit of a line (imessenger.interfaces.mcp.stdio.MAX_LINE_BYTES, 4 MiB).
HUGE = "x" * (4 * 1024 * 1024 + 10)

#: What a client may send that cannot be served: the line, the id the error must carry
#: (None: null), and the error's code (a JSON-RPC error), or "tool error" (a tool's result
#: marked isError, which is how MCP answers a tool's argument of the wrong type).
BAD_LINES: list[tuple[str, bytes, object, object]] = [
    ("not JSON", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"', None, -32700),
    ("not JSON at all", b"hello", None, -32700),
    ("JSON but no request", b'{"hello": "world"}', None, -32600),
    ("no method", b'{"jsonrpc": "2.0", "id": "a2", "params": {}}', "a2", -32600),
    ("a string", b'"ping"', None, -32600),
    ("a batch", b'[{"jsonrpc": "2.0", "id": 3, "method": "ping"}]', None, -32600),
    ("jsonrpc 1.0", b'{"jsonrpc": "1.0", "id": 4, "method": "ping"}', 4, -32600),
    ("method a number", b'{"jsonrpc": "2.0", "id": 5, "method": 5}', 5, -32600),
    ("params an array", b'{"jsonrpc": "2.0", "id": 6, "method": "ping", "params": [1]}', 6, -32600),
    ("tool name a number", tool_call(7, 5, {}), 7, -32602),
    ("arguments a string", tool_call(8, "inbox", "w1"), 8, -32602),
    ("timeout_ms a string",
     tool_call(9, "send", {"target": "w1", "message": "m", "timeout_ms": "soon"}), 9,
     "tool error"),
    ("session a number", tool_call(10, "inbox", {"session": 5}), 10, "tool error"),
    ("wait a list", tool_call(11, "send", {"target": "w1", "message": "m", "wait": []}), 11,
     "tool error"),
    ("lone surrogate",
     tool_call(12, "send", {"target": "w1", "message": "x"}).replace(b'"x"', b'"a\\ud800b"'), 12,
     -32700),
    ("lone low surrogate in a key",
     b'{"jsonrpc": "2.0", "id": 13, "method": "ping", "params": {"\\udc00": 1}}', 13, -32700),
    ("invalid UTF-8",
     tool_call(14, "send", {"target": "w1", "message": "x"}).replace(b'"x"', b'"a\xffb"'), 14,
     -32700),
    ("UTF-8 of a surrogate",
     tool_call(15, "send", {"target": "w1", "message": "x"}).replace(b'"x"', b'"\xed\xa0\x80"'), 15,
     -32700),
    ("a huge line", tool_call(16, "send", {"target": "w1", "message": HUGE}), 16, -32600),
    ("a huge line, id at its end",
     b'{"jsonrpc": "2.0", "params": {"a": "' + HUGE.encode() + b'"}, "id": 17, "method": "ping"}',
     None, -32600),
    ("unknown method", b'{"jsonrpc": "2.0", "id": 18, "method": "tools/run"}', 18, -32601),
    ("id an array", b'{"jsonrpc": "2.0", "id": [19], "method": "ping"}', None, -32600),
    ("id an object", b'{"jsonrpc": "2.0", "id": {"n": 20}, "method": "ping"}', None, -32600),
    ("id a fraction", b'{"jsonrpc": "2.0", "id": 21.5, "method": "ping"}', None, -32600),
    ("id a boolean", b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', None, -32600),
    ("id null", b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', None, -32600),
]  # fmt: skip


def test_every_line_gets_an_answer_and_the_server_serves_on(tmux: Tmux) -> None:
    """Whatever a client sends, it is answered (a JSON-RPC error, with the line's id when
    one can be read, else null; a tool error for a tool's argument of the wrong type), and
    the next request is served; nothing was sent."""
    got: dict[str, tuple[object, object]] = {}
    with raw_client() as client:
        for number, (what, line, _, _) in enumerate(BAD_LINES):
            client.send(line)
            client.request(f"next-{number}", "ping", {})
            answers = {json.dumps(answer.get("id")): answer for answer in client.answers(2)}
            assert answers.pop(json.dumps(f"next-{number}")) == {
                "jsonrpc": "2.0", "id": f"next-{number}", "result": {},
            }, what  # fmt: skip
            [answer] = answers.values()
            if "error" in answer:
                error = answer["error"]
                assert error["message"], what
                got[what] = (answer["id"], error["code"])
            else:
                result = answer["result"]
                is_tool_error = result.get("isError") and result["content"][0]["text"]
                got[what] = (answer["id"], "tool error" if is_tool_error else result)
    assert got == {what: (request_id, code) for what, _, request_id, code in BAD_LINES}
    with Store.open(server=tmux.label) as store:
        assert ids_on_any_server(store, "messages") == []


def test_the_id_of_a_line_cut_short_is_read_only_when_whole() -> None:
    import imessenger.interfaces.mcp.stdio

    result = doctest.testmod(imessenger.interfaces.mcp.stdio)
    assert (result.attempted, result.failed) == (3, 0)


def test_a_bad_line_is_answered_with_what_to_send_instead(tmux: Tmux) -> None:
    with raw_client() as client:
        client.send(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"')
        client.send(tool_call(2, "inbox", {"session": "x"}).replace(b'"x"', b'"\\ud800"'))
        client.send(b'[{"jsonrpc": "2.0", "id": 3, "method": "ping"}]')
        client.send(b'{"jsonrpc": "2.0", "id": [4], "method": "ping"}')
        said = [answer["error"]["message"] for answer in client.answers(4)]
    assert said[0].startswith("Parse error: the line is not JSON (")
    assert said[0].endswith("): send one JSON-RPC message a line")
    assert said[1] == (
        "Parse error: a string holds \\ud800, half of a surrogate pair, which is no text: "
        "send whole characters (both halves of a pair, or the character in UTF-8)"
    )
    assert said[2] == (
        "Invalid Request: a batch (a JSON array) is not supported: send one message a line"
    )
    assert said[3] == "Invalid Request: the id is an array: make it a string or an integer"


# --- the connection marker, for "ready means ready" -----------------------------------------


def test_an_agent_that_connects_is_marked_in_its_session(tmux: Tmux, tmp_path: Path) -> None:
    output = tmp_path / "client.json"
    started = run_isesh(
        "start", "a1", "--agent", "shell", "--", sys.executable, str(PROGRAMS / "mcp_client.py"),
        str(output),
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    wait_for(output.exists, seconds=30, what="the agent's MCP client to have called a tool")
    listed = json.loads(output.read_text())
    assert listed["caller"] == "a1"  # found from the process tree: the server runs in a1
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get("a1")
    assert session is not None
    assert session.mcp_connected_at is not None
    assert session.started_at <= session.mcp_connected_at <= time.time()


async def test_the_marker_is_set_by_the_2026_protocol_too_and_only_for_agents(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("coord", "w1"):
        start_demo(name)
    async with connect() as client:  # the user: no session to mark
        await client.list_tools()
    monkeypatch.setenv("IMESSENGER_SESSION", "coord")
    async with connect() as client:
        await client.list_tools()

    def marked(name: str) -> float | None:
        record = sessions.store.sessions.get(name)
        assert record is not None
        return record.mcp_connected_at

    await until(lambda: marked("coord"), what="coord marked connected")
    assert marked("w1") is None


def test_an_agent_is_ready_once_it_has_the_tools_not_at_the_handshake(
    tmux: Tmux, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claude Code on its first start on a machine lists its tools a while after the
    # handshake: its session read ready in between, and its first message had no tools
    start_demo("a1")
    monkeypatch.setenv("IMESSENGER_SESSION", "a1")

    def marked() -> float | None:
        record = sessions.store.sessions.get("a1")
        assert record is not None
        return record.mcp_connected_at

    with raw_client() as client:
        client.request(1, "ping", {})
        client.answers(1)
        stays(lambda: marked() is None, 0.5, "not ready before the tools were listed")
        client.request(2, "tools/list", {})
        [listed] = client.answers(1)
        assert "send" in {tool["name"] for tool in listed["result"]["tools"]}
        wait_for(marked, what="marked once the tools were listed")


# --- what the import costs, and who pays it -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["status"], ["status", "--json"], ["whoami"], ["--help"], ["mcp", "--help"], ["inbox"]],
    ids=" ".join,
)
def test_other_commands_do_not_import_the_mcp_sdk(tmux: Tmux, args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['imessenger', *{args!r}]\n"
        "from imessenger.interfaces.cli.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'mcp', 'mcp_types', 'pydantic', 'anyio', 'starlette'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
