"""A fake OpenAI Chat Completions API for Aider: ``POST /v1/chat/completions`` as SSE.

Aider 0.86.2 (through LiteLLM's "openai/" provider, ``OPENAI_API_BASE``) sends the whole
conversation with every request; the last ``user`` message is the new turn, followed by
Aider's reminder of its edit format, which is cut off here. Aider has no tools: a shell
command is a ```bash block in the model's text, which Aider offers to run after the
answer ("Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:") and whose result the
model never sees. So a rule with a ``command`` answers, in one message, its ``after``
text (between the reply delimiters, "{output}" empty) and then the command's block.
Requests whose system prompt asks for a summary (Aider's chat summary) are side requests.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

_MODEL = "fake-model"
_ids = itertools.count(1)

#: The usage every answer reports (streamed: in a last chunk, when the request asks for
#: it with ``stream_options.include_usage``, as the API does): numbers no other answer
#: gives, so that a test can tell which answers an agent counted.
USAGE = {"prompt_tokens": 1317, "completion_tokens": 71, "total_tokens": 1388}
#: The usage of a side request (the chat summary).
SIDE_USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}

#: Where Aider's reminder of the "diff" edit format starts in the last user message.
_REMINDER = "\n\n# *SEARCH/REPLACE block* Rules:"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") == "text"
    )


def _new_turn(messages: list[Any]) -> str:
    """The text of the last user message, without Aider's reminder."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    text = _text_of(users[-1].get("content"))
    return text.split(_REMINDER, 1)[0]


def _is_side_request(messages: list[Any]) -> bool:
    """A request of Aider's own (the chat summary), not of the conversation."""
    first = messages[0] if messages else {}
    if not isinstance(first, dict) or first.get("role") != "system":
        return False
    return "summarize" in _text_of(first.get("content")).lower()


def _text(script: Script, answers: list[Answer]) -> str:
    """The answers as Aider's model would write them: a command as a ```bash block."""
    texts: list[str] = []
    for answer in answers:
        if answer.command is None:
            texts.append(answer.text)
            continue
        said = script.answer_tool(answer.call_id, "").text
        texts.append(f"{said}\n\n```bash\n{answer.command}\n```")
    return "\n\n".join(text for text in texts if text)


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _send(
    reply: Reply, text: str, *, stream: bool, with_usage: bool = False, side: bool = False
) -> None:
    completion_id = f"chatcmpl-{next(_ids)}"
    usage = SIDE_USAGE if side else USAGE
    if stream:
        reply.event(None, _chunk(completion_id, {"role": "assistant", "content": text}, None))
        reply.event(None, _chunk(completion_id, {}, "stop"))
        if with_usage:
            reply.event(None, dict(_chunk(completion_id, {}, None), choices=[], usage=usage))
        return
    reply.json(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": _MODEL,
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
        stream = bool(body.get("stream"))
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        messages = body.get("messages") or []
        if not isinstance(messages, list) or _is_side_request(messages):
            _send(reply, script.side_text(), stream=stream, with_usage=with_usage, side=True)
            return
        text = _new_turn(messages)
        failure = script.failure(text)
        if failure is not None:
            fail(reply, *failure)
            return
        answers = script.respond(text, [])
        _send(reply, _text(script, answers), stream=stream, with_usage=with_usage)

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
