"""``imessenger mcp``: imessenger's actions as MCP tools, for the agents, on the official SDK.

An interface like the command lines: it takes a tool call, calls the Api and returns
what the Api returned; it decides nothing itself. The rules, in the order a call meets
them:

1. The caller is the session the server runs in. An agent starts its MCP servers as
   its own children, so :class:`~imessenger.app.Api` finds that session from the
   process tree, as every command does, once, when the server starts; every call
   acts as it, under the policy (an agent may not approve unless ``[policy]
   approvers`` lists it, and so on).
2. Arguments are checked against each tool's input schema before anything runs (a
   ``choice`` of 3 is refused there, and approve and deny need the ``prompt_id`` of
   the prompt they answer: the sessions and inbox tools show it); names and messages
   are checked by the Api, with the command line's messages.
3. Each call runs on a worker thread with a store of its own
   (:meth:`Api.on_this_thread <imessenger.app.services.Services.on_this_thread>`), so
   that a ``send`` waiting for its reply holds up no other call.
4. A result carries structured content (the models below, which are the tools'
   output schemas) and a text for the model to read: what the command line would
   print. An :class:`~imessenger.core.errors.ImessengerError` becomes a tool error
   (``isError``) carrying the command line's message; a refusal names the rule.
5. ``send`` with ``wait`` reports progress about every second while it waits (when
   the client gave a progress token). A cancelled call ends the wait as Ctrl-C ends
   ``imessenger send``: the message stays recorded, marked as no longer waited for,
   and a later reply goes to the caller's inbox. A delivery under way is finished
   first: a message is never left half pasted.
6. Once the client has the tools (its first ``tools/list`` was answered), a session
   isesh started is marked as connected (``mcp_connected_at`` in the store, see
   :meth:`Api.mcp_connected <imessenger.app.agent_events.HookActions.mcp_connected>`):
   its agent reads ready from then on, and its first message finds the tools. The
   mark is written :data:`MARK_AFTER_S` after the answer, which has left by then.
   (Marked at the handshake's ``notifications/initialized``, as it was, an agent that
   lists its tools later, Claude Code on its first start on a machine among them, was
   given its first message before it had them.)

Importing this module loads the MCP SDK (a second or two); only ``imessenger mcp``
does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from imessenger import __version__
from imessenger.app.api import Api
from imessenger.app.values import PromptView
from imessenger.core.answers import describe
from imessenger.core.errors import ImessengerError
from imessenger.core.names import PERSON
from imessenger.core.usage import Price, estimate_cost, short_cost, short_count
from imessenger.core.values import MessageState
from imessenger.interfaces.mcp.stdio import stdio_wire

if TYPE_CHECKING:
    from imessenger.core.values import Approval, SendResult, Usage

logger = logging.getLogger(__name__)

#: How often a waiting ``send`` reports its progress, in seconds.
PROGRESS_EVERY_S = 1.0
#: How long after answering the first ``tools/list`` the session is marked connected.
MARK_AFTER_S = 0.05

T = TypeVar("T")


# --- what the tools return (their output schemas) ------------------------------------------


class UsageInfo(BaseModel):
    """The tokens a session's model used so far, from its agent's own record."""

    model: str = Field(description="the model of its last response")
    input_tokens: int = Field(description="input the model read fresh (not from the cache)")
    output_tokens: int
    cache_read_tokens: int = Field(description="input read from the provider's prompt cache")
    cache_write_tokens: int = Field(description="input written to the prompt cache")
    turns: int = Field(description="the model's responses counted")
    estimated_cost: float | None = Field(
        description="an estimate, by the prices of the config; null when a model it used "
        "has no price there"
    )


class SessionInfo(BaseModel):
    """One session, as ``sessions`` lists it."""

    name: str
    agent: str = Field(description="the agent profile it runs (claude, codex, demo...)")
    state: str = Field(description="starting, idle, busy, asking, exited or unknown")
    asking: str | None = Field(
        description="what its permission prompt asks about (a command, a file), when it is "
        "asking and the policy lets you see its prompts; else null"
    )
    prompt_id: str | None = Field(
        description="the id of that prompt, which approve and deny take; else null"
    )
    unread: int = Field(description="unread entries in its inbox")
    usage: UsageInfo | None = Field(
        default=None,
        description="with usage: true, the tokens it used; else, or when its agent records "
        "none, null",
    )


class SessionList(BaseModel):
    """The result of ``sessions``."""

    caller: str = Field(description='who you are: the session this server runs in, or "user"')
    sessions: list[SessionInfo]


class Sent(BaseModel):
    """The result of ``send``."""

    id: str = Field(description="the message id")
    target: str
    outcome: str = Field(
        description="replied (reply holds the answer); delivered or queued (taken, not waited "
        "for); pending (not pasted yet: the target is asking, has half-typed input or is "
        "in copy mode; delivered once it is ready); timed_out (no reply in time: a later "
        "reply goes to your inbox); ended (its session ended before replying); "
        "unconfirmed or not_recorded (pasted, not confirmed or not recorded: never "
        "pasted again)"
    )
    reply: str | None = Field(description="the reply, exactly as the target gave it")
    reply_via: str | None = Field(
        description="where the reply was read: record (the agent's own record), screen, or "
        "command (imessenger reply)"
    )
    why: str | None = Field(description="why it is pending, ended or unconfirmed")


class ReplyRecorded(BaseModel):
    """The result of ``reply``."""

    message_id: str
    to: str = Field(description="the sender of the message, who gets the reply")
    to_inbox: bool = Field(
        description="true when the sender no longer waited: the reply went to its inbox"
    )


class OptionInfo(BaseModel):
    """One option of a permission prompt."""

    key: str = Field(description="its number or letter on the screen")
    label: str
    answer: str | None = Field(
        description="the answer that picks it: yes-once (approve, choice 1), yes-always "
        "(approve, choice 2), no (deny); null when neither picks it"
    )


class PromptInfo(BaseModel):
    """The permission prompt a session waits on."""

    id: str | None = Field(description="its id, which approve and deny take")
    question: str
    subject: str = Field(description="what it asks about: the command, the file")
    options: list[OptionInfo]


class EntryInfo(BaseModel):
    """One inbox entry."""

    id: int
    kind: str = Field(description="reply, pending, notice or prompt")
    title: str
    body: str
    message_id: str | None = Field(description="the message it is about")
    created_at: float = Field(description="unix time")
    unread: bool


class InboxResult(BaseModel):
    """The result of ``inbox``."""

    owner: str = Field(description="whose entries these are")
    entries: list[EntryInfo]
    session: str | None = Field(description="the session asked about, if any")
    state: str | None = Field(description="that session's state, when it runs")
    prompt: PromptInfo | None = Field(description="the permission prompt it waits on")
    warnings: list[str]


class WaitingMessage(BaseModel):
    """What became of one message that waited for a prompt to close."""

    id: str
    state: str = Field(description="delivered, queued, unconfirmed, or pending (still waits)")
    why: str = Field(description="why it still waits, or what is unsure")


class Answered(BaseModel):
    """The result of ``approve`` and ``deny``."""

    session: str
    prompt_id: str = Field(description="the id of the prompt answered")
    answer: str = Field(description="yes-once, yes-always or no")
    about: str = Field(description="what the prompt asked about")
    option: str = Field(description="the label of the option chosen")
    keys: list[str] = Field(description="the keys pressed")
    closed: bool = Field(description="the prompt closed after the keys")
    delivered: list[WaitingMessage] = Field(
        description="the messages that waited for the prompt to close, and what became of each"
    )
    delivery_error: str | None = Field(description="why those messages could not be delivered")


# --- the inputs ----------------------------------------------------------------------------

Target = Annotated[str, Field(description="the session to send to")]
MessageText = Annotated[str, Field(description="the message: plain, multi-line or code")]
Wait = Annotated[bool, Field(description="wait for the reply (false: return once taken)")]
TimeoutMs = Annotated[
    int,
    Field(ge=1, description="how long to wait for the reply, in ms (default: send.timeout_ms)"),
]
MessageId = Annotated[str, Field(description="the id of the message to answer (its envelope's)")]
ReplyText = Annotated[str, Field(description="the answer, exactly as the sender should get it")]
OwnerName = Annotated[
    str | None,
    Field(description="a session whose inbox and prompt to look at (default: your own inbox)"),
]
Peek = Annotated[bool, Field(description="leave the entries unread")]
WithUsage = Annotated[
    bool,
    Field(
        description="also the tokens each session used and their estimated cost, read from "
        "each agent's own record (slower)"
    ),
]
SessionName = Annotated[str, Field(description="the session whose permission prompt to answer")]
PromptId = Annotated[
    str,
    Field(
        description="the id of the prompt you answer, as the sessions or inbox tool showed it "
        "(prompt_id): nothing is pressed when the session shows another prompt by then"
    ),
]
ChoiceNumber = Annotated[
    Literal[1, 2], Field(description="1: yes, this once; 2: yes, and don't ask again")
]


# --- the server ----------------------------------------------------------------------------


def build_server(api: Api) -> MCPServer:
    """The MCP server named "imessenger", acting for ``api``'s caller.

    The caller, the configuration and the store are found here, once (see the module
    docstring). Raises what finding them raises (an ImessengerError).
    """
    me = api.whoami()
    default_timeout_ms = api.settings.send.timeout_ms
    tools = _Tools(api)
    server: MCPServer = MCPServer(
        "imessenger",
        title="imessenger",
        version=__version__,
        instructions=(
            f'You are "{me}". These tools reach the other agent sessions running in tmux: '
            "list them, send a message and get the reply, answer the messages sent to you "
            "(reply, with the id their envelope names), read your inbox, and answer "
            "permission prompts where the policy lets you (each by the id the sessions tool "
            "shows, so that an answer goes to the prompt you saw and no later one)."
        ),
        log_level="WARNING",
        middleware=[_ConnectionMarker(api)],
    )

    async def sessions(usage: WithUsage = False) -> Annotated[CallToolResult, SessionList]:
        """List every session: its agent, its state, what its permission prompt asks about,
        and its unread inbox count; with usage, the tokens each one used."""
        return await tools.run(lambda worker: _sessions(worker, usage))

    async def send(
        ctx: Context,
        target: Target,
        message: MessageText,
        wait: Wait = True,
        timeout_ms: TimeoutMs = default_timeout_ms,
    ) -> Annotated[CallToolResult, Sent]:
        """Send a message to another session and return its reply (with wait: false, once
        the session took it). A session at a permission prompt or with half-typed input is
        never pasted into: the message stays pending and is delivered when it is ready.
        Without a reply in time, a later reply goes to your inbox."""
        return await tools.send(ctx, target, message, wait, timeout_ms)

    async def reply(
        message_id: MessageId, text: ReplyText
    ) -> Annotated[CallToolResult, ReplyRecorded]:
        """Answer a message sent to you (its envelope names the id): the exact channel,
        byte for byte. Only the session a message was sent to may answer it."""
        return await tools.run(lambda worker: _reply(worker, message_id, text))

    async def inbox(
        session: OwnerName = None, peek: Peek = False
    ) -> Annotated[CallToolResult, InboxResult]:
        """Read your inbox: replies that came after you stopped waiting, messages still
        pending, notices. Reading marks them read unless peek. With session: that
        session's entries and the permission prompt it waits on (the policy decides who
        may look)."""
        return await tools.run(lambda worker: _inbox(worker, session, peek))

    async def approve(
        session: SessionName, prompt_id: PromptId, choice: ChoiceNumber = 1
    ) -> Annotated[CallToolResult, Answered]:
        """Say yes to the permission prompt a session waits on, the one of prompt_id (the
        sessions and inbox tools show it): choice 1 this once, 2 and don't ask again.
        Nothing is pressed when the session shows another prompt, or it was answered
        already. Allowed where the policy makes you an approver, never for your own
        prompt."""
        return await tools.run(
            lambda worker: _answered(worker.approve(session, str(choice), prompt_id))
        )

    async def deny(
        session: SessionName, prompt_id: PromptId
    ) -> Annotated[CallToolResult, Answered]:
        """Say no to the permission prompt a session waits on, the one of prompt_id (the
        sessions and inbox tools show it). Nothing is pressed when the session shows
        another prompt, or it was answered already. Allowed where the policy makes you an
        approver, never for your own prompt."""
        return await tools.run(lambda worker: _answered(worker.deny(session, prompt_id)))

    looks = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    acts = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    server.add_tool(sessions, title="List the sessions", annotations=looks)
    server.add_tool(send, title="Send a message", annotations=acts)
    server.add_tool(reply, title="Reply to a message", annotations=acts)
    server.add_tool(inbox, title="Read an inbox", annotations=acts)
    # answering another agent's prompt lets it run what it asked for: an agent asks its
    # user before it calls these (Codex CLI asks for destructive tools only), unless the
    # policy made the session an approver and isesh pre-allowed them
    answers = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
    server.add_tool(approve, title="Approve a permission prompt", annotations=answers)
    server.add_tool(deny, title="Deny a permission prompt", annotations=answers)
    return server


def serve(api: Api) -> None:
    """Serve the tools over stdio until the client closes the connection, every line the
    client sends answered (see :mod:`imessenger.interfaces.mcp.stdio`)."""
    anyio.run(_serve_stdio, build_server(api))


async def _serve_stdio(server: MCPServer) -> None:
    # the SDK's own stdio transport drops the lines it cannot decode: the server runs on
    # ours, as the SDK's in-memory client runs it, on its low-level server
    lowlevel = server._lowlevel_server
    async with stdio_wire() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _Tools:
    """How a tool call runs: on a worker thread, with the Api's errors as tool errors."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def run(self, work: Callable[[Api], tuple[BaseModel, str]]) -> CallToolResult:
        """Run ``work`` on a worker thread with an Api of that thread; its (result, text) or
        its ImessengerError as the tool's result."""
        try:
            result, text = await anyio.to_thread.run_sync(self._on_thread, work)
        except ImessengerError as error:
            return CallToolResult(
                content=[TextContent(type="text", text=str(error))], is_error=True
            )
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=result.model_dump(mode="json"),
        )

    def _on_thread(self, work: Callable[[Api], T]) -> T:
        with self.api.on_this_thread() as worker:
            return work(worker)

    async def send(
        self, ctx: Context, target: str, message: str, wait: bool, timeout_ms: int
    ) -> CallToolResult:
        """``send``, reporting progress while it runs; a cancellation stops its wait."""
        stop = threading.Event()

        def sending(worker: Api) -> tuple[Sent, str]:
            # HOST:SESSION too: sent, and waited for, by that host
            return _sent(worker.send(target, message, wait=wait, timeout_ms=timeout_ms, stop=stop))

        async with anyio.create_task_group() as group:
            group.start_soon(_report_progress, ctx, stop, target, timeout_ms if wait else None)
            try:
                outcome = await self.run(sending)
            finally:
                group.cancel_scope.cancel()
        return outcome


async def _report_progress(
    ctx: Context, stop: threading.Event, target: str, timeout_ms: int | None
) -> None:
    """Report progress about every second until cancelled, then tell the send to stop
    waiting: cancelled with the call, it ends the wait; after the send, it changes nothing."""
    started = time.monotonic()
    total = timeout_ms / 1000 if timeout_ms is not None else None
    try:
        while True:
            await anyio.sleep(PROGRESS_EVERY_S)
            elapsed = round(time.monotonic() - started, 1)
            try:
                await ctx.report_progress(elapsed, total, f"waiting for {target} ({elapsed:g} s)")
            except Exception as error:  # a client that cannot take it: the send goes on
                logger.warning("could not report progress: %s", error)
                await anyio.sleep_forever()
    finally:
        stop.set()


class _ConnectionMarker:
    """Middleware: records, once, that the client has the tools (see the module
    docstring)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.done = False
        self._timer: threading.Timer | None = None

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method == "tools/list" and not self.done and self._timer is None:
            self._timer = threading.Timer(MARK_AFTER_S, self._mark)
            self._timer.daemon = True
            self._timer.start()
        return result

    def _mark(self) -> None:
        """Mark the caller's session connected; done once there is nothing more to do
        (else the next ``tools/list`` tries again)."""
        try:
            with self.api.on_this_thread() as worker:
                self.done = worker.mcp_connected() or worker.whoami() == PERSON
        except ImessengerError as error:
            logger.warning("could not record that the MCP client has its tools: %s", error)
        self._timer = None


# --- each tool's work, on the worker thread ------------------------------------------------


def _sessions(api: Api, usage: bool = False) -> tuple[SessionList, str]:
    rows = api.overview().rows
    used: dict[str, UsageInfo | None] = {}
    if usage:
        prices = api.settings.prices
        used = {s.name: _usage(s.usage, prices) for s in api.list_sessions(usage=True).sessions}
    listed = SessionList(
        caller=api.whoami(),
        sessions=[
            SessionInfo(
                name=row.name,
                agent=row.agent,
                state=row.state,
                asking=row.asking,
                prompt_id=row.prompt_id if row.asking is not None else None,
                unread=row.unread,
                usage=used.get(row.name),
            )
            for row in rows
        ],
    )
    lines = [f'you are "{listed.caller}"']
    for info in listed.sessions:
        asks = f": {info.asking}" if info.asking else ""
        asks += f" (prompt {info.prompt_id})" if info.prompt_id else ""
        tokens = ""
        if info.usage is not None:
            spent = info.usage
            tokens = (
                f", {short_count(spent.input_tokens + spent.cache_write_tokens)} tokens in, "
                f"{short_count(spent.output_tokens)} out, {short_count(spent.cache_read_tokens)} "
                f"from the cache (cost {short_cost(spent.estimated_cost)})"
            )
        lines.append(f"{info.name} ({info.agent}) {info.state}{asks}, {info.unread} unread{tokens}")
    if not listed.sessions:
        lines.append("no sessions")
    return listed, "\n".join(lines)


def _usage(usage: Usage | None, prices: Mapping[str, Price]) -> UsageInfo | None:
    if usage is None:
        return None
    return UsageInfo(
        model=usage.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        turns=usage.turns,
        estimated_cost=estimate_cost(usage, prices),
    )


def _sent(result: SendResult) -> tuple[Sent, str]:
    record = result.message
    sent = Sent(
        id=record.id,
        target=record.target,
        outcome=result.outcome.value,
        reply=result.reply,
        reply_via=record.reply_via if result.reply is not None else None,
        why=result.why or None,
    )
    if result.outcome is MessageState.REPLIED:
        text = result.reply or ""
    elif result.outcome is MessageState.PENDING:
        text = (
            f"message {record.id} is pending: {result.why}; it will be delivered when the "
            "session is ready"
        )
    elif result.outcome is MessageState.TIMED_OUT:
        text = (
            f"no reply from {record.target} to message {record.id} within the timeout; a "
            "later reply goes to your inbox (the inbox tool)"
        )
    elif result.why:
        text = f"message {record.id} {result.outcome.value}: {result.why}"
    else:
        text = f"message {record.id} {result.outcome.value}"
    return sent, text


def _reply(api: Api, message_id: str, text: str) -> tuple[ReplyRecorded, str]:
    record = api.reply(message_id, text)
    recorded = ReplyRecorded(message_id=record.id, to=record.sender, to_inbox=not record.waiting)
    where = " (to its inbox: it no longer waited)" if recorded.to_inbox else ""
    return recorded, f"reply to {record.sender} recorded (message {record.id}){where}"


def _inbox(api: Api, session: str | None, peek: bool) -> tuple[InboxResult, str]:
    read = api.inbox(session, peek=peek)
    result = InboxResult(
        owner=read.owner,
        entries=[
            EntryInfo(
                id=entry.id,
                kind=str(entry.kind),
                title=entry.title,
                body=entry.body,
                message_id=entry.message_id,
                created_at=entry.created_at,
                unread=entry.read_at is None,
            )
            for entry in read.entries
        ],
        session=read.session,
        state=str(read.live.state) if read.live is not None else None,
        prompt=_prompt(read.prompt) if read.prompt is not None else None,
        warnings=read.warnings,
    )
    lines = [f"warning: {warning}" for warning in result.warnings]
    if read.prompt is not None:
        shown = f" (prompt {read.prompt.id})" if read.prompt.id else ""
        lines.append(f'"{read.prompt.session}" asks{shown}: {read.prompt.question}')
        lines += [f"    {line}" for line in read.prompt.subject.splitlines()]
        for option in result.prompt.options if result.prompt is not None else []:
            picked = f"  ({option.answer})" if option.answer else ""
            lines.append(f"  {option.key}. {option.label}{picked}")
    elif result.state is not None:
        lines.append(f'"{result.session}" is {result.state}')
    if not result.entries:
        lines.append(f'no unread entries for "{result.owner}"')
    for entry in result.entries:
        lines.append(f"[{entry.kind}] {entry.title}")
        lines += [f"    {line}" for line in entry.body.splitlines()]
    return result, "\n".join(lines)


def _prompt(prompt: PromptView) -> PromptInfo:
    return PromptInfo(
        id=prompt.id,
        question=prompt.question,
        subject=prompt.subject,
        options=[
            OptionInfo(
                key=option.key,
                label=option.label,
                answer=str(option.answer) if option.answer is not None else None,
            )
            for option in prompt.options
        ],
    )


def _answered(approval: Approval) -> tuple[Answered, str]:
    answered = Answered(
        session=approval.session,
        prompt_id=approval.prompt_id,
        answer=str(approval.choice),
        about=approval.prompt.about(),
        option=approval.option.label,
        keys=list(approval.keys),
        closed=approval.closed,
        delivered=[
            WaitingMessage(id=sent.message.id, state=str(sent.outcome), why=sent.why)
            for sent in approval.delivered
        ],
        delivery_error=approval.delivery_error,
    )
    verb = "denied" if answered.answer == "no" else "approved"
    lines = [
        f'{verb} "{answered.session}": {answered.about} -- {describe(approval.choice)} '
        f'(pressed {" ".join(answered.keys)}: "{answered.option}")'
    ]
    for waited in answered.delivered:
        why = f" ({waited.why})" if waited.why else ""
        lines.append(f"waiting message {waited.id}: {waited.state}{why}")
    if answered.delivery_error:
        lines.append(f"waiting messages were not delivered: {answered.delivery_error}")
    return answered, "\n".join(lines)
