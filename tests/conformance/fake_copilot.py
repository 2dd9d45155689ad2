"""A fake OpenAI Chat Completions API with tool calls, for GitHub Copilot CLI (BYOK).

Copilot CLI 1.0.102 with ``COPILOT_PROVIDER_BASE_URL`` (wire API "completions") sends
streaming ``POST <base>/chat/completions`` requests holding the whole conversation:
``system`` and ``user`` messages, its own earlier ``assistant`` messages (with
``tool_calls``) and the ``tool`` messages that answer them. The messages after the last
``assistant`` one are the new turn: its user texts (Copilot puts a
``<current_datetime>`` block and others before what was typed, which the script's
triggers and envelopes do not mind) and its tool results.

What the API is the same for lives in fake_chat.py; what is Copilot CLI's own here:

- its shell tool, ``bash`` (``{"command", "description"}``); an MCP tool is a call of
  the name the test gives (Copilot offers imessenger's tools as ``imessenger-<tool>``);
- a request that offers no ``bash`` is one of Copilot's side requests (a session's
  title, a summary), which gets a short text and :data:`fake_chat.SIDE_USAGE`;
- its own distinctive :data:`USAGE`, so that the usage test knows which answers it
  counted;
- a tool call's preface is left out of the message, as when its usage record in
  tests/fixtures/records/usage was captured.
"""

from __future__ import annotations

from typing import Any

import fake_chat
from fake_model import FakeModelServer, Script

#: The usage every answer of the conversation reports (in the stream's last chunk):
#: numbers no other answer gives, so that a test can tell which answers Copilot CLI counted.
USAGE = fake_chat.usage(1531, 79, cached=1024, reasoning=9)
#: The shell tool Copilot CLI offers the model.
SHELL = fake_chat.Shell("bash", "Run it")


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""

    def complete(body: dict[str, Any], stream: fake_chat.Stream) -> None:
        messages = body.get("messages") or []
        if not isinstance(messages, list) or SHELL.name not in fake_chat.offered(body):
            stream.send(script.side_text(), usage=fake_chat.SIDE_USAGE)
            return
        text, results = fake_chat.new_turn(messages)
        if stream.failed(script, text):
            return
        answers = script.respond(text, results, stream.hold)
        stream.send(fake_chat.said(answers), fake_chat.first_call(answers), usage=USAGE)

    return fake_chat.serve_tools(script, SHELL, complete)
