"""Capture each real agent's own record of a session into tests/fixtures/records/.

Run it from the checkout, with its virtual environment active::

    python tests/conformance/capture_records.py            # all the agents
    python tests/conformance/capture_records.py -k gemini  # one of them

It runs itself under pytest, so that each agent starts exactly as in the conformance
suite (conftest.py: the installed program, its configuration in the test's own $HOME or
$CODEX_HOME, a fake model server, a private tmux server, everything stopped afterwards).
For each agent it:

1. starts the agent with ``isesh start``, its record pinned as
   docs/notes/agent-records-research.md says: Claude Code and Gemini CLI with
   ``--session-id`` and a fresh uuid (Qwen Code too), Aider with
   ``--chat-history-file``; Codex chooses its thread id itself, so its rollout is the
   one that holds the message id, and its thread id (from the rollout's
   ``session_meta``) must find that rollout again;
   docs/notes/agent-records-research.md says: Claude Code, Gemini CLI and Copilot CLI
   with ``--session-id`` and a fresh uuid, Aider with ``--chat-history-file``; Codex
   chooses its thread id itself, so its rollout is the one that holds the message id,
   and its thread id (from the rollout's ``session_meta``) must find that rollout again;
2. sends one message with ``imessenger send --no-reply``; the fake model answers it with
   :data:`REPLY` between the reply delimiters;
3. finds the record where :mod:`imessenger.adapters.records` says it lies, waits until its reader
   gives the reply and the agent is idle again, and the file has stopped growing;
4. copies the record, with the test's folder replaced by :data:`PLACEHOLDER` and the
   checkout by :data:`CHECKOUT`, to ``tests/fixtures/records/<agent>-<version>.<ext>``,
   and checks that the copy still gives :data:`REPLY` and names no path of this machine.

With ``-k usage`` it captures records of two turns into ``tests/fixtures/records/usage/``
instead, for the token usage (see ``_capture_usage``).

OpenCode keeps its sessions in a SQLite database: its capture is the SQL text
(``sqlite3``'s dump) of the tables ``session``, ``message`` and ``part`` as OpenCode made
them, holding the rows of the one session (found by the id its plugin reported), to
``tests/fixtures/records/opencode-<version>.sql``.

The machine should be otherwise idle: the agents start one after the other.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

if __name__ == "__main__":
    # run as a script: run the captures below under pytest, which puts tests/ and this
    # folder on the import path and provides the conformance fixtures
    sys.exit(pytest.main([__file__, "-p", "no:cacheprovider", *sys.argv[1:]]))

from fake_model import REPLY_END, REPLY_START
from real_agents import (
    AIDER_VERSION,
    CLAUDE_VERSION,
    CODEX_VERSION,
    COPILOT_VERSION,
    GEMINI_VERSION,
    OPENCODE_VERSION,
    QWEN_VERSION,
    ROOT,
    Agent,
)
from scenarios import NAME
from support import run_imessenger, run_isesh, wait_for, write_config

from imessenger.adapters.records import claude as claude_records
from imessenger.adapters.records import codex as codex_records
from imessenger.adapters.records import copilot as copilot_records
from imessenger.adapters.records import gemini as gemini_records
from imessenger.adapters.records import opencode as opencode_records
from imessenger.adapters.records import qwen as qwen_records
from imessenger.adapters.records import reader_for
from imessenger.adapters.records.pinning import locate
from imessenger.adapters.store import Store
from imessenger.core.envelope import Delimiters, delimiters

pytestmark = pytest.mark.agents

FIXTURES = ROOT / "tests" / "fixtures" / "records"

#: What the test's temporary folder (its $HOME, working folder, CODEX_HOME) becomes in a
#: copy, and what the checkout (where the agents are installed) becomes.
PLACEHOLDER = "<capture>"
CHECKOUT = "<checkout>"

#: What the message holds, so that the fake model answers it with REPLY.
TRIGGER = "CAPTURE-RECORD"

#: A 300-character line that repeats no short pattern (Gemini CLI's loop detection takes
#: a line of one repeated character for a model stuck in a loop, and drops the answer).
LONG_LINE = "".join(f"{n:03d}," for n in range(75))

#: The reply: Markdown a screen loses (a heading, code spans, bold, a fenced block with
#: backslashes, a table), a long line, HTML and unicode.
REPLY = (
    "## Fix for `validateEmail`\n\nUse **this**:\n\n"
    '```python\nprint("a\\\\b")  # backslash\n```\n\n'
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    f"{LONG_LINE}\n<div>not html</div> héllo → ✓ 日本語 🚀"
)

#: The start of a path of this machine, which a copy must not name: one that begins a
#: path (not one inside another path, such as ``<capture>/home/.gemini/tmp/``, nor a
#: closing tag such as ``</root>``).
_MACHINE_PATH = re.compile(
    r"(?<![\w./~<-])(?<!<capture>)(?<!<checkout>)"
    r"(?:/tmp/|/work/|/home/|/root\b|/var/|/usr/|/opt/)"
)


def _start(agent: Agent, *pin: str) -> None:
    """``isesh start`` the agent with its usual argv and the arguments that pin its record."""
    started = run_isesh(
        "start", NAME, "--agent", agent.profile, "-d", str(agent.workdir), "--", *agent.argv, *pin
    )
    assert started.exit_code == 0, started.output


def _send(agent: Agent) -> Delimiters:
    """Send the message the fake model answers with REPLY; return its reply delimiters."""
    agent.script.on(TRIGGER, text=REPLY)
    sent = run_imessenger("send", "--no-reply", "--json", NAME, f"{TRIGGER}: how do I fix it?")
    assert sent.exit_code == 0, sent.output
    return delimiters(str(json.loads(sent.stdout)["id"]), REPLY_START, REPLY_END)


def _settled(path: Path, quiet_s: float = 2.0, seconds: float = 30.0) -> None:
    """Wait until ``path`` has not grown for ``quiet_s`` (the agent wrote the turn's end)."""
    seen = [path.stat().st_size, time.monotonic()]

    def quiet() -> bool:
        size = path.stat().st_size
        if size != seen[0]:
            seen[:] = [size, time.monotonic()]
        return time.monotonic() - seen[1] >= quiet_s

    wait_for(quiet, seconds, f"{path.name} to stop growing")


def _scrub(data: bytes, paths: dict[str, str]) -> bytes:
    """``data`` with each of ``paths`` (longest first, and also as Claude Code names its
    folder) replaced by its placeholder."""
    text = data.decode("utf-8")
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, paths[path])
        munged = claude_records.folder_name(path)
        text = text.replace(munged, claude_records.folder_name(paths[path]))
    return text.encode("utf-8")


def _capture(
    agent: Agent, kind: str, find: Callable[[Delimiters], Path | None], name: str, tmp_path: Path
) -> None:
    """Steps 2 to 4 of the module docstring, for an agent already started."""
    delims = _send(agent)
    path = wait_for(lambda: find(delims), 60, f"the record of {kind}")
    reader = reader_for(kind, path)
    found = wait_for(lambda: reader.reply(delims), 90, f"the reply in {path.name}")
    assert found == REPLY, f"{kind}'s record holds another reply: {found!r}"
    agent.wait_state(NAME, "idle", 60)
    _settled(path)
    paths = {str(tmp_path): PLACEHOLDER, str(tmp_path.resolve()): PLACEHOLDER}
    paths.update({str(ROOT): CHECKOUT, str(ROOT.resolve()): CHECKOUT})
    copy = _scrub(path.read_bytes(), paths)
    text = copy.decode("utf-8")
    left = [text[max(0, m.start() - 60) : m.end() + 60] for m in _MACHINE_PATH.finditer(text)]
    assert not left, f"{kind}'s record still names paths of this machine: {left}"
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / name).write_bytes(copy)
    again = reader_for(kind, FIXTURES / name).reply(delims)
    assert again == REPLY, f"the copy of {kind}'s record gives {again!r}"


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def test_capture_claude(claude: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(claude, "--session-id", session)
    where = claude_records.transcript_path(
        claude_records.config_dir(os.environ), claude.workdir.resolve(), session
    )
    _capture(
        claude,
        "claude",
        lambda _: _existing(where),
        f"claude-code-{CLAUDE_VERSION}.jsonl",
        tmp_path,
    )


def _rollout_with(home: Path, delims: Delimiters) -> Path | None:
    """The rollout that holds the message (its start delimiter), once its thread id, read
    from its ``session_meta``, finds it again."""
    for candidate in sorted(home.glob("sessions/*/*/*/rollout-*.jsonl")):
        data = candidate.read_bytes()
        if delims.start.encode() not in data or b"\n" not in data:
            continue
        meta = json.loads(data.split(b"\n", 1)[0])
        assert meta["type"] == "session_meta", meta
        thread = meta["payload"]["id"]
        found = codex_records.rollout_path(home, thread)
        assert found == candidate, f"thread {thread} found {found}, not {candidate}"
        return candidate
    return None


def test_capture_codex(codex: Agent, tmp_path: Path) -> None:
    _start(codex)
    home = codex_records.codex_home(os.environ)
    name = f"codex-{CODEX_VERSION}.jsonl"
    _capture(codex, "codex", lambda delims: _rollout_with(home, delims), name, tmp_path)


def test_capture_gemini(gemini: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(gemini, "--session-id", session)
    home = gemini_records.gemini_home(os.environ)
    name = f"gemini-cli-{GEMINI_VERSION}.jsonl"
    _capture(gemini, "gemini", lambda _: gemini_records.chat_path(home, session), name, tmp_path)


def test_capture_aider(aider: Agent, tmp_path: Path) -> None:
    history = tmp_path / "records" / "chat-history.md"
    history.parent.mkdir()
    _start(aider, "--chat-history-file", str(history))
    name = f"aider-{AIDER_VERSION}.md"
    _capture(aider, "aider", lambda _: _existing(history), name, tmp_path)


# --- usage: a turn with a command, then another -------------------------------------------

#: Where the records of the usage captures go (``-k usage`` runs only those).
USAGE_FIXTURES = FIXTURES / "usage"


def _answered(agent: Agent, reader_of: Callable[[], object], delims: Delimiters) -> None:
    """Wait for the reply between ``delims``, approving any prompt on the way."""

    def replied() -> bool:
        if agent.state(NAME) == "asking":
            run_imessenger("approve", NAME)
        reader = reader_of()
        return reader is not None and reader.reply(delims) is not None  # type: ignore[attr-defined]

    wait_for(replied, 120, f"the reply to {delims.start}")


def _capture_usage(
    agent: Agent,
    kind: str,
    find: Callable[[], Path | None],
    name: str,
    tmp_path: Path,
    *,
    tool: bool = True,
) -> None:
    """Two turns: one where the model says something, runs a command and answers its
    output (several responses, one of them of text and a tool call; without ``tool``, a
    plain answer: Aider offers a command only after the answer, and never tells the model
    its output), and a plain one; then the record is copied as ``_capture`` does, into
    ``USAGE_FIXTURES``."""
    if not tool:
        agent.script.on("USAGE-TOOL", text="no tools here")
    agent.script.on(
        "USAGE-TOOL",
        command="echo usage-probe",
        preface="Let me run the probe first.",
        after="the probe said: {output}",
        escalate=False,
    )
    agent.script.on("USAGE-AGAIN", text="and once more")
    readers: dict[Path, object] = {}

    def reader() -> object:
        path = find()
        if path is None:
            return None
        return readers.setdefault(path, reader_for(kind, path))

    for message in ("USAGE-TOOL: run the probe", "USAGE-AGAIN: say it again"):
        sent = run_imessenger("send", "--no-reply", "--json", NAME, message)
        assert sent.exit_code == 0, sent.output
        delims = delimiters(str(json.loads(sent.stdout)["id"]), REPLY_START, REPLY_END)
        _answered(agent, reader, delims)
        agent.wait_state(NAME, "idle", 60)
    path = find()
    assert path is not None
    _settled(path)
    paths = {str(tmp_path): PLACEHOLDER, str(tmp_path.resolve()): PLACEHOLDER}
    paths.update({str(ROOT): CHECKOUT, str(ROOT.resolve()): CHECKOUT})
    text = _scrub(path.read_bytes(), paths).decode("utf-8")
    left = [text[max(0, m.start() - 60) : m.end() + 60] for m in _MACHINE_PATH.finditer(text)]
    assert not left, f"{kind}'s record still names paths of this machine: {left}"
    USAGE_FIXTURES.mkdir(parents=True, exist_ok=True)
    (USAGE_FIXTURES / name).write_text(text, encoding="utf-8")


def test_capture_usage_claude(claude: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(claude, "--session-id", session)
    where = claude_records.transcript_path(
        claude_records.config_dir(os.environ), claude.workdir.resolve(), session
    )
    name = f"claude-code-{CLAUDE_VERSION}.jsonl"
    _capture_usage(claude, "claude", lambda: _existing(where), name, tmp_path)


def test_capture_usage_codex(codex: Agent, tmp_path: Path) -> None:
    _start(codex)
    home = codex_records.codex_home(os.environ)

    def rollout() -> Path | None:
        found = sorted(home.glob("sessions/*/*/*/rollout-*.jsonl"))
        return found[-1] if found else None

    _capture_usage(codex, "codex", rollout, f"codex-{CODEX_VERSION}.jsonl", tmp_path)


def test_capture_usage_gemini(gemini: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(gemini, "--session-id", session)
    home = gemini_records.gemini_home(os.environ)
    name = f"gemini-cli-{GEMINI_VERSION}.jsonl"
    chat = lambda: gemini_records.chat_path(home, session)  # noqa: E731
    _capture_usage(gemini, "gemini", chat, name, tmp_path)


def test_capture_usage_aider(aider: Agent, tmp_path: Path) -> None:
    history = tmp_path / "records" / "chat-history.md"
    history.parent.mkdir()
    _start(aider, "--chat-history-file", str(history))
    name = f"aider-{AIDER_VERSION}.md"
    _capture_usage(aider, "aider", lambda: _existing(history), name, tmp_path, tool=False)


def test_capture_qwen(qwen: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(qwen, "--session-id", session)
    runtime = qwen_records.runtime_dir(os.environ)
    name = f"qwen-code-{QWEN_VERSION}.jsonl"
    _capture(qwen, "qwen", lambda _: qwen_records.chat_path(runtime, session), name, tmp_path)


def test_capture_copilot(copilot: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(copilot, "--session-id", session)
    where = copilot_records.events_path(copilot_records.copilot_home(os.environ), session)
    name = f"copilot-{COPILOT_VERSION}.jsonl"
    _capture(copilot, "copilot", lambda _: _existing(where), name, tmp_path)


def test_capture_usage_qwen(qwen: Agent, tmp_path: Path) -> None:
    write_config("[send]\nready_timeout_ms = 60000\n")  # it connects its MCP servers first
    session = str(uuid.uuid4())
    _start(qwen, "--session-id", session)
    runtime = qwen_records.runtime_dir(os.environ)
    name = f"qwen-code-{QWEN_VERSION}.jsonl"
    chat = lambda: qwen_records.chat_path(runtime, session)  # noqa: E731
    _capture_usage(qwen, "qwen", chat, name, tmp_path)


def test_capture_usage_copilot(copilot: Agent, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    _start(copilot, "--session-id", session)
    where = copilot_records.events_path(copilot_records.copilot_home(os.environ), session)
    name = f"copilot-{COPILOT_VERSION}.jsonl"
    _capture_usage(copilot, "copilot", lambda: _existing(where), name, tmp_path)


def _opencode_dump(db: Path, session_id: str) -> bytes:
    """The SQL text of OpenCode's tables session, message and part, with the rows of one
    session only."""
    import sqlite3

    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    copy = sqlite3.connect(":memory:")
    try:
        for table in ("session", "message", "part"):
            [(schema,)] = source.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            )
            copy.execute(schema)
            key = "id" if table == "session" else "session_id"
            rows = source.execute(f"SELECT * FROM {table} WHERE {key} = ?", (session_id,))
            for row in rows:
                marks = ", ".join("?" for _ in row)
                copy.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        return "\n".join(copy.iterdump()).encode("utf-8") + b"\n"
    finally:
        source.close()
        copy.close()


def test_capture_opencode(opencode: Agent, tmp_path: Path) -> None:
    # its first message opens the session, which takes it seconds on a busy machine
    write_config("[send]\nsubmit_confirm_ms = 30000\n")
    _start(opencode)
    opencode.wait_state(NAME, "idle", 120)
    delims = _send(opencode)

    def located() -> Path | None:
        with Store.open(server=opencode.tmux.label) as store:
            session = store.sessions.get(NAME)
        return locate("opencode", session.record_ref) if session is not None else None

    db = wait_for(located, 90, "the session id its plugin reports")
    with Store.open(server=opencode.tmux.label) as store:
        session_id = json.loads(store.sessions.get(NAME).record_ref)["session_id"]
    reader = opencode_records.OpencodeRecord(db, session_id)
    found = wait_for(lambda: reader.reply(delims), 90, "the reply in the database")
    assert found == REPLY, f"opencode's record holds another reply: {found!r}"
    opencode.wait_state(NAME, "idle", 60)
    time.sleep(2)  # the turn's last writes (its step's end, the session's title)
    paths = {str(tmp_path): PLACEHOLDER, str(tmp_path.resolve()): PLACEHOLDER}
    paths.update({str(ROOT): CHECKOUT, str(ROOT.resolve()): CHECKOUT})
    # a session's "path" is its folder without the leading "/"
    paths[str(tmp_path.resolve()).lstrip("/")] = PLACEHOLDER
    copy = _scrub(_opencode_dump(db, session_id), paths)
    text = copy.decode("utf-8")
    left = [text[max(0, m.start() - 60) : m.end() + 60] for m in _MACHINE_PATH.finditer(text)]
    assert not left, f"opencode's record still names paths of this machine: {left}"
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / f"opencode-{OPENCODE_VERSION}.sql").write_bytes(copy)
