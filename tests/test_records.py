"""Replies read from the agents' own records: exact_reply, the readers, where the files lie.

The fixtures in tests/fixtures/records/ are records the real agents wrote
(tests/conformance/capture_records.py made them); the other records here are written
by the tests, in the shapes the real ones have.
"""

from __future__ import annotations

import doctest
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

import imessenger.adapters.records.reading
from imessenger.adapters.records import claude, codex, copilot, gemini, qwen, reader_for
from imessenger.adapters.records.reading import RecordReader
from imessenger.core.envelope import Delimiters, delimiters, exact_reply, message_id_in
from imessenger.core.profiles import RECORD_KINDS as KINDS

FIXTURES = Path(__file__).parent / "fixtures" / "records"
START = "<<IMSG-REPLY {id}>>"
END = "<<IMSG-END {id}>>"
MARKS = delimiters("0a1b2c3d", START, END)

#: The reply the fake model gave in every fixture (capture_records.py's REPLY).
REPLY = (
    "## Fix for `validateEmail`\n\nUse **this**:\n\n"
    '```python\nprint("a\\\\b")  # backslash\n```\n\n'
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    + "".join(f"{n:03d}," for n in range(75))
    + "\n<div>not html</div> héllo → ✓ 日本語 🚀"
)

#: Each kind's captured record.
CAPTURED = {
    "claude": "claude-code-2.1.332.jsonl",
    "codex": "codex-0.169.0.jsonl",
    "gemini": "gemini-cli-0.61.0.jsonl",
    "aider": "aider-0.86.2.md",
    "qwen": "qwen-code-0.24.4.jsonl",
    "copilot": "copilot-1.0.102.jsonl",
}


#: What marks the line of each captured record that completes the reply: the assistant's
#: entry (Codex also copies the reply into events before it: those do not count).
CARRIER = {
    "claude": b'"type":"assistant"',
    "codex": b'"type":"response_item"',
    "gemini": b'"type":"gemini"',
    "aider": b"",
    "qwen": b'"type":"assistant"',
    "copilot": b'"type":"assistant.message"',
}

#: The start of a path of this machine (not one after a placeholder or inside a path).
MACHINE_PATH = re.compile(
    r"(?<![\w./~<-])(?<!<capture>)(?<!<checkout>)(?:/tmp/|/work/|/home/|/root\b)"
)


def wrapped(text: str, marks: Delimiters = MARKS) -> str:
    """``text`` between the delimiter lines, as an agent prints a reply."""
    return f"{marks.start}\n{text}\n{marks.end}"


# --- exact_reply --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(wrapped("hello"), "hello", id="one-reply"),
        pytest.param(f"before\n{wrapped('x')}\nafter\n", "x", id="text-around"),
        pytest.param(f"{MARKS.start}\nstill writing", None, id="no-end-line"),
        pytest.param(f"{MARKS.end}\n", None, id="end-line-alone"),
        pytest.param("no delimiters at all", None, id="nothing"),
        pytest.param(f"{wrapped('first')}\n{wrapped('second')}", "second", id="two-replies-last"),
        pytest.param(f"{wrapped('done')}\n{MARKS.start}\nhalf", "done", id="last-is-unfinished"),
        pytest.param(
            f"{MARKS.start}\nold\n{MARKS.start}\nnew\n{MARKS.end}", "new", id="nearest-start"
        ),
        pytest.param(f"{wrapped('a')}\n{MARKS.end}", "a", id="second-end-line-unpaired"),
        pytest.param(f"say {MARKS.start} and {MARKS.end} in a sentence", None, id="in-a-sentence"),
        pytest.param(
            f"{MARKS.start}\nthe end line is {MARKS.end} here\n{MARKS.end}",
            f"the end line is {MARKS.end} here",
            id="end-in-a-sentence-inside",
        ),
        pytest.param(f"  {MARKS.start}\nx\n  {MARKS.end}", None, id="indented-lines-do-not-count"),
        pytest.param(f"{MARKS.start} \nx\n{MARKS.end}", None, id="trailing-space-on-delimiter"),
        pytest.param(f"{MARKS.start}\r\nx\r\n{MARKS.end}\r\n", None, id="crlf-delimiters"),
        pytest.param(wrapped("trailing  \n\n  spaces  "), "trailing  \n\n  spaces  ", id="spaces"),
        pytest.param(wrapped("a\r\nb\\c\u200b<!-- c -->"), "a\r\nb\\c\u200b<!-- c -->", id="bytes"),
        pytest.param(wrapped("\n\nblank edges\n\n"), "\n\nblank edges\n\n", id="blank-edges"),
        pytest.param(f"{MARKS.start}\n{MARKS.end}", "", id="empty-reply"),
        pytest.param(
            wrapped("other", delimiters("ffffffff", START, END)), None, id="another-message"
        ),
    ],
)
def test_exact_reply(text: str, expected: str | None) -> None:
    assert exact_reply(text, MARKS) == expected


# --- the captured records -------------------------------------------------------------------


def captured(kind: str) -> Path:
    path = FIXTURES / CAPTURED[kind]
    assert path.is_file(), f"{path} is missing: run tests/conformance/capture_records.py"
    return path


def fixture_marks(path: Path) -> Delimiters:
    """The delimiters of the message in a captured record (its id read from the record)."""
    found = message_id_in(path.read_text(encoding="utf-8"), START)
    assert found is not None, f"{path.name} holds no message id"
    return delimiters(found, START, END)


@pytest.mark.parametrize("kind", CAPTURED)
def test_captured_record_gives_the_exact_reply(kind: str) -> None:
    path = captured(kind)
    marks = fixture_marks(path)
    assert reader_for(kind, path).reply(marks) == REPLY
    assert reader_for(kind, path).reply(delimiters("ffffffff", START, END)) is None


@pytest.mark.parametrize("kind", CAPTURED)
def test_captured_record_names_no_path_of_this_machine(kind: str) -> None:
    text = captured(kind).read_text(encoding="utf-8")
    assert not [text[m.start() - 40 : m.end() + 40] for m in MACHINE_PATH.finditer(text)]
    assert str(Path(__file__).parent.parent) not in text
    assert "<capture>" in text


@pytest.mark.parametrize("kind", CAPTURED)
def test_captured_record_read_as_it_is_written(kind: str, tmp_path: Path) -> None:
    """Written in parts (cut inside lines and inside UTF-8 characters), the record gives
    no reply until the line that ends the reply is complete, and then the reply."""
    data = captured(kind).read_bytes()
    marks = fixture_marks(captured(kind))
    [carrier] = [
        line for line in data.split(b"\n") if marks.end.encode() in line and CARRIER[kind] in line
    ][:1]
    complete_at = data.index(carrier) + len(carrier) + 1
    cuts = sorted({*range(0, len(data), 997), complete_at - 1, complete_at, len(data)})
    multibyte = data.index("日".encode())
    cuts = sorted({*cuts, multibyte + 1, multibyte + 2})
    path = tmp_path / CAPTURED[kind]
    path.write_bytes(b"")
    reader = reader_for(kind, path)
    written = 0
    for cut in cuts:
        with open(path, "ab") as record:
            record.write(data[written:cut])
        written = cut
        expected = REPLY if written >= complete_at else None
        assert reader.reply(marks) == expected, f"after {written} of {len(data)} bytes"


# --- reading as the file grows -----------------------------------------------------------------


def claude_line(text: str) -> str:
    entry = {
        "type": "assistant",
        "isSidechain": False,
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
    }
    return json.dumps(entry, ensure_ascii=False) + "\n"


def write(path: Path, text: str, mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8", newline="") as record:
        record.write(text)


def test_a_half_written_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    line = claude_line(wrapped("whole"))
    reader = reader_for("claude", path)
    write(path, line[:-10])
    assert reader.reply(MARKS) is None
    write(path, line[-10:-1], "a")
    assert reader.reply(MARKS) is None  # no "\n" yet: it may still grow
    write(path, "\n", "a")
    assert reader.reply(MARKS) == "whole"


def test_the_newest_reply_wins_and_an_older_one_stays_found(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, claude_line(wrapped("first")) + claude_line("no reply here"))
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) == "first"
    write(path, claude_line(wrapped("second")), "a")
    assert reader.reply(MARKS) == "second"
    write(path, claude_line("later text, no reply"), "a")
    assert reader.reply(MARKS) == "second"


class Opens:
    """Records where the reader starts reading each time it opens the record."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seeks: list[int] = []
        real_open = open
        seeks = self.seeks

        class Counted:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.handle = real_open(*args, **kwargs)

            def __enter__(self) -> Counted:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()

            def seek(self, offset: int, *rest: int) -> int:
                seeks.append(offset)
                return int(self.handle.seek(offset, *rest))

            def read(self, *args: int) -> Any:
                return self.handle.read(*args)

        monkeypatch.setattr(imessenger.adapters.records.reading, "open", Counted, raising=False)


def test_only_what_was_appended_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.jsonl"
    first = claude_line(wrapped("one"))
    write(path, first)
    opens = Opens(monkeypatch)
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) == "one"
    assert reader.reply(MARKS) == "one"
    assert opens.seeks == [0]  # the size did not change: the file was not opened again
    write(path, claude_line(wrapped("two")), "a")
    assert reader.reply(MARKS) == "two"
    size = len(first.encode())
    assert len(opens.seeks) == 2
    assert size - 64 <= opens.seeks[1] < size  # from the end, with a few bytes read again


def test_a_missing_file_gives_none_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later" / "t.jsonl"
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) is None
    path.parent.mkdir()
    write(path, claude_line(wrapped("now")))
    assert reader.reply(MARKS) == "now"
    path.unlink()
    assert reader.reply(MARKS) is None


def test_a_shrunk_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, claude_line(wrapped("a long first reply, longer than the next")))
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) == "a long first reply, longer than the next"
    write(path, claude_line(wrapped("short")))
    assert reader.reply(MARKS) == "short"


def test_a_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, claude_line(wrapped("old")))
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) == "old"
    write(path, claude_line("no reply any more") + claude_line("and longer than before"))
    assert reader.reply(MARKS) is None


def test_a_file_replaced_by_a_rename_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    tail = claude_line("the same last line " * 5)
    write(path, claude_line(wrapped("old")) + tail)
    reader = reader_for("claude", path)
    assert reader.reply(MARKS) == "old"
    # another file, whose bytes where the reader stopped are the same as before
    other = tmp_path / "t.jsonl.tmp"
    write(other, claude_line(wrapped("new")) + tail + claude_line("and more"))
    other.replace(path)
    assert reader.reply(MARKS) == "new"


def test_a_bad_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "t.jsonl"
    odd_shapes = ['{"type": "assistant", "message": null}', "[1, 2]", '"text"', "null"]
    lines = ["{not json at all", "garbage \x00", *odd_shapes]
    write(path, claude_line(wrapped("before")), "w")
    with open(path, "ab") as record:
        record.write(b"\xff\xfe not utf-8 {\n")
        record.write("\n".join(lines).encode() + b"\n\n")
    write(path, claude_line(wrapped("after")), "a")
    with caplog.at_level(logging.DEBUG, logger="imessenger.adapters.records"):
        assert reader_for("claude", path).reply(MARKS) == "after"
    assert any("not JSON" in message for message in caplog.messages)


def test_an_unreadable_record_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    assert reader_for("claude", folder).reply(MARKS) is None  # IsADirectoryError

    path = tmp_path / "t.jsonl"
    write(path, claude_line(wrapped("readable again")))
    reader = reader_for("claude", path)

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(imessenger.adapters.records.reading, "open", denied, raising=False)
    assert reader.reply(MARKS) is None
    monkeypatch.delattr(imessenger.adapters.records.reading, "open")  # not undo(): it would
    # also take back the test's own home (conftest's isolated_home)
    assert reader.reply(MARKS) == "readable again"


def test_a_transcript_that_raises_on_a_shape_does_not_stop_the_reader(tmp_path: Path) -> None:
    class Fussy:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def take(self, line: str) -> None:
            if line == "bad":
                raise TypeError("an unexpected shape")
            self.lines.append(line)

        def texts(self) -> list[str]:
            return ["\n".join(self.lines)]

    path = tmp_path / "record"
    write(path, f"bad\n{wrapped('fine')}\n")
    assert RecordReader(path, Fussy).reply(MARKS) == "fine"


def test_reader_for_knows_the_four_kinds(tmp_path: Path) -> None:
    assert {"claude", "codex", "gemini", "aider"} <= set(KINDS)
    for kind in KINDS:
        assert reader_for(kind, tmp_path / "x").reply(MARKS) is None
    with pytest.raises(ValueError, match="known: claude, codex, gemini, aider"):
        reader_for("no-such-agent", tmp_path / "x")


# --- Claude Code --------------------------------------------------------------------------


def test_claude_reads_text_blocks_of_assistant_entries_only(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    user = {"type": "user", "message": {"role": "user", "content": wrapped("from the user")}}
    side = json.loads(claude_line(wrapped("a sub-agent's")))
    side["isSidechain"] = True
    tool = {
        "type": "assistant",
        "message": {"content": [{"type": "tool_use", "input": {"text": wrapped("no")}}]},
    }
    lines = [claude_line(wrapped("mine")), json.dumps(user), json.dumps(side), json.dumps(tool)]
    write(path, "\n".join(line.rstrip("\n") for line in lines) + "\n")
    assert reader_for("claude", path).reply(MARKS) == "mine"


@pytest.mark.parametrize(
    ("cwd", "name"),
    [
        pytest.param("/home/me/project", "-home-me-project", id="plain"),
        pytest.param("/tmp/my project/ü.x_y", "-tmp-my-project---x-y", id="not-alphanumeric"),
        # JavaScript replaces each UTF-16 code unit: an astral character is two
        pytest.param("/tmp/🚀 x", "-tmp----x", id="astral"),
        pytest.param("/" + "a" * 199, "-" + "a" * 199, id="exactly-200"),
        # the three below were computed by Claude Code 2.1.332's own function, under node
        pytest.param(
            "/srv/" + "projects/" * 30 + "app",
            ("-srv-" + "projects-" * 30)[:200] + "-g6vjmu",
            id="long",
        ),
        pytest.param(
            "/home/ü/" + "a" * 200 + "🚀",
            ("-home---" + "a" * 200)[:200] + "-pae6rt",
            id="long-with-astral",
        ),
    ],
)
def test_claude_folder_name(cwd: str, name: str) -> None:
    assert claude.folder_name(cwd) == name
    assert claude.transcript_path(Path("/cfg"), Path(cwd), "u-1") == Path(
        f"/cfg/projects/{name}/u-1.jsonl"
    )


def test_claude_java_hash_wraps_to_32_bits() -> None:
    assert claude.java_hash("hello") == 99162322
    assert claude.java_hash("/srv/" + "projects/" * 30 + "app") == -979008294
    assert claude.base36(0) == "0"
    assert claude.base36(2147483648) == "zik0zk"


def test_claude_config_dir() -> None:
    assert claude.config_dir({"CLAUDE_CONFIG_DIR": "/c", "HOME": "/h"}) == Path("/c")
    assert claude.config_dir({"CLAUDE_CONFIG_DIR": "", "HOME": "/h"}) == Path("/h/.claude")
    assert claude.config_dir({"HOME": "/h"}) == Path("/h/.claude")


# --- Codex --------------------------------------------------------------------------------


def codex_line(payload: dict[str, Any], kind: str = "response_item") -> str:
    return json.dumps({"timestamp": "t", "ordinal": 1, "type": kind, "payload": payload})


def test_codex_reads_assistant_messages_with_their_parts_joined(tmp_path: Path) -> None:
    def message(role: str, *texts: str) -> dict[str, Any]:
        content = [{"type": "output_text", "text": text} for text in texts]
        return {"type": "message", "role": role, "content": content}

    lines = [
        codex_line(message("assistant", f"{MARKS.start}\npart one, ", f"part two\n{MARKS.end}")),
        codex_line(message("user", wrapped("the user's"))),
        codex_line(
            {"type": "task_complete", "last_agent_message": wrapped("not here")}, "event_msg"
        ),
    ]
    path = tmp_path / "r.jsonl"
    write(path, "\n".join(lines) + "\n")
    assert reader_for("codex", path).reply(MARKS) == "part one, part two"


def test_codex_rollout_path(tmp_path: Path) -> None:
    thread = "01a23156-51fe-7732-b652-e78f3ec07f09"
    day = tmp_path / "home [1]" / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    mine = day / f"rollout-2026-12-01T11-21-10-{thread}.jsonl"
    mine.write_text("{}\n")
    (day / "rollout-2026-12-01T11-22-10-01a23156-0000-7732-b652-e78f3ec07f09.jsonl").touch()
    home = tmp_path / "home [1]"
    assert codex.rollout_path(home, thread) == mine
    assert codex.rollout_path(home, "01a23156-51fe-7732-b652-000000000000") is None
    assert codex.rollout_path(home, "*") is None
    assert codex.rollout_path(home, "") is None


def test_codex_home() -> None:
    assert codex.codex_home({"CODEX_HOME": "/x", "HOME": "/h"}) == Path("/x")
    assert codex.codex_home({"HOME": "/h"}) == Path("/h/.codex")


# --- Gemini CLI ---------------------------------------------------------------------------


def gemini_record(*entries: dict[str, Any]) -> str:
    meta = {"sessionId": "s", "projectHash": "h", "startTime": "t", "kind": "main"}
    return "\n".join(json.dumps(entry) for entry in (meta, *entries)) + "\n"


def test_gemini_applies_updates_rewinds_and_replacements(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    user = {"id": "u1", "type": "user", "content": [{"text": wrapped("the user's")}]}
    answer = {"id": "g1", "type": "gemini", "content": wrapped("first")}
    write(path, gemini_record(user, answer))
    reader = reader_for("gemini", path)
    assert reader.reply(MARKS) == "first"
    # the same id again replaces the message where it was
    later = {"id": "g2", "type": "gemini", "content": "no reply"}
    write(path, json.dumps(later) + "\n" + json.dumps({**answer, "content": "gone"}) + "\n", "a")
    assert reader.reply(MARKS) is None
    # $set with messages replaces them all; one without leaves them
    parts = [{"text": f"{MARKS.start}\n"}, {"text": "thinking", "thought": True}, {"text": "set"}]
    replaced = {"$set": {"messages": [{"id": "g3", "type": "gemini", "content": parts}]}}
    write(path, json.dumps(replaced) + "\n", "a")
    assert reader.reply(MARKS) is None  # no end line yet
    write(path, json.dumps({"$set": {"lastUpdated": "t2"}}) + "\n", "a")
    more = {"id": "g4", "type": "gemini", "content": {"text": wrapped("a single part")}}
    write(path, json.dumps(more) + "\n", "a")
    assert reader.reply(MARKS) == "a single part"
    write(path, json.dumps({"$rewindTo": "g4"}) + "\n", "a")
    assert reader.reply(MARKS) is None
    back = {
        "$set": {"messages": [{"id": "g5", "type": "gemini", "content": [*parts, "\n", MARKS.end]}]}
    }
    write(path, json.dumps(back) + "\n", "a")
    assert reader.reply(MARKS) == "set"
    write(path, json.dumps({"$rewindTo": "unknown"}) + "\n", "a")
    assert reader.reply(MARKS) is None


def test_gemini_set_messages_drops_the_earlier_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, gemini_record({"id": "g1", "type": "gemini", "content": wrapped("dropped")}))
    reader = reader_for("gemini", path)
    assert reader.reply(MARKS) == "dropped"
    kept = {"$set": {"messages": [{"id": "g2", "type": "gemini", "content": "no reply"}]}}
    write(path, json.dumps(kept) + "\n", "a")
    assert reader.reply(MARKS) is None


def test_gemini_reads_messages_of_an_old_first_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    old = {
        "sessionId": "s",
        "projectHash": "h",
        "messages": [{"id": "g", "type": "gemini", "content": wrapped("old style")}],
    }
    write(path, json.dumps(old) + "\n")
    assert reader_for("gemini", path).reply(MARKS) == "old style"


def test_gemini_chat_path_takes_the_file_of_the_full_id(tmp_path: Path) -> None:
    session = "22222222-3333-4444-8555-777777777777"
    twin = "22222222-ffff-4444-8555-777777777777"
    chats = tmp_path / ".gemini" / "tmp" / "work" / "chats"
    chats.mkdir(parents=True)
    mine = chats / "session-2026-12-01T11-20-22222222.jsonl"
    other = chats / "session-2026-12-01T11-25-22222222.jsonl"
    broken = chats / "session-2026-12-01T11-30-22222222.jsonl"
    mine.write_text(json.dumps({"sessionId": session, "projectHash": "h"}) + "\n{}\n")
    other.write_text(json.dumps({"sessionId": twin, "projectHash": "h"}) + "\n")
    broken.write_text("{not json\n")
    assert gemini.chat_path(tmp_path, session) == mine
    assert gemini.chat_path(tmp_path, twin) == other
    assert gemini.chat_path(tmp_path, "22222222-0000-4444-8555-777777777777") is None
    assert gemini.chat_path(tmp_path / "nowhere", session) is None


def test_gemini_home() -> None:
    assert gemini.gemini_home({"GEMINI_CLI_HOME": "/g", "HOME": "/h"}) == Path("/g")
    assert gemini.gemini_home({"HOME": "/h"}) == Path("/h")


# --- GitHub Copilot CLI ----------------------------------------------------------------------


def copilot_event(kind: str, **data: Any) -> str:
    entry = {"type": kind, "data": data, "id": "e", "timestamp": "t", "parentId": None}
    return json.dumps(entry, ensure_ascii=False) + "\n"


def test_copilot_reads_the_text_of_assistant_messages_only(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write(
        path,
        copilot_event("user.message", content=wrapped("from the user"))
        + copilot_event("assistant.message", content=wrapped("a sub-agent's"), parentToolCallId="c")
        + copilot_event(
            "assistant.message",
            content="",
            toolRequests=[{"name": "bash", "arguments": {"command": wrapped("no")}}],
        )
        + copilot_event("tool.execution_complete", result={"content": wrapped("a tool's")})
        + copilot_event("assistant.message_delta", deltaContent=wrapped("a delta")),
    )
    reader = reader_for("copilot", path)
    assert reader.reply(MARKS) is None
    write(path, copilot_event("assistant.message", content=wrapped("the answer  \r\n")), "a")
    assert reader.reply(MARKS) == "the answer  \r\n"
    write(path, copilot_event("assistant.message", content="no reply, and none lost"), "a")
    assert reader.reply(MARKS) == "the answer  \r\n"


def test_copilot_events_path_and_home() -> None:
    home = copilot.copilot_home({"COPILOT_HOME": "/c", "HOME": "/h"})
    assert home == Path("/c")
    assert copilot.copilot_home({"COPILOT_HOME": "", "HOME": "/h"}) == Path("/h/.copilot")
    path = copilot.events_path(home, "0cb916db-26aa-40f2-86b5-1ba81b225fd2")
    assert path == Path("/c/session-state/0cb916db-26aa-40f2-86b5-1ba81b225fd2/events.jsonl")


# --- Aider --------------------------------------------------------------------------------


def test_aider_takes_only_bare_delimiter_lines(tmp_path: Path) -> None:
    envelope = "#### [imessenger] message 0a1b2c3d from boss:  \n#### print between  \n"
    quoted = f"#### {MARKS.start}  \n#### {MARKS.end}  \n> {MARKS.start}  \n> {MARKS.end}  \n"
    answer = f"\n{wrapped('the answer  ')}\n\n> Tokens: 2.3k sent, 220 received.  \n"
    path = tmp_path / "history.md"
    write(path, "\n# aider chat started at 2026-12-01 11:00:00\n\n" + envelope + quoted)
    reader = reader_for("aider", path)
    assert reader.reply(MARKS) is None
    write(path, answer, "a")
    assert reader.reply(MARKS) == "the answer  "


# --- docstring examples ----------------------------------------------------------------------


@pytest.mark.parametrize("module", [claude], ids=lambda m: m.__name__)
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


# --- Qwen Code --------------------------------------------------------------------------


def qwen_line(kind: str, parts: list[dict[str, Any]]) -> str:
    role = "model" if kind == "assistant" else "user"
    entry = {"uuid": "u", "type": kind, "message": {"role": role, "parts": parts}}
    return json.dumps(entry, ensure_ascii=False) + "\n"


def test_qwen_reads_the_text_parts_of_assistant_records_only(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    asked = qwen_line("user", [{"text": wrapped("the user's own words")}])
    thought = {"text": wrapped("a thought"), "thought": True}
    call = {"functionCall": {"id": "c1", "name": "run_shell_command", "args": {}}}
    write(path, asked + qwen_line("assistant", [thought, call]))
    reader = reader_for("qwen", path)
    assert reader.reply(MARKS) is None
    split = [{"text": f"{MARKS.start}\n**two** "}, {"text": f"parts  \n{MARKS.end}"}]
    write(path, qwen_line("assistant", split), "a")
    assert reader.reply(MARKS) == "**two** parts  "
    system = {"type": "system", "subtype": "ui_telemetry", "message": {"parts": [{"text": "x"}]}}
    write(path, json.dumps(system) + "\n" + qwen_line("tool_result", [{"text": "y"}]), "a")
    assert reader.reply(MARKS) == "**two** parts  "


def test_qwen_chat_path_is_the_file_of_the_session_id_in_any_project(tmp_path: Path) -> None:
    session = "0b7d6f4e-1a2b-4c3d-8e9f-0123456789ab"
    assert qwen.chat_path(tmp_path, session) is None
    chats = tmp_path / "projects" / "-srv-project" / "chats"
    chats.mkdir(parents=True)
    (chats / f"{session}.runtime.json").write_text("{}")
    (chats / "ffffffff-1a2b-4c3d-8e9f-0123456789ab.jsonl").write_text("")
    assert qwen.chat_path(tmp_path, session) is None  # written at the first message
    mine = chats / f"{session}.jsonl"
    mine.write_text("")
    assert qwen.chat_path(tmp_path, session) == mine
    assert qwen.chat_path(tmp_path, "*") is None
    assert qwen.chat_path(tmp_path, "../x") is None


def test_qwen_runtime_dir() -> None:
    assert qwen.runtime_dir({"HOME": "/h"}) == Path("/h/.qwen")
    assert qwen.runtime_dir({"HOME": "/h", "QWEN_HOME": "/q"}) == Path("/q")
    both = {"HOME": "/h", "QWEN_HOME": "/q", "QWEN_RUNTIME_DIR": "/r"}
    assert qwen.runtime_dir(both) == Path("/r")
    assert qwen.runtime_dir({"HOME": "/h", "QWEN_HOME": ""}) == Path("/h/.qwen")
