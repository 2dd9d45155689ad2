"""A fake OpenAI Chat Completions API for Aider, and what the Chat Completions fakes share.

Aider 0.86.2 (through LiteLLM's "openai/" provider, ``OPENAI_API_BASE``) sends the whole
conversation with every request; the last ``user`` message is the new turn, followed by
Aider's reminder of its edit format, which is cut off here. Aider has no tools: a shell
command is a ```bash block in the model's text, which Aider offers to run after the
answer ("Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:") and whose result the
model never sees. So a rule with a ``command`` answers, in one message, its ``after``
text (between the reply delimiters, "{output}" empty) and then the command's block.
Requests whose system prompt asks for a summary (Aider's chat summary) are side requests.

The fakes of the agents that call tools through this API (fake_qwen.py, fake_copilot.py,
fake_opencode.py) take from here what the API is the same for: the server, its routes
and log (:func:`serve_tools`), the text of a message and the new turn (:func:`new_turn`:
user text and tool results), an answer streamed as chunks with the usage in a last one
(:class:`Stream`, with at most one tool call), and the error answer (:func:`failed`).
Each keeps what its agent does differently: the shell tool, what a side request is,
the usage it reports, how an answer's text is made.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

#: The model every fake Chat Completions API offers and names in its answers.
MODEL = "fake-model"
_ids = itertools.count(1)

#: The usage every answer reports (streamed: in a last chunk, when the request asks for
#: it with ``stream_options.include_usage``, as the API does): numbers no other answer
#: gives, so that a test can tell which answers an agent counted.
USAGE = {"prompt_tokens": 1317, "completion_tokens": 71, "total_tokens": 1388}
#: The usage of a side request (Aider's chat summary; of Qwen Code and Copilot CLI too).
SIDE_USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}

#: Where Aider's reminder of the "diff" edit format starts in the last user message.
_REMINDER = "\n\n# *SEARCH/REPLACE block* Rules:"

# --- what the Chat Completions fakes share ---------------------------------------------------


def is_completion(method: str, path: str, reply: Reply) -> bool:
    """Whether the request is a chat completion, for the caller to answer; any other is
    answered here: the model list, an empty object, or a 404 for an unknown endpoint."""
    if method in ("GET", "HEAD"):
        if path.rstrip("/").endswith("/models"):
            reply.json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            reply.json({})
        return False
    if not path.rstrip("/").endswith("/chat/completions"):
        logger.info("fake Chat Completions API: unexpected %s %s", method, path)
        reply.json({"error": {"message": f"no such endpoint: {path}"}}, status=404)
        return False
    return True


def text_of(content: Any) -> str:
    """The text of a message's ``content``: a string, or its text parts, one a line."""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") == "text"
    )


def new_turn(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """The new user text and the new tool results (call id, output): the messages after
    the model's last answer (the last ``assistant`` message)."""
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
            results.append((str(message.get("tool_call_id", "")), text_of(message.get("content"))))
        elif message.get("role") == "user":
            texts.append(text_of(message.get("content")))
    return "\n".join(texts), results


def offered(body: dict[str, Any]) -> set[str]:
    """The names of the tools a request offers the model."""
    names: set[str] = set()
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


def said(answers: list[Answer], *, prefaces: bool = False) -> str:
    """The text of one message that holds ``answers``: their texts, with the tool calls'
    own texts (their prefaces) when ``prefaces``."""
    return "\n\n".join(a.text for a in answers if a.text and (prefaces or not a.calls_tool))


def first_call(answers: list[Answer]) -> Answer | None:
    """The tool call a message makes: the first of ``answers`` that calls a tool."""
    return next((a for a in answers if a.calls_tool), None)


def chunk(completion_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    """One chunk of a streamed answer: a ``delta`` of its message, or its ``finish``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage(prompt: int, completion: int, *, cached: int, reasoning: int) -> dict[str, Any]:
    """A usage as the API reports it with its details: the ``cached`` input counted in
    the ``prompt``, the ``reasoning`` in the ``completion``."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def usage_chunk(completion_id: str, counts: dict[str, Any]) -> dict[str, Any]:
    """The last chunk of a streamed answer: no choices, the usage ``counts``."""
    return dict(chunk(completion_id, {}, None), choices=[], usage=counts)


@dataclass(frozen=True)
class Shell:
    """An agent's shell tool: its name, and the description the model gives a command."""

    name: str
    description: str

    def function(self, answer: Answer) -> dict[str, str]:
        """The function ``answer`` calls (name, JSON arguments): its tool with its input,
        or this shell tool with its command."""
        if answer.tool:
            return {"name": answer.tool, "arguments": json.dumps(answer.tool_input)}
        arguments = {"command": answer.command, "description": self.description}
        return {"name": self.name, "arguments": json.dumps(arguments)}


class Stream:
    """One assistant message streamed as chunks: an opening one, its text, at most one
    tool call (of ``shell`` when it runs a command), the finish reason, and the usage."""

    def __init__(self, reply: Reply, shell: Shell) -> None:
        self.id = f"chatcmpl-{next(_ids)}"
        self._reply = reply
        self._shell = shell
        self._open = False

    def hold(self) -> None:
        """Open the message (a gated rule calls it, so that the agent sees that the model
        answers while the rule holds the answer)."""
        if not self._open:
            self._reply.event(None, chunk(self.id, {"role": "assistant", "content": ""}, None))
            self._open = True

    def send(self, text: str, call: Answer | None = None, *, usage: dict[str, Any]) -> None:
        """The rest of the message: ``text`` (none when empty), then ``call``'s tool call."""
        self.hold()
        if text:
            self._reply.event(None, chunk(self.id, {"content": text}, None))
        if call is not None:
            tool_call = {
                "index": 0,
                "id": call.call_id,
                "type": "function",
                "function": self._shell.function(call),
            }
            self._reply.event(None, chunk(self.id, {"tool_calls": [tool_call]}, None))
        self._reply.event(None, chunk(self.id, {}, "tool_calls" if call is not None else "stop"))
        self._reply.event(None, usage_chunk(self.id, usage))

    def failed(self, script: Script, text: str) -> bool:
        """Whether ``text`` triggers a failing rule; if so, its error answers instead."""
        return failed(self._reply, script, text)


#: The error types of the Chat Completions API's error shape, by HTTP status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
}


def fail(reply: Reply, status: int, message: str) -> None:
    """Answer a request with the Chat Completions API's error (HTTP ``status``), and the
    headers that tell OpenAI's client libraries not to retry it (``x-should-retry``)."""
    error = {
        "message": message,
        "type": _ERROR_TYPES.get(status, "invalid_request_error"),
        "param": None,
        "code": None,
    }
    reply.json({"error": error}, status=status, headers={"x-should-retry": "false"})


def failed(reply: Reply, script: Script, text: str) -> bool:
    """Whether the user turn ``text`` triggers a failing rule; if so, answer its error."""
    failure = script.failure(text) if text else None
    if failure is None:
        return False
    fail(reply, *failure)
    return True


def serve_tools(
    script: Script, shell: Shell, answer: Callable[[dict[str, Any], Stream], None]
) -> FakeModelServer:
    """Start a fake Chat Completions API with tool calls on 127.0.0.1: ``answer`` answers
    each chat completion (its request body) on a :class:`Stream` that runs commands with
    ``shell``; the other requests are answered, and every completion logged in ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        if is_completion(method, path, reply):
            script.record(body)
            answer(body, Stream(reply, shell))

    return FakeModelServer(handle).start()


# --- Aider's --------------------------------------------------------------------------------


def _last_user_text(messages: list[Any]) -> str:
    """The text of the last user message, without Aider's reminder."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    text = text_of(users[-1].get("content"))
    return text.split(_REMINDER, 1)[0]


def _is_side_request(messages: list[Any]) -> bool:
    """A request of Aider's own (the chat summary), not of the conversation."""
    first = messages[0] if messages else {}
    if not isinstance(first, dict) or first.get("role") != "system":
        return False
    return "summarize" in text_of(first.get("content")).lower()


def _text(script: Script, answers: list[Answer]) -> str:
    """The answers as Aider's model would write them: a command as a ```bash block."""
    texts: list[str] = []
    for answer in answers:
        if answer.command is None:
            texts.append(answer.text)
            continue
        after = script.answer_tool(answer.call_id, "").text
        texts.append(f"{after}\n\n```bash\n{answer.command}\n```")
    return "\n\n".join(text for text in texts if text)


def _send(
    reply: Reply, text: str, *, stream: bool, with_usage: bool = False, side: bool = False
) -> None:
    """Aider's answer: streamed in one chunk (the usage after it, when asked), or whole."""
    completion_id = f"chatcmpl-{next(_ids)}"
    usage = SIDE_USAGE if side else USAGE
    if stream:
        reply.event(None, chunk(completion_id, {"role": "assistant", "content": text}, None))
        reply.event(None, chunk(completion_id, {}, "stop"))
        if with_usage:
            reply.event(None, usage_chunk(completion_id, usage))
        return
    reply.json(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )


def handler(script: Script) -> Any:
    """Return the request handler of a fake Chat Completions API that follows ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        if not is_completion(method, path, reply):
            return
        script.record(body)
        stream = bool(body.get("stream"))
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        messages = body.get("messages") or []
        if not isinstance(messages, list) or _is_side_request(messages):
            _send(reply, script.side_text(), stream=stream, with_usage=with_usage, side=True)
            return
        text = _last_user_text(messages)
        if failed(reply, script, text):
            return
        answers = script.respond(text, [])
        _send(reply, _text(script, answers), stream=stream, with_usage=with_usage)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
