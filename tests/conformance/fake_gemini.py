"""A fake Gemini API for Gemini CLI: ``generateContent`` and ``streamGenerateContent``.

Gemini CLI 0.61.0 (with ``GOOGLE_GEMINI_BASE_URL`` and an API key) sends two kinds of
``POST /v1beta/models/MODEL:...`` requests. Those without tools ask for JSON by a schema
(``generationConfig.responseJsonSchema``): the "Auto" model router wants
``{"complexity_reasoning", "complexity_score"}`` and asks again until it gets it; they
get an object that fits the schema. Those that offer the ``run_shell_command`` tool are
the main loop (``streamGenerateContent?alt=sse``) and follow the test's
:class:`~fake_model.Script`. The conversation comes whole with every request; its last
``user`` content is the new turn: text parts and the ``functionResponse`` parts that
answer the model's ``functionCall`` parts.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fake_model import Answer, FakeModelServer, Reply, Script

logger = logging.getLogger(__name__)

_MODEL_VERSION = "gemini-conformance"
#: The usage every response of the main loop reports, cached input and the tool-use
#: prompt counted apart, thoughts apart from the output, as the Gemini API does: numbers
#: no other response gives, so that a test can tell which responses an agent counted.
USAGE = {
    "promptTokenCount": 1411,
    "cachedContentTokenCount": 1024,
    "candidatesTokenCount": 59,
    "thoughtsTokenCount": 11,
    "toolUsePromptTokenCount": 5,
    "totalTokenCount": 1486,
}
#: The usage of a side request (the model router, a check).
SIDE_USAGE = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
_SHELL = "run_shell_command"
#: The text part Gemini CLI puts before the first user message.
_CONTEXT = "<session_context>"


def _new_turn(contents: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """Return the new user text and the new tool results (call id, output)."""
    last = contents[-1] if contents else {}
    if not isinstance(last, dict) or last.get("role", "user") != "user":
        return "", []
    texts: list[str] = []
    results: list[tuple[str, str]] = []
    for part in last.get("parts") or []:
        if not isinstance(part, dict):
            continue
        if "functionResponse" in part:
            response = part["functionResponse"]
            output = (response.get("response") or {}).get("output")
            if output is None:
                output = json.dumps(response.get("response"))
            results.append((str(response.get("id") or response.get("name")), str(output)))
        elif isinstance(part.get("text"), str) and not part["text"].startswith(_CONTEXT):
            texts.append(part["text"])
    return "\n".join(texts), results


def _offers_shell(body: dict[str, Any]) -> bool:
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        for declaration in tool.get("functionDeclarations") or []:
            if isinstance(declaration, dict) and declaration.get("name") == _SHELL:
                return True
    return False


def _fit(schema: Any) -> Any:
    """A small value that fits a JSON schema (what the router and the checks ask for)."""
    if not isinstance(schema, dict):
        return "ok"
    if schema.get("enum"):
        choices = list(schema["enum"])
        return "user" if "user" in choices else choices[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = str(kind or "object").lower()
    if kind == "object" or "properties" in schema:
        return {name: _fit(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 10
    if kind == "boolean":
        return False
    return "simple"


def _chunk(parts: list[dict[str, Any]], *, side: bool = False) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": SIDE_USAGE if side else USAGE,
        "modelVersion": _MODEL_VERSION,
    }


def _parts(answers: list[Answer]) -> list[dict[str, Any]]:
    """The answers' texts as one text part, then the first tool call (a shell command,
    or another tool) as a call."""
    text = "\n\n".join(a.text for a in answers if a.text)  # a preface too
    call = next((a for a in answers if a.calls_tool), None)
    parts: list[dict[str, Any]] = []
    if text or call is None:
        parts.append({"text": text})
    if call is not None:
        name, arguments = call.tool, call.tool_input
        if not call.tool:
            name, arguments = _SHELL, {"command": call.command, "description": "Run a command"}
        parts.append({"functionCall": {"id": call.call_id, "name": name, "args": arguments}})
    return parts


#: The Gemini API's status name for each HTTP status.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def handler(script: Script) -> Any:
    """Return the request handler of a fake Gemini API that follows ``script``."""

    def handle(method: str, path: str, body: dict[str, Any], reply: Reply) -> None:
        streaming = ":streamGenerateContent" in path
        if method != "POST":
            reply.json({})
            return
        if ":countTokens" in path:
            reply.json({"totalTokens": 10})
            return
        if not streaming and ":generateContent" not in path:
            logger.info("fake Gemini API: unexpected %s %s", method, path)
            reply.json({"error": {"code": 404, "message": f"no such method: {path}"}}, 404)
            return
        script.record(body)
        side = not _offers_shell(body)
        if not side:
            contents = body.get("contents") or []
            text, results = _new_turn(contents if isinstance(contents, list) else [])
            failure = script.failure(text) if text else None
            if failure is not None:
                status, message = failure
                error = {"code": status, "message": message, "status": _STATUS.get(status, "")}
                reply.json({"error": error}, status)
                return
            parts = _parts(script.respond(text, results))
        else:
            # a side request: the model router or another check that wants JSON
            schema = (body.get("generationConfig") or {}).get("responseJsonSchema")
            answer = json.dumps(_fit(schema)) if schema else script.side_text()
            parts = [{"text": answer}]
        if streaming:
            reply.event(None, _chunk(parts, side=side))
        else:
            reply.json(_chunk(parts, side=side))

    return handle


def serve(script: Script) -> FakeModelServer:
    """Start a fake Gemini API on 127.0.0.1 that follows ``script``."""
    return FakeModelServer(handler(script)).start()
