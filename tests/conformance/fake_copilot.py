"""A fake OpenAI Chat Completions API with tool calls, for GitHub Copilot CLI (BYOK).

Copilot CLI 1.0.102 with ``COPILOT_PROVIDER_BASE_URL`` (wire API "completions") sends
streaming ``POST <base>/chat/completions`` requests holding the whole conversation:
``system`` and ``user`` messages, its own earlier ``assistant`` messages (with
``tool_calls``) and the ``tool`` messages that answer them. The messages after the last
``assistant`` one are the new turn: its user texts (Copilot puts a
``<current_datetime>`` block and others before what was typed, which the script's
triggers and envelopes do not mind) and its tool results.

Requests that offer no ``bash`` tool are Copilot's own side requests (a session's
title, a summary) and get a short text. A shell command is a call of ``bash``
(``{"command", "description"}``); an MCP tool a call of the name the test gives
(Copilot offers imessenger's tools as ``imessenger-<tool>``).
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

#: The usage every answer of the conversation reports (in the stream's last chunk), as the
#: Chat Completions API does: the cached input counted in the prompt, the reasoning in the
#: completion. Numbers no other answer gives, so that a test can tell which answers
#: Copilot CLI counted.
USAGE: dict[str, Any] = {
    "prompt_tokens": 1531,
    "completion_tokens": 79,
    "total_tokens": 1610,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 9},
}
#: The usage of a side request (a session title, a summary, a suggestion).
SIDE_USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}

#: The shell tool Copilot CLI offers the model.
SHELL_TOOL = "bash"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") == "text"
    )


def _new_turn(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """The new user text and tool results: the messages after the last assistant one."""
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


def _offers(body: dict[str, Any], name: str) -> bool:
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and (tool.get("function") or {}).get("name") == name:
            return True
    return False


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(completion_id: str, *, side: bool) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [],
        "usage": SIDE_USAGE if side else USAGE,
    }


def _start(reply: Reply, completion_id: str) -> None:
    reply.event(None, _chunk(completion_id, {"role": "assistant", "content": ""}, None))


def _stream(
    reply: Reply, answers: list[Answer], completion_id: str, *, started: bool, side: bool = False
) -> None:
    """One assistant message as a stream of chunks: the answers' texts as its content,
    then the first tool call."""
    if not started:
        _start(reply, completion_id)
    text = "\n\n".join(a.text for a in answers if not a.calls_tool and a.text)
    call = next((a for a in answers if a.calls_tool), None)
    if text:
        reply.event(None, _chunk(completion_id, {"content": text}, None))
    if call is not None:
        if call.tool:
            name, arguments = call.tool, call.tool_input
        else:
            name, arguments = SHELL_TOOL, {"command": call.command, "description": "Run it"}
        function = {"name": name, "arguments": json.dumps(arguments)}
        delta = {
            "tool_calls": [
                {"index": 0, "id": call.call_id, "type": "function", "function": function}
            ]
        }
        reply.event(None, _chunk(completion_id, delta, None))
    reply.event(None, _chunk(completion_id, {}, "tool_calls" if call is not None else "stop"))
    reply.event(None, _usage(completion_id, side=side))


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
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not _offers(body, SHELL_TOOL):
            _stream(reply, [Answer(script.side_text())], completion_id, started=False, side=True)
            return
        text, results = _new_turn(messages)
        failure = script.failure(text) if text else None
        if failure is not None:
            fake_chat.fail(reply, *failure)
            return
        started = False

        def holding() -> None:
            nonlocal started
            _start(reply, completion_id)
            started = True

        answers = script.respond(text, results, holding)
        _stream(reply, answers, completion_id, started=started)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
