"""A fake OpenAI Responses API for Codex CLI: ``POST /v1/responses`` streamed as SSE.

Codex sends the whole conversation as ``input`` items on every request: messages
(``input_text`` parts), its own earlier ``function_call`` items and their
``function_call_output`` results. The items after the model's last output are the new
turn. The shell tool is ``exec_command`` (``{"cmd": ...}``); asking for
``sandbox_permissions: "require_escalated"`` makes Codex ask the user first.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import Any

from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

_MODEL = "fake-model"
_ids = itertools.count(1)
_OUTPUT_TYPES = ("function_call", "custom_tool_call", "local_shell_call", "reasoning")

#: The usage every response of the main loop reports (in ``response.completed``), cached
#: input included in the input as the Responses API counts it: numbers no other response
#: gives, so that a test can tell which responses an agent counted.
USAGE = {
    "input_tokens": 1530,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 83,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 1613,
}
#: The usage of a side request (the thread's title).
SIDE_USAGE = {
    "input_tokens": 7,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 3,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 10,
}


def _text_of(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = [
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
    ]
    return "\n".join(parts)


def _new_turn(items: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """Return the new user text and the new tool results (the items after the model's last
    output)."""
    last_output = -1
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in _OUTPUT_TYPES or (kind == "message" and item.get("role") == "assistant"):
            last_output = index
    texts: list[str] = []
    results: list[tuple[str, str]] = []
    for item in items[last_output + 1 :]:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, dict):
                output = output.get("content", "")
            results.append((str(item.get("call_id", "")), str(output)))
        elif kind == "message" and item.get("role") == "user":
            texts.append(_text_of(item))
    return "\n".join(texts), results


def _response(
    status: str, output: list[dict[str, Any]], response_id: str, *, side: bool = False
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": _MODEL,
        "output": output,
        "usage": SIDE_USAGE if side else USAGE,
    }


def _start(reply: Reply, response_id: str) -> None:
    reply.event(
        "response.created",
        {"type": "response.created", "response": _response("in_progress", [], response_id)},
    )


def _stream(
    reply: Reply, answers: list[Answer], response_id: str, *, started: bool, side: bool = False
) -> None:
    """Send one response as the Responses API's event stream."""
    if not started:
        _start(reply, response_id)
    text = "\n\n".join(a.text for a in answers if a.text)  # a preface too
    call = next((a for a in answers if a.calls_tool), None)
    output: list[dict[str, Any]] = []
    if text or call is None:
        item_id = f"msg_{next(_ids)}"
        index = len(output)
        item = {
            "type": "message",
            "id": item_id,
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        reply.event(
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": index, "item": item},
        )
        reply.event(
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "delta": text,
            },
        )
        done = dict(
            item,
            status="completed",
            content=[{"type": "output_text", "text": text, "annotations": []}],
        )
        reply.event(
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": index, "item": done},
        )
        output.append(done)
    if call is not None:
        arguments: dict[str, Any] = {"cmd": call.command}
        if call.escalate:
            arguments["sandbox_permissions"] = "require_escalated"
            arguments["justification"] = "Run a command"
        item = {
            "type": "function_call",
            "id": f"fc_{next(_ids)}",
            "status": "completed",
            "call_id": call.call_id,
            "name": "exec_command",
            "arguments": json.dumps(arguments),
        }
        if call.tool:
            # an MCP tool: Codex offers the server's tools as one namespace
            # ("mcp__imessenger"), and a call names the namespace and the tool apart
            namespace, _, name = call.tool.rpartition("__")
            item.update(namespace=namespace, name=name, arguments=json.dumps(call.tool_input))
        index = len(output)
        reply.event(
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": index, "item": item},
        )
        reply.event(
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": index, "item": item},
        )
        output.append(item)
    reply.event(
        "response.completed",
        {
            "type": "response.completed",
            "response": _response("completed", output, response_id, side=side),
        },
    )


def handler(script: Script) -> Any:
    """Return the request handler of a fake Responses API that follows ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        if method in ("GET", "HEAD"):
            if path.rstrip("/").endswith("/models"):
                reply.json({"object": "list", "data": [], "models": []})
            else:
                reply.json({})
            return
        if not path.rstrip("/").endswith("/responses"):
            logger.info("fake Responses API: unexpected %s %s", method, path)
            reply.json({"error": {"message": f"no such endpoint: {path}"}}, status=404)
            return
        script.record(body)
        response_id = f"resp_{next(_ids)}"
        items = body.get("input") or []
        if not any(
            isinstance(t, dict) and t.get("name") == "exec_command" for t in body.get("tools") or []
        ):
            # a side request (the thread's title) that may ask for JSON by a schema
            text = script.side_text()
            if (body.get("text") or {}).get("format", {}).get("type") == "json_schema":
                text = json.dumps({"title": text})
            _stream(reply, [Answer(text)], response_id, started=False, side=True)
            return
        text, results = _new_turn(items if isinstance(items, list) else [])
        started = False

        def holding() -> None:
            nonlocal started
            _start(reply, response_id)
            started = True

        failure = script.failure(text) if text else None
        if failure is not None:
            status, message = failure
            error = {"message": message, "type": "invalid_request_error", "code": None}
            reply.json({"error": error}, status=status, headers={"retry-after": "0"})
            return
        answers = script.respond(text, results, holding)
        _stream(reply, answers, response_id, started=started)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Responses API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
