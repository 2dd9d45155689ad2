"""A fake OpenAI Chat Completions API with tool calls, as OpenCode 1.18.33 uses it.

OpenCode talks to a provider of its config (``"npm": "@ai-sdk/openai-compatible"``,
bundled) through ``POST <baseURL>/chat/completions``, streamed as SSE. Each request
holds the whole conversation: ``system``, ``user``, ``assistant`` messages (with
``tool_calls``) and ``tool`` results (``tool_call_id``). The messages after the last
``assistant`` one are the new turn: tool results, and the user's new text.

The shell tool is ``bash`` (``{"command", "description", ...}``); an MCP server's tools
are offered as ``<server>_<tool>`` (``imessenger_send``). Side requests (the session's
title: no tools, the system prompt "You are a title generator") get a short text.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import Any

import fake_chat
from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

_MODEL = "fake-model"
_ids = itertools.count(1)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") == "text"
    )


def _new_turn(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """The new user text and the new tool results: the messages after the last
    ``assistant`` one."""
    last = -1
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            last = index
    texts: list[str] = []
    results: list[tuple[str, str]] = []
    for message in messages[last + 1 :]:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "tool":
            results.append((str(message.get("tool_call_id", "")), _text_of(message.get("content"))))
        elif message.get("role") == "user":
            texts.append(_text_of(message.get("content")))
    return "\n".join(texts), results


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(completion_id: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _arguments(answer: Answer) -> dict[str, Any]:
    if answer.tool:
        return answer.tool_input
    return {"command": answer.command, "description": "Runs the command"}


def _stream(reply: Reply, answers: list[Answer], completion_id: str, *, started: bool) -> None:
    """One answer as a stream of chunks: the text, then at most one tool call."""
    if not started:
        reply.event(None, _chunk(completion_id, {"role": "assistant", "content": ""}, None))
    # a call's own text (its preface) goes before it, in the same response
    text = "\n\n".join(a.text for a in answers if a.text)
    call = next((a for a in answers if a.calls_tool), None)
    if text:
        reply.event(None, _chunk(completion_id, {"content": text}, None))
    if call is not None:
        tool_call = {
            "index": 0,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.tool or "bash", "arguments": json.dumps(_arguments(call))},
        }
        reply.event(None, _chunk(completion_id, {"tool_calls": [tool_call]}, None))
    reply.event(None, _chunk(completion_id, {}, "tool_calls" if call is not None else "stop"))
    reply.event(None, _usage(completion_id))


def handler(script: Script) -> Any:
    """Return the request handler of a fake Chat Completions API that follows ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        if method in ("GET", "HEAD"):
            if path.rstrip("/").endswith("/models"):
                reply.json({"object": "list", "data": [{"id": _MODEL, "object": "model"}]})
            else:
                reply.json({})
            return
        if not path.rstrip("/").endswith("/chat/completions"):
            logger.info("fake Chat Completions API: unexpected %s %s", method, path)
            reply.json({"error": {"message": f"no such endpoint: {path}"}}, status=404)
            return
        script.record(body)
        completion_id = f"chatcmpl-{next(_ids)}"
        messages = body.get("messages")
        if not body.get("tools") or not isinstance(messages, list):
            # a side request: the session's title
            _stream(reply, [Answer(script.side_text())], completion_id, started=False)
            return
        text, results = _new_turn(messages)
        failure = script.failure(text) if text else None
        if failure is not None:
            fake_chat.fail(reply, *failure)
            return
        started = False

        def holding() -> None:
            nonlocal started
            reply.event(None, _chunk(completion_id, {"role": "assistant", "content": ""}, None))
            started = True

        answers = script.respond(text, results, holding)
        _stream(reply, answers, completion_id, started=started)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
