"""``imessenger hook ...``, run from inside a session on real tmux, as the agents run it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from support import python_cli, run_imessenger, run_isesh, wait_for

from imessenger.store import Store
from imessenger.tmux import Tmux

THREAD = "01a23156-51fe-7732-b652-e78f3ec07f09"
TITLE_THREAD = "01a23156-0000-7000-8000-000000000000"


def rollout(codex_home: Path, thread: str) -> Path:
    day = codex_home / "sessions" / "2026" / "12" / "01"
    path = day / f"rollout-2026-12-01T10-00-{thread}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def notify(thread: str) -> str:
    payload = {"type": "agent-turn-complete", "thread-id": thread, "input-messages": []}
    return shlex.join([*python_cli(), "hook", "codex-notify", json.dumps(payload)])


def record_ref(tmux: Tmux, name: str) -> dict[str, str]:
    with Store.open() as store:
        session = store.get_session(tmux.label, name)
    assert session is not None
    return dict(json.loads(session.record_ref)) if session.record_ref else {}


def test_codex_notify_names_the_rollout_of_the_session(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    path = rollout(codex_home, THREAD)
    done = tmp_path / "done"
    # the side thread that names the session comes first: it has no rollout, and is
    # not the session's; then the session's own thread
    log = shlex.quote(str(tmp_path / "hook.log"))
    script = (
        f"{notify(TITLE_THREAD)} 2>>{log}; {notify(THREAD)} 2>>{log}; "
        f"touch {shlex.quote(str(done))}; sleep 60"
    )
    started = run_isesh("start", "w1", "--agent", "codex", "--", "sh", "-c", script)
    assert started.exit_code == 0, started.output
    wait_for(done.exists, what="the notify programs to have run")
    assert (tmp_path / "hook.log").read_text() == ""
    assert record_ref(tmux, "w1")["thread_id"] == THREAD
    with Store.open() as store:
        session = store.get_session(tmux.label, "w1")
    assert session is not None
    assert session.command[-2] == "-c"
    assert session.command[-1].startswith("notify=")
    assert path.exists()


def test_the_users_own_notify_runs_after_with_the_payload(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    got = tmp_path / "got.json"
    mine = ["sh", "-c", f'printf %s "$1" > {shlex.quote(str(got))}', "notify"]
    (codex_home / "config.toml").write_text(f"notify = {json.dumps(mine)}\n")
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    rollout(codex_home, THREAD)
    started = run_isesh("start", "w1", "--agent", "codex", "--", "sh", "-c", "sleep 60")
    assert started.exit_code == 0, started.output
    with Store.open() as store:
        session = store.get_session(tmux.label, "w1")
    assert session is not None
    given = json.loads(session.command[-1].removeprefix("notify="))
    assert given[-len(mine) :] == mine
    # what Codex would run at the end of a turn: our program, the user's after it
    payload = json.dumps({"type": "agent-turn-complete", "thread-id": THREAD})
    result = run_imessenger("hook", "codex-notify", *mine, payload)
    assert result.exit_code == 0, result.output
    wait_for(got.exists, what="the user's notify program")
    assert json.loads(got.read_text()) == json.loads(payload)
    # run outside the session (here, by the test), it speaks for no session
    assert record_ref(tmux, "w1").get("thread_id") is None


def test_a_payload_that_is_not_json_is_refused(tmux: Tmux) -> None:
    result = run_imessenger("hook", "codex-notify", "not json")
    assert result.exit_code == 1
    assert "not JSON" in result.stderr
