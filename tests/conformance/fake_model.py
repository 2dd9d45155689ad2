"""A scripted fake model behind a small HTTP server on 127.0.0.1, for the real agents.

The agent programs (Claude Code, Codex) talk to it as if it were their model API;
each test says what the model answers with a :class:`Script` of :class:`Rule`:

    script.on("make a file", command="touch made.txt", after="made it: {output}")
    script.on("hello", text="Hello to you")

A rule fires on a user message that contains its trigger. It answers with text,
or asks to run a command through the agent's shell tool first and answers the
tool's result with ``after``. Like a model that follows imessenger's envelope,
the fake one puts its answer between the reply delimiters when the user message
holds an envelope, so that ``imessenger send`` finds the reply on the screen.

The API shapes (Anthropic Messages, OpenAI Responses) live in fake_anthropic.py
and fake_openai.py; this module holds what both share: the script, the turns
and the server.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from imessenger.core.envelope import message_id_in

logger = logging.getLogger(__name__)

#: The reply delimiters of imessenger's default configuration (conf/imessenger.toml).
REPLY_START = "<<IMSG-REPLY {id}>>"
REPLY_END = "<<IMSG-END {id}>>"

#: An envelope as conf/imessenger.toml writes it: a header line, the body, a closing line.
_ENVELOPE = re.compile(
    r"\[imessenger\] message [0-9A-Za-z_-]+ from [^\n]*:\n(.*)\n\[imessenger\] To answer message ",
    re.DOTALL,
)

_HEADER = re.compile(r"\[imessenger\] message [0-9A-Za-z_-]+ from ")

#: How long a gated answer waits for the test to open its gate before it gives up.
GATE_TIMEOUT_S = 120.0


@dataclass
class Rule:
    """What the model answers to a user message that contains ``trigger``.

    ``text``: the answer ("{body}" in it becomes the body of the message).
    ``command``: first ask to run this through the agent's shell tool ("{id}" in it
    becomes the envelope's message id, "{reply}" the reply command the envelope
    names), then answer the tool's result with ``after``
    ("{output}" in it becomes the result). ``enveloped``: put the answer between the
    reply delimiters when the message has an envelope.
    ``gate``: hold the answer until the test sets it (the agent stays busy meanwhile).
    ``escalate``: ask for the command to run outside the sandbox (Codex's approval).
    ``preface``: text the model writes before it asks to run ``command``, in the same
    response (Claude Code then records one response in several entries).
    ``fail``: answer with an HTTP error instead, ``(status, message)`` (each API writes
    it in its own error shape, saying that no retry will help): a failed turn.
    ``calls``: instead of a command, call these tools (name, input) one after the
    other, each once the previous one's result came ("{id}" in a string input becomes
    the envelope's message id); then answer with ``after``, where "{outputs}" becomes
    the results, one per line.
    """

    trigger: str
    text: str = "OK"
    command: str | None = None
    after: str = "ran it: {output}"
    enveloped: bool = True
    gate: threading.Event | None = None
    escalate: bool = True
    preface: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: tuple[int, str] | None = None


@dataclass(frozen=True)
class Answer:
    """One answer of the model: text, or a call of the shell tool with ``command``, or of
    the tool named ``tool`` with ``tool_input``."""

    text: str = ""
    command: str | None = None
    call_id: str = ""
    escalate: bool = True
    tool: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)

    @property
    def calls_tool(self) -> bool:
        return self.command is not None or bool(self.tool)


@dataclass
class _Call:
    rule: Rule
    message_id: str | None
    step: int = 0  # which of the rule's ``calls`` this is
    outputs: list[str] = field(default_factory=list)


@dataclass
class Script:
    """The rules of one test, the calls in flight and a log of what the model was asked."""

    rules: list[Rule] = field(default_factory=list)
    default_text: str = "OK"
    turns: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _calls: dict[str, _Call] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def on(self, trigger: str, **how: Any) -> Rule:
        """Add a rule (see :class:`Rule` for the keywords) and return it."""
        rule = Rule(trigger, **how)
        with self._lock:
            self.rules.append(rule)
        return rule

    # -- what the API adapters call -------------------------------------------------------

    def failure(self, text: str) -> tuple[int, str] | None:
        """The HTTP error (status, message) to answer a user turn ``text`` with, when the
        rule it triggers fails (the turn is logged as any other); None: answer it."""
        # an agent may hand the model a turn that failed again with the next one: the
        # newest message decides
        newest = (split_envelopes(text) or [text])[-1]
        with self._changed:
            rule = next((r for r in self.rules if r.trigger in newest), None)
            if rule is None or rule.fail is None:
                return None
            self.turns.append(text)
            self._changed.notify_all()
            return rule.fail

    def record(self, request: dict[str, Any]) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def respond(
        self,
        text: str,
        results: list[tuple[str, str]],
        holding: Callable[[], None] | None = None,
    ) -> list[Answer]:
        """Answer one request of the main loop: the tool ``results`` (call id, output) and
        the user's new ``text``.

        Agents hand messages that arrived while they worked to the model with the tool's
        result, or several at once; like a real model, the fake one answers each message.
        """
        answers = [self.answer_tool(call_id, output) for call_id, output in results]
        messages = split_envelopes(text)
        if not messages and not results:
            messages = [text]
        for message in messages:
            answers.append(self.answer_user(message, holding))
            holding = None
        return answers

    def answer_user(self, text: str, holding: Callable[[], None] | None = None) -> Answer:
        """Answer a new user turn whose text is ``text``.

        A gated rule calls ``holding`` (which starts the response, so that the agent
        shows that it works) and then waits for its gate.
        """
        message_id = message_id_in(text, REPLY_START)
        with self._changed:
            self.turns.append(text)
            rule = next((r for r in self.rules if r.trigger in text), None)
            self._changed.notify_all()
        if rule is None:
            return Answer(_wrap(self.default_text, message_id))
        if rule.gate is not None:
            if holding is not None:
                holding()
            if not rule.gate.wait(GATE_TIMEOUT_S):
                logger.warning("gate of rule %r never opened", rule.trigger)
        if rule.calls:
            return self._tool_call(_Call(rule, message_id))
        if rule.command is None:
            answer = rule.text.replace("{body}", envelope_body(text) or text)
            return Answer(_wrap(answer, message_id if rule.enveloped else None))
        call_id = f"call_{next(self._ids)}"
        with self._lock:
            self._calls[call_id] = _Call(rule, message_id)
        command = rule.command.replace("{id}", message_id or "")
        command = command.replace("{reply}", reply_command_in(text, message_id or ""))
        return Answer(rule.preface, command=command, call_id=call_id, escalate=rule.escalate)

    def _tool_call(self, call: _Call) -> Answer:
        """The answer that makes the next of a rule's tool calls."""
        name, given = call.rule.calls[call.step]
        arguments = {
            key: value.replace("{id}", call.message_id or "") if isinstance(value, str) else value
            for key, value in given.items()
        }
        call_id = f"call_{next(self._ids)}"
        with self._lock:
            self._calls[call_id] = call
        return Answer(call_id=call_id, tool=name, tool_input=arguments)

    def answer_tool(self, call_id: str, output: str) -> Answer:
        """Answer the result of the tool call ``call_id``."""
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            return Answer(f"The tool said: {output}")
        if call.rule.calls:
            call.outputs.append(output.strip())
            if call.step + 1 < len(call.rule.calls):
                return self._tool_call(
                    _Call(call.rule, call.message_id, call.step + 1, call.outputs)
                )
            text = call.rule.after.replace("{outputs}", "\n".join(call.outputs))
            return Answer(_wrap(text, call.message_id if call.rule.enveloped else None))
        text = call.rule.after.replace("{output}", output.strip())
        return Answer(_wrap(text, call.message_id if call.rule.enveloped else None))

    def side_text(self) -> str:
        """The answer to a side request (a title, a summary): short and plain."""
        return "Conformance test"

    def release_all(self) -> None:
        """Open every gate, so that no answer stays held after the test."""
        with self._lock:
            gates = [rule.gate for rule in self.rules if rule.gate is not None]
        for gate in gates:
            gate.set()

    # -- what tests look at ---------------------------------------------------------------

    def turns_with(self, needle: str) -> list[str]:
        """The user turns (in order) whose text contains ``needle``."""
        with self._lock:
            return [turn for turn in self.turns if needle in turn]

    def wait_for_turn(self, needle: str, seconds: float = 30.0) -> str:
        """Wait until a user turn containing ``needle`` reached the model; return its text."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(needle in turn for turn in self.turns), timeout=seconds
            )
            if not found:
                raise AssertionError(
                    f"no user turn containing {needle!r} reached the model within {seconds}s; "
                    f"turns: {self.turns!r}"
                )
            return next(turn for turn in self.turns if needle in turn)


def split_envelopes(text: str) -> list[str]:
    """Split a user turn into its imessenger envelopes (none: [])."""
    starts = [found.start() for found in _HEADER.finditer(text)]
    if not starts:
        return []
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def reply_command_in(text: str, message_id: str) -> str:
    """The reply command an envelope tells the model to run (before the id), or ""."""
    found = re.search(r"run `([^`\n]+?) " + re.escape(message_id) + " '", text)
    return found.group(1) if found else ""


def envelope_body(text: str) -> str | None:
    """The body of the imessenger envelope in a user message, or None when it has none."""
    found = _ENVELOPE.search(text)
    return found.group(1) if found else None


def _wrap(text: str, message_id: str | None) -> str:
    if message_id is None:
        return text
    start = REPLY_START.replace("{id}", message_id)
    end = REPLY_END.replace("{id}", message_id)
    return f"{start}\n{text}\n{end}"


# --- the server ------------------------------------------------------------------------------

#: An API adapter: takes the request (method, path, JSON body) and a writer for the
#: response, and answers through the writer.
Handler = Callable[[str, str, dict[str, Any], "Reply"], None]


class Reply:
    """Writes one HTTP response: a JSON body, or a stream of server-sent events."""

    def __init__(self, request: BaseHTTPRequestHandler) -> None:
        self._request = request
        self._streaming = False

    def json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._request.send_response(status)
        self._request.send_header("Content-Type", "application/json")
        self._request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self._request.send_header(name, value)
        self._request.end_headers()
        self._request.wfile.write(data)

    def event(self, name: str | None, data: dict[str, Any]) -> None:
        """Send one server-sent event (the headers go out with the first one)."""
        if not self._streaming:
            self._request.send_response(200)
            self._request.send_header("Content-Type", "text/event-stream")
            self._request.send_header("Cache-Control", "no-cache")
            self._request.send_header("Connection", "close")
            self._request.end_headers()
            self._streaming = True
        head = f"event: {name}\n" if name else ""
        self._request.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
        self._request.wfile.flush()


class FakeModelServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) that runs in a thread."""

    def __init__(self, handler: Handler) -> None:
        owner = self

        class _Request(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                try:
                    owner._handler(self.command, self.path, body, Reply(self))
                except (BrokenPipeError, ConnectionResetError):
                    logger.info("the agent closed the connection of %s %s", self.command, self.path)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("fake model: " + format, *args)

        self._handler = handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
