"""The wire between two hosts' APIs: a call and its answer, as typed JSON, versioned.

A call to another host's API (see imessenger.app.remote; the watcher follows another
host's status the same way) travels as one JSON line on the
stdin of ``imessenger remote`` there, and comes back as one JSON line on its stdout
(several, for a call that follows a stream):

    {"protocol": 3, "version": "0.1.0", "call": "send", "args": {"target": "w1", ...}}
    {"protocol": 3, "result": {...}}        or
    {"protocol": 3, "error": {"type": "NoSuchSession", "message": "...", "exit_code": 1}}

The values are the API's own value classes (imessenger.core.values, imessenger.app.values,
imessenger.core.screen), written field by field: a dataclass as an object, an enum as
its value, a tuple or a list as an array, a Path as its text. Each side reads what it
receives against the type it expects (:func:`decode`), so a value that is not what the
type says is refused with :class:`WireError`, never taken as something else. Nothing
here is a program's printed output: no side parses what a command line prints.

:data:`PROTOCOL` names this format; both sides refuse another.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from pathlib import Path
from typing import Any

from imessenger.core.errors import ImessengerError

#: The version of this format. A host that speaks another is refused by name.
PROTOCOL = 3
#: The exit status of ``imessenger remote`` when the caller speaks another protocol.
EXIT_INCOMPATIBLE = 65

_NoneType = type(None)


class WireError(ImessengerError):
    """What came over the wire is not what the protocol says: nothing was acted on."""


class RemoteError(ImessengerError):
    """An error another host's API raised, with its message and its exit code."""

    def __init__(self, kind: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code


# --- values ------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """``value`` as JSON: dataclasses field by field, enums by value, tuples as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise WireError(f"a mapping with keys that are not text cannot travel: {value!r}")
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    raise WireError(f"a {type(value).__name__} cannot travel over the wire")


def decode(data: Any, kind: Any) -> Any:
    """Read ``data`` (JSON) as a value of type ``kind``; WireError when it is not one."""
    if kind is Any:
        return data
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(kind)
        if data is None and _NoneType in options:
            return None
        others = [option for option in options if option is not _NoneType]
        if len(others) != 1:
            raise WireError(f"no single way to read {kind}")
        return decode(data, others[0])
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise WireError(f"expected a list for {kind}, got {type(data).__name__}")
        args = typing.get_args(kind)
        if origin is list:
            return [decode(item, args[0]) for item in data]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(item, args[0]) for item in data)
        if len(args) != len(data):
            raise WireError(f"expected {len(args)} items for {kind}, got {len(data)}")
        return tuple(decode(item, arg) for item, arg in zip(data, args, strict=True))
    if origin is dict:
        if not isinstance(data, dict):
            raise WireError(f"expected an object for {kind}, got {type(data).__name__}")
        _, value_kind = typing.get_args(kind)
        return {str(key): decode(item, value_kind) for key, item in data.items()}
    if kind is _NoneType:
        if data is not None:
            raise WireError(f"expected null, got {data!r}")
        return None
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            raise WireError(f"{data!r} is not a {kind.__name__}") from None
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _decode_dataclass(data, kind)
    if kind is Path:
        return Path(_plain(data, str))
    if kind is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        raise WireError(f"expected a number, got {data!r}")
    if kind in (bool, int, str):
        return _plain(data, kind)
    raise WireError(f"the wire cannot read a {kind}")


def _plain(data: Any, kind: type) -> Any:
    if kind is int and isinstance(data, bool):
        raise WireError(f"expected an integer, got {data!r}")
    if not isinstance(data, kind):
        raise WireError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


@functools.cache
def _fields(kind: type) -> dict[str, Any]:
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind) if f.init}


def _decode_dataclass(data: Any, kind: type) -> Any:
    if not isinstance(data, dict):
        raise WireError(f"expected an object for {kind.__name__}, got {type(data).__name__}")
    fields = _fields(kind)
    unknown = set(data) - set(fields)
    if unknown:
        raise WireError(f"{kind.__name__} has no field {', '.join(sorted(unknown))}")
    return kind(**{name: decode(data[name], hint) for name, hint in fields.items() if name in data})


# --- calls and answers ---------------------------------------------------------------------------


def call_line(call: str, args: dict[str, Any], version: str) -> str:
    """The line that asks another host's API for ``call`` with ``args``."""
    message = {"protocol": PROTOCOL, "version": version, "call": call, "args": encode(args)}
    return json.dumps(message, ensure_ascii=True) + "\n"


def read_call(line: str) -> tuple[str, dict[str, Any]]:
    """The call and its arguments (as JSON, to :func:`decode`) a line asks for.

    Raises WireError when the line is no call of this protocol.
    """
    message = _json(line)
    protocol = message.get("protocol")
    if protocol != PROTOCOL:
        raise WireError(
            f"this imessenger speaks protocol {PROTOCOL}, the caller {protocol}: install "
            "the same imessenger version on both hosts"
        )
    call, args = message.get("call"), message.get("args", {})
    if not isinstance(call, str) or not isinstance(args, dict):
        raise WireError("a call names its call (text) and its args (an object)")
    return call, args


def result_line(value: Any) -> str:
    """The line that answers a call with ``value``."""
    return json.dumps({"protocol": PROTOCOL, "result": encode(value)}, ensure_ascii=True) + "\n"


def error_line(error: ImessengerError) -> str:
    """The line that answers a call with the error it raised."""
    failure = {"type": type(error).__name__, "message": str(error), "exit_code": error.exit_code}
    return json.dumps({"protocol": PROTOCOL, "error": failure}, ensure_ascii=True) + "\n"


def read_answer(line: str, kind: Any) -> Any:
    """The value of type ``kind`` that a line answers; RemoteError for the error it
    carries, WireError when it is neither."""
    message = _json(line)
    if message.get("protocol") != PROTOCOL:
        raise WireError(
            f"the host answered in protocol {message.get('protocol')}, this imessenger speaks "
            f"{PROTOCOL}: install the same imessenger version on both hosts"
        )
    if "error" in message:
        failure = message["error"]
        if not isinstance(failure, dict):
            raise WireError("an error that says nothing")
        code = failure.get("exit_code")
        return _raise(
            str(failure.get("type", "")),
            str(failure.get("message", "")),
            code if isinstance(code, int) and not isinstance(code, bool) else 1,
        )
    if "result" not in message:
        raise WireError("an answer with neither a result nor an error")
    return decode(message["result"], kind)


def _raise(kind: str, message: str, exit_code: int) -> typing.NoReturn:
    raise RemoteError(kind, message, exit_code)


def _json(line: str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as error:
        raise WireError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message
