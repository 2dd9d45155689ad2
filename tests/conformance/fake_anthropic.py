"""A fake Anthropic Messages API for Claude Code: ``POST /v1/messages`` streamed as SSE.

Claude Code sends a ``HEAD /`` at start and then only streaming
``POST /v1/messages?beta=true`` requests. Those that offer the ``Bash`` tool are
the main loop and follow the test's :class:`~fake_model.Script`; the others (titles,
summaries, checks) are side requests and get a short text.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

_MODEL = "claude-conformance"
_ids = itertools.count(1)

#: The usage every response of the main loop reports (``message_start``, then the output
#: in ``message_delta``): numbers no other response gives, so that a test can tell which
#: responses an agent counted.
USAGE = {
    "input_tokens": 1203,
    "cache_creation_input_tokens": 301,
    "cache_read_input_tokens": 4507,
    "output_tokens": 67,
}
#: The usage of a side request (a title, a summary, a check).
SIDE_USAGE = {"input_tokens": 7, "output_tokens": 3}


def _text_of(content: Any) -> str:
    """The text of a message's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def _tool_results(content: Any) -> list[tuple[str, str]]:
    """The (tool_use_id, output) pairs of the tool_result blocks in a message."""
    found: list[tuple[str, str]] = []
    if not isinstance(content, list):
        return found
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            found.append((str(block.get("tool_use_id", "")), _text_of(block.get("content", ""))))
    return found


def _has_bash(body: dict[str, Any]) -> bool:
    return any(isinstance(t, dict) and t.get("name") == "Bash" for t in body.get("tools") or [])


def _stream(
    reply: Reply, answers: list[Answer], *, started: bool = False, side: bool = False
) -> None:
    """Send one assistant message as the Messages API's event stream: the answers' texts
    as one text block, then the first shell command as a ``tool_use`` block."""
    if not started:
        _start(reply, side=side)
    text = "\n\n".join(a.text for a in answers if a.text)  # a preface too
    call = next((a for a in answers if a.calls_tool), None)
    blocks: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if text or call is None:
        blocks.append(({"type": "text", "text": ""}, {"type": "text_delta", "text": text}))
    if call is not None:
        if call.tool:
            name, arguments = call.tool, json.dumps(call.tool_input)
        else:
            name = "Bash"
            arguments = json.dumps({"command": call.command, "description": "Run a command"})
        blocks.append(
            (
                {"type": "tool_use", "id": call.call_id, "name": name, "input": {}},
                {"type": "input_json_delta", "partial_json": arguments},
            )
        )
    for index, (block, delta) in enumerate(blocks):
        reply.event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
        reply.event(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )
        reply.event("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = "tool_use" if call is not None else "end_turn"
    reply.event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": (SIDE_USAGE if side else USAGE)["output_tokens"]},
        },
    )
    reply.event("message_stop", {"type": "message_stop"})


def _start(reply: Reply, *, side: bool = False) -> None:
    usage = dict(SIDE_USAGE if side else USAGE, output_tokens=1)
    message = {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": _MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    reply.event("message_start", {"type": "message_start", "message": message})


#: The Messages API's error type for each HTTP status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _fail(reply: Reply, status: int, message: str) -> None:
    """Answer with the Messages API's error, and the header that says not to retry."""
    kind = _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    reply.json(body, status=status, headers={"x-should-retry": "false", "retry-after": "0"})


def handler(script: Script) -> Any:
    """Return the request handler of a fake Messages API that follows ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        if method == "HEAD" or method == "GET":
            reply.json({})
            return
        if not path.startswith("/v1/messages") or "count_tokens" in path:
            logger.info("fake Anthropic API: unexpected %s %s", method, path)
            reply.json({"input_tokens": 10} if "count_tokens" in path else {}, status=200)
            return
        script.record(body)
        if not body.get("stream"):
            reply.json(
                {
                    "id": f"msg_{next(_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "model": _MODEL,
                    "content": [{"type": "text", "text": script.side_text()}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": SIDE_USAGE,
                }
            )
            return
        # Claude Code 2.1.332 puts its environment in a trailing "system" message
        users = [m for m in body.get("messages") or [] if m.get("role") != "system"]
        last = users[-1] if users else {}
        if not _has_bash(body) or last.get("role") != "user":
            _stream(reply, [Answer(script.side_text())], side=True)
            return
        started = False

        def holding() -> None:
            nonlocal started
            _start(reply)
            started = True

        content = last.get("content")
        failure = script.failure(_text_of(content))
        if failure is not None:
            _fail(reply, *failure)
            return
        answers = script.respond(_text_of(content), _tool_results(content), holding)
        _stream(reply, answers, started=started)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Messages API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
