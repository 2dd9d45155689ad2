"""A stand-in for an AI coding agent's terminal UI, to try imessenger without one.

Run it in a tmux pane::

    python -m imessenger.demo.agent [--startup-ms N] [--busy-ms N] [--name NAME]
                                    [--drop-enters N] [--torn-frames MS]
                                    [--slow-paste MS] [--paste-guard MS]
                                    [--record PATH [--resume]] [--allow PREFIX]
                                    [--hook-command CMD] [--hook-sync]

It uses only the standard library and behaves like the real agents where a
messaging tool has to care (see docs/agents.md): it draws on the normal screen
like Claude Code, the transcript scrolling up and the bottom area redrawn in
place::

    ❯ a message that was submitted        (continuation lines indented two spaces)
    ● the answer                          (continuation lines indented two spaces)
    ⠋ Working (2s · esc to interrupt)     (only while busy)
    demo> the text being typed
      demo · ? for help

While busy, a submitted message is queued: it shows in the transcript at once,
with ``⎿  Queued`` under it, the footer reads ``demo · 1 queued · Press up to edit
queued messages``, and it is answered after the current one.
During the first ``--startup-ms`` (300) milliseconds the footer reads
``demo · starting…`` and an Enter is dropped: the text stays in the input.

Input: typed characters go into the input line, Backspace edits, Enter
submits, Ctrl-J inserts a newline. A bracketed paste inserts its text without
submitting; a paste of more than 3 lines or 800 characters shows as
``[Pasted text #N +K lines]`` but its whole text is kept. Esc or Ctrl-C while
busy interrupts the current message. ``/exit`` at idle, Ctrl-D on an empty
input or Ctrl-C twice within a second quits. ``?`` on an empty input prints a
short help.

Answers: a message holding an imessenger envelope (its id is found with the
configured ``protocol.reply_start`` format) is answered with ``● <start line>``,
the envelope's body (the text between its first and its last line) indented
two spaces, and ``  <end line>``. Any other message is answered with
``● demo got N line(s)``.

Directives, written anywhere in the message body:

``ASK[command]``
    show a permission prompt before answering: ``1. Yes`` / ``2. Yes, and
    don't ask again for: <first word>`` / ``3. No``. The digit acts at once,
    Enter takes the highlighted option (1), Esc means No, Up/Down move the
    highlight. Yes prints ``● Ran <command>``, No ``● Did not run <command>``;
    the message is answered either way. Option 2 approves the command's first
    word for the rest of the run: later prompts for it are skipped. A paste
    that arrives while the prompt is open is dropped silently, so the Enter
    that follows it answers Yes, as in Claude Code.
``ASK2[command]``
    the same with two options, ``1. Yes`` / ``2. No``.
``DROPKEY``
    the prompt loses the keys pressed in its first 150 ms, as Claude Code can
    lose a key sent the instant its prompt appears.
``SLOWKEY[ms]``
    the prompt acts on a key this long after it arrives, drawing and reading
    nothing meanwhile, like an agent starved of CPU.
``SLOWASK[ms]``
    once it has decided to ask (``ASK``), take this long to draw the prompt, reading
    nothing meanwhile: the moment inside an agent between deciding and drawing. Keys
    that come in that moment were sent before anyone could see the prompt: they go to
    the input box (typed ahead), never answer it.
``AFTER[ms]``
    once its prompt (``ASK``) is answered, stay busy this long before answering, as an
    agent that runs the tool and asks its model again goes on with its turn.
``BLINK[ms]``
    this long into its busy phase, draw its screen without the spinner line for 80 ms,
    as an agent that redraws mid-turn can show an idle-looking frame for a moment.
``BUSY[ms]``
    stay busy this long for this message instead of ``--busy-ms`` (400). The screen
    shows nothing new meanwhile: only the spinner's next frame and its timer's next
    second, as an agent that stalls.
``PROGRESS[ms]``, ``PROGRESS[ms,from]``
    while busy, print a new transcript line (``  ⎿  working on part a``, then ``b``...,
    letters, no digits: each is new text, never a redraw) every ``ms`` milliseconds,
    from ``from`` milliseconds into the busy phase (0): an agent that makes progress.
``WRITES[ms]``
    while busy, append an entry ``{"type": "progress", ...}`` to the ``--record`` file
    every ``ms`` milliseconds, showing nothing new on screen: an agent whose record
    grows while its screen only spins.
``FAIL[text]``
    fail the turn instead of answering: print ``  ⎿  API Error: <text>``, as Claude
    Code ends a turn its model API refused, and be idle again.
``LINES[n]``
    answer with n numbered lines ``line 1`` .. ``line n``.
``REPLYCMD``
    answer by running the reply command the envelope names (``<command> -- <id>
    <text>``; ``python -m imessenger reply`` when it names none) and print ``● ran
    imessenger reply``, instead of printing the delimiters. A named command that no
    ``--allow`` prefix lets through is asked about first, like ``ASK``.
``NOREPLY``
    answer nothing.
``UNESCAPE``
    decode ``\\xNN``, ``\\uNNNN`` and ``\\\\`` in the answer and in ``ASK[...]``'s
    command first: the tests' way to have an agent answer or ask with control
    characters (ESC, NUL, C1) and invisible ones, which a pasted message cannot hold.
``EXIT``
    exit with status 0 instead of answering.
``RECALL``
    answer with the first line of the body of every message taken earlier in this
    conversation, one ``recall: <line>`` each (``recall: nothing`` when none): with
    ``--resume``, that includes the messages of the earlier runs in the record.

``--torn-frames MS`` writes each screen in two parts, MS milliseconds apart: all but the
footer, then the footer. A program that reads the pane in between sees what it can
always catch from a real agent that is redrawing: the input line without the line
under it.

``--record PATH`` appends each message it takes, ``{"type": "message", "text": ...}``,
and each delimited answer, as it was meant rather than as drawn,
``{"type": "answer", "text": ...}``, to PATH as JSON lines: the record imessenger reads
for exact replies, as it reads the real agents' own records. With ``--resume`` it
first reads the messages already in PATH and goes on with that conversation, as the real
agents resume theirs (``RECALL`` shows what it remembers); it says so in its transcript.
Before each answer (every message it takes, but for ``EXIT``) the record gets the
answer's token usage, made up from the lengths of the texts so that a test can tell
it: ``{"type": "usage", "input": N, "output": M, "cache_read": C, "model": "demo"}``,
N the characters of the message taken (the whole text pasted, envelope and all), M
those of the answer (its body, without the delimiter lines; 0 for ``NOREPLY``), C those
of the messages answered before it in this run (as if read again from a prompt cache).
``--allow PREFIX`` lets a command that starts with PREFIX run with no prompt, as a
real agent's pre-allowed commands. ``--hook-command CMD`` runs CMD (with /bin/sh)
on each event, its JSON on stdin, with the field names of Claude Code's hooks:
``SessionStart`` at start, ``UserPromptSubmit`` when it takes a message,
``PermissionRequest`` when a prompt opens (``tool_input.command``), ``Stop`` when
the message is done. CMD runs in the background, as Claude Code runs an ``async``
hook; with ``--hook-sync`` the agent waits for it, drawing and reading nothing.
``--slow-paste MS`` makes taking in a paste cost MS milliseconds, drawing and
reading nothing meanwhile; ``--paste-guard MS`` takes an Enter that comes within
MS after a paste for a new line, as Gemini CLI does.

SIGUSR1 ends the current message's busy phase at once, so that its prompt (``ASK``)
opens at a moment a test chooses.

``--name`` changes the word in the footer and in the plain answer; the input
line stays ``demo>`` so that imessenger's ``demo`` profile recognises every
demo agent.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import logging
import os
import re
import select
import selectors
import shlex
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty
import unicodedata
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

from imessenger.core import envelope

logger = logging.getLogger(__name__)

DEFAULT_REPLY_START = "<<IMSG-REPLY {id}>>"
DEFAULT_REPLY_END = "<<IMSG-END {id}>>"

PROMPT = "demo> "
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
COLLAPSE_LINES = 3  # a paste of more lines than this is shown collapsed
COLLAPSE_CHARS = 800  # ... and so is one of more characters than this
ESC_WAIT = 0.05  # seconds an ESC waits for the rest of an escape sequence
FRAME = 0.1  # seconds between spinner frames
DOUBLE_PRESS = 1.0  # seconds within which a second Ctrl-C quits
HOOK_TIMEOUT_S = 10  # how long a --hook-command may run
DROP_WINDOW = 0.15  # seconds after a DROPKEY prompt appears in which its keys are lost
BLINK_S = 0.08  # how long a BLINK frame shows no spinner

HELP = (
    "  Type a message and press Enter; a paste is inserted without submitting.",
    "  Directives: ASK[cmd] ASK2[cmd] AFTER[ms] DROPKEY SLOWKEY[ms] SLOWASK[ms] BUSY[ms]",
    "              BLINK[ms] LINES[n] REPLYCMD",
    "              NOREPLY EXIT UNESCAPE RECALL PROGRESS[ms] WRITES[ms] FAIL[text]",
    "  Quit with /exit, Ctrl-D on an empty input, or Ctrl-C twice.",
)

_ASK = re.compile(r"\bASK(2?)\[([^\]\n]*)\]")
_BUSY = re.compile(r"\bBUSY\[(\d+)\]")
_LINES = re.compile(r"\bLINES\[(\d+)\]")
_SLOWKEY = re.compile(r"\bSLOWKEY\[(\d+)\]")
_SLOWASK = re.compile(r"\bSLOWASK\[(\d+)\]")
_AFTER = re.compile(r"\bAFTER\[(\d+)\]")
_BLINK = re.compile(r"\bBLINK\[(\d+)\]")
_PROGRESS = re.compile(r"\bPROGRESS\[(\d+)(?:,(\d+))?\]")
_WRITES = re.compile(r"\bWRITES\[(\d+)\]")
_FAIL = re.compile(r"\bFAIL\[([^\]\n]*)\]")
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(\\))")
_CONTROL = re.compile("[\x00-\x1f\x7f\x80-\x9f]")


# --- text measuring ------------------------------------------------------------------------------


def cell_width(char: str) -> int:
    """Return how many terminal columns a character takes (0, 1 or 2)."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Return how many terminal columns a line of text takes."""
    return sum(cell_width(char) for char in text)


def fit(text: str, limit: int) -> str:
    """Cut a line to at most ``limit`` columns."""
    used = 0
    for index, char in enumerate(text):
        used += cell_width(char)
        if used > limit:
            return text[:index]
    return text


def fit_tail(text: str, limit: int) -> str:
    """Keep the end of a line that is wider than ``limit`` columns, marked with an ellipsis."""
    if text_width(text) <= limit:
        return text
    kept: list[str] = []
    used = 1
    for char in reversed(text):
        used += cell_width(char)
        if used > limit:
            break
        kept.append(char)
    return "…" + "".join(reversed(kept))


def letters(number: int) -> str:
    """A count written in letters, no digits: 0 is "a", 25 "z", 26 "ba"..."""
    word = ""
    while True:
        number, rest = divmod(number, 26)
        word = chr(ord("a") + rest) + word
        if not number:
            return word


def printable(text: str) -> str:
    """Make one line safe to draw: tabs become spaces, other control characters pictures."""
    return envelope.neutralise(text.replace("\t", "    ")).replace("\n", " ")


def safe(text: str) -> str:
    """Make transcript text safe to print: only tabs and newlines stay as control characters."""
    return envelope.neutralise(text)


# --- keyboard input ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyEvent:
    """One thing read from the terminal.

    ``kind`` is one of: char, enter, newline, backspace, esc, up, down, ctrl-c,
    ctrl-d, paste. ``text`` holds the character or the pasted text.
    """

    kind: str
    text: str = ""


_CONTROL_KEYS = {
    "\r": "enter",
    "\n": "newline",
    "\x7f": "backspace",
    "\x08": "backspace",
    "\x03": "ctrl-c",
    "\x04": "ctrl-d",
}
_SEQUENCES = {"\x1b[A": "up", "\x1bOA": "up", "\x1b[B": "down", "\x1bOB": "down"}


def _partial_suffix(text: str, marker: str) -> int:
    """Return the length of the longest end of ``text`` that begins ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


def _escape_length(text: str, start: int) -> int | None:
    """Return the length of the escape sequence at ``start``; None when it is incomplete."""
    if start + 1 >= len(text):
        return None
    kind = text[start + 1]
    if kind == "[":
        index = start + 2
        while index < len(text) and "\x20" <= text[index] <= "\x3f":
            index += 1
        if index >= len(text):
            return None
        return index + 1 - start
    if kind == "O":
        return None if start + 2 >= len(text) else 3
    if kind == "\x1b":
        return 1  # ESC ESC: the first one is a key of its own
    return 2  # Alt + a key


class KeyReader:
    """Turn bytes read from a terminal into :class:`KeyEvent` objects.

    Handles UTF-8 characters, escape sequences and bracketed pastes that are
    split across reads. A lone ESC stays pending until more bytes arrive or
    :meth:`flush` is called (after a short wait without input).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._paste: list[str] | None = None

    @property
    def waiting(self) -> bool:
        """True when an incomplete escape sequence (not a paste) waits for more bytes."""
        return bool(self._pending) and self._paste is None

    def feed(self, data: bytes) -> list[KeyEvent]:
        """Take bytes just read and return the events they complete."""
        self._pending += self._decoder.decode(data)
        return self._parse(final=False)

    def flush(self) -> list[KeyEvent]:
        """Treat a pending incomplete escape sequence as plain keys (a lone ESC is Esc)."""
        return self._parse(final=True)

    def _parse(self, *, final: bool) -> list[KeyEvent]:
        text = self._pending
        events: list[KeyEvent] = []
        index = 0
        while index < len(text):
            if self._paste is not None:
                end = text.find(PASTE_END, index)
                if end < 0:
                    keep = _partial_suffix(text[index:], PASTE_END)
                    self._paste.append(text[index : len(text) - keep])
                    index = len(text) - keep
                    break
                self._paste.append(text[index:end])
                events.append(KeyEvent("paste", envelope.normalise_newlines("".join(self._paste))))
                self._paste = None
                index = end + len(PASTE_END)
                continue
            char = text[index]
            if char != "\x1b":
                kind = _CONTROL_KEYS.get(char)
                if kind is not None:
                    events.append(KeyEvent(kind))
                elif char == "\t" or not _CONTROL.match(char):
                    events.append(KeyEvent("char", char))
                index += 1
                continue
            length = _escape_length(text, index)
            if length is None:
                if not final:
                    break
                events.append(KeyEvent("esc"))
                index += 1
                continue
            sequence = text[index : index + length]
            index += length
            if sequence == PASTE_START:
                self._paste = []
            elif sequence == "\x1b":
                events.append(KeyEvent("esc"))
            elif sequence in _SEQUENCES:
                events.append(KeyEvent(_SEQUENCES[sequence]))
        self._pending = text[index:]
        return events


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Directives:
    """What a message's body asks the demo agent to do (see the module docstring)."""

    ask: str | None = None
    ask_options: int = 3
    dropkey: bool = False
    slowkey_ms: int = 0
    slowask_ms: int = 0
    #: AFTER: busy this long once the prompt was answered
    after_ms: int = 0
    #: BLINK: when its busy screen shows an idle-looking frame (None: never)
    blink_ms: int | None = None
    busy_ms: int | None = None
    lines: int | None = None
    replycmd: bool = False
    noreply: bool = False
    exit: bool = False
    unescape: bool = False
    recall: bool = False
    #: PROGRESS: a new line every this many ms, from this many ms into the busy phase
    progress_ms: int | None = None
    progress_from_ms: int = 0
    #: WRITES: a record entry every this many ms
    writes_ms: int | None = None
    #: FAIL: the error the turn ends with
    fail: str | None = None


def unescape(text: str) -> str:
    """Decode ``\\xNN``, ``\\uNNNN`` and ``\\\\`` (UNESCAPE); any other backslash stays."""

    def decoded(found: re.Match[str]) -> str:
        code = found.group(1) or found.group(2)
        return chr(int(code, 16)) if code else "\\"

    return _ESCAPE.sub(decoded, text)


def parse_directives(text: str) -> Directives:
    """Read the directives written in ``text``."""
    decode = re.search(r"\bUNESCAPE\b", text) is not None
    ask = _ASK.search(text)
    busy = _BUSY.search(text)
    lines = _LINES.search(text)
    slowkey = _SLOWKEY.search(text)
    slowask = _SLOWASK.search(text)
    after = _AFTER.search(text)
    blink = _BLINK.search(text)
    progress = _PROGRESS.search(text)
    writes = _WRITES.search(text)
    fail = _FAIL.search(text)
    return Directives(
        ask=(unescape if decode else str)(ask.group(2).strip()) if ask else None,
        ask_options=2 if ask and ask.group(1) else 3,
        dropkey=re.search(r"\bDROPKEY\b", text) is not None,
        slowkey_ms=int(slowkey.group(1)) if slowkey else 0,
        slowask_ms=int(slowask.group(1)) if slowask else 0,
        after_ms=int(after.group(1)) if after else 0,
        blink_ms=int(blink.group(1)) if blink else None,
        busy_ms=int(busy.group(1)) if busy else None,
        lines=int(lines.group(1)) if lines else None,
        replycmd=re.search(r"\bREPLYCMD\b", text) is not None,
        noreply=re.search(r"\bNOREPLY\b", text) is not None,
        exit=re.search(r"\bEXIT\b", text) is not None,
        unescape=decode,
        recall=re.search(r"\bRECALL\b", text) is not None,
        progress_ms=max(1, int(progress.group(1))) if progress else None,
        progress_from_ms=int(progress.group(2) or 0) if progress else 0,
        writes_ms=max(1, int(writes.group(1))) if writes else None,
        fail=(unescape if decode else str)(fail.group(1)) if fail else None,
    )


@dataclass(frozen=True)
class Message:
    """A submitted message: its text, envelope id and body (the text when no envelope)."""

    text: str
    message_id: str | None
    body: str
    directives: Directives
    #: the reply command the envelope names (``... reply``, before the id), or ""
    reply_command: str = ""


def read_message(text: str, start_format: str) -> Message:
    """Find the envelope id and body of a submitted message and the body's directives."""
    message_id = envelope.message_id_in(text, start_format)
    command = ""
    if message_id is None:
        body = text
    else:
        lines = text.rstrip("\n").split("\n")
        body = "\n".join(lines[1:-1])
        named = re.search(r"`([^`\n]+?) " + re.escape(message_id) + " '", lines[-1])
        command = named.group(1) if named else ""
    return Message(text, message_id, body, parse_directives(body), command)


def earlier_messages(record: str, start_format: str) -> list[str]:
    """The bodies of the messages a record (``--record``) holds, in order ([] when it
    cannot be read; a line that is not an entry is skipped)."""
    if not record:
        return []
    try:
        with open(record, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    bodies = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") == "message":
            bodies.append(read_message(str(entry.get("text", "")), start_format).body)
    return bodies


def reply_formats() -> tuple[str, str]:
    """Return the configured reply start and end formats, or the defaults if unreadable."""
    try:
        from imessenger.adapters.config_files import load_config

        protocol = load_config().settings.protocol
    except Exception as exc:  # any failure: the demo still works with the defaults
        logger.debug("using the default reply delimiters: %s", exc)
        return DEFAULT_REPLY_START, DEFAULT_REPLY_END
    return protocol.reply_start, protocol.reply_end


def block(bullet: str, lines: Sequence[str]) -> list[str]:
    """Format transcript lines: the first after ``bullet``, the others indented two spaces."""
    return [(bullet if index == 0 else "  ") + line for index, line in enumerate(lines)]


# --- the agent -----------------------------------------------------------------------------------


@dataclass
class Chunk:
    """A piece of the input line: typed text, or a paste shown as ``label`` when collapsed."""

    text: str
    label: str | None = None
    pasted: bool = False


@dataclass
class AskedPrompt:
    """An open permission prompt."""

    command: str
    options: tuple[tuple[str, str], ...]  # (label, meaning: "yes" / "always" / "no")
    selected: int = 0
    drop_until: float = 0.0  # monotonic time before which keys are lost (DROPKEY)
    slowkey_s: float = 0.0  # how long it takes to act on a key (SLOWKEY)


@dataclass(frozen=True)
class ReplyRun:
    """A running ``imessenger reply`` command and the file that collects its output."""

    process: subprocess.Popen[bytes]
    output: IO[bytes]


@dataclass
class Job:
    """The message being worked on."""

    message: Message
    started: float
    busy_until: float
    phase: str = "busy"  # "busy", "asking" or "replycmd"
    asked: bool = False  # its prompt was answered (AFTER: busy again, not asking again)
    run: ReplyRun | None = None
    #: REPLYCMD: the answer to the prompt for the reply command (None: not asked)
    reply_choice: str | None = None
    #: PROGRESS and WRITES: when the next line is printed, the next entry written
    #: (monotonic; None: never), and how many lines were printed
    progress_due: float | None = None
    writes_due: float | None = None
    progressed: int = 0


def blinking(job: Job, now: float) -> bool:
    """Whether the BLINK frame of the job shows now: no spinner, as if idle."""
    blink_ms = job.message.directives.blink_ms
    if blink_ms is None or job.phase != "busy":
        return False
    into = now - job.started - blink_ms / 1000
    return 0 <= into < BLINK_S


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    startup_ms: int = 300
    busy_ms: int = 400
    name: str = "demo"
    drop_enters: int = 0
    torn_ms: int = 0
    slow_paste_ms: int = 0
    paste_guard_ms: int = 0
    record: str = ""
    #: go on with the conversation already in ``record`` (--resume)
    resume: bool = False
    #: command prefixes that run without a prompt (--allow)
    allow: tuple[str, ...] = ()
    #: a shell command run with each event's JSON on stdin (--hook-command), or ""
    hook_command: str = ""
    #: wait for each hook before going on (--hook-sync)
    hook_sync: bool = False


class DemoAgent:
    """The demo agent's state and screen; :meth:`run` is its event loop."""

    def __init__(self, options: Options, *, in_fd: int = 0, out_fd: int = 1) -> None:
        self.options = options
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.start_format, self.end_format = reply_formats()
        self.reader = KeyReader()
        self.born = time.monotonic()
        self.ready = options.startup_ms <= 0
        self.enters_to_drop = options.drop_enters
        self.chunks: list[Chunk] = []
        self.pastes = 0
        self.pasted_at: float | None = None
        #: messages submitted while busy: their text, and whether the transcript shows it
        self.queue: deque[tuple[str, bool]] = deque()
        self.job: Job | None = None
        self.prompt: AskedPrompt | None = None
        self.always: set[str] = set()
        #: the characters of the messages answered so far in this run (their usage's cache)
        self.read_before = 0
        self.exit_code: int | None = None
        self.last_ctrl_c: float | None = None
        self.escape_deadline: float | None = None
        self.session_id = str(uuid.uuid4())
        self.hooks: list[subprocess.Popen[bytes]] = []  # hooks still running
        self.turn_open = False  # a message is being worked on (its Stop hook is owed)
        self.announced: AskedPrompt | None = None  # the prompt whose hook has run
        self.transcript: list[str] = []
        #: the bodies of the messages taken in this conversation (RECALL), earlier runs' too
        self.conversation: list[str] = (
            earlier_messages(options.record, self.start_format) if options.resume else []
        )
        self.drawn: list[str] = []
        self.cursor = (0, 0)
        self.dirty = True

    # -- the loop --

    def run(self) -> int:
        """Draw, read keys and work on messages until asked to exit; return the exit status."""
        selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        selector.register(self.in_fd, selectors.EVENT_READ, "keys")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        old_wakeup = signal.set_wakeup_fd(wake_write)
        handlers = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGWINCH, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
        }
        try:
            name = self.options.name
            self.transcript.append(
                f"imessenger {name} agent: type a message and press Enter (? shows help)"
            )
            if self.options.resume:
                count = len(self.conversation)
                self.transcript.append(f"  resumed a conversation of {count} message(s)")
            self.draw()
            self._hook("SessionStart", source="startup")
            while self.exit_code is None:
                for key, _ in selector.select(self._timeout()):
                    if key.data == "keys":
                        self._read_keys()
                    else:
                        self._drain(wake_read)
                self._advance()
                if self.dirty or self.transcript:
                    self.draw()
                self._report_events()
            return self.exit_code
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            selector.close()
            os.close(wake_read)
            os.close(wake_write)

    def _report_events(self) -> None:
        """--hook-command: report what changed since the last look, as Claude Code does."""
        prompt = self.prompt
        if prompt is not None and prompt is not self.announced:
            self.announced = prompt
            self._hook(
                "PermissionRequest", tool_name="Bash", tool_input={"command": prompt.command}
            )
        if self.turn_open and self.job is None and self.exit_code is None:
            self.turn_open = False
            self._hook("Stop", stop_hook_active=False)

    def _hook(self, event: str, **fields: object) -> None:
        """Run the hook command for ``event``, its JSON on stdin: in the background, as
        Claude Code runs an ``async`` hook, or (``--hook-sync``) waiting for it."""
        self.hooks = [hook for hook in self.hooks if hook.poll() is None]
        if not self.options.hook_command:
            return
        payload = {
            "session_id": self.session_id,
            "cwd": os.getcwd(),
            "hook_event_name": event,
            **fields,
        }
        try:
            hook = subprocess.Popen(
                ["/bin/sh", "-c", self.options.hook_command],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert hook.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                hook.stdin.write(json.dumps(payload).encode())
            hook.stdin.close()
            if self.options.hook_sync:
                hook.wait(HOOK_TIMEOUT_S)
            else:
                self.hooks.append(hook)
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.debug("the %s hook failed: %s", event, exc)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGWINCH:
            self.dirty = True  # redrawn for the new width at once (the wakeup fd ends select)
        elif signum == signal.SIGUSR1:
            # the busy phase ends now: its prompt (ASK) opens at a moment a test chose
            if self.job is not None and self.job.phase == "busy":
                self.job.busy_until = time.monotonic()
        else:
            self.exit_code = 128 + signum

    @staticmethod
    def _drain(fd: int) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass

    def _read_keys(self) -> None:
        try:
            data = os.read(self.in_fd, 65536)
        except OSError:  # the terminal is gone
            self.exit_code = 1
            return
        if not data:
            self.exit_code = 0
            return
        for event in self.reader.feed(data):
            self.handle(event)
        self.escape_deadline = time.monotonic() + ESC_WAIT if self.reader.waiting else None

    def _timeout(self) -> float | None:
        now = time.monotonic()
        deadlines: list[float] = []
        if not self.ready:
            deadlines.append(self.born + self.options.startup_ms / 1000)
        if self.escape_deadline is not None:
            deadlines.append(self.escape_deadline)
        if self.last_ctrl_c is not None:
            deadlines.append(self.last_ctrl_c + DOUBLE_PRESS)
        if self.job is not None:
            if self.job.phase == "busy":
                deadlines.append(self.job.busy_until)
                for due in (self.job.progress_due, self.job.writes_due):
                    if due is not None:
                        deadlines.append(due)
            if self.job.phase != "asking":
                elapsed = now - self.job.started
                deadlines.append(self.job.started + (int(elapsed / FRAME) + 1) * FRAME)
            if self.job.phase == "replycmd":
                deadlines.append(now + 0.02)
        elif self.queue and self.ready:
            deadlines.append(now)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _advance(self) -> None:
        """Act on everything whose time has come."""
        now = time.monotonic()
        if self.escape_deadline is not None and now >= self.escape_deadline:
            self.escape_deadline = None
            for event in self.reader.flush():
                self.handle(event)
        if not self.ready and now >= self.born + self.options.startup_ms / 1000:
            self.ready = True
            self.dirty = True
        if self.last_ctrl_c is not None and now >= self.last_ctrl_c + DOUBLE_PRESS:
            self.last_ctrl_c = None
            self.dirty = True
        job = self.job
        if job is not None:
            if job.phase == "busy":
                self._progress(job, now)
            if job.phase == "busy" and now >= job.busy_until:
                self._after_busy(job)
            elif job.phase == "replycmd" and job.run and job.run.process.poll() is not None:
                self._after_replycmd(job.run)
            self.dirty = True  # the spinner moved on, or the job changed phase
        if self.job is None and self.queue and self.ready and self.exit_code is None:
            self._start(*self.queue.popleft())

    # -- keys --

    def handle(self, event: KeyEvent) -> None:
        """Act on one key or paste."""
        if self.exit_code is not None:
            return
        self.dirty = True
        if self.prompt is not None:
            self._prompt_key(self.prompt, event)
            return
        kind = event.kind
        if kind == "char":
            if event.text == "?" and not self.chunks and self.ready:
                self.transcript.extend(HELP)
            else:
                self._type(event.text)
        elif kind == "newline":
            self._type("\n")
        elif kind == "paste":
            self._paste(event.text)
        elif kind == "backspace":
            self._backspace()
        elif kind == "enter":
            self._submit()
        elif kind == "ctrl-c":
            self._ctrl_c()
        elif kind == "ctrl-d":
            if not self.chunks:
                self.exit_code = 0
        elif kind == "esc":
            self._interrupt()
        elif kind == "up" and self.job is not None and self.queue and not self.chunks:
            self._type("\n".join(text for text, _ in self.queue))
            self.queue.clear()

    def _type(self, text: str) -> None:
        if self.chunks and not self.chunks[-1].pasted:
            self.chunks[-1].text += text
        else:
            self.chunks.append(Chunk(text))

    def _paste(self, text: str) -> None:
        if not text:
            return
        if self.options.slow_paste_ms:
            # --slow-paste: taking in a paste costs it this long, drawing and reading
            # nothing meanwhile, as an agent short of CPU
            time.sleep(self.options.slow_paste_ms / 1000)
        self.pasted_at = time.monotonic()
        lines = text.split("\n")
        if len(lines) > COLLAPSE_LINES or len(text) > COLLAPSE_CHARS:
            self.pastes += 1
            label = f"[Pasted text #{self.pastes} +{len(lines)} lines]"
            self.chunks.append(Chunk(text, label, pasted=True))
        else:
            self.chunks.append(Chunk(text, pasted=True))

    def _backspace(self) -> None:
        if not self.chunks:
            return
        last = self.chunks[-1]
        if last.label is not None:
            self.chunks.pop()  # a collapsed paste goes as a whole
            return
        last.text = last.text[:-1]
        if not last.text:
            self.chunks.pop()

    def _submit(self) -> None:
        if not self.ready:
            return  # the real agents lose an Enter pressed while they start
        text = "".join(chunk.text for chunk in self.chunks)
        if not text.strip():
            return
        if self.enters_to_drop > 0:
            self.enters_to_drop -= 1
            return  # --drop-enters: a lost key press after start-up, for tests
        guard = self.options.paste_guard_ms / 1000
        if guard and self.pasted_at is not None and time.monotonic() - self.pasted_at < guard:
            # --paste-guard: as Gemini CLI does (in a terminal without the kitty keyboard
            # protocol), an Enter that comes this soon after a paste is taken for part of
            # the paste: a new line, not a submission
            self._type("\n")
            return
        self.chunks.clear()
        if text.strip() == "/exit" and self.job is None and not self.queue:
            self.exit_code = 0
            return
        self._keep_entry("message", text)
        self.conversation.append(read_message(text, self.start_format).body)
        if self.job is not None:
            # As Claude Code does: a message queued while busy shows in the transcript at
            # once, marked as queued, and is not shown again when its turn comes.
            self.transcript.extend(block("❯ ", safe(text).split("\n")))
            self.transcript.append("  ⎿  Queued")
            self.queue.append((text, True))
            return
        self.queue.append((text, False))

    def _ctrl_c(self) -> None:
        now = time.monotonic()
        if self.last_ctrl_c is not None and now - self.last_ctrl_c <= DOUBLE_PRESS:
            self.exit_code = 0
            return
        self.last_ctrl_c = now
        self.chunks.clear()
        self._interrupt()

    def _interrupt(self) -> None:
        if self.job is not None and self.job.phase == "busy":
            self.transcript.append("  ⎿  Interrupted")
            self.job = None

    # -- working on a message --

    def _start(self, text: str, shown: bool = False) -> None:
        now = time.monotonic()
        if not shown:
            self.transcript.extend(block("❯ ", safe(text).split("\n")))
        if text.strip() == "/exit":
            self.exit_code = 0
            return
        message = read_message(text, self.start_format)
        self.turn_open = True
        self._hook("UserPromptSubmit", prompt=text)
        directives = message.directives
        busy_ms = directives.busy_ms
        if busy_ms is None:
            busy_ms = self.options.busy_ms
        self.job = Job(message, started=now, busy_until=now + busy_ms / 1000)
        if directives.progress_ms is not None:
            self.job.progress_due = now + directives.progress_from_ms / 1000
        if directives.writes_ms is not None:
            self.job.writes_due = now + directives.writes_ms / 1000

    def _progress(self, job: Job, now: float) -> None:
        """PROGRESS and WRITES: print the lines and write the entries that are due."""
        directives = job.message.directives
        if job.progress_due is not None and directives.progress_ms is not None:
            while now >= job.progress_due:
                self.transcript.append(f"  ⎿  working on part {letters(job.progressed)}")
                job.progressed += 1
                job.progress_due += directives.progress_ms / 1000
        if job.writes_due is not None and directives.writes_ms is not None:
            while now >= job.writes_due:
                self._keep_entry("progress", "working")
                job.writes_due += directives.writes_ms / 1000

    def _after_busy(self, job: Job) -> None:
        directives = job.message.directives
        command = directives.ask
        if command is None or job.asked:
            self._answer(job)
            return
        word = command.split()[0] if command.split() else ""
        if word in self.always:
            self.transcript.extend(block("● ", [f"Ran {command}"]))
            self._answer(job)
            return
        # Keys typed before the prompt opens are for the input box, as a terminal
        # program that reads its input in order takes them: read them first, then
        # open the prompt and draw it at once (no key is read in between).
        self._take_typed_keys()
        if self.job is not job or job.phase != "busy":
            return  # those keys ended the job (Ctrl-C)
        if directives.slowask_ms:
            time.sleep(directives.slowask_ms / 1000)  # decided, not drawn: reads nothing
        options: list[tuple[str, str]] = [("Yes", "yes")]
        if directives.ask_options == 3:
            options.append((f"Yes, and don't ask again for: {word}", "always"))
        options.append(("No", "no"))
        self.prompt = AskedPrompt(
            command,
            tuple(options),
            drop_until=time.monotonic() + DROP_WINDOW if directives.dropkey else 0.0,
            slowkey_s=directives.slowkey_ms / 1000,
        )
        job.phase = "asking"
        self.draw()
        # Keys that reached the terminal while it opened the prompt were sent before the
        # prompt could be seen (tmux shows it only once this draw is written): they are
        # typed-ahead keys for the input box too, never an answer, as a careful program
        # flushes what was typed ahead of a question.
        self._take_typed_keys(before=self.prompt)

    def _take_typed_keys(self, before: AskedPrompt | None = None) -> None:
        """Read and act on the keys already waiting on the terminal, without waiting;
        ``before``: the prompt they came before, which they do not answer."""
        ready, _, _ = select.select([self.in_fd], [], [], 0)
        if not ready:
            return
        self.prompt = None
        try:
            self._read_keys()
        finally:
            if before is not None and self.job is not None and self.job.phase == "asking":
                self.prompt = before

    def _prompt_key(self, prompt: AskedPrompt, event: KeyEvent) -> None:
        if event.kind == "paste":
            return  # dropped silently, as Claude Code does
        if time.monotonic() < prompt.drop_until:
            return
        if prompt.slowkey_s:
            time.sleep(prompt.slowkey_s)  # the whole agent stalls: no drawing, no reading
        kind = event.kind
        if kind == "char" and event.text.isdigit():
            number = int(event.text)
            if 1 <= number <= len(prompt.options):
                self._choose(prompt, number - 1)
        elif kind == "enter":
            self._choose(prompt, prompt.selected)
        elif kind in ("esc", "ctrl-c"):
            self._choose(prompt, len(prompt.options) - 1)
        elif kind == "up":
            prompt.selected = max(prompt.selected - 1, 0)
        elif kind == "down":
            prompt.selected = min(prompt.selected + 1, len(prompt.options) - 1)

    def _choose(self, prompt: AskedPrompt, index: int) -> None:
        self.prompt = None
        meaning = prompt.options[index][1]
        if self.job is not None and self.job.message.directives.replycmd:
            self.job.reply_choice = meaning
        if meaning == "no":
            self.transcript.extend(block("● ", [f"Did not run {prompt.command}"]))
        else:
            if meaning == "always":
                words = prompt.command.split()
                self.always.add(words[0] if words else "")
            self.transcript.extend(block("● ", [f"Ran {prompt.command}"]))
        job = self.job
        if job is not None and job.message.directives.after_ms:
            job.asked, job.phase = True, "busy"  # it goes on with its turn
            job.busy_until = time.monotonic() + job.message.directives.after_ms / 1000
        elif job is not None:
            self._answer(job)

    def _answer(self, job: Job) -> None:
        message = job.message
        directives = message.directives
        if directives.exit:
            self.exit_code = 0
            return
        self.job = None
        if directives.fail is not None:
            self.transcript.append(printable(f"  ⎿  API Error: {directives.fail}"))
            return
        if directives.noreply:
            self._used(message.text, "")
            return
        if directives.lines is not None:
            text = "\n".join(f"line {number}" for number in range(1, directives.lines + 1))
        elif directives.recall:
            earlier = self.conversation[:-1]  # this message is the last one taken
            text = "\n".join(f"recall: {body.split(chr(10))[0]}" for body in earlier)
            text = text or "recall: nothing"
        elif message.message_id is not None:
            text = unescape(message.body) if directives.unescape else message.body
        else:
            count = len(message.text.split("\n"))
            said = f"{self.options.name} got {count} line(s)"
            self._used(message.text, said)
            self.transcript.extend(block("● ", [said]))
            return
        self._used(message.text, text)
        if message.message_id is None:
            self.transcript.extend(block("● ", text.split("\n")))
            return
        if directives.replycmd:
            self._reply_by_command(job, message.message_id, text)
            return
        delims = envelope.delimiters(message.message_id, self.start_format, self.end_format)
        lines = [delims.start, *safe(text).split("\n"), delims.end]
        self.transcript.extend(block("● ", lines))
        self._keep("\n".join([delims.start, text, delims.end]))

    def _used(self, taken: str, answer: str) -> None:
        """--record: the usage entry of one answer (before the answer: see the docstring)."""
        if self.options.record:
            line = {"type": "usage", "input": len(taken), "output": len(answer)}
            line |= {"cache_read": self.read_before, "model": "demo"}
            self._keep_line(line)
        self.read_before += len(taken)

    def _keep(self, answer: str) -> None:
        """--record: append the answer, as it was meant (not as drawn), to the record."""
        self._keep_entry("answer", answer)

    def _keep_entry(self, kind: str, text: str) -> None:
        """--record: append one entry (a message taken, an answer) to the record."""
        self._keep_line({"type": kind, "text": text})

    def _keep_line(self, entry: dict[str, object]) -> None:
        """--record: append one JSON line."""
        if not self.options.record:
            return
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        try:
            with open(self.options.record, "a", encoding="utf-8") as record:
                record.write(line)
        except OSError as exc:
            logger.debug("could not write the record: %s", exc)

    def _reply_by_command(self, job: Job, message_id: str, text: str) -> None:
        """Run the reply command the envelope names, after a prompt unless --allow lets it."""
        named = job.message.reply_command
        prefix = shlex.split(named) if named else [sys.executable, "-m", "imessenger", "reply"]
        shown = f"{named} {message_id} {shlex.quote(text)}"
        if named and job.reply_choice is None and not self._allowed(shown):
            word = shown.split()[0]
            self.prompt = AskedPrompt(
                shown,
                (("Yes", "yes"), (f"Yes, and don't ask again for: {word}", "always"), ("No", "no")),
            )
            job.phase = "asking"
            self.job = job
            return
        if job.reply_choice == "no":
            return  # "Did not run ..." is in the transcript already
        self._run_reply(job, [*prefix, "--", message_id, text])

    def _allowed(self, command: str) -> bool:
        """Whether ``command`` runs without a prompt: an --allow prefix, or "don't ask again"."""
        if any(command == p or command.startswith(p + " ") for p in self.options.allow):
            return True
        return command.split()[0] in self.always

    def _run_reply(self, job: Job, argv: list[str]) -> None:
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the command ends)
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            output.close()
            self.transcript.extend(block("● ", [f"could not run imessenger reply: {exc}"]))
            return
        job.run = ReplyRun(process, output)
        job.phase = "replycmd"
        self.job = job

    def _after_replycmd(self, run: ReplyRun) -> None:
        status = run.process.returncode
        run.output.seek(0)
        said = run.output.read().decode("utf-8", "replace").strip().splitlines()
        run.output.close()
        self.job = None
        if status == 0:
            self.transcript.extend(block("● ", ["ran imessenger reply"]))
        else:
            why = said[-1] if said else "no output"
            self.transcript.extend(block("● ", [f"imessenger reply failed (exit {status}): {why}"]))

    # -- the screen --

    def size(self) -> tuple[int, int]:
        """Return the terminal's columns and lines (80x24 when it has no size)."""
        try:
            columns, lines = os.get_terminal_size(self.out_fd)
        except OSError:
            return 80, 24
        return max(columns, 1), max(lines, 1)

    def footer(self) -> str:
        """Return the line under the input line."""
        name = self.options.name
        if not self.ready:
            return f"  {name} · starting…"
        if self.last_ctrl_c is not None:
            return f"  {name} · Press Ctrl-C again to exit"
        if self.job is not None and self.queue:
            return f"  {name} · {len(self.queue)} queued · Press up to edit queued messages"
        return f"  {name} · ? for help"

    def bottom(self, width: int, height: int) -> tuple[list[str], int]:
        """Return the bottom area's lines and the index of the line the cursor goes on."""
        limit = max(width - 1, 1)
        if self.prompt is not None:
            prompt = self.prompt
            title = self.options.name[:1].upper() + self.options.name[1:]
            lines = [
                f" {title} wants to run a command",
                f" $ {prompt.command}",
                " Do you want to proceed?",
            ]
            for index, (label, _) in enumerate(prompt.options):
                mark = "❯" if index == prompt.selected else " "
                lines.append(f" {mark} {index + 1}. {label}")
            lines.append(" Esc to cancel")
            row = len(lines) - 1
            lines = [fit(printable(line), limit) for line in lines]
        else:
            lines = []
            job = self.job
            now = time.monotonic()
            if job is not None and job.phase != "asking" and not blinking(job, now):
                frame = SPINNER[int((now - job.started) / FRAME) % len(SPINNER)]
                seconds = int(now - job.started)
                lines.append(f"{frame} Working ({seconds}s · esc to interrupt)")
            shown = "".join(chunk.label or chunk.text for chunk in self.chunks)
            for index, line in enumerate(shown.split("\n")):
                lead = PROMPT if index == 0 else " " * len(PROMPT)
                lines.append(lead + fit_tail(printable(line), max(limit - len(PROMPT), 1)))
            row = len(lines) - 1
            lines.append(self.footer())
            lines = [fit(line, limit) for line in lines]
        room = max(height - 1, 1)
        if len(lines) > room:
            cut = len(lines) - room
            lines = lines[cut:]
            row = max(row - cut, 0)
        return lines, row

    def _rows_above_cursor(self, width: int) -> int:
        """Count the screen rows between the top of the drawn bottom area and the cursor."""
        row, column = self.cursor
        rows = sum(max(1, -(-text_width(line) // width)) for line in self.drawn[:row])
        return rows + column // width

    def draw(self) -> None:
        """Print the new transcript lines and redraw the bottom area in one write."""
        width, height = self.size()
        parts: list[str] = []
        up = self._rows_above_cursor(width) if self.drawn else 0
        if up:
            parts.append(f"\x1b[{up}A")
        parts.append("\r\x1b[J")
        parts.extend(line + "\r\n" for text in self.transcript for line in text.split("\n"))
        self.transcript.clear()
        if self.exit_code is None:
            lines, row = self.bottom(width, height)
            parts.append("\r\n".join(lines[:-1]))
            if self.options.torn_ms and len(lines) > 1:
                self.write("".join(parts))  # --torn-frames: the footer comes a moment later
                parts = []
                time.sleep(self.options.torn_ms / 1000)
            parts.append(("\r\n" if len(lines) > 1 else "") + lines[-1])
            back = len(lines) - 1 - row
            if back:
                parts.append(f"\x1b[{back}A")
            column = text_width(lines[row])
            parts.append("\r" + (f"\x1b[{column}C" if column else ""))
            self.drawn = lines
            self.cursor = (row, column)
        else:
            self.drawn = []
            self.cursor = (0, 0)
        self.write("".join(parts))
        self.dirty = False

    def write(self, text: str) -> None:
        """Write all of ``text`` to the terminal."""
        data = text.encode("utf-8", "replace")
        while data:
            try:
                written = os.write(self.out_fd, data)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError:  # the terminal is gone
                self.exit_code = 1 if self.exit_code is None else self.exit_code
                return
            data = data[written:]


# --- entry point ---------------------------------------------------------------------------------


def _milliseconds(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more milliseconds")
    return value


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line into :class:`Options`."""
    parser = argparse.ArgumentParser(
        prog="python -m imessenger.demo.agent",
        description="A stand-in for an AI coding agent's terminal UI, to try imessenger with.",
        epilog="Directives in a message: ASK[cmd] ASK2[cmd] AFTER[ms] DROPKEY SLOWKEY[ms] "
        "SLOWASK[ms] "
        "BUSY[ms] BLINK[ms] LINES[n] "
        "REPLYCMD NOREPLY EXIT UNESCAPE RECALL PROGRESS[ms] WRITES[ms] FAIL[text] "
        "(see the module docstring).",
    )
    parser.add_argument(
        "--startup-ms",
        type=_milliseconds,
        default=300,
        help="how long it shows 'starting…' and drops an Enter (default 300)",
    )
    parser.add_argument(
        "--busy-ms",
        type=_milliseconds,
        default=400,
        help="how long it works on each message (default 400)",
    )
    parser.add_argument("--name", default="demo", help="the name shown in the footer")
    parser.add_argument(
        "--drop-enters",
        type=int,
        default=0,
        metavar="N",
        help="ignore the first N Enters that would submit text (to test lost keys)",
    )
    parser.add_argument(
        "--torn-frames",
        type=_milliseconds,
        default=0,
        metavar="MS",
        help="write each screen in two parts MS apart, the footer last (to test redraws)",
    )
    parser.add_argument(
        "--slow-paste",
        type=_milliseconds,
        default=0,
        metavar="MS",
        help="take MS to take in a paste, drawing and reading nothing meanwhile",
    )
    parser.add_argument(
        "--paste-guard",
        type=_milliseconds,
        default=0,
        metavar="MS",
        help="an Enter within MS after a paste adds a new line instead (as Gemini CLI)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help="a command starting with PREFIX runs without a prompt (may be repeated)",
    )
    parser.add_argument(
        "--hook-command",
        default="",
        metavar="CMD",
        help="run CMD (with /bin/sh) on each event, its JSON on stdin, as Claude Code's hooks",
    )
    parser.add_argument(
        "--hook-sync",
        action="store_true",
        help="wait for each hook, drawing and reading nothing meanwhile (else in the background)",
    )
    parser.add_argument(
        "--record",
        default="",
        metavar="PATH",
        help="append each answer, as JSON lines, to PATH (the record imessenger reads)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with the conversation already in the --record file",
    )
    args = parser.parse_args(argv)
    if args.resume and not args.record:
        parser.error("--resume needs --record PATH: the conversation to go on with")
    name = printable(args.name).strip() or "demo"
    return Options(
        startup_ms=args.startup_ms,
        busy_ms=args.busy_ms,
        name=name,
        drop_enters=max(0, args.drop_enters),
        torn_ms=args.torn_frames,
        slow_paste_ms=args.slow_paste,
        paste_guard_ms=args.paste_guard,
        record=args.record,
        resume=args.resume,
        allow=tuple(args.allow),
        hook_command=args.hook_command,
        hook_sync=args.hook_sync,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo agent on this terminal; return its exit status."""
    options = parse_args(argv)
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(in_fd) if os.isatty(in_fd) else None
    agent: DemoAgent | None = None
    try:
        if saved is not None:
            tty.setraw(in_fd, termios.TCSANOW)  # TCSANOW keeps keys that already arrived
        agent = DemoAgent(options, in_fd=in_fd, out_fd=out_fd)
        agent.write("\x1b[?2004h")
        return agent.run()
    finally:
        if agent is not None:
            if agent.exit_code is None:
                agent.exit_code = 1
            if agent.drawn:
                agent.draw()  # clears the bottom area, prints what is left of the transcript
            agent.write("\x1b[?2004l")
        if saved is not None:
            try:
                termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
            except termios.error:
                logger.debug("could not restore the terminal settings")


if __name__ == "__main__":
    sys.exit(main())
