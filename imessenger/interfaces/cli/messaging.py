"""``imessenger send``, ``reply`` and ``deliver``."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from imessenger.app.api import Api
from imessenger.core.errors import UsageError
from imessenger.core.visible import json_text
from imessenger.interfaces.cli.group import echo, pass_api

if TYPE_CHECKING:
    from imessenger.core.values import SendResult

#: Exit codes of ``send`` beyond 0 (replied/delivered), 1 (error: nothing pasted) and 2 (usage).
EXIT_PENDING = 3
#: pasted, but not confirmed as taken, or not recorded: never pasted again
EXIT_UNCONFIRMED = 4
#: delivered, but the session ended before it replied
EXIT_ENDED = 5
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP reached a waiting ``send``: handled as Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stopped_as_interrupted() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an interruption, so the message is settled as on Ctrl-C."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _decoded(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"the message {where} is not valid UTF-8 (byte 0x{data[error.start]:02x} at "
            f"offset {error.start}); nothing was sent: convert it first, for example with "
            "`iconv -f latin1 -t utf-8`"
        ) from None


def _read_message(message: str | None, file: Path | None) -> str:
    if file is not None and message is not None:
        raise UsageError("give the message as an argument, with --file, or on stdin: not several")
    if file is not None:
        try:
            data = file.read_bytes()
        except OSError as error:
            raise UsageError(f'cannot read message file "{file}": {error}') from None
        return _decoded(data, f'in "{file}"')
    if message is None or message == "-":
        if sys.stdin.isatty():
            raise UsageError('no message: give it as an argument, "-" for stdin, or --file F')
        return _decoded(sys.stdin.buffer.read(), "on stdin")
    # An argument with bytes that are not UTF-8 arrives with surrogate escapes.
    return _decoded(os.fsencode(message), "argument")


def _print_json(result: SendResult) -> None:
    record = result.message
    echo(
        json_text(
            {
                "id": record.id,
                "target": record.target,
                "sender": record.sender,
                "state": result.outcome.value,
                "why": result.why or None,
                "reply": result.reply,
                # where the reply was read: "record" (the agent's own record of its
                # answer, byte for byte), "screen" or "command" (imessenger reply)
                "reply_via": record.reply_via if result.reply is not None else None,
                "created_at": record.created_at,
                "delivered_at": record.delivered_at,
                "replied_at": record.replied_at,
                "timings_ms": result.timings,
            }
        )
    )


@click.command()
@click.argument("target")
@click.argument("message", required=False)
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the message from a file.",
)
@click.option(
    "--no-reply", is_flag=True, help="Fire and forget: return once the agent took the message."
)
@click.option(
    "--timeout",
    "timeout_ms",
    type=click.IntRange(min=1),
    metavar="MS",
    help="How long to wait for the reply, in ms (default 30000, from config).",
)
@click.option("--raw", is_flag=True, help="Send the text alone, without the envelope (no reply).")
@click.option("--json", "as_json", is_flag=True, help="Print id, state, reply and timings as JSON.")
@pass_api
def send(
    api: Api,
    target: str,
    message: str | None,
    file: Path | None,
    no_reply: bool,
    timeout_ms: int | None,
    raw: bool,
    as_json: bool,
) -> None:
    """Paste MESSAGE into session TARGET and print its reply.

    MESSAGE may be plain, multi-line or code; "-" (or a pipe) reads it from
    stdin. A target at a permission prompt or with half-typed input is never
    pasted into: the message waits (exit 3) and is delivered once the session
    is ready (`imessenger deliver`). Exit codes: 0 replied (or delivered with
    --no-reply), 1 error (nothing pasted), 2 usage, 3 pending, 4 pasted but
    not confirmed or not recorded (never pasted again), 5 delivered but the
    session ended before replying, 77 refused by the policy, 124 timed out,
    130 interrupted (143 and 129 for SIGTERM, SIGHUP).

    \b
    Examples:
      imessenger send worker-1 "Build the login component"
      git diff | imessenger send reviewer - --timeout 120000
      imessenger send worker-1 --no-reply "Also add tests"
    """
    from imessenger.core.values import MessageState, NotDelivered

    body = _read_message(message, file)
    try:
        with _stopped_as_interrupted():
            result = api.send(target, body, raw=raw, wait=not no_reply, timeout_ms=timeout_ms)
    except NotDelivered as failed:
        if as_json and failed.result is not None:
            _print_json(failed.result)
        raise
    except KeyboardInterrupt as interrupted:
        echo("interrupted: the message stays recorded; a late reply goes to your inbox", err=True)
        code = 128 + interrupted.signum if isinstance(interrupted, _Stopped) else EXIT_INTERRUPTED
        sys.exit(code)
    if as_json:
        _print_json(result)
    elif result.outcome is MessageState.REPLIED:
        # as it came, ended by one line break (--json tells "x" from "x\n"); on a
        # terminal, with its control characters shown (see imessenger.core.visible)
        reply = result.reply or ""
        echo(reply, nl=not reply.endswith("\n"))
    elif result.outcome is MessageState.PENDING:
        echo(
            f"message {result.message.id} is pending: {result.why}; it will be delivered "
            f"when the session is ready (`imessenger deliver {target}`)",
            err=True,
        )
    elif result.outcome in (
        MessageState.UNCONFIRMED,
        MessageState.NOT_RECORDED,
        MessageState.ENDED,
    ):
        if result.reply is not None:  # found, though the store could not keep it
            echo(result.reply, nl=not result.reply.endswith("\n"))
        echo(f"message {result.message.id} {result.outcome.value}: {result.why}", err=True)
    elif result.outcome is MessageState.TIMED_OUT:
        echo(
            f"no reply from {target} to message {result.message.id} within the timeout; "
            "a later reply goes to your inbox (`imessenger inbox`)",
            err=True,
        )
    else:
        echo(f"message {result.message.id} {result.outcome.value}", err=True)
    if result.outcome is MessageState.PENDING:
        sys.exit(EXIT_PENDING)
    if result.outcome is MessageState.TIMED_OUT:
        sys.exit(EXIT_TIMEOUT)
    if result.outcome in (MessageState.UNCONFIRMED, MessageState.NOT_RECORDED):
        sys.exit(EXIT_UNCONFIRMED)
    if result.outcome is MessageState.ENDED:
        sys.exit(EXIT_ENDED)


@click.command()
@click.argument("message_id", metavar="ID")
@click.argument("text", required=False)
@pass_api
def reply(api: Api, message_id: str, text: str | None) -> None:
    """Answer message ID with TEXT (or stdin): the exact channel for agents.

    The waiting sender returns with TEXT at once; a sender that stopped
    waiting finds it in its inbox.

    \b
    Example:
      imessenger reply 3f9c2a1b "Done: login component in src/login.tsx"
      imessenger reply buildbox:3f9c2a1b "Done"     # a message of host buildbox
    """
    answer = _read_message(text, None)
    record = api.reply(message_id, answer)
    click.echo(f"reply to {record.sender} recorded (message {record.id})", err=True)


@click.command()
@click.argument("target", required=False)
@pass_api
def deliver(api: Api, target: str | None) -> None:
    """Deliver pending messages to TARGET (or to every session that has some).

    \b
    Example:
      imessenger deliver worker-1
      imessenger deliver buildbox:worker-1
    """
    from imessenger.core.values import MessageState

    left = 0
    for done in api.deliver(target):
        name = done.message.target
        if done.outcome is MessageState.PENDING:
            left += 1
            echo(f"{done.message.id} -> {name}: still pending ({done.why})")
        else:
            echo(f"{done.message.id} -> {name}: {done.outcome.value}")
    if left:
        sys.exit(EXIT_PENDING)
