"""A fake OpenAI Chat Completions API with tool calls, as OpenCode 1.18.33 uses it.

OpenCode talks to a provider of its config (``"npm": "@ai-sdk/openai-compatible"``,
bundled) through ``POST <baseURL>/chat/completions``, streamed as SSE. Each request
holds the whole conversation: ``system``, ``user``, ``assistant`` messages (with
``tool_calls``) and ``tool`` results (``tool_call_id``). The messages after the last
``assistant`` one are the new turn: tool results, and the user's new text.

What the API is the same for lives in fake_chat.py; what is OpenCode's own here:

- its shell tool, ``bash`` (``{"command", "description", ...}``); an MCP server's tools
  are offered as ``<server>_<tool>`` (``imessenger_send``);
- a request without tools is a side request (the session's title, its system prompt
  "You are a title generator"), which gets a short text;
- every answer reports the same small usage, side requests too: no test compares
  OpenCode's counts with the server's yet, so it has no distinctive numbers;
- a tool call's preface is written before the call, in the same message, as the fakes
  of the other APIs (fake_anthropic.py, fake_openai.py, fake_gemini.py) write it.
"""

from __future__ import annotations

from typing import Any

import fake_chat
from fake_model import FakeModelServer, Script

#: The usage every answer reports, side requests too.
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}

#: The shell tool OpenCode offers the model.
SHELL = fake_chat.Shell("bash", "Runs the command")


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""

    def complete(body: dict[str, Any], stream: fake_chat.Stream) -> None:
        messages = body.get("messages")
        if not body.get("tools") or not isinstance(messages, list):
            stream.send(script.side_text(), usage=USAGE)
            return
        text, results = fake_chat.new_turn(messages)
        if stream.failed(script, text):
            return
        answers = script.respond(text, results, stream.hold)
        text = fake_chat.said(answers, prefaces=True)
        stream.send(text, fake_chat.first_call(answers), usage=USAGE)

    return fake_chat.serve_tools(script, SHELL, complete)
