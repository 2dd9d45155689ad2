"""Token usage read from the agents' own records, counted once per response, and its cost.

The fixtures in tests/fixtures/records/usage/ are records the real agents wrote
(tests/conformance/capture_records.py, ``-k usage``): two turns each, the first with a
command (Claude Code, Codex and Gemini CLI: the model writes a line, asks to run the
command, then answers its output), against fake model servers whose every response
reports the same distinctive usage (tests/conformance/fake_*.py, ``USAGE``). The
records in tests/fixtures/records/ are one turn each, from the servers' earlier usage.
"""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path
from typing import Any

import pytest

import imessenger.core.usage
from imessenger.adapters.records import aider, claude, usage
from imessenger.adapters.records.usage import usage_in, usage_of
from imessenger.core.errors import ConfigError
from imessenger.core.usage import Price, Tally, estimate_cost, price_for
from imessenger.core.values import SessionRecord, Usage

RECORDS = Path(__file__).parent / "fixtures" / "records"
FIXTURES = RECORDS / "usage"

#: Each kind's capture of two turns.
CAPTURED = {
    "claude": "claude-code-2.1.332.jsonl",
    "codex": "codex-0.169.0.jsonl",
    "gemini": "gemini-cli-0.61.0.jsonl",
    "aider": "aider-0.86.2.md",
    "qwen": "qwen-code-0.24.4.jsonl",
    "copilot": "copilot-1.0.102.jsonl",
}

#: What each capture holds, from the fake servers' USAGE (three responses for the three
#: agents with tools, two answers for Aider):
#: - Claude Code: input_tokens 1203, cache_creation 301, cache_read 4507, output 67;
#: - Codex: input_tokens 1530 of which cached 1024, output 83;
#: - Gemini CLI: prompt 1411 of which cached 1024, tool-use prompt 5, candidates 59,
#:   thoughts 11;
#: - Aider: its own counts (streaming: the API reported none), "2.4k sent, 26 received"
#:   and "2.5k sent, 24 received";
#: - Qwen Code and Copilot CLI (Chat Completions): prompt_tokens 1423 and 1531, of which
#:   cached 1024, completion_tokens 61 and 79 (reasoning 7 and 9 included).
EXPECTED = {
    "claude": Usage(3 * 1203, 3 * 67, 3 * 4507, 3 * 301, "claude-conformance", 3),
    "codex": Usage(3 * (1530 - 1024), 3 * 83, 3 * 1024, 0, "fake-model", 3),
    "gemini": Usage(3 * (1411 - 1024 + 5), 3 * (59 + 11), 3 * 1024, 0, "gemini-3.8-flash", 3),
    "aider": Usage(2400 + 2500, 26 + 24, 0, 0, "openai/fake-model", 2),
    "qwen": Usage(3 * (1423 - 1024), 3 * 61, 3 * 1024, 0, "fake-model", 3),
    "copilot": Usage(3 * (1531 - 1024), 3 * 79, 3 * 1024, 0, "fake-model", 3),
}

#: The one-turn records of tests/fixtures/records/, and what they hold.
ONE_TURN = {
    "claude": ("claude-code-2.1.332.jsonl", Usage(10, 10, 0, 0, "claude-conformance", 1)),
    "codex": ("codex-0.169.0.jsonl", Usage(10, 10, 0, 0, "fake-model", 1)),
    "gemini": ("gemini-cli-0.61.0.jsonl", Usage(10, 5, 0, 0, "gemini-3.8-flash", 1)),
    "aider": ("aider-0.86.2.md", Usage(2400, 239, 0, 0, "openai/fake-model", 1)),
    "qwen": ("qwen-code-0.24.4.jsonl", Usage(10, 5, 0, 0, "fake-model", 1)),
    "copilot": ("copilot-1.0.102.jsonl", Usage(10, 5, 0, 0, "fake-model", 1)),
}

MACHINE_PATH = re.compile(
    r"(?<![\w./~<-])(?<!<capture>)(?<!<checkout>)(?:/tmp/|/work/|/home/|/root\b)"
)


@pytest.fixture(autouse=True)
def _fresh_followers() -> None:
    """Each test reads its files from their start."""
    usage.forget()


def ref(path: Path) -> str:
    return json.dumps({"path": str(path)})


def copy(name: str, tmp_path: Path, folder: Path = FIXTURES) -> Path:
    target = tmp_path / name
    target.write_bytes((folder / name).read_bytes())
    return target


# --- the real records ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CAPTURED))
def test_captured_usage_is_every_response_once(kind: str) -> None:
    assert usage_in(kind, ref(FIXTURES / CAPTURED[kind])) == EXPECTED[kind]


@pytest.mark.parametrize("kind", sorted(ONE_TURN))
def test_one_turn_records_hold_one_response(kind: str) -> None:
    name, expected = ONE_TURN[kind]
    assert usage_in(kind, ref(RECORDS / name)) == expected


@pytest.mark.parametrize("kind", sorted(CAPTURED))
def test_captured_usage_records_name_no_path_of_this_machine(kind: str) -> None:
    text = (FIXTURES / CAPTURED[kind]).read_text(encoding="utf-8")
    assert not [text[m.start() - 40 : m.end() + 40] for m in MACHINE_PATH.finditer(text)]


def test_claude_writes_a_response_of_text_and_a_tool_call_twice() -> None:
    """What the dedup is for: the same message id, with the same usage, on two entries."""
    entries = [
        json.loads(line)
        for line in (FIXTURES / CAPTURED["claude"]).read_text(encoding="utf-8").splitlines()
    ]
    ids = [e["message"]["id"] for e in entries if e.get("type") == "assistant"]
    assert len(ids) == 4
    assert len(set(ids)) == 3


def test_gemini_writes_a_message_again_with_its_tool_calls() -> None:
    entries = [
        json.loads(line)
        for line in (FIXTURES / CAPTURED["gemini"]).read_text(encoding="utf-8").splitlines()
    ]
    ids = [e["id"] for e in entries if e.get("type") == "gemini" and "tokens" in e]
    assert len(ids) == 4
    assert len(set(ids)) == 3


def test_codex_without_usage_records_counts_its_token_count_events(tmp_path: Path) -> None:
    """An older Codex writes only the running totals: each rise is one response."""
    lines = (FIXTURES / CAPTURED["codex"]).read_text(encoding="utf-8").splitlines()
    older = [line for line in lines if '"type":"token_usage_record"' not in line]
    assert len(older) < len(lines)
    path = tmp_path / "rollout.jsonl"
    path.write_text("\n".join(older) + "\n", encoding="utf-8")
    assert usage_in("codex", ref(path)) == EXPECTED["codex"]


@pytest.mark.parametrize("kind", sorted(CAPTURED))
def test_captured_usage_read_as_it_is_written(kind: str, tmp_path: Path) -> None:
    """Followed line by line as the agent wrote it, the usage only grows, and ends where
    the whole file does; each call reads only what was appended."""
    data = (FIXTURES / CAPTURED[kind]).read_bytes()
    path = tmp_path / CAPTURED[kind]
    path.write_bytes(b"")
    seen = []
    for line in data.splitlines(keepends=True):
        with open(path, "ab") as record:
            record.write(line)
        found = usage_in(kind, ref(path))
        assert found is not None
        seen.append(found.total_tokens)
    assert seen == sorted(seen)
    assert usage_in(kind, ref(path)) == EXPECTED[kind]


def _entries(kind: str) -> list[dict[str, Any]]:
    text = (FIXTURES / CAPTURED[kind]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_qwen_writes_each_response_twice_and_one_is_counted() -> None:
    """Its telemetry event (read) and its assistant record (not read) hold the same tokens."""
    entries = _entries("qwen")
    events = [
        e["systemPayload"]["uiEvent"]
        for e in entries
        if e.get("subtype") == "ui_telemetry"
        and e["systemPayload"]["uiEvent"]["event.name"] == "qwen-code.api_response"
    ]
    assistants = [e["usageMetadata"] for e in entries if e.get("type") == "assistant"]
    assert len(events) == len(assistants) == 3
    assert [e["input_token_count"] for e in events] == [a["promptTokenCount"] for a in assistants]
    assert {e["cached_content_token_count"] for e in events} == {1024}


def test_copilot_writes_one_receipt_per_call() -> None:
    receipts = [
        e["data"]["usage"] for e in _entries("copilot") if e["type"] == "session.usage_record"
    ]
    assert [r["accounting"]["sequence"] for r in receipts] == [1, 2, 3]
    assert {(r["inputTokens"], r["cacheReadTokens"], r["outputTokens"]) for r in receipts} == {
        (1531, 1024, 79)
    }


@pytest.mark.parametrize("kind", ["qwen", "copilot"])
def test_a_record_with_no_usage_yet(kind: str, tmp_path: Path) -> None:
    """The first message written, no response yet: nothing used, not unknown."""
    lines = (FIXTURES / CAPTURED[kind]).read_text(encoding="utf-8").splitlines(keepends=True)
    needle = "qwen-code.api_response" if kind == "qwen" else "session.usage_record"
    first = next(n for n, line in enumerate(lines) if needle in line)
    assert first > 0
    path = tmp_path / "record.jsonl"
    path.write_text("".join(lines[:first]), encoding="utf-8")
    assert usage_in(kind, ref(path)) == Usage()


@pytest.mark.parametrize("kind", ["qwen", "copilot"])
def test_a_half_written_last_line_is_counted_once_it_ends(kind: str, tmp_path: Path) -> None:
    data = (FIXTURES / CAPTURED[kind]).read_bytes()
    needle = b"qwen-code.api_response" if kind == "qwen" else b"session.usage_record"
    last = data.rfind(needle)
    end = data.index(b"\n", last) + 1
    start = data.rfind(b"\n", 0, last) + 1
    path = tmp_path / "record.jsonl"
    path.write_bytes(data[: start + (end - start) // 2])  # the last response's line, half
    two = EXPECTED[kind]
    two = Usage(
        two.input_tokens * 2 // 3,
        two.output_tokens * 2 // 3,
        two.cache_read_tokens * 2 // 3,
        0,
        two.model,
        2,
    )
    assert usage_in(kind, ref(path)) == two
    with open(path, "ab") as record:
        record.write(data[start + (end - start) // 2 : end - 1])
    assert usage_in(kind, ref(path)) == two  # no "\n" yet: still being written
    with open(path, "ab") as record:
        record.write(data[end - 1 :])
    assert usage_in(kind, ref(path)) == EXPECTED[kind]


def test_a_broken_last_line_is_skipped(tmp_path: Path) -> None:
    """A line cut short for good (the agent killed while writing it) and then a new one:
    the broken one counts nothing, the next one counts."""
    data = (FIXTURES / CAPTURED["copilot"]).read_bytes()
    last = data.rfind(b"session.usage_record")
    start = data.rfind(b"\n", 0, last) + 1
    end = data.index(b"\n", last) + 1
    path = tmp_path / "events.jsonl"
    path.write_bytes(data[: start + 40] + b"\n" + data[start:end])
    assert usage_in("copilot", ref(path)) == EXPECTED["copilot"]


def qwen_response(uuid: str, **event: object) -> str:
    ui_event = {"event.name": "qwen-code.api_response", "model": "q", **event}
    entry = {"uuid": uuid, "type": "system", "subtype": "ui_telemetry"}
    return json.dumps({**entry, "systemPayload": {"uiEvent": ui_event}}) + "\n"


def test_qwen_output_is_the_total_less_the_prompt(tmp_path: Path) -> None:
    """Reasoning inside the completion (Chat Completions) or apart from it (Gemini's API):
    the output with thinking either way; without a total, the output it names."""
    path = tmp_path / "chat.jsonl"
    path.write_text(
        # Chat Completions: the 7 of thinking already in the 61 of output
        qwen_response(
            "a",
            input_token_count=100,
            output_token_count=61,
            total_token_count=161,
            thoughts_token_count=7,
            cached_content_token_count=40,
        )
        # Gemini: 5 of thinking apart from the 20 of output
        + qwen_response(
            "b",
            input_token_count=50,
            output_token_count=20,
            total_token_count=75,
            thoughts_token_count=5,
        )
        # no total reported
        + qwen_response("c", input_token_count=30, output_token_count=9)
        # the same record again (counted once), a tool call's event, another agent's
        + qwen_response("c", input_token_count=30, output_token_count=9)
        + qwen_response("d", input_token_count=999).replace("api_response", "tool_call")
        + '{"type":"user","message":{"parts":[{"text":"qwen-code.api_response"}]}}\n'
    )
    assert usage_in("qwen", ref(path)) == Usage(60 + 50 + 30, 61 + 25 + 9, 40, 0, "q", 3)


def test_qwen_chat_is_found_by_its_session(tmp_path: Path) -> None:
    data = (FIXTURES / CAPTURED["qwen"]).read_bytes()
    session = json.loads(data.split(b"\n", 1)[0])["sessionId"]
    chats = tmp_path / "projects" / "-srv-work" / "chats"
    chats.mkdir(parents=True)
    found = json.dumps({"home": str(tmp_path), "session_id": session})
    assert usage_in("qwen", found) == Usage()  # its first message not written yet
    (chats / f"{session}.jsonl").write_bytes(data)
    usage.forget()
    assert usage_in("qwen", found) == EXPECTED["qwen"]


def copilot_receipt(sequence: int | None, **counts: object) -> str:
    receipt: dict[str, Any] = {"model": "c", "inputTokens": 1000, "outputTokens": 50, **counts}
    if sequence is not None:
        receipt["accounting"] = {"sourceSessionId": "s1", "sequence": sequence, "usageId": "x"}
    return json.dumps({"type": "session.usage_record", "data": {"usage": receipt}}) + "\n"


def test_copilot_counts_each_call_once_and_its_cache_apart(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        copilot_receipt(1, cacheReadTokens=600, cacheWriteTokens=300)
        + copilot_receipt(1, cacheReadTokens=600, cacheWriteTokens=300)  # the same call
        + copilot_receipt(2, model="sub", agentId="a1")  # a sub-agent's call
        + copilot_receipt(None, apiCallId="chatcmpl-9")
        + copilot_receipt(None, apiCallId="chatcmpl-9")
        + copilot_receipt(None)  # named by nothing: counted
        + '{"type":"assistant.message","data":{"content":"\\"session.usage_record\\""}}\n'
    )
    found = usage_in("copilot", ref(path))
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.turns) == (100 + 3 * 1000, 200, 4)
    assert (found.cache_read_tokens, found.cache_write_tokens) == (600, 300)
    assert [(part.model, part.turns) for part in found.by_model] == [("c", 3), ("sub", 1)]


# --- the rules -------------------------------------------------------------------------------


def assistant(message_id: str, model: str = "m1", **counts: int) -> str:
    usage_counts = {"input_tokens": 100, "output_tokens": 10, **counts}
    entry: dict[str, Any] = {
        "type": "assistant",
        "isSidechain": False,
        "message": {"id": message_id, "model": model, "content": [], "usage": usage_counts},
    }
    return json.dumps(entry, separators=(",", ":")) + "\n"


def test_claude_counts_a_response_once_with_its_last_usage(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(assistant("msg_1", output_tokens=1) + assistant("msg_1", output_tokens=40))
    assert usage_in("claude", ref(path)) == Usage(100, 40, 0, 0, "m1", 1)
    with open(path, "a") as record:
        record.write(assistant("msg_2", cache_read_input_tokens=500))
    assert usage_in("claude", ref(path)) == Usage(200, 50, 500, 0, "m1", 2)


def test_a_half_written_line_is_counted_once_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    line = assistant("msg_1")
    path.write_text('{"type":"user","message":{"content":"x"}}\n' + line[:30])
    assert usage_in("claude", ref(path)) == Usage()
    with open(path, "a") as record:
        record.write(line[30:-1])
    assert usage_in("claude", ref(path)) == Usage()  # no "\n" yet: still being written
    with open(path, "a") as record:
        record.write("\n" + assistant("msg_2"))
    assert usage_in("claude", ref(path)) == Usage(200, 20, 0, 0, "m1", 2)


def test_claude_counts_no_synthetic_message_and_no_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        assistant("msg_1")
        + assistant("msg_2", model=claude.SYNTHETIC_MODEL)
        + '{"type":"assistant","message":{"usage":\n'
        + '{"type":"assistant","message":{"id":"msg_3","usage":{"input_tokens":"many"}}}\n'
        + '{"type":"user","message":{"content":"my \\"usage\\" of tokens"}}\n'
    )
    found = usage_in("claude", ref(path))
    assert found is not None
    # msg_3 is a response, of no tokens that can be read
    assert (found.input_tokens, found.output_tokens, found.turns) == (100, 10, 2)
    assert estimate_cost(found, {"m1": Price(1.0, 1.0)}) == pytest.approx(110 / 1e6)


def test_claude_counts_its_subagents_once(tmp_path: Path) -> None:
    path = tmp_path / "0123.jsonl"
    path.write_text(assistant("msg_1") + assistant("msg_s1", model="m2"))
    subagents = tmp_path / "0123" / "subagents" / "deeper"
    subagents.mkdir(parents=True)
    # the sub-agent's own transcript, which holds one response the session's holds too
    (subagents / "agent-a1.jsonl").write_text(
        assistant("msg_s1", model="m2") + assistant("msg_s2", model="m2")
    )
    found = usage_in("claude", ref(path))
    assert found is not None
    assert (found.input_tokens, found.turns) == (300, 3)
    assert [(part.model, part.turns) for part in found.by_model] == [("m1", 1), ("m2", 2)]


def test_models_are_kept_apart_and_the_last_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(assistant("a", "opus") + assistant("b", "sonnet") + assistant("c", "opus"))
    found = usage_in("claude", ref(path))
    assert found is not None
    assert found.model == "opus"
    assert [(p.model, p.input_tokens, p.turns) for p in found.by_model] == [
        ("opus", 200, 2),
        ("sonnet", 100, 1),
    ]


def test_gemini_counts_a_rewound_message_and_each_message_once(tmp_path: Path) -> None:
    def message(message_id: str, **tokens: int) -> dict[str, Any]:
        counts = {"input": 50, "output": 5, "cached": 20, "thoughts": 1, "tool": 2, **tokens}
        return {"id": message_id, "type": "gemini", "content": "x", "model": "g", "tokens": counts}

    lines = [
        {"sessionId": "s", "projectHash": "h"},
        message("g1"),
        {"id": "g1", "type": "gemini", "content": "x"},  # rewritten before its tokens came
        message("g1", output=9),
        {"$rewindTo": "g1"},  # out of the conversation, not out of what was paid
        {"$set": {"messages": [message("g2")]}},
        {"id": "u1", "type": "user", "content": [{"text": '"tokens"'}]},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert usage_in("gemini", ref(path)) == Usage(2 * 32, 10 + 6, 40, 0, "g", 2)


def test_aider_reads_its_token_lines_and_model_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    path.write_text(
        "\n# aider chat started at 2026-12-01 11:00:00\n\n"
        "> Main model: anthropic/claude-x with diff edit format, infinite output  \n"
        "> Weak model: anthropic/claude-y  \n"
        "#### > Tokens: 9k sent, 9 received.  \n"  # what the user typed
        "\nthe answer\n\n"
        "> Tokens: 12k sent, 2.1k cache write, 3.5k cache hit, 1.2k received. "
        "Cost: $0.05 message, $0.05 session.  \n"
        "> Model: openai/gpt-z with whole edit format  \n"
        "> Tokens: 950 sent, 12 received.  \n"
    )
    assert usage_in("aider", ref(path)) == Usage(
        12000 - 2100 - 3500 + 950,
        1200 + 12,
        3500,
        2100,
        "openai/gpt-z",
        2,
        by_model=(
            Usage(12000 - 2100 - 3500, 1200, 3500, 2100, "anthropic/claude-x", 1),
            Usage(950, 12, 0, 0, "openai/gpt-z", 1),
        ),
    )


@pytest.mark.parametrize(("shown", "count"), [("239", 239), ("2.4k", 2400), ("12k", 12000)])
def test_aider_counts(shown: str, count: int) -> None:
    assert aider.count_of(shown) == count


def test_a_record_read_again_after_it_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(assistant("a") + assistant("b"))
    assert usage_in("claude", ref(path)) == Usage(200, 20, 0, 0, "m1", 2)
    other = tmp_path / "new.jsonl"
    other.write_text(assistant("c"))
    other.rename(path)
    assert usage_in("claude", ref(path)) == Usage(100, 10, 0, 0, "m1", 1)


def test_what_has_no_usage_and_what_has_none_yet(tmp_path: Path) -> None:
    def record(kind: str, ref: str) -> SessionRecord:
        return SessionRecord("default", "w1", kind, ".", (), 0.0, kind, ref)

    # isesh read no record (not started by it, or its command line picked its session)
    assert usage_of(record("", "")) is None
    assert usage_of(record("claude", "")) is None
    assert usage_of(record("shell", ref(tmp_path / "x"))) is None
    # the record is not written yet, or Codex has not named its thread yet
    assert usage_of(record("claude", ref(tmp_path / "later.jsonl"))) == Usage()
    assert usage_of(record("codex", json.dumps({"home": str(tmp_path)}))) == Usage()


def test_codex_rollout_is_found_by_its_thread(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "12" / "07"
    day.mkdir(parents=True)
    thread = "01a231b5-79d3-78b1-84ed-94322f971f27"
    (day / f"rollout-2026-12-07T20-56-00-{thread}.jsonl").write_bytes(
        (FIXTURES / CAPTURED["codex"]).read_bytes()
    )
    found = usage_in("codex", json.dumps({"home": str(tmp_path), "thread_id": thread}))
    assert found == EXPECTED["codex"]


def test_gemini_chat_is_found_by_its_session(tmp_path: Path) -> None:
    data = (FIXTURES / CAPTURED["gemini"]).read_bytes()
    session = json.loads(data.split(b"\n", 1)[0])["sessionId"]
    chats = tmp_path / ".gemini" / "tmp" / "work" / "chats"
    chats.mkdir(parents=True)
    (chats / f"session-2026-12-07T20-56-{session[:8]}.jsonl").write_bytes(data)
    found = usage_in("gemini", json.dumps({"home": str(tmp_path), "session_id": session}))
    assert found == EXPECTED["gemini"]


# --- a tally, prices and the cost --------------------------------------------------------------


def test_a_tally_counts_a_key_once_in_its_first_place() -> None:
    tally = Tally()
    tally.count("a", Usage(1, 1, model="x", turns=1))
    tally.count("b", Usage(2, 2, model="y", turns=1))
    tally.count("a", Usage(5, 5, model="x", turns=1))
    assert tally.usage() == Usage(
        7,
        7,
        model="y",
        turns=2,
        by_model=(Usage(5, 5, model="x", turns=1), Usage(2, 2, model="y", turns=1)),
    )


def test_the_cost_of_each_model_at_its_price() -> None:
    both = Usage(
        1_000_000,
        100_000,
        2_000_000,
        400_000,
        "b",
        2,
        by_model=(
            Usage(1_000_000, 0, 2_000_000, 0, "a-1", 1),
            Usage(0, 100_000, 0, 400_000, "b", 1),
        ),
    )
    prices = {
        "a-*": Price(input=3.0, output=15.0, cache_read=0.3),
        "b": Price(input=1.0, output=10.0),  # a cache write costs the input price
    }
    assert estimate_cost(both, prices) == pytest.approx(3.0 + 2 * 0.3 + 1.0 + 0.4 * 1.0)
    # a model without a price: nothing is estimated
    assert estimate_cost(both, {"b": Price(1.0, 10.0)}) is None
    assert estimate_cost(Usage(10, 10, turns=1), prices) is None  # no model named
    assert estimate_cost(Usage(), prices) == 0.0  # nothing used


def test_the_very_name_wins_over_the_longest_glob() -> None:
    prices = {
        "claude-*": Price(1, 1),
        "claude-sonnet-*": Price(2, 2),
        "claude-sonnet-4": Price(3, 3),
    }
    assert price_for("claude-sonnet-4", prices) == Price(3, 3)
    assert price_for("claude-sonnet-4-5", prices) == Price(2, 2)
    assert price_for("claude-opus", prices) == Price(1, 1)
    assert price_for("gpt", prices) is None


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"output": 15}, "needs input = <price per million tokens>"),
        ({"input": 3, "output": -1}, 'prices."m".output must be zero or more'),
        ({"input": float("inf"), "output": 1}, "must be zero or more, and finite"),
        ({"input": "3", "output": 1}, 'prices."m".input must be a number'),
        ({"input": True, "output": 1}, "must be a number"),
    ],
)
def test_a_bad_price_is_refused(table: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        Price.from_table("m", table, "config.toml")


def test_a_price_named_for_no_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="a model name must be non-blank text"):
        Price.from_table(" ", {"input": 1, "output": 1}, "config.toml")


def test_docstring_examples() -> None:
    result = doctest.testmod(imessenger.core.usage, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --- over the wire -----------------------------------------------------------------------------


def test_usage_crosses_the_wire_field_by_field() -> None:
    from imessenger.app.values import Listing, Restorable, Session
    from imessenger.core import wire
    from imessenger.core.screen import Screen, State

    usage = Usage(
        5, 6, 7, 8, "b", 2, by_model=(Usage(5, 0, 7, 0, "a", 1), Usage(0, 6, 0, 8, "b", 1))
    )
    listing = Listing(
        [
            Session("w1", "claude", "/srv", 1.0, True, Screen(State.IDLE), usage=usage),
            Session("w2", "shell", "/srv", 1.0, True, Screen(State.IDLE)),
        ],
        restorable=[Restorable("w3", "codex", "/srv", 1.0, None, usage=Usage())],
    )
    line = wire.result_line(listing)
    assert wire.read_answer(line, Listing) == listing
    bad = line.replace('"input_tokens": 5', '"input_tokens": "5"', 1)
    assert bad != line
    with pytest.raises(wire.WireError, match="expected int"):
        wire.read_answer(bad, Listing)
