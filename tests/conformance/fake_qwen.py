"""A fake OpenAI Chat Completions API with tool calls, for Qwen Code.

Qwen Code 0.24.4 (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``, auth type
"openai") sends ``POST /v1/chat/completions`` with ``stream: true`` and the whole
conversation as ``messages``: the model's earlier answers are ``assistant`` messages
(their ``tool_calls`` too), a tool's result a ``tool`` message (``tool_call_id``,
``content``). The messages after the last ``assistant`` one are the new turn: user text
and tool results.

What the API is the same for lives in fake_chat.py; what is Qwen Code's own here:

- its shell tool, ``run_shell_command`` ``{"command", ...}``; an MCP tool is offered as
  ``mcp__<server>__<tool>``;
- deferred tools: Qwen Code declares most MCP tools only through ``tool_search`` (and
  the ``tool_call`` bridge), and a tool found through it is called through
  ``tool_call``. When a rule calls a tool the request does not declare, the fake model
  does what a model must: it searches for the tool first, then calls it, directly when
  the search declared it, through ``tool_call`` else. isesh declares imessenger's tools
  up front (``alwaysLoadTools``), so that a model sees ``send`` without a search;
- side requests: those without the shell tool (a session title, a summary), and a
  follow-up suggestion (its new turn begins "[SUGGESTION MODE", with the tools); they
  get a short plain text and :data:`fake_chat.SIDE_USAGE`;
- its own distinctive :data:`USAGE`, so that the usage test knows which answers it
  counted;
- a message with neither text nor a tool call says "OK": Qwen Code takes a stream
  without text for an invalid one ("Model stream ended with empty response text.")
  and asks again;
- a tool call's preface is left out of the message, as when its usage record in
  tests/fixtures/records/usage was captured.
"""

from __future__ import annotations

import itertools
from typing import Any

import fake_chat
from fake_model import Answer, FakeModelServer, Script

#: The usage every answer of the conversation reports (in the stream's last chunk):
#: numbers no other answer gives, so that a test can tell which answers Qwen Code counted.
USAGE = fake_chat.usage(1423, 61, cached=1024, reasoning=7)

#: The shell tool Qwen Code offers the model.
SHELL = fake_chat.Shell("run_shell_command", "Run a command")
_SEARCH = "tool_search"
_BRIDGE = "tool_call"
#: How a follow-up suggestion request (a side request that offers the tools) begins.
_SUGGESTION = "[SUGGESTION MODE"
_searches = itertools.count(1)


class _Deferred:
    """The tool calls of rules whose tool the request did not declare: each is searched
    for first (``tool_search``), and the search's own call id stands for it meanwhile."""

    def __init__(self) -> None:
        self.waiting: dict[str, Answer] = {}

    def route(self, answer: Answer, declared: set[str]) -> Answer:
        """``answer``, or the tool search that must come before it."""
        if not answer.tool or answer.tool in declared or _SEARCH not in declared:
            return answer
        search_id = f"search_{next(_searches)}"
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


def serve(script: Script) -> FakeModelServer:
    """Start a fake Chat Completions API on 127.0.0.1 that follows ``script``."""
    deferred = _Deferred()

    def complete(body: dict[str, Any], stream: fake_chat.Stream) -> None:
        declared = fake_chat.offered(body)
        messages = body.get("messages") or []
        if SHELL.name not in declared or not isinstance(messages, list):
            stream.send(script.side_text(), usage=fake_chat.SIDE_USAGE)
            return
        text, results = fake_chat.new_turn(messages)
        if text.startswith(_SUGGESTION):
            stream.send(script.side_text(), usage=fake_chat.SIDE_USAGE)
            return
        if stream.failed(script, text):
            return
        answers: list[Answer] = []
        searched: list[tuple[str, str]] = []
        for call_id, output in results:
            found = deferred.found(call_id, declared)
            if found is not None:
                answers.append(found)
            else:
                searched.append((call_id, output))
        if searched or text or not answers:
            answers += script.respond(text, searched, stream.hold)
        answers = [deferred.route(answer, declared) for answer in answers]
        call = fake_chat.first_call(answers)
        stream.send(fake_chat.said(answers) or ("" if call else "OK"), call, usage=USAGE)

    return fake_chat.serve_tools(script, SHELL, complete)
