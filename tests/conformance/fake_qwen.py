"""A fake OpenAI Chat Completions API with tool calls, for Qwen Code.

Qwen Code 0.24.4 (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``, auth type
"openai") sends ``POST /v1/chat/completions`` with ``stream: true`` and the whole
conversation as ``messages``: the model's earlier answers are ``assistant`` messages
(their ``tool_calls`` too), a tool's result a ``tool`` message (``tool_call_id``,
``content``). The messages after the last ``assistant`` one are the new turn: user text
and tool results. The shell tool is ``run_shell_command`` ``{"command", ...}``; an MCP
tool is offered as ``mcp__<server>__<tool>``.

Qwen Code defers most MCP tools: it declares only ``tool_search`` (and the ``tool_call``
bridge), and a tool found through it is called through ``tool_call``. When a rule
calls a tool the request does not declare, the fake model does what a model must: it
searches for the tool first, then calls it, directly when the search declared it,
through ``tool_call`` else. isesh declares imessenger's tools up front
(``alwaysLoadTools``), so that a model sees ``send`` without a search.

Requests without the shell tool are side requests (a session title, a summary), and so
is a follow-up suggestion (its new turn begins "[SUGGESTION MODE", with the tools): they
get a short plain text.
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
_SHELL = "run_shell_command"
_SEARCH = "tool_search"
_BRIDGE = "tool_call"
_ids = itertools.count(1)

#: The usage every answer of the conversation reports (in the stream's last chunk), as the
#: Chat Completions API does: the cached input counted in the prompt, the reasoning in the
#: completion. Numbers no other answer gives, so that a test can tell which answers
#: Qwen Code counted.
USAGE: dict[str, Any] = {
    "prompt_tokens": 1423,
    "completion_tokens": 61,
    "total_tokens": 1484,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 7},
}
#: The usage of a side request (a session title, a summary, a suggestion).
SIDE_USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
#: How a follow-up suggestion request (a side request that offers the tools) begins.
_SUGGESTION = "[SUGGESTION MODE"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") == "text"
    )


def _new_turn(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """The new user text and the new tool results (call id, output): the messages after
    the model's last answer."""
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


def _declared(body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


class _Deferred:
    """The tool calls of rules whose tool the request did not declare: each is searched
    for first (``tool_search``), and the search's own call id stands for it meanwhile."""

    def __init__(self) -> None:
        self.waiting: dict[str, Answer] = {}

    def route(self, answer: Answer, declared: set[str]) -> Answer:
        """``answer``, or the tool search that must come before it."""
        if not answer.tool or answer.tool in declared or _SEARCH not in declared:
            return answer
        search_id = f"search_{next(_ids)}"
        self.waiting[search_id] = answer
        return Answer(
            call_id=search_id, tool=_SEARCH, tool_input={"query": f"select:{answer.tool}"}
        )

    def found(self, call_id: str, declared: set[str]) -> Answer | None:
        """The call a finished search was for: direct when the search declared the tool,
        through the ``tool_call`` bridge else."""
        answer = self.waiting.pop(call_id, None)
        if answer is None or answer.tool in declared or _BRIDGE not in declared:
            return answer
        bridged = {"name": answer.tool, "arguments": answer.tool_input}
        return Answer(call_id=answer.call_id, tool=_BRIDGE, tool_input=bridged)


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
    """Send one answer as a stream of chunks: its text, then at most one tool call."""
    if not started:
        _start(reply, completion_id)
    text = "\n\n".join(a.text for a in answers if not a.calls_tool and a.text)
    call = next((a for a in answers if a.calls_tool), None)
    if text or call is None:
        reply.event(None, _chunk(completion_id, {"content": text or "OK"}, None))
    finish = "stop"
    if call is not None:
        if call.tool:
            name, arguments = call.tool, call.tool_input
        else:
            name = _SHELL
            arguments = {"command": call.command, "description": "Run a command"}
        delta = {
            "tool_calls": [
                {
                    "index": 0,
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ]
        }
        reply.event(None, _chunk(completion_id, delta, None))
        finish = "tool_calls"
    reply.event(None, _chunk(completion_id, {}, finish))
    reply.event(None, _usage(completion_id, side=side))


def handler(script: Script) -> Any:
    """Return the request handler of a fake Chat Completions API that follows ``script``."""
    deferred = _Deferred()

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
        declared = _declared(body)
        messages = body.get("messages") or []
        if _SHELL not in declared or not isinstance(messages, list):
            _stream(reply, [Answer(script.side_text())], completion_id, started=False, side=True)
            return
        text, results = _new_turn(messages)
        if text.startswith(_SUGGESTION):
            _stream(reply, [Answer(script.side_text())], completion_id, started=False, side=True)
            return
        failure = script.failure(text) if text else None
        if failure is not None:
            fake_chat.fail(reply, *failure)
            return
        answers: list[Answer] = []
        searched: list[tuple[str, str]] = []
        for call_id, output in results:
            found = deferred.found(call_id, declared)
            if found is not None:
                answers.append(found)
            else:
                searched.append((call_id, output))
        started = False

        def holding() -> None:
            nonlocal started
            _start(reply, completion_id)
            started = True

        if searched or text or not answers:
            answers += script.respond(text, searched, holding)
        answers = [deferred.route(answer, declared) for answer in answers]
        _stream(reply, answers, completion_id, started=started)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
