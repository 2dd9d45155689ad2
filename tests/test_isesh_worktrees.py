"""``isesh start --worktree``, ``isesh stop --remove-worktree`` and a worktree session
restored, on real git and real tmux (the git layer alone: tests/test_worktrees.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import open_store, run_imessenger, run_isesh, state_of, wait_for

from imessenger.adapters.tmux import Tmux
from imessenger.core.screen import State


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit on ``main``, and a folder ``backend`` in it."""
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(key, "Tester")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, "tester@example.invalid")
    folder = tmp_path / "repo"
    (folder / "backend").mkdir(parents=True)
    (folder / "backend" / "app.py").write_text("print('hi')\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "first")
    return folder


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def branches(folder: Path) -> list[str]:
    return git(folder, "branch", "--format=%(refname:short)").splitlines()


def pane_folder(tmux: Tmux, name: str) -> Path:
    [path] = tmux.run("display-message", "-p", "-t", f"={name}:", "#{pane_current_path}")
    return Path(path)


def listed(*args: str) -> dict[str, dict[str, object]]:
    result = run_isesh("list", "--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_start_with_a_worktree_works_on_a_branch_of_its_own(tmux: Tmux, repo: Path) -> None:
    started = run_isesh("start", "w1", "-d", str(repo / "backend"), "--agent", "demo", "--worktree")
    assert started.exit_code == 0, started.output
    assert "on branch w1" in started.output
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle")
    folder = pane_folder(tmux, "w1")
    # the same folder of the repository, in a worktree of it that is not the repository
    assert folder.name == "backend"
    assert (folder / "app.py").read_text() == "print('hi')\n"
    assert not folder.is_relative_to(repo)
    assert git(folder, "rev-parse", "--abbrev-ref", "HEAD") == "w1"
    assert sorted(branches(repo)) == ["main", "w1"]
    assert listed()["w1"]["branch"] == "w1"
    table = run_isesh("list").output
    assert "BRANCH" in table.splitlines()[0]

    named = run_isesh(
        "start", "w2", "-d", str(repo), "--agent", "demo", "--worktree", "--branch", "fix/login"
    )
    assert named.exit_code == 0, named.output
    assert listed()["w2"]["branch"] == "fix/login"
    assert git(pane_folder(tmux, "w2"), "rev-parse", "--abbrev-ref", "HEAD") == "fix/login"


def test_what_cannot_be_a_worktree_is_refused_and_nothing_is_left(
    tmux: Tmux, repo: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    refused = run_isesh("start", "w1", "-d", str(plain), "--agent", "demo", "--worktree")
    assert refused.exit_code == 1
    assert "is not in a git repository" in refused.output
    lone = run_isesh("start", "w1", "-d", str(repo), "--agent", "demo", "--branch", "b")
    assert lone.exit_code == 1
    assert "give --worktree too" in lone.output
    taken = run_isesh(
        "start", "w1", "-d", str(repo), "--agent", "demo", "--worktree", "--branch", "main"
    )
    assert taken.exit_code == 1
    assert "--branch" in taken.output
    hostile = run_isesh(
        "start", "w1", "-d", str(repo), "--agent", "demo", "--worktree", "--branch", "$(touch x)"
    )
    assert hostile.exit_code == 2
    assert not tmux.is_running() or tmux.session_names() == []
    assert branches(repo) == ["main"]
    assert listed("--all") == {}
    assert not (tmp_path / "x").exists()


def test_stop_removes_a_clean_worktree_and_an_empty_branch(tmux: Tmux, repo: Path) -> None:
    start_demo_in_worktree("w1", repo)
    folder = pane_folder(tmux, "w1")
    stopped = run_isesh("stop", "w1", "--remove-worktree")
    assert stopped.exit_code == 0, stopped.output
    assert "had no commit of its own: deleted" in stopped.output
    assert not folder.exists()
    assert branches(repo) == ["main"]
    assert listed("--all") == {}  # its folder is gone: nothing to restore


def test_stop_keeps_a_branch_with_work_not_merged(tmux: Tmux, repo: Path) -> None:
    start_demo_in_worktree("w1", repo)
    folder = pane_folder(tmux, "w1")
    (folder / "new.py").write_text("x = 1\n")
    git(folder, "add", "new.py")
    git(folder, "commit", "-q", "-m", "work")
    stopped = run_isesh("stop", "w1", "--remove-worktree")
    assert stopped.exit_code == 0, stopped.output
    assert "not in main: kept" in stopped.output
    assert not folder.exists()
    assert sorted(branches(repo)) == ["main", "w1"]  # the work is kept on its branch


def test_stop_refuses_a_worktree_with_uncommitted_work(tmux: Tmux, repo: Path) -> None:
    start_demo_in_worktree("w1", repo)
    folder = pane_folder(tmux, "w1")
    (folder / "backend" / "app.py").write_text("print('changed')\n")
    (folder / "notes; $(x).txt").write_text("draft\n")
    refused = run_isesh("stop", "w1", "--remove-worktree")
    assert refused.exit_code == 1
    assert "backend/app.py" in refused.output
    assert "notes; $(x).txt" in refused.output
    assert "nothing was deleted" in refused.output
    # nothing stopped, nothing deleted
    assert state_of(tmux, "w1") is State.IDLE
    assert (folder / "notes; $(x).txt").read_text() == "draft\n"
    assert sorted(branches(repo)) == ["main", "w1"]
    assert run_isesh("stop", "w1").exit_code == 0  # a plain stop keeps it all
    assert folder.is_dir()
    assert listed("--all")["w1"]["state"] == "restorable"


def test_a_worktree_session_is_restored_in_its_worktree(tmux: Tmux, repo: Path) -> None:
    start_demo_in_worktree("w1", repo)
    folder = pane_folder(tmux, "w1")
    assert run_imessenger("send", "w1", "on the branch").stdout.strip() == "on the branch"
    tmux.run("kill-server")
    wait_for(lambda: not tmux.is_running(), what="the server gone")
    row = listed("--all")["w1"]
    assert (row["state"], row["branch"]) == ("restorable", "w1")
    assert run_isesh("restore").output.strip() == "w1: resumed"
    wait_for(lambda: state_of(tmux, "w1") is State.IDLE, what="w1 idle")
    assert pane_folder(tmux, "w1") == folder
    assert run_imessenger("send", "w1", "RECALL").stdout.strip() == "recall: on the branch"
    with open_store() as store:
        remembered = store.remembered.get("w1")
    assert remembered is not None
    assert (remembered.branch, remembered.base) == ("w1", "main")


def start_demo_in_worktree(name: str, repo: Path) -> None:
    started = run_isesh("start", name, "-d", str(repo), "--agent", "demo", "--worktree")
    assert started.exit_code == 0, started.output
    tmux = Tmux.from_environment()
    wait_for(lambda: state_of(tmux, name) is State.IDLE, what=f"{name} idle")
