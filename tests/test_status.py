"""``imessenger status``, the pid file and the status cache: no tmux needed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from support import python_cli, run_imessenger

from imessenger.adapters.config_files import load_config
from imessenger.adapters.status_cache import (
    STATUS_VERSION,
    PidFile,
    read_status,
    render_line,
    render_plain,
    running_pid,
    status_path,
    write_status,
)
from imessenger.core.errors import WatcherRunning
from imessenger.core.published import SessionStatus
from imessenger.core.status_line import DEFAULT_STOPPED, StatusFormats
from imessenger.core.wire import encode


@pytest.mark.parametrize(
    ("asking", "unread", "line", "plain"),
    [
        pytest.param(0, 0, "", "nothing waiting", id="nothing"),
        pytest.param(2, 0, "⚠ 2 asking", "2 asking", id="asking"),
        pytest.param(0, 3, "✉ 3", "3 unread", id="unread"),
        pytest.param(2, 3, "⚠ 2 asking · ✉ 3", "2 asking, 3 unread", id="both"),
    ],
)
def test_render(asking: int, unread: int, line: str, plain: str) -> None:
    assert render_line(asking, unread, StatusFormats()) == line
    assert render_plain(asking, unread) == plain


def test_formats_come_from_the_status_table() -> None:
    formats = load_config().settings.status
    assert formats == StatusFormats()
    ascii_only = StatusFormats(asking="!{count}", unread="@{count}", separator=" ")
    assert render_line(1, 4, ascii_only) == "!1 @4"


def test_pid_file_claims_the_server_once() -> None:
    assert running_pid("s1") is None
    first = PidFile("s1")
    first.acquire()
    try:
        assert running_pid("s1") == os.getpid()
        with pytest.raises(WatcherRunning, match=rf'server "s1" \(pid {os.getpid()}\)'):
            PidFile("s1").acquire()
        assert running_pid("other") is None
    finally:
        first.release()
    assert running_pid("s1") is None  # the file stays, unlocked: not running


def cache(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "version": STATUS_VERSION,
        "server": "s1",
        "pid": os.getpid(),
        "asking": 2,
        "unread_user": 3,
        "line": "⚠ 2 asking · ✉ 3",
        "stopped_line": "off",
        "sessions": [encode(SessionStatus("w1", "demo", "asking"))],
        "updated_at": 1.0,
    }
    data.update(fields)
    return data


def test_status_reads_the_cache_while_a_watcher_runs() -> None:
    write_status("s1", cache())
    assert not read_status("s1").watching  # a cache alone is not a watcher
    assert read_status("s1").line() == "off"
    claim = PidFile("s1")
    claim.acquire()
    try:
        report = read_status("s1")
        assert (report.watching, report.asking, report.unread) == (True, 2, 3)
        assert report.line() == "⚠ 2 asking · ✉ 3"
        assert report.plain() == "2 asking, 3 unread"
        for args, out in [([], "⚠ 2 asking · ✉ 3\n"), (["--plain"], "2 asking, 3 unread\n")]:
            result = run_imessenger("-L", "s1", "status", *args)
            assert (result.exit_code, result.stdout) == (0, out)
        shown = json.loads(run_imessenger("-L", "s1", "status", "--json").stdout)
        assert shown["watching"] is True
        assert shown["sessions"] == [encode(SessionStatus("w1", "demo", "asking"))]
    finally:
        claim.release()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="missing"),
        pytest.param("{not json", id="damaged"),
        pytest.param(json.dumps({"version": 99, "line": "x"}), id="other-version"),
    ],
)
def test_a_missing_or_foreign_cache_reads_as_not_watching(text: str | None) -> None:
    if text is not None:
        path = status_path("default")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = run_imessenger("status")
    assert (result.exit_code, result.stdout) == (0, DEFAULT_STOPPED + "\n")
    assert run_imessenger("status", "--plain").stdout == "not watching\n"
    assert json.loads(run_imessenger("status", "--json").stdout)["watching"] is False


def test_json_and_plain_together_are_a_usage_error() -> None:
    assert run_imessenger("status", "--json", "--plain").exit_code == 2


def test_status_as_its_own_process_touches_neither_tmux_nor_the_database() -> None:
    write_status("default", cache())
    env = {**os.environ, "PATH": "/nonexistent"}  # no tmux to find
    done = subprocess.run(
        [*python_cli(), "status", "--plain"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "not watching\n", "")
    assert not status_path("default").with_name("imessenger.db").exists()
