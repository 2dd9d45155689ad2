"""``isesh list --usage`` on real tmux: the tokens the demo agent records, and their cost.

The demo agent writes a usage entry to its record (``--record``, which isesh pins)
before each answer, made up from the lengths of the texts (imessenger/demo/agent.py):
input the characters of the message taken, output those of the answer, cache reads
those of the messages answered before in the run. Messages are sent ``--raw`` so that
the text taken is the body itself; the demo answers ``demo got N line(s)``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import run_imessenger, run_isesh, start_demo, wait_for, write_config

from imessenger.adapters.tmux import Tmux

FIRST = "hello there"
SECOND = "two\nlines"
ANSWER_1 = "demo got 1 line(s)"
ANSWER_2 = "demo got 2 line(s)"


def listed(*args: str) -> dict[str, dict[str, Any]]:
    result = run_isesh("list", "--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def used(name: str, *args: str) -> dict[str, Any] | None:
    usage: dict[str, Any] | None = listed("--usage", *args)[name]["usage"]
    return usage


def send_raw(name: str, text: str) -> None:
    sent = run_imessenger("send", "--raw", "--no-reply", name, "--", text)
    assert sent.exit_code == 0, sent.output


def two_answers() -> dict[str, Any]:
    """Start the demo agent as w1 (and a plain program as w2), send it two messages and
    wait until both answers are counted; return w1's usage."""
    start_demo("w1")
    assert run_isesh("start", "w2", "--agent", "shell", "--", "cat").exit_code == 0
    send_raw("w1", FIRST)
    wait_for(lambda: (used("w1") or {}).get("turns") == 1, what="the first answer counted")
    send_raw("w1", SECOND)
    return wait_for(
        lambda: (u := used("w1")) is not None and u["turns"] == 2 and u, what="both counted"
    )


def test_list_usage_reads_the_agents_record(tmux: Tmux) -> None:
    write_config("[prices.demo]\ninput = 10000\noutput = 20000\ncache_read = 1000\n")
    usage = two_answers()
    expected = {
        "model": "demo",
        "input_tokens": len(FIRST) + len(SECOND),
        "output_tokens": len(ANSWER_1) + len(ANSWER_2),
        "cache_read_tokens": len(FIRST),
        "cache_write_tokens": 0,
        "turns": 2,
    }
    assert {key: usage[key] for key in expected} == expected
    assert (expected["input_tokens"], expected["output_tokens"]) == (20, 36)
    assert usage["total_tokens"] == 20 + 36 + 11
    cost = (20 * 10000 + 36 * 20000 + 11 * 1000) / 1e6
    assert usage["estimated_cost"] == pytest.approx(cost)
    assert [part["model"] for part in usage["models"]] == ["demo"]
    # a plain program keeps no record: no usage, and null says so
    assert used("w2") is None
    # without --usage, no record is read and the JSON has no usage
    assert all("usage" not in row for row in listed().values())

    table = run_isesh("list", "--usage").stdout.splitlines()
    assert table[0].split()[-4:] == ["IN", "OUT", "CACHE", "COST"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["w1"][-4:] == ["20", "36", "11", f"{cost:.2f}"]
    assert rows["w2"][-4:] == ["-", "-", "-", "-"]
    # the table has no such columns without --usage
    assert "COST" not in run_isesh("list").stdout


def test_a_model_without_a_price_has_no_cost(tmux: Tmux) -> None:
    write_config('[prices."claude-*"]\ninput = 3\noutput = 15\n')
    usage = two_answers()
    assert usage["estimated_cost"] is None
    assert usage["models"][0]["estimated_cost"] is None
    rows = {
        line.split()[0]: line.split() for line in run_isesh("list", "--usage").stdout.splitlines()
    }
    assert rows["w1"][-1] == "-"


def test_a_stopped_session_keeps_its_usage(tmux: Tmux) -> None:
    usage = two_answers()
    assert run_isesh("stop", "w1").exit_code == 0
    rows = listed("--all", "--usage")
    assert rows["w1"]["state"] == "restorable"
    assert rows["w1"]["usage"] == usage


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ('[prices.demo]\ninput = "cheap"\noutput = 1\n', "prices.demo.input must be a float"),
        ("[prices.demo]\noutput = 1\n", '[prices."demo"] needs input = <price per million'),
        ("[prices.demo]\ninput = 1\noutput = -2\n", 'prices."demo".output must be zero or more'),
        ("[prices.demo]\ninput = 1\noutput = 2\ncached = 1\n", 'unknown key "prices.demo.cached"'),
        ("[watch]\nbudget_tokens = -1\n", "watch.budget_tokens must be a number of tokens"),
    ],
)
def test_a_bad_price_or_budget_is_refused(tmux: Tmux, config: str, says: str) -> None:
    written = write_config(config)
    before = written.read_text()
    result = run_isesh("list", "--usage")
    assert result.exit_code != 0
    assert says in result.output
    assert written.read_text() == before  # nothing lost
