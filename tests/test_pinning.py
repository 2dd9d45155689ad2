"""Pinning an agent's record at the start, and finding it again.

(imessenger.adapters.records.pinning)
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from imessenger.adapters.records import claude, copilot
from imessenger.adapters.records.pinning import (
    CannotResume,
    PinnedRecord,
    from_hook,
    learned,
    locate,
    marker,
    pin,
    relocated,
    resume,
    resumed_command,
)
from imessenger.core.envelope import delimiters

START, END = "<<IMSG-REPLY {id}>>", "<<IMSG-END {id}>>"


def test_claude_gets_a_fresh_session_id_and_its_transcript_path(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    first = pin("claude", ["claude"], tmp_path / "src", tmp_path / "rec", "w1", environ)
    second = pin("claude", ["claude"], tmp_path / "src", tmp_path / "rec", "w1", environ)
    assert first is not None
    assert second is not None
    option, session_id = first.args
    assert option == "--session-id"
    assert uuid.UUID(session_id).version == 4
    assert second.args[1] != session_id  # a reused id makes Claude Code refuse to start
    expected = claude.transcript_path(tmp_path / ".claude", tmp_path / "src", session_id)
    assert locate("claude", first.ref) == expected


def test_claude_follows_its_config_dir(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(tmp_path / "elsewhere")}
    pinned = pin("claude", ["claude"], tmp_path, tmp_path / "rec", "w1", environ)
    assert pinned is not None
    located = locate("claude", pinned.ref)
    assert located is not None
    assert located.is_relative_to(tmp_path / "elsewhere" / "projects")


@pytest.mark.parametrize(
    ("kind", "argv"),
    [
        ("claude", ["claude", "--resume", "abc"]),
        ("claude", ["claude", "--continue"]),
        ("claude", ["claude", "--session-id=11111111-2222-4333-8444-555555555555"]),
        ("gemini", ["gemini", "--session-id", "x"]),
        ("gemini", ["gemini", "-r", "latest"]),
        ("qwen", ["qwen", "--session-id", "x"]),
        ("qwen", ["qwen", "--resume=abc"]),
        ("qwen", ["qwen", "-c"]),
        ("copilot", ["copilot", "--resume=0cb916d"]),
        ("copilot", ["copilot", "--continue"]),
        ("copilot", ["copilot", "--session-id", "11111111-2222-4333-8444-555555555555"]),
    ],
)
def test_a_command_line_that_picks_its_own_session_is_left_alone(
    kind: str, argv: list[str], tmp_path: Path
) -> None:
    assert pin(kind, argv, tmp_path, tmp_path / "rec", "w1", {"HOME": str(tmp_path)}) is None


def test_copilot_gets_a_fresh_session_id_and_resumes_it_once_it_wrote_its_events(
    tmp_path: Path,
) -> None:
    environ = {"HOME": str(tmp_path), "COPILOT_HOME": str(tmp_path / "copilot-home")}
    pinned = pin("copilot", ["copilot"], tmp_path, tmp_path / "rec", "w1", environ)
    assert pinned is not None
    option, session_id = pinned.args
    assert option == "--session-id"
    assert uuid.UUID(session_id).version == 4
    events = copilot.events_path(tmp_path / "copilot-home", session_id)
    assert locate("copilot", pinned.ref) == events
    # Copilot CLI writes its events at the first message: before it, nothing to resume
    with pytest.raises(CannotResume, match="is gone"):
        resume("copilot", ["copilot", "--model", "m"], pinned.ref)
    events.parent.mkdir(parents=True)
    events.write_text('{"type": "session.start"}\n')
    resumed = resume("copilot", ["copilot", "--model", "m"], pinned.ref)
    # "=": Copilot's --resume takes an optional value
    assert resumed.args == (f"--resume={session_id}",)
    assert resumed.ref == pinned.ref
    argv = resumed_command("copilot", ["copilot", "--model", "m"], resumed)
    assert argv == ["copilot", "--model", "m", f"--resume={session_id}"]


def test_aider_and_demo_get_a_file_in_the_records_folder(tmp_path: Path) -> None:
    records = tmp_path / "rec"
    aider = pin("aider", ["aider"], tmp_path, records, "w1", {})
    demo = pin("demo", ["python", "-m", "imessenger.demo.agent"], tmp_path, records, "w2", {})
    assert aider is not None
    assert demo is not None
    assert aider.args[0] == "--chat-history-file"
    assert demo.args[0] == "--record"
    for pinned, name in ((aider, "w1-"), (demo, "w2-")):
        path = Path(pinned.args[1])
        assert path.parent == records
        assert path.name.startswith(name)
        assert locate("aider", pinned.ref) == path


def test_a_record_file_the_command_line_names_is_read(tmp_path: Path) -> None:
    pinned = pin("aider", ["aider", "--chat-history-file", "h.md"], tmp_path, tmp_path, "w1", {})
    assert pinned is not None
    assert pinned.args == ()
    assert locate("aider", pinned.ref) == (tmp_path / "h.md").resolve()


def test_gemini_is_found_by_its_session_id_once_it_wrote_its_chat(tmp_path: Path) -> None:
    pinned = pin("gemini", ["gemini"], tmp_path, tmp_path / "rec", "w1", {"HOME": str(tmp_path)})
    assert pinned is not None
    session_id = pinned.args[1]
    assert locate("gemini", pinned.ref) is None  # not written yet
    chats = tmp_path / ".gemini" / "tmp" / "project" / "chats"
    chats.mkdir(parents=True)
    chat = chats / f"session-2026-12-01T10-00-{session_id[:8]}.jsonl"
    chat.write_text(json.dumps({"sessionId": session_id, "kind": "main"}) + "\n")
    assert locate("gemini", pinned.ref) == chat


def test_codex_is_found_once_its_thread_id_is_learned(tmp_path: Path) -> None:
    home = tmp_path / "codex"
    pinned = pin("codex", ["codex"], tmp_path, tmp_path / "rec", "w1", {"CODEX_HOME": str(home)})
    assert pinned is not None
    option, setting = pinned.args
    assert option == "-c"
    assert setting.startswith("notify=")
    assert json.loads(setting.removeprefix("notify="))[-3:] == [
        "imessenger",
        "hook",
        "codex-notify",
    ]
    assert locate("codex", pinned.ref) is None
    thread = "01a23156-51fe-7732-b652-e78f3ec07f09"
    rollout = (
        home / "sessions" / "2026" / "12" / "01" / f"rollout-2026-12-01T11-21-10-{thread}.jsonl"
    )
    rollout.parent.mkdir(parents=True)
    rollout.write_text("")
    assert locate("codex", learned(pinned.ref, thread_id=thread)) == rollout


def test_the_users_own_codex_notify_is_run_after_ours(tmp_path: Path) -> None:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text('notify = ["notify-send", "codex"]\n')
    pinned = pin("codex", ["codex"], tmp_path, tmp_path, "w1", {"CODEX_HOME": str(home)})
    assert pinned is not None
    notify = json.loads(pinned.args[1].removeprefix("notify="))
    assert notify[notify.index("codex-notify") + 1 :] == ["notify-send", "codex"]
    # and a command line with a notify program of its own is left alone
    assert pin("codex", ["codex", "-c", "notify=[]"], tmp_path, tmp_path, "w1", {}) is None


def test_a_pinned_record_is_read_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    pinned = pin("demo", ["demo", "--record", str(path)], tmp_path, tmp_path, "w1", {})
    assert pinned is not None
    record = PinnedRecord("demo", lambda: pinned.ref)
    delims = delimiters("m1", START, END)
    assert record.reply(delims) is None  # no file yet
    answer = f"{delims.start}\n  exact\ttext  \n{delims.end}"
    path.write_text(json.dumps({"type": "answer", "text": answer}) + "\n")
    assert record.reply(delims) == "  exact\ttext  "
    assert record.path == path


# --- the record where the agent really writes it ---------------------------------------------


def test_a_moved_home_or_config_folder_moves_claudes_record(tmp_path: Path) -> None:
    pinned = pin("claude", ["claude"], tmp_path, tmp_path, "w1", {"HOME": "/home/me"})
    assert pinned is not None
    session_id = pinned.args[1]
    assert marker("claude", pinned.ref) == session_id
    # the agent's own environment says the same: nothing moves
    assert relocated("claude", pinned.ref, tmp_path, {"HOME": "/home/me"}) is None
    moved = relocated("claude", pinned.ref, tmp_path, {"HOME": "/elsewhere"})
    assert moved is not None
    assert locate("claude", moved) == claude.transcript_path(
        Path("/elsewhere/.claude"), tmp_path, session_id
    )
    second = relocated("claude", pinned.ref, tmp_path, {"CLAUDE_CONFIG_DIR": "/acct2"})
    assert second is not None
    assert str(locate("claude", second)).startswith("/acct2/projects/")


def test_gemini_and_codex_follow_the_agents_environment(tmp_path: Path) -> None:
    gemini_pin = pin("gemini", ["gemini"], tmp_path, tmp_path, "w1", {"HOME": "/home/me"})
    assert gemini_pin is not None
    moved = relocated("gemini", gemini_pin.ref, tmp_path, {"HOME": "/other"})
    assert moved is not None
    assert json.loads(moved)["home"] == "/other"
    codex_ref = learned('{"home": "/home/me/.codex"}', thread_id="t1")
    assert marker("codex", codex_ref) == "codex-notify"
    codex_moved = relocated("codex", codex_ref, tmp_path, {"CODEX_HOME": "/c2"})
    assert codex_moved is not None
    assert json.loads(codex_moved) == {"home": "/c2", "thread_id": "t1"}
    # a record named on the command line does not follow the environment
    demo = pin("demo", ["demo"], tmp_path, tmp_path, "w1", {})
    assert demo is not None
    assert relocated("demo", demo.ref, tmp_path, {"HOME": "/x"}) is None


def test_the_path_claudes_hook_reports_is_taken_only_for_its_conversation(
    tmp_path: Path,
) -> None:
    pinned = pin("claude", ["claude"], tmp_path, tmp_path, "w1", {"HOME": "/home/me"})
    assert pinned is not None
    session_id = pinned.args[1]
    same = f"/elsewhere/.claude/projects/x/{session_id}.jsonl"
    taken = from_hook("claude", pinned.ref, same)
    assert taken is not None
    assert locate("claude", taken) == Path(same)
    assert from_hook("claude", pinned.ref, "/elsewhere/another-session.jsonl") is None
    assert from_hook("claude", pinned.ref, f"relative/{session_id}.jsonl") is None
    assert from_hook("claude", pinned.ref, str(locate("claude", pinned.ref))) is None


def test_a_pinned_record_asks_once_where_the_agent_writes_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.jsonl"
    pinned = pin("demo", ["demo"], tmp_path, tmp_path, "w1", {})
    assert pinned is not None
    asked: list[int] = []

    def relocate() -> str | None:
        asked.append(1)
        return json.dumps({"path": str(elsewhere)})

    record = PinnedRecord("demo", lambda: pinned.ref, relocate)
    delims = delimiters("m1", START, END)
    answer = f"{delims.start}\nfound where it is\n{delims.end}"
    elsewhere.write_text(json.dumps({"type": "answer", "text": answer}) + "\n")
    assert record.reply(delims) == "found where it is"
    assert record.reply(delims) == "found where it is"
    assert asked == [1]


def test_qwen_is_found_by_its_session_id_once_it_wrote_its_chat(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    pinned = pin("qwen", ["qwen"], tmp_path / "src", tmp_path / "rec", "w1", environ)
    assert pinned is not None
    option, session_id = pinned.args
    assert option == "--session-id"
    assert uuid.UUID(session_id).version == 4  # Qwen Code takes a valid uuid only
    assert locate("qwen", pinned.ref) is None  # not written yet
    with pytest.raises(CannotResume, match=session_id):
        resume("qwen", ["qwen"], pinned.ref)
    chats = tmp_path / ".qwen" / "projects" / "-srv-project" / "chats"
    chats.mkdir(parents=True)
    chat = chats / f"{session_id}.jsonl"
    chat.write_text("")
    assert locate("qwen", pinned.ref) == chat

    # isesh restore: --resume the same id, and the record pinned to the same file
    resumed = resume("qwen", ["qwen", "--model", "m"], pinned.ref)
    assert resumed.args == ("--resume", session_id)
    assert locate("qwen", resumed.ref) == chat
    assert resumed_command("qwen", ["qwen", "--model", "m"], resumed) == [
        "qwen",
        "--model",
        "m",
        "--resume",
        session_id,
    ]
    chat.unlink()
    with pytest.raises(CannotResume, match="gone"):
        resume("qwen", ["qwen"], resumed.ref)


def test_qwen_follows_its_runtime_folder(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "QWEN_HOME": str(tmp_path / "qh")}
    pinned = pin("qwen", ["qwen"], tmp_path, tmp_path / "rec", "w1", environ)
    assert pinned is not None
    chats = tmp_path / "qh" / "projects" / "p" / "chats"
    chats.mkdir(parents=True)
    (chats / f"{pinned.args[1]}.jsonl").write_text("")
    assert locate("qwen", pinned.ref) == chats / f"{pinned.args[1]}.jsonl"
