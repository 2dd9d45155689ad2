"""What an agent's own hook says about its session: pure functions, no tmux, no database.

isesh installs the hooks (:mod:`imessenger.core.agent_setup`); each runs
``imessenger hook event KIND`` from inside the session, and this module reads what
it was given:

========== ======================================= ===========================================
kind        given                                   events -> state
========== ======================================= ===========================================
``claude``  JSON on stdin (``hook_event_name``)     SessionStart -> started,
                                                    UserPromptSubmit -> busy (the
                                                    message's first line kept),
                                                    PermissionRequest -> asking (about
                                                    ``tool_input.command``), Stop -> idle
``demo``    the same JSON, from the demo agent      the same
``qwen``    the same JSON, from Qwen Code           the same (its UserPromptSubmit comes
                                                    again, with an empty prompt, when a
                                                    turn goes on after a tool's result)
``codex``   notify's JSON (``agent-turn-complete``) the end of a turn -> idle
``copilot`` JSON on stdin: ``hook_event_name``,      UserPromptSubmit -> busy, PermissionRequest
            but a PermissionRequest's is camelCase   -> asking (``toolInput.command``), Stop
            (``hookName: "permissionRequest"``)      -> idle
``aider``   nothing (its stdin is the terminal)     Notification -> waiting: idle or asking,
                                                    the screen tells which
``opencode`` JSON on stdin from the plugin isesh      chat.message -> busy (the message's
            gives OpenCode (``type``,                first line kept), permission.asked ->
            ``properties``; see                     asking (about ``metadata.command``),
            imessenger.core.opencode_setup)         session.idle -> idle, session.error ->
                                                    error (the error's message kept; an
                                                    aborted turn's is idle)
========== ======================================= ===========================================

An event whose state is ``error`` says that the session's turn ended on an error (an API
error: the model API refused it) and that the agent is idle; its ``detail`` is the
error's text. :func:`failed_turn` finds it among a session's events until the next turn
begins, so that a session's view reads the error its hooks reported where its screen
shows none that its profile can read (``Screen.error``; OpenCode draws its errors as it
draws a message).

An OpenCode event that names its session (``session.created``, ``chat.message``) carries
that session's id as ``conversation``: the record isesh reads replies from is found by it.

Events of other names are kept with the state ``""`` (they say nothing of it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imessenger.core.envelope import neutralise
from imessenger.core.values import HookEventRecord

#: What an event says of its session.
STARTED = "started"
BUSY = "busy"
ASKING = "asking"
IDLE = "idle"
WAITING = "waiting"  # idle or asking: the screen tells which
ERROR = "error"  # the turn ended on an error (``detail``), and the session is idle

#: The states that begin a turn, and those that end one.
_TURN_BEGUN = (STARTED, BUSY)
_TURN_ENDED = (IDLE, ERROR)

#: Claude Code's events (the demo agent's too) and the state each one means.
_CLAUDE_STATES = {
    "SessionStart": STARTED,
    "UserPromptSubmit": BUSY,
    "PermissionRequest": ASKING,
    "Stop": IDLE,
}
#: Copilot CLI's events (those isesh installs, named the Claude Code way) and their state.
_COPILOT_STATES = {
    "UserPromptSubmit": BUSY,
    "PermissionRequest": ASKING,
    "Stop": IDLE,
}
#: The longest ``detail`` kept, in characters.
_DETAIL_MAX = 2000


class PayloadError(ValueError):
    """A hook's payload that cannot be read; the message says what was wrong."""


@dataclass(frozen=True)
class HookEvent:
    """One event, as read from a hook's payload."""

    event: str
    state: str
    detail: str = ""
    #: where the agent says it writes its record (Claude Code's ``transcript_path``), or ""
    transcript: str = ""
    #: the conversation the event's session is kept under in the agent's record
    #: (OpenCode's session id), when the event names it
    conversation: str = ""


def read_event(kind: str, payload: str) -> HookEvent:
    """Read one event of a ``kind`` hook from its ``payload`` (what the hook was given).

    Raises PayloadError when the payload cannot be read, ValueError for a kind that has
    no hooks.
    """
    if kind == "aider":
        return HookEvent("Notification", WAITING)
    data = _json_object(payload)
    if kind in ("claude", "demo", "qwen", "copilot"):
        if kind == "copilot":
            data = _claude_shaped(data)
        name = _text(data.get("hook_event_name"))
        if not name:
            raise PayloadError("the payload names no hook_event_name")
        state = (_COPILOT_STATES if kind == "copilot" else _CLAUDE_STATES).get(name, "")
        if state == ASKING:
            detail = _asked_about(data)
        elif state == BUSY:
            # the first line of the message it took (an envelope names its id there):
            # lasting evidence of which message that was
            detail = neutralise(_text(data.get("prompt")).split("\n", 1)[0])[:_DETAIL_MAX]
        else:
            detail = ""
        return HookEvent(name, state, detail, _text(data.get("transcript_path")))
    if kind == "codex":
        name = _text(data.get("type")) or "notify"
        return HookEvent(name, IDLE if name == "agent-turn-complete" else "")
    if kind == "opencode":
        return _opencode_event(data)
    raise ValueError(f'"{kind}" is not a kind of hooks')


def _claude_shaped(data: dict[str, Any]) -> dict[str, Any]:
    """A Copilot CLI payload in Claude Code's shape: 1.0.102 gives a hook named
    ``PermissionRequest`` its own camelCase payload (``hookName: "permissionRequest"``,
    ``toolName``, ``toolInput``), and every other one Claude Code's."""
    if "hook_event_name" in data:
        return data
    hook = _text(data.get("hookName"))
    renamed = {"tool_name": data.get("toolName"), "tool_input": data.get("toolInput")}
    return {**data, "hook_event_name": hook[:1].upper() + hook[1:], **renamed}


#: OpenCode's events (and plugin hooks) and the state each one means.
_OPENCODE_STATES = {
    "chat.message": BUSY,
    "permission.asked": ASKING,
    "session.idle": IDLE,
    "session.error": ERROR,
}
#: The error OpenCode gives a turn the user interrupted (Esc): not a failure.
_OPENCODE_ABORTED = "MessageAbortedError"
#: The OpenCode events that name the session a message goes to (its conversation).
_OPENCODE_NAMING = ("session.created", "chat.message")


def _opencode_event(data: dict[str, Any]) -> HookEvent:
    """One event the OpenCode plugin reported: ``{"type": ..., "properties": {...}}``."""
    name = _text(data.get("type"))
    if not name:
        raise PayloadError("the payload names no type")
    given = data.get("properties")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    state = _OPENCODE_STATES.get(name, "")
    detail = ""
    if state == BUSY:
        detail = neutralise(_text(properties.get("text")).split("\n", 1)[0])[:_DETAIL_MAX]
    elif state == ASKING:
        metadata = properties.get("metadata")
        command = _text(metadata.get("command")) if isinstance(metadata, dict) else ""
        patterns = properties.get("patterns")
        listed = [p for p in patterns if isinstance(p, str)] if isinstance(patterns, list) else []
        named = ", ".join(pattern for pattern in listed if pattern != "*")
        about = command or named or _text(properties.get("permission"))
        detail = neutralise(about)[:_DETAIL_MAX]
    elif state == ERROR:
        error = properties.get("error")
        found: dict[str, Any] = error if isinstance(error, dict) else {}
        if _text(found.get("name")) == _OPENCODE_ABORTED:
            state = IDLE  # the user interrupted the turn
        else:
            # an API's text, bound for a person's terminal: no control byte of it acts
            detail = neutralise(_opencode_error_text(found))[:_DETAIL_MAX]
    conversation = _text(properties.get("sessionID")) if name in _OPENCODE_NAMING else ""
    return HookEvent(name, state, detail, conversation=conversation)


def _opencode_error_text(error: dict[str, Any]) -> str:
    """What OpenCode shows of an error: its ``data.message``, else its name (as its own
    ``opencode run`` prints it)."""
    data = error.get("data")
    message = _text(data.get("message")) if isinstance(data, dict) else ""
    return message or _text(error.get("name")) or "an error with no message"


#: The hook kinds that report the end of every turn and the error of one that failed
#: (OpenCode's plugin: its screen draws an error as it draws a message).
REPORTS_FAILURES = frozenset({"opencode"})


def failed_turn(events: Iterable[HookEventRecord]) -> HookEventRecord | None:
    """The event in which a session's hooks said its last turn ended on an error: the
    latest ``error`` event of ``events`` (a session's, any order) with no turn begun
    after it (``busy``, ``started``); None when there is none.

    >>> def ev(i, state, detail=""):
    ...     return HookEventRecord(i, float(i), "s", "w1", "opencode", "e", state, detail, "")
    >>> failed_turn([ev(1, BUSY), ev(2, ERROR, "invalid x-api-key"), ev(3, IDLE)]).detail
    'invalid x-api-key'
    >>> failed_turn([ev(1, BUSY), ev(2, ERROR, "invalid x-api-key"), ev(3, BUSY)]) is None
    True
    """
    for event in sorted(events, key=lambda e: (e.at, e.id), reverse=True):
        if event.state == ERROR:
            return event
        if event.state in _TURN_BEGUN:
            return None
    return None


def turn_ended(events: Iterable[HookEventRecord], since: float) -> bool:
    """Whether a session's hooks said that its turn ended (``idle``, ``error``) at
    ``since`` (epoch seconds) or later, and began none after that.

    >>> def ev(i, state):
    ...     return HookEventRecord(i, float(i), "s", "w1", "opencode", "e", state, "", "")
    >>> turn_ended([ev(1, BUSY), ev(2, ASKING), ev(3, ERROR)], since=1.0)
    True
    >>> turn_ended([ev(1, IDLE), ev(2, BUSY)], since=0.0), turn_ended([ev(1, IDLE)], since=2.0)
    (False, False)
    """
    for event in sorted(events, key=lambda e: (e.at, e.id), reverse=True):
        if event.state in _TURN_BEGUN:
            return False
        if event.state in _TURN_ENDED:
            return event.at >= since
    return False


def _json_object(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError as error:
        raise PayloadError(f"the payload is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PayloadError("the payload is not a JSON object")
    return data


def _asked_about(data: dict[str, Any]) -> str:
    """What a permission request is about: the command, else the tool's name."""
    tool = _text(data.get("tool_name"))
    given = data.get("tool_input")
    command = _text(given.get("command")) if isinstance(given, dict) else ""
    # an agent's text: no control byte of it may reach a terminal or tmux as a key
    return neutralise(command or tool)[:_DETAIL_MAX]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
