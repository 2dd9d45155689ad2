"""The Gemini CLI home of a session's own (imessenger.adapters.gemini_home), on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imessenger.adapters.gemini_home import (
    HOME_NAME,
    SettingsUnreadable,
    build,
    keep_changes,
    merged_settings,
    strip_json_comments,
)

SERVER = {"mcpServers": {"imessenger": {"command": "/x/imessenger", "args": ["mcp"]}}}


def test_comments_go_and_strings_keep_what_looks_like_one() -> None:
    text = '{\n  // a comment\n  "url": "http://a//b", /* block\n */ "q": "say \\"/*\\""\n}'
    assert json.loads(strip_json_comments(text)) == {"url": "http://a//b", "q": 'say "/*"'}


def test_the_users_settings_are_kept_and_ours_merged_beside_them() -> None:
    user = '{"mcpServers": {"db": {"command": "db"}}, "ui": {"theme": "x"}} // mine'
    merged = json.loads(merged_settings(user, SERVER))
    assert merged["ui"] == {"theme": "x"}
    assert set(merged["mcpServers"]) == {"db", "imessenger"}
    theirs = '{"mcpServers": {"imessenger": {"command": "their own"}}}'
    assert json.loads(merged_settings(theirs, SERVER))["mcpServers"]["imessenger"] == {
        "command": "their own"
    }
    assert json.loads(merged_settings(None, SERVER)) == SERVER


@pytest.mark.parametrize("text", ['{"a": 1,}', "[1]", "{"])
def test_a_settings_file_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(SettingsUnreadable):
        merged_settings(text, SERVER)


def user_gemini(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    gemini = home / ".gemini"
    gemini.mkdir(parents=True)
    (gemini / "settings.json").write_text('{"ui": {"theme": "mine"}} // a comment\n')
    (gemini / "oauth_creds.json").write_text("{}")
    (gemini / "projects.json").write_text('{"projects": {}}')
    (gemini / "extensions").mkdir()
    return gemini, {"HOME": str(home)}


def test_the_home_links_everything_but_the_settings_and_the_projects(tmp_path: Path) -> None:
    user, environ = user_gemini(tmp_path)
    before = (user / "settings.json").read_bytes()
    session = tmp_path / "session"
    env = build(session, SERVER, environ)
    home = session / HOME_NAME
    assert env == {
        "GEMINI_CLI_HOME": str(home),
        "GEMINI_CLI_TRUSTED_FOLDERS_PATH": str(user / "trustedFolders.json"),
    }
    own = home / ".gemini"
    for name in ("oauth_creds.json", "extensions", "tmp", "history"):
        assert (own / name).is_symlink()
        assert (own / name).resolve() == (user / name).resolve()
    assert (user / "tmp").is_dir()
    assert (user / "history").is_dir()
    assert not (own / "projects.json").is_symlink()
    settings = json.loads((own / "settings.json").read_text())
    assert settings["ui"] == {"theme": "mine"}
    assert "imessenger" in settings["mcpServers"]
    assert (user / "settings.json").read_bytes() == before  # read, never written
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert oct((own / "settings.json").stat().st_mode & 0o777) == "0o600"


def test_the_users_gemini_cli_home_and_trusted_folders_file_are_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".gemini").mkdir(parents=True)
    environ = {"HOME": str(tmp_path), "GEMINI_CLI_HOME": str(elsewhere)}
    environ["GEMINI_CLI_TRUSTED_FOLDERS_PATH"] = "/etc/trusted.json"
    env = build(tmp_path / "s", SERVER, environ)
    assert env["GEMINI_CLI_TRUSTED_FOLDERS_PATH"] == "/etc/trusted.json"
    assert (tmp_path / "s" / HOME_NAME / ".gemini" / "tmp").resolve() == (
        elsewhere / ".gemini" / "tmp"
    ).resolve()


def test_nothing_to_keep_when_gemini_only_rewrote_the_same_settings(tmp_path: Path) -> None:
    _, environ = user_gemini(tmp_path)
    session = tmp_path / "session"
    build(session, SERVER, environ)
    own = session / HOME_NAME / ".gemini"
    settings = json.loads((own / "settings.json").read_text())
    (own / "settings.json").write_text(json.dumps(settings))  # another layout
    (own / "state.json").write_text('{"tipsShown": 1}')  # bookkeeping
    (own / "projects.json").write_text('{"projects": {"/w": "w"}}')
    assert keep_changes(session, tmp_path / "kept", "w1") is None
    assert not (tmp_path / "kept").exists()


def test_what_gemini_wrote_instead_of_the_users_files_is_kept(tmp_path: Path) -> None:
    user, environ = user_gemini(tmp_path)
    session = tmp_path / "session"
    build(session, SERVER, environ)
    own = session / HOME_NAME / ".gemini"
    settings = json.loads((own / "settings.json").read_text())
    settings["ui"]["theme"] = "changed in the session"
    (own / "settings.json").write_text(json.dumps(settings))
    os.unlink(own / "oauth_creds.json")  # replaced by a rename, as Gemini CLI does
    (own / "oauth_creds.json").write_text('{"token": "new"}')
    kept = keep_changes(session, tmp_path / "kept", "w1")
    assert kept is not None
    assert kept.parent == tmp_path / "kept"
    assert sorted(p.name for p in kept.iterdir()) == ["oauth_creds.json", "settings.json"]
    assert "changed in the session" in (kept / "settings.json").read_text()
    assert (user / "oauth_creds.json").read_text() == "{}"  # the user's own, untouched
