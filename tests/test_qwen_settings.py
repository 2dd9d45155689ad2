"""A Qwen Code settings file of a session's own (imessenger.adapters.qwen_settings), and a
qwen session started with it: the user's own ~/.qwen is never written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from support import run_isesh, scrollback, wait_for

from imessenger.adapters import qwen_settings
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import AgentPane, Tmux
from imessenger.core.agent_setup import setup
from imessenger.core.values import SessionRecord

ADDITIONS = {
    "hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "ours"}]}]},
    "permissions": {"allow": ["mcp__imessenger__send"]},
    "mcpServers": {"imessenger": {"command": "imessenger", "args": ["mcp"]}},
    "ui": {"enableFollowupSuggestions": False},
}


def session_record(tmux: Tmux, name: str) -> SessionRecord | None:
    with Store.open(server=tmux.label) as store:
        return store.sessions.get(name)


def test_the_systems_own_settings_are_kept_and_ours_added() -> None:
    system = """{
      // the machine's own: JSON with comments
      "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "theirs"}]}]},
      "permissions": {"allow": ["Bash(git *)", "mcp__imessenger__send"], "deny": ["Bash(rm *)"]},
      "mcpServers": {"imessenger": {"command": "their-own"}, "other": {"command": "o"}},
      "ui": {"theme": "dark", "enableFollowupSuggestions": true}
    }"""
    merged = json.loads(qwen_settings.merged_settings(system, ADDITIONS))
    assert [hook["hooks"][0]["command"] for hook in merged["hooks"]["Stop"]] == ["theirs", "ours"]
    assert merged["permissions"] == {
        "allow": ["Bash(git *)", "mcp__imessenger__send"],
        "deny": ["Bash(rm *)"],
    }
    # where both say something, the machine's own wins
    assert merged["mcpServers"] == {
        "imessenger": {"command": "their-own", "args": ["mcp"]},
        "other": {"command": "o"},
    }
    assert merged["ui"] == {"theme": "dark", "enableFollowupSuggestions": True}
    assert json.loads(qwen_settings.merged_settings(None, ADDITIONS)) == ADDITIONS
    assert json.loads(qwen_settings.merged_settings("  \n", ADDITIONS)) == ADDITIONS


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_unreadable_system_settings_are_refused(text: str) -> None:
    with pytest.raises(qwen_settings.SettingsUnreadable):
        qwen_settings.merged_settings(text, ADDITIONS)


def test_the_file_is_private_and_the_defaults_stay_where_they_were(tmp_path: Path) -> None:
    system = tmp_path / "etc" / "settings.json"
    system.parent.mkdir()
    system.write_text('{"general": {"vimMode": true}}')
    folder = tmp_path / "sessions" / "w1-0123"
    env = qwen_settings.build(folder, ADDITIONS, {qwen_settings.SETTINGS_ENV: str(system)})
    written = Path(env[qwen_settings.SETTINGS_ENV])
    assert written == folder / qwen_settings.FILE_NAME
    assert json.loads(written.read_text())["general"] == {"vimMode": True}
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # Qwen Code looks for the defaults beside the system settings, which moved
    assert env[qwen_settings.DEFAULTS_ENV] == str(tmp_path / "etc" / "system-defaults.json")
    given = {qwen_settings.DEFAULTS_ENV: "/opt/defaults.json"}
    again = qwen_settings.build(tmp_path / "w2", ADDITIONS, given)
    assert again[qwen_settings.DEFAULTS_ENV] == "/opt/defaults.json"
    assert qwen_settings.system_paths({})[0] == Path("/etc/qwen-code/settings.json")


def test_a_changed_file_is_kept_an_unchanged_one_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "w1"
    qwen_settings.build(folder, ADDITIONS, {qwen_settings.SETTINGS_ENV: str(tmp_path / "none")})
    own = folder / qwen_settings.FILE_NAME
    own.write_text(json.dumps(json.loads(own.read_text()), indent=4))  # another layout
    assert qwen_settings.keep_changes(folder, tmp_path / "kept", "w1") is None
    # Qwen Code 0.24.4 writes the version of its settings' format into every file it reads
    own.write_text(json.dumps({**ADDITIONS, "$version": 4}))
    assert qwen_settings.keep_changes(folder, tmp_path / "kept", "w1") is None
    assert own.exists()
    own.write_text(json.dumps({**ADDITIONS, "model": {"name": "changed"}}))
    kept = qwen_settings.keep_changes(folder, tmp_path / "kept", "w1")
    assert kept is not None
    assert kept.parent == tmp_path / "kept"
    assert json.loads((kept / qwen_settings.FILE_NAME).read_text())["model"] == {"name": "changed"}
    assert not own.exists()
    assert qwen_settings.keep_changes(tmp_path / "nothing", tmp_path / "kept", "w2") is None


def test_a_qwen_session_reads_its_own_file_and_keeps_what_it_changed(
    tmux: Tmux, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = Path.home() / ".qwen"
    user.mkdir()
    (user / "settings.json").write_text('{"ui": {"theme": "mine"}}\n')
    # a stand-in for Qwen Code that shows the file it was pointed at, then changes a
    # setting in it, as a setting saved for "system" would
    change = (
        'cat "$QWEN_CODE_SYSTEM_SETTINGS_PATH"; echo; read go; '
        'f="$QWEN_CODE_SYSTEM_SETTINGS_PATH"; sed "s/enableFollowupSuggestions/changed/" '
        '"$f" > "$f.new" && cat "$f.new" > "$f" && rm "$f.new" && echo done && sleep 60'
    )
    started = run_isesh("start", "w1", "--agent", "qwen", "--", "sh", "-c", change)
    assert started.exit_code == 0, started.output
    record = session_record(tmux, "w1")
    assert record is not None
    assert (record.mcp, record.hooks) == ("qwen", "qwen")
    own = Path(record.files_dir) / qwen_settings.FILE_NAME
    wait_for(lambda: "mcp__imessenger__send" in scrollback(tmux, "w1"), what="its settings")
    expected = setup("qwen", "qwen", ["qwen"], own.parent, mcp="qwen", socket=tmux.socket_name)
    assert json.loads(own.read_text()) == expected.qwen_settings
    pane = AgentPane.of(tmux, "w1")
    pane.type("go")
    pane.press(["Enter"])
    wait_for(lambda: "done" in scrollback(tmux, "w1"), what="the setting changed")
    stopped = run_isesh("stop", "w1")
    assert stopped.exit_code == 0, stopped.output
    [kept] = (tmp_path / "data" / "kept").iterdir()
    assert f"they are kept in {kept}" in caplog.text  # on stderr, for the user
    assert '"changed"' in (kept / qwen_settings.FILE_NAME).read_text()
    assert not own.parent.exists()
    assert (user / "settings.json").read_text() == '{"ui": {"theme": "mine"}}\n'
    assert sorted(path.name for path in user.iterdir()) == ["settings.json"]


def test_unreadable_system_settings_start_nothing(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    monkeypatch.setenv(qwen_settings.SETTINGS_ENV, str(broken))
    started = run_isesh("start", "w1", "--agent", "qwen", "--", "sh", "-c", "sleep 60")
    assert started.exit_code != 0
    assert f"Qwen Code's system settings {broken} cannot be read" in started.output
    assert "w1" not in tmux.session_names()
    sessions = tmp_path / "data" / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir())
