"""OpenCode without OpenCode: its record (SQLite), pinning and resuming it, its plugin's
events, what isesh gives it (configuration, plugin), and prompts answered with arrows.

The record fixture (tests/fixtures/records/opencode-1.18.33.sql) is the dump of a
session the real OpenCode 1.18.33 wrote (tests/conformance/capture_records.py); the
screens the prompt program draws are real captures (tests/fixtures/opencode-1.18.33/).
The plugin is run by node where node is installed, as OpenCode's runtime would.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import run_imessenger, run_isesh, stays, wait_for

from imessenger.adapters import opencode_config
from imessenger.adapters.records import opencode, reader_for
from imessenger.adapters.records.pinning import (
    CannotResume,
    PinnedRecord,
    learned,
    locate,
    pin,
    resume,
)
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core import opencode_setup
from imessenger.core.agent_setup import hook_argv, reply_command, setup
from imessenger.core.envelope import delimiters
from imessenger.core.hook_events import ASKING, BUSY, ERROR, IDLE, PayloadError, read_event
from imessenger.core.profiles import Profile, load_profiles
from imessenger.core.screen import Meaning, Option
from imessenger.core.values import Usage

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORD = FIXTURES / "records" / "opencode-1.18.33.sql"
PROMPTER = Path(__file__).resolve().parent / "programs" / "row_prompt.py"
START, END = "<<IMSG-REPLY {id}>>", "<<IMSG-END {id}>>"

#: The session and message of the captured record, and the reply the fake model gave.
SESSION = "ses_dad8e246affe1jgeG1eb4zzYwd"
MESSAGE = "761a962e"
REPLY = (
    "## Fix for `validateEmail`\n\nUse **this**:\n\n"
    '```python\nprint("a\\\\b")  # backslash\n```\n\n'
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    + "".join(f"{n:03d}," for n in range(75))
    + "\n<div>not html</div> héllo → ✓ 日本語 🚀"
)


def profile() -> Profile:
    from imessenger.adapters.config_files import load_config

    return load_profiles(load_config(Path("/nonexistent/imessenger-test.toml")))["opencode"]


def database(path: Path) -> Path:
    """A database made from the captured dump (its tables, its one session)."""
    connection = sqlite3.connect(path)
    connection.executescript(RECORD.read_text(encoding="utf-8"))
    connection.close()
    return path


def add_text(db: Path, session: str, role: str, text: str, at: int) -> None:
    """Add a message of ``role`` holding one text part to the database."""
    connection = sqlite3.connect(db)
    message, part = f"msg_{at:020d}", f"prt_{at:020d}"
    with connection:
        connection.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
            (message, session, at, at, json.dumps({"role": role})),
        )
        connection.execute(
            "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
            (part, message, session, at, at, json.dumps({"type": "text", "text": text})),
        )
    connection.close()


def wrapped(message_id: str, text: str) -> str:
    return f"<<IMSG-REPLY {message_id}>>\n{text}\n<<IMSG-END {message_id}>>"


# --- its record ------------------------------------------------------------------------------


def test_the_captured_session_gives_the_exact_reply(tmp_path: Path) -> None:
    db = database(tmp_path / "opencode.db")
    record = opencode.OpencodeRecord(db, SESSION)
    assert record.reply(delimiters(MESSAGE, START, END)) == REPLY
    assert record.reply(delimiters("ffffffff", START, END)) is None
    # the message it took, as its user part holds it
    assert record.mentions(f"[imessenger] message {MESSAGE} from") is True
    assert record.mentions("never said") is False
    assert opencode.has_session(db, SESSION)
    assert not opencode.has_session(db, "ses_other")


def test_only_the_assistants_texts_of_the_session_count_and_the_newest_wins(
    tmp_path: Path,
) -> None:
    db = database(tmp_path / "opencode.db")
    marks = delimiters("0a1b2c3d", START, END)
    record = reader_for("opencode", db, SESSION)
    add_text(db, SESSION, "user", wrapped("0a1b2c3d", "quoted by the user"), 1)
    add_text(db, "ses_another", "assistant", wrapped("0a1b2c3d", "another session"), 2)
    assert record.reply(marks) is None
    add_text(db, SESSION, "assistant", wrapped("0a1b2c3d", "first"), 3)
    assert record.reply(marks) == "first"
    add_text(db, SESSION, "assistant", wrapped("0a1b2c3d", "second\n**kept**"), 4)
    assert record.reply(marks) == "second\n**kept**"
    assert record.reply(delimiters(MESSAGE, START, END)) == REPLY


def test_the_database_is_queried_again_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database(tmp_path / "opencode.db")
    record = opencode.OpencodeRecord(db, SESSION)
    opened: list[Path] = []
    connect = opencode._connect

    def counting(path: Path) -> sqlite3.Connection:
        opened.append(path)
        return connect(path)

    monkeypatch.setattr(opencode, "_connect", counting)
    marks = delimiters(MESSAGE, START, END)
    assert record.reply(marks) == REPLY
    assert record.reply(marks) == REPLY
    assert len(opened) == 1
    add_text(db, SESSION, "assistant", "more", 5)
    assert record.reply(marks) == REPLY
    assert len(opened) == 2


def test_its_usage_is_the_sum_of_its_assistant_messages(tmp_path: Path) -> None:
    from imessenger.adapters.records.usage import usage_in

    db = database(tmp_path / "opencode.db")
    # the captured turn: the fake model said 10 tokens in, 5 out
    assert opencode.usage(db, SESSION) == Usage(10, 5, model="fake-model", turns=1)
    connection = sqlite3.connect(db)
    tokens = {"input": 100, "output": 20, "reasoning": 7, "cache": {"read": 900, "write": 30}}
    with connection:
        connection.execute(
            "INSERT INTO message VALUES ('msg_z', ?, 9999999999999, 0, ?)",
            (SESSION, json.dumps({"role": "assistant", "modelID": "m2", "tokens": tokens})),
        )
        connection.execute(
            "INSERT INTO message VALUES ('msg_u', ?, 9999999999998, 0, ?)",
            (SESSION, json.dumps({"role": "user", "tokens": tokens})),
        )
    connection.close()
    got = opencode.usage(db, SESSION)
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.cache_write_tokens) == (
        110,
        32,
        900,
        30,
    )
    assert (got.model, got.turns) == ("m2", 2)
    # through the session's record ref: nothing before the session is named
    ref = json.dumps({"db": str(db)})
    assert usage_in("opencode", ref) == Usage()
    assert usage_in("opencode", learned(ref, session_id=SESSION)) == got
    assert opencode.usage(tmp_path / "none.db", SESSION) == Usage()


@pytest.mark.parametrize("made", ["missing", "not-sqlite", "empty-sqlite"])
def test_a_database_that_cannot_be_read_gives_no_reply(made: str, tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    if made == "not-sqlite":
        db.write_text("not a database\n" * 100)
    elif made == "empty-sqlite":
        sqlite3.connect(db).close()
    record = opencode.OpencodeRecord(db, SESSION)
    assert record.reply(delimiters(MESSAGE, START, END)) is None
    assert record.mentions("anything") in (None, False)
    assert not opencode.has_session(db, SESSION)


def test_where_the_database_is(tmp_path: Path) -> None:
    home = str(tmp_path)
    share = tmp_path / ".local" / "share" / "opencode"
    assert opencode.db_path({"HOME": home}) == share / "opencode.db"
    data = {"HOME": home, "XDG_DATA_HOME": str(tmp_path / "data")}
    assert opencode.db_path(data) == tmp_path / "data" / "opencode" / "opencode.db"
    assert opencode.db_path({"HOME": home, "OPENCODE_DB": "/elsewhere/x.db"}) == Path(
        "/elsewhere/x.db"
    )
    assert opencode.db_path({"HOME": home, "OPENCODE_DB": "mine.db"}) == share / "mine.db"
    assert opencode.db_path({"HOME": home, "OPENCODE_DB": ":memory:"}) is None


# --- pinning and resuming ----------------------------------------------------------------------


def test_its_record_is_pinned_to_the_database_and_found_once_the_session_is_named(
    tmp_path: Path,
) -> None:
    db = database(tmp_path / "opencode.db")
    pinned = pin(
        "opencode", ["opencode"], tmp_path, tmp_path / "rec", "w1", {"OPENCODE_DB": str(db)}
    )
    assert pinned is not None
    assert pinned.args == ()  # no flag takes a new session id
    assert locate("opencode", pinned.ref) is None
    ref = [pinned.ref]
    record = PinnedRecord("opencode", lambda: ref[0])
    marks = delimiters(MESSAGE, START, END)
    assert record.reply(marks) is None
    assert record.mentions("CAPTURE-RECORD") is None
    ref[0] = learned(pinned.ref, session_id=SESSION)
    assert locate("opencode", ref[0]) == db
    assert wait_for(lambda: record.reply(marks), 2, "the reply") == REPLY
    assert record.mentions("CAPTURE-RECORD") is True


@pytest.mark.parametrize(
    "argv",
    [
        ["opencode", "--session", "ses_x"],
        ["opencode", "-s", "ses_x"],
        ["opencode", "--continue"],
        ["opencode", "-c"],
        ["opencode", "--session=ses_x"],
    ],
)
def test_a_command_line_that_picks_its_own_session_is_left_alone(
    argv: list[str], tmp_path: Path
) -> None:
    assert pin("opencode", argv, tmp_path, tmp_path / "rec", "w1", {"HOME": str(tmp_path)}) is None


def test_a_database_in_memory_pins_nothing(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "OPENCODE_DB": ":memory:"}
    assert pin("opencode", ["opencode"], tmp_path, tmp_path / "rec", "w1", environ) is None


def test_it_resumes_the_session_its_database_holds(tmp_path: Path) -> None:
    db = database(tmp_path / "opencode.db")
    ref = json.dumps({"db": str(db)})
    with pytest.raises(CannotResume, match="at the first message"):
        resume("opencode", ["opencode"], ref)
    with pytest.raises(CannotResume, match="ses_gone"):
        resume("opencode", ["opencode"], learned(ref, session_id="ses_gone"))
    named = learned(ref, session_id=SESSION)
    resumed = resume("opencode", ["opencode"], named)
    assert resumed.args == ("--session", SESSION)
    assert resumed.ref == named


# --- its plugin's events -----------------------------------------------------------------------


def test_the_plugins_events_read_as_states() -> None:
    taken = {"type": "chat.message", "properties": {"sessionID": SESSION, "text": "a\nb"}}
    event = read_event("opencode", json.dumps(taken))
    assert (event.event, event.state, event.detail, event.conversation) == (
        "chat.message",
        BUSY,
        "a",
        SESSION,
    )
    asked = {
        "type": "permission.asked",
        "properties": {
            "sessionID": SESSION,
            "permission": "bash",
            "patterns": ["touch x"],
            "metadata": {"command": "touch x\x1b[2J"},
        },
    }
    event = read_event("opencode", json.dumps(asked))
    assert (event.state, event.detail, event.conversation) == (ASKING, "touch x\u241b[2J", "")
    tool = {
        "type": "permission.asked",
        "properties": {"permission": "imessenger_approve", "patterns": ["*"]},
    }
    assert read_event("opencode", json.dumps(tool)).detail == "imessenger_approve"
    idle = read_event("opencode", '{"type": "session.idle", "properties": {"sessionID": "s"}}')
    assert (idle.state, idle.conversation) == (IDLE, "")
    created = read_event(
        "opencode", json.dumps({"type": "session.created", "properties": {"sessionID": SESSION}})
    )
    assert (created.state, created.conversation) == ("", SESSION)
    with pytest.raises(PayloadError, match="no type"):
        read_event("opencode", '{"properties": {}}')


def test_a_failed_turn_reads_as_an_error_with_its_text_made_inert() -> None:
    """``session.error`` (the plugin reports it when the failed turn ends): an error with
    the API's message, its control bytes shown as pictures; an interrupted turn is idle."""

    def failed(error: object) -> tuple[str, str, str]:
        payload = {"type": "session.error", "properties": {"sessionID": SESSION, "error": error}}
        event = read_event("opencode", json.dumps(payload))
        return event.event, event.state, event.detail

    refused = {"name": "APIError", "data": {"message": "invalid x-api-key", "statusCode": 401}}
    assert failed(refused) == ("session.error", ERROR, "invalid x-api-key")
    hostile = {"name": "APIError", "data": {"message": "no\x1b]0;owned\x07 #{pane_id} $(id)\x9b"}}
    assert failed(hostile)[2] == "no\u241b]0;owned\u2407 #{pane_id} $(id)\\x9b"
    assert failed({"name": "ProviderAuthError", "data": {}})[2] == "ProviderAuthError"
    assert failed({"name": "MessageAbortedError", "data": {"message": "aborted"}})[1:] == (IDLE, "")
    assert failed("not an object")[1:] == (ERROR, "an error with no message")


# --- what isesh gives it -------------------------------------------------------------------------


def test_isesh_gives_it_a_plugin_a_reply_rule_and_its_mcp_server(tmp_path: Path) -> None:
    given = setup("opencode", "opencode", ["opencode"], tmp_path, mcp="opencode", socket="s1")
    assert given.args == ()
    assert given.files == {
        opencode_setup.PLUGIN_FILE: opencode_setup.plugin_source(hook_argv("opencode"))
    }
    config = given.opencode_config
    assert config["plugin"] == [(tmp_path / opencode_setup.PLUGIN_FILE).as_uri()]
    rule = {"bash": {f"{reply_command()} *": "allow"}}
    assert config["agent"] == {"build": {"permission": rule}, "plan": {"permission": rule}}
    server = config["mcp"]["imessenger"]  # type: ignore[index]
    assert server["type"] == "local"
    assert server["command"][-3:] == ["-L", "s1", "mcp"]
    assert config["permission"] == {
        "imessenger_sessions": "allow",
        "imessenger_send": "allow",
        "imessenger_reply": "allow",
        "imessenger_inbox": "allow",
        "imessenger_approve": "ask",
        "imessenger_deny": "ask",
    }
    approver = setup("", "", ["opencode"], tmp_path, mcp="opencode", approver=True)
    assert approver.opencode_config["permission"]["imessenger_approve"] == "allow"  # type: ignore[index]
    assert "plugin" not in approver.opencode_config
    assert not approver.files


def test_the_users_own_config_content_is_kept_and_wins() -> None:
    added = opencode_setup.config(
        plugin="file:///s/p.js", mcp_command=["imessenger", "mcp"], tools=["send"]
    )
    assert json.loads(opencode_config.merged_content(None, added)) == added
    mine = """{
      // comments are allowed
      "plugin": ["mine"],
      "permission": {"imessenger_send": "deny", "bash": "ask"},
      "theme": "dark"
    }"""
    merged = json.loads(opencode_config.merged_content(mine, added))
    assert merged["plugin"] == ["mine", "file:///s/p.js"]
    assert merged["permission"] == {"imessenger_send": "deny", "bash": "ask"}
    assert merged["theme"] == "dark"
    assert merged["mcp"] == added["mcp"]
    env = opencode_config.environment(added, {"OPENCODE_CONFIG_CONTENT": "  "})
    assert json.loads(env["OPENCODE_CONFIG_CONTENT"]) == added
    for bad in ("{not json", "[1, 2]"):
        with pytest.raises(opencode_config.ConfigUnreadable):
            opencode_config.merged_content(bad, added)


def run_plugin(tmp_path: Path, driver_source: str, reports: int) -> list[dict[str, Any]]:
    """Run the plugin under node with ``driver_source`` (PLUGIN: its URL) handing it
    events; return the ``reports`` payloads it gave the hook command, in no order."""
    got = tmp_path / "got"
    got.mkdir()
    command = [sys.executable, "-c", WRITE_STDIN, str(got)]
    plugin = tmp_path / "plugin.mjs"
    plugin.write_text(opencode_setup.plugin_source(command), encoding="utf-8")
    driver = tmp_path / "driver.mjs"
    driver.write_text(driver_source.replace("PLUGIN", plugin.as_uri()), encoding="utf-8")
    done = subprocess.run(["node", str(driver)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: len(list(got.iterdir())) == reports, 20, f"{reports} reports")
    stays(lambda: len(list(got.iterdir())) == reports, 0.5, what=f"no more than {reports}")
    return [json.loads(path.read_text()) for path in sorted(got.iterdir())]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_plugin_reports_the_users_session_and_not_a_subagents(tmp_path: Path) -> None:
    """The plugin, run by node as OpenCode's runtime would run it: each event it reports
    starts the command with the event as JSON on stdin; a subagent's session is left out."""
    reports = run_plugin(tmp_path, PLUGIN_DRIVER, 6)
    seen = sorted(
        (r["type"], r["properties"].get("sessionID"), r["properties"].get("text")) for r in reports
    )
    assert seen == [
        ("chat.message", "ses_user", "hello\nagain"),
        ("permission.asked", "ses_child", None),
        ("permission.asked", "ses_user", None),
        ("permission.replied", "ses_user", None),
        ("session.created", "ses_user", None),
        ("session.idle", "ses_user", None),
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_plugin_reports_a_failed_turn_once_when_it_ends(tmp_path: Path) -> None:
    """OpenCode's ``session.error`` of the user's session comes out as one
    ``session.error`` in the place of the ``session.idle`` that ends the turn, with the
    error; a subagent's error is left out, and one that a new turn follows is dropped."""
    reports = run_plugin(tmp_path, ERROR_DRIVER, 6)
    seen = sorted((r["type"], r["properties"].get("text", "")) for r in reports)
    assert seen == [
        ("chat.message", "first"),
        ("chat.message", "second"),
        ("session.created", ""),
        ("session.error", ""),
        ("session.idle", ""),
        ("session.idle", ""),
    ]
    [failure] = [r for r in reports if r["type"] == "session.error"]
    assert failure["properties"]["sessionID"] == "ses_user"
    event = read_event("opencode", json.dumps(failure))
    assert (event.state, event.detail) == (ERROR, "invalid x-api-key\u241b[2J")


#: Writes its stdin to a new file in the folder it is given.
WRITE_STDIN = (
    "import sys, uuid, pathlib; "
    "pathlib.Path(sys.argv[1], uuid.uuid4().hex).write_text(sys.stdin.read())"
)

#: Loads the plugin and hands it OpenCode's events, as OpenCode 1.18.33 sends them.
PLUGIN_DRIVER = """\
const plugin = (await import("PLUGIN")).default;
const hooks = await plugin({ directory: "/srv/project" });
const send = (type, properties) => hooks.event({ event: { type, properties } });
await send("session.created", { sessionID: "ses_user", info: { id: "ses_user" } });
await send("session.created", { info: { id: "ses_child", parentID: "ses_user" } });
await hooks["chat.message"](
  { sessionID: "ses_user" },
  { parts: [{ type: "text", text: "hello" }, { type: "file" }, { type: "text", text: "again" }] },
);
await hooks["chat.message"]({ sessionID: "ses_child" }, { parts: [{ type: "text", text: "x" }] });
await send("message.part.delta", { sessionID: "ses_user", delta: "..." });
await send("session.status", { sessionID: "ses_user", status: { type: "busy" } });
await send("permission.asked", { sessionID: "ses_user", permission: "bash" });
await send("permission.asked", { sessionID: "ses_child", permission: "bash" });
await send("permission.replied", { sessionID: "ses_user", reply: "once" });
await send("session.idle", { sessionID: "ses_child" });
await send("session.idle", { sessionID: "ses_user" });
"""

#: A failed turn, as OpenCode 1.18.33 sends it: session.error, then session.idle twice.
ERROR_DRIVER = """\
const plugin = (await import("PLUGIN")).default;
const hooks = await plugin({ directory: "/srv/project" });
const send = (type, properties) => hooks.event({ event: { type, properties } });
const message = (sessionID, text) =>
  hooks["chat.message"]({ sessionID }, { parts: [{ type: "text", text }] });
const failure = (text) => ({ name: "APIError", data: { message: text, statusCode: 401 } });
await send("session.created", { sessionID: "ses_user", info: { id: "ses_user" } });
await send("session.created", { info: { id: "ses_child", parentID: "ses_user" } });
await message("ses_user", "first");
await send("session.error", { sessionID: "ses_child", error: failure("child") });
await send("session.idle", { sessionID: "ses_child" });
const refused = failure("invalid x-api-key\\u001b[2J");
await send("session.error", { sessionID: "ses_user", error: refused });
await send("session.status", { sessionID: "ses_user", status: { type: "idle" } });
await send("session.idle", { sessionID: "ses_user" });
await send("session.idle", { sessionID: "ses_user" });
await send("session.error", { sessionID: "ses_user", error: failure("stale") });
await message("ses_user", "second");
await send("session.idle", { sessionID: "ses_user" });
"""


# --- in a session ------------------------------------------------------------------------------


def opencode_event(payload: dict[str, object]) -> str:
    """What the plugin runs for one event: the hook command, the event on its stdin."""
    return f"printf %s {shlex.quote(json.dumps(payload))} | {shlex.join(hook_argv('opencode'))}"


def test_its_plugin_names_the_session_that_takes_the_messages(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run inside an isesh session as the plugin runs it, the hook learns the session's id
    (the user's session only: a malformed id is not taken), and the record is found."""
    db = database(tmp_path / "opencode.db")
    monkeypatch.setenv("OPENCODE_DB", str(db))
    done = tmp_path / "done"
    script = "; ".join(
        [
            opencode_event({"type": "session.created", "properties": {"sessionID": "-rf"}}),
            opencode_event(
                {"type": "chat.message", "properties": {"sessionID": SESSION, "text": "hello"}}
            ),
            f"touch {shlex.quote(str(done))}",
            "sleep 60",
        ]
    )
    # a file, not `sh -c`: "-c" is OpenCode's --continue, which pins nothing
    (tmp_path / "hooks.sh").write_text(script)
    started = run_isesh(
        "start", "w1", "--agent", "opencode", "--", "sh", str(tmp_path / "hooks.sh")
    )
    assert started.exit_code == 0, started.output
    wait_for(done.exists, 20, "the hooks to have run")
    with Store.open(server=tmux.label) as store:
        session = store.sessions.get("w1")
        events = store.hook_events.recent("w1", limit=10)
    assert session is not None
    assert json.loads(session.record_ref) == {"db": str(db), "session_id": SESSION}
    assert [(e.event, e.state, e.detail) for e in events][-1] == ("chat.message", BUSY, "hello")
    # the configuration isesh gave it: the plugin (in the session's folder), the rules
    given = pane_variable(tmux, "w1", "OPENCODE_CONFIG_CONTENT")
    config = json.loads(given)
    [plugin] = config["plugin"]
    assert plugin.startswith("file://")
    assert plugin.endswith(opencode_setup.PLUGIN_FILE)
    # run outside the session (here, by the test), it speaks for no session
    hooked = run_imessenger(
        "hook",
        "event",
        "opencode",
        stdin=json.dumps(
            {"type": "chat.message", "properties": {"sessionID": "ses_other", "text": "x"}}
        ),
    )
    assert hooked.exit_code == 0, hooked.output
    with Store.open(server=tmux.label) as store:
        again = store.sessions.get("w1")
    assert again is not None
    assert json.loads(again.record_ref)["session_id"] == SESSION


def pane_variable(tmux: Tmux, name: str, variable: str) -> str:
    """A variable of the environment the session's program was started with."""
    pid = tmux.pane(name).pid
    assert pid is not None
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1] for e in entries if e.startswith(variable.encode() + b"=")]
    assert found, f"{variable} is not in the environment of {name}"
    return found[0].decode()


# --- prompts answered with the arrow keys ---------------------------------------------------------


def test_keys_for_a_row_move_from_the_selected_option() -> None:
    drive = profile().drive
    row = [Option(str(n), label, Meaning.OTHER, False) for n, label in enumerate("abc", 1)]
    assert drive.keys_for(row[0], row) == ["Enter"]
    assert drive.keys_for(row[1], row) == ["Right", "Enter"]
    assert drive.keys_for(row[2], row) == ["Right", "Right", "Enter"]
    marked = [row[0], row[1], Option("3", "c", Meaning.OTHER, True)]
    assert drive.keys_for(marked[0], marked) == ["Left", "Left", "Enter"]


def start_prompter(tmux: Tmux, tmp_path: Path) -> Path:
    answered = tmp_path / "answered"
    command = ["--", sys.executable, str(PROMPTER), str(answered)]
    started = run_isesh("start", "w1", "--agent", "opencode", *command)
    assert started.exit_code == 0, started.output
    wait_for(
        lambda: "Allow once" in AgentPane.of(tmux, "w1").look(), 20, "the prompt on the screen"
    )
    return answered


def answers_given(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_approve_deny_and_always_with_its_confirmation(tmux: Tmux, tmp_path: Path) -> None:
    answered = start_prompter(tmux, tmp_path)
    once = run_imessenger("approve", "w1")
    assert once.exit_code == 0, once.output
    assert answers_given(answered) == ["once"]

    AgentPane.of(tmux, "w1").paste("", ["x"])  # the program asks again
    wait_for(lambda: "Allow once" in AgentPane.of(tmux, "w1").look(), 20, "the prompt again")
    always = run_imessenger("approve", "--json", "w1", "2")
    assert always.exit_code == 0, always.output
    assert answers_given(answered) == ["once", "always"]
    data = json.loads(always.stdout)
    # "Allow always", then "Confirm" of the confirmation it asks for
    assert data["keys"] == ["Right", "Enter", "Enter"], data

    AgentPane.of(tmux, "w1").paste("", ["x"])
    wait_for(lambda: "Allow once" in AgentPane.of(tmux, "w1").look(), 20, "the prompt again")
    no = run_imessenger("deny", "w1")
    assert no.exit_code == 0, no.output
    assert answers_given(answered) == ["once", "always", "reject"]
    stays(lambda: answers_given(answered) == ["once", "always", "reject"], 0.5, "no other key")
