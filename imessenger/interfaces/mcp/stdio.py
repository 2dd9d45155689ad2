"""The stdio wire of ``imessenger mcp``: every line a client sends is answered.

The MCP SDK's stdio transport hands a line it cannot decode to its dispatcher as an
exception, which only logs it: the client that sent it waits for an answer that never
comes. This wire reads the lines itself, passes on what the SDK's own decoder takes and
answers the rest with a JSON-RPC error, then reads the next line. The rules, in the
order a line meets them:

1. A line longer than :data:`MAX_LINE_BYTES` is read no further: the rest of it is
   skipped unread and it is answered INVALID_REQUEST, with its id when the part read
   names one (:func:`id_in_prefix`).
2. A blank line is skipped: it asks nothing, so no one waits for an answer.
3. A line the SDK's decoder takes goes to the server as it is. The server answers what
   it refuses itself: an unknown method (METHOD_NOT_FOUND), params of the wrong shape
   (INVALID_PARAMS), a tool argument of the wrong type (a tool error, which the model
   reads: the MCP specification asks that of input errors, so the model can correct
   its call).
4. Any other line is answered with an error that says what is wrong and what to send
   instead (:func:`refusal`), with the line's id when one can be read (a string or an
   integer, in a line that is no response), else id null, as JSON-RPC 2.0 asks:
   PARSE_ERROR for bytes that are not UTF-8, for a string holding half of a surrogate
   pair (no text: it can be neither stored, nor shown, nor pasted) and for what is not
   JSON; INVALID_REQUEST for JSON that is no JSON-RPC message (a batch, a ``jsonrpc``
   other than "2.0", an id or a method of the wrong type, params that are no object).
5. While it serves, fd 0 reads the null device and fd 1 writes to stderr, as with the
   SDK's transport: no program a tool starts reads the client's lines or writes into
   the answers. Both are put back at the end.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from mcp.types.jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

#: The longest line read, in bytes: the limit the SDK's HTTP transport puts on a body.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: What the rest of a line too long is skipped by.
_CHUNK = 64 * 1024

#: What a request looks like, for the errors that say what to send instead.
_SHAPE = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {...}}'

_SPACE = re.compile(r"[ \t\n\r]*")

ToServer = MemoryObjectSendStream[SessionMessage | Exception]
FromClient = MemoryObjectReceiveStream[SessionMessage | Exception]
ToClient = MemoryObjectSendStream[SessionMessage]
Answers = MemoryObjectReceiveStream[SessionMessage]


@asynccontextmanager
async def stdio_wire() -> AsyncIterator[tuple[FromClient, ToClient]]:
    """The server's read and write streams on this process's stdin and stdout, for as
    long as the context lasts (the server reads until the client closes stdin)."""
    with _claimed(0, _null_device) as wire_in, _claimed(1, _stderr) as wire_out:
        source = os.fdopen(wire_in, "rb", closefd=False)
        sink = os.fdopen(wire_out, "wb", closefd=False)
        to_server, from_client = anyio.create_memory_object_stream[SessionMessage | Exception]()
        to_client, answers = anyio.create_memory_object_stream[SessionMessage]()
        async with anyio.create_task_group() as group:
            group.start_soon(_read, source, to_server, to_client.clone())
            group.start_soon(_write, sink, answers)
            yield from_client, to_client


def _null_device() -> int:
    return os.open(os.devnull, os.O_RDONLY)


def _stderr() -> int:
    return os.dup(2)


@contextmanager
def _claimed(fd: int, diversion: Callable[[], int]) -> Iterator[int]:
    """A private copy of ``fd`` (close-on-exec, above 2), with ``fd`` itself pointing at
    ``diversion()`` meanwhile; ``fd`` is put back at the end."""
    wire = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    stand_in = diversion()
    try:
        os.dup2(stand_in, fd)
    finally:
        os.close(stand_in)
    try:
        yield wire
    finally:
        os.dup2(wire, fd)
        # the wire stays open: a worker thread may still be blocked reading it


async def _read(source: BinaryIO, to_server: ToServer, to_client: ToClient) -> None:
    """Each line of ``source``: to the server when it decodes, else answered here."""
    async with to_server, to_client:
        while True:
            line = await anyio.to_thread.run_sync(
                source.readline, MAX_LINE_BYTES + 1, abandon_on_cancel=True
            )
            if not line:
                return
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                skipped = await _skip_line(source)
                await to_client.send(_answer(too_long(line, len(line) + skipped)))
                continue
            if not line.strip():
                continue
            decoded = decode(line)
            if isinstance(decoded, JSONRPCError):
                await to_client.send(_answer(decoded))
            else:
                await to_server.send(SessionMessage(decoded))


async def _skip_line(source: BinaryIO) -> int:
    """Read to the end of the line (or of the input); the number of bytes read."""
    skipped = 0
    while True:
        chunk = await anyio.to_thread.run_sync(source.readline, _CHUNK, abandon_on_cancel=True)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


async def _write(sink: BinaryIO, answers: Answers) -> None:
    """Each message of the server, and each error of the wire, as one line of ``sink``."""
    async with answers:
        async for item in answers:
            text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            await anyio.to_thread.run_sync(_write_line, sink, text.encode() + b"\n")


def _write_line(sink: BinaryIO, data: bytes) -> None:
    sink.write(data)
    sink.flush()


def _answer(error: JSONRPCError) -> SessionMessage:
    return SessionMessage(error)


# --- what a line is, and what is wrong with it ---------------------------------------------

RequestId = int | str


def decode(line: bytes) -> JSONRPCMessage | JSONRPCError:
    """The message ``line`` holds, as the SDK decodes it, or the error that answers it."""
    try:
        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as error:
        return refusal(line, error)
    if isinstance(message, JSONRPCNotification):
        # the SDK takes a request whose id is of the wrong type (or null) for a
        # notification, which no one answers: its sender would wait on
        value = _loads(line.decode("utf-8"))
        if isinstance(value, dict) and "id" in value:
            return _error(None, INVALID_REQUEST, _what_is_wrong(value, None))
    return message


def refusal(line: bytes, error: ValidationError) -> JSONRPCError:
    """The error that answers ``line``, which the SDK could not decode (``error``)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as bad:
        loose = _loads(line.decode("utf-8", errors="replace"))
        return _error(
            _id_of(loose, mended=True),
            PARSE_ERROR,
            f"the line is not UTF-8 (byte 0x{line[bad.start]:02x} at offset {bad.start}): "
            "send JSON text in UTF-8",
        )
    value = _loads(text)
    if value is _NOT_JSON:
        first = error.errors()[0]["msg"] if error.errors() else "not JSON"
        return _error(
            None, PARSE_ERROR, f"the line is not JSON ({first}): send one JSON-RPC message a line"
        )
    half = _half_surrogate(value)
    if half is not None:
        return _error(
            _id_of(value),
            PARSE_ERROR,
            f"a string holds \\u{ord(half):04x}, half of a surrogate pair, which is no text: "
            "send whole characters (both halves of a pair, or the character in UTF-8)",
        )
    return _error(_id_of(value), INVALID_REQUEST, _what_is_wrong(value, error))


def too_long(prefix: bytes, size: int) -> JSONRPCError:
    """The error that answers a line of ``size`` bytes, over the limit (``prefix`` read)."""
    return _error(
        id_in_prefix(prefix.decode("utf-8", errors="replace")),
        INVALID_REQUEST,
        f"the line is {size} bytes, over the limit of {MAX_LINE_BYTES} bytes: send less "
        "(a long text as a file, and its path in the message)",
    )


def id_in_prefix(text: str) -> RequestId | None:
    """The id of the JSON object ``text`` begins, when its members up to the id are whole
    in it (the object itself may be cut short), and it is no response; else None.

    >>> id_in_prefix('{"jsonrpc": "2.0", "method": "x", "id": 7, "params": {"text": "ab')
    7
    >>> id_in_prefix('{"jsonrpc": "2.0", "params": {"text": "ab') is None
    True
    >>> id_in_prefix('{"jsonrpc": "2.0", "id": 12') is None  # maybe 123, cut short
    True
    """
    decoder = json.JSONDecoder()
    at = _skip_space(text, 0)
    if not text.startswith("{", at):
        return None
    at = _skip_space(text, at + 1)
    seen: set[str] = set()
    while True:
        try:
            key, at = decoder.raw_decode(text, at)
            at = _skip_space(text, at)
            if not (isinstance(key, str) and text.startswith(":", at)):
                return None
            value, at = decoder.raw_decode(text, _skip_space(text, at + 1))
        except (ValueError, RecursionError):
            return None
        at = _skip_space(text, at)
        whole = text.startswith((",", "}"), at)
        seen.add(key)
        if key == "id":
            response = bool(seen & {"result", "error"})
            return _id_of({"id": value}, mended=True) if whole and not response else None
        if not text.startswith(",", at):
            return None
        at = _skip_space(text, at + 1)


def _skip_space(text: str, at: int) -> int:
    found = _SPACE.match(text, at)
    return found.end() if found is not None else at


_NOT_JSON = object()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _id_of(value: Any, *, mended: bool = False) -> RequestId | None:
    """The id of a message that is no response, when it is a string or an integer (and,
    in a line whose bad bytes were ``mended`` to U+FFFD, none was mended)."""
    if not isinstance(value, dict) or "result" in value or "error" in value:
        return None
    found = value.get("id")
    if isinstance(found, bool) or not isinstance(found, int | str):
        return None
    if isinstance(found, str) and (
        _half_surrogate(found) is not None or (mended and "\ufffd" in found)
    ):
        return None
    return found


def _half_surrogate(value: Any) -> str | None:
    """The first half of a surrogate pair found alone in a string of ``value``, if any."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as bad:
                return item[bad.start]
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _what_is_wrong(value: Any, error: ValidationError | None) -> str:
    """Why ``value`` (JSON) is no JSON-RPC message, and what to send instead."""
    if isinstance(value, list):
        return "a batch (a JSON array) is not supported: send one message a line"
    if not isinstance(value, dict):
        return f"the line is not a JSON object: send a request, {_SHAPE}"
    if value.get("jsonrpc") != "2.0":
        return f'"jsonrpc" is {json.dumps(value.get("jsonrpc"))}, not "2.0": send {_SHAPE}'
    if "id" in value and _id_of({"id": value["id"]}) is None:
        return f"the id is {_kind(value['id'])}: make it a string or an integer"
    if "method" in value:
        if not isinstance(value["method"], str):
            return f"the method is {_kind(value['method'])}: make it a string"
        if value.get("params") is not None and not isinstance(value["params"], dict):
            return f"params is {_kind(value['params'])}: make it an object (or leave it out)"
    elif "result" not in value and "error" not in value:
        return f"the message has no method: send {_SHAPE}"
    first = error.errors()[0]["msg"] if error is not None and error.errors() else "no message"
    return f"not a JSON-RPC 2.0 message ({first}): send {_SHAPE}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number that is no integer",
             str: "a string", list: "an array", dict: "an object"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _error(request_id: RequestId | None, code: int, why: str) -> JSONRPCError:
    kind = "Parse error" if code == PARSE_ERROR else "Invalid Request"
    return JSONRPCError(
        jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=f"{kind}: {why}")
    )
