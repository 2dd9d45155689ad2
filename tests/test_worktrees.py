"""A git worktree of a session's own (imessenger.adapters.worktrees), on real git.

Every repository is made here in the test's folder (``git init -b main``), with the
author given in the environment of these calls only: no global configuration is read
or written (HOME is the test's own).
"""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support import wait_for

from imessenger.adapters import worktrees
from imessenger.adapters.worktrees import (
    BranchExists,
    GitFailed,
    GitNotInstalled,
    GitTimedOut,
    InvalidBranch,
    NoCommits,
    NotARepository,
    PlaceTaken,
    UnsavedCommits,
    Worktree,
    WorktreeDirty,
    branch_of,
    create,
    default_place,
    parse_status,
    remove,
    toplevel,
    uncommitted,
)
from imessenger.core.errors import ImessengerError, UsageError

_AUTHOR = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as a test's own helper; its output, checked."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_AUTHOR},
        capture_output=True,
        check=True,
    )
    return os.fsdecode(done.stdout).strip()


def commit(cwd: Path, name: str, text: str = "x\n") -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", "--", name)
    git(cwd, "commit", "-q", "-m", f"add {name}")
    return git(cwd, "rev-parse", "HEAD")


def new_repo(folder: Path, *, first: bool = True) -> Path:
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    if first:
        (folder / "sub").mkdir()
        commit(folder, "README")
    return folder


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").splitlines()


def registered(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [
        line.removeprefix("worktree ") for line in out.splitlines() if line.startswith("worktree ")
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "repo")


@pytest.fixture
def place(tmp_path: Path) -> Path:
    return tmp_path / "data" / "worktrees" / "repo-x" / "w1"


# --- create --------------------------------------------------------------------------------


def test_create_makes_a_branch_and_folder_from_the_branch_checked_out(
    repo: Path, place: Path
) -> None:
    head = git(repo, "rev-parse", "HEAD")
    made = create(repo / "sub", place, "w1")  # any folder of the work tree will do
    assert made == Worktree(path=place, repo=repo, branch="w1", base="main", base_commit=head)
    assert (place / "README").read_text() == "x\n"
    assert branch_of(place) == "w1"
    assert git(repo, "rev-parse", "w1") == head
    assert str(place) in registered(repo)
    assert branch_of(repo) == "main"  # the repository itself is untouched


def test_create_on_a_detached_head_records_the_commit_as_base(repo: Path, place: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, "second")
    git(repo, "checkout", "-q", "--detach", first)
    made = create(repo, place, "w1")
    assert made.base == first
    assert made.base_commit == first
    assert branch_of(repo) is None


def test_create_takes_an_empty_folder(repo: Path, place: Path) -> None:
    place.mkdir(parents=True)
    assert create(repo, place, "w1").path == place
    assert (place / "README").exists()


def test_a_folder_outside_any_repository_is_refused(tmp_path: Path, place: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotARepository, match="not in a git repository: run `git init`") as caught:
        create(plain, place, "w1")
    assert isinstance(caught.value, UsageError)
    assert not place.parent.exists()


def test_a_folder_that_is_not_there_is_refused(tmp_path: Path, place: Path) -> None:
    with pytest.raises(UsageError, match="is not a folder"):
        create(tmp_path / "nowhere", place, "w1")
    assert not place.parent.exists()


def test_a_repository_without_a_commit_is_refused(tmp_path: Path, place: Path) -> None:
    empty = new_repo(tmp_path / "empty", first=False)
    with pytest.raises(NoCommits, match="has no commit yet: make a first commit"):
        create(empty, place, "w1")
    assert not place.parent.exists()
    assert branches(empty) == []


def test_a_branch_that_exists_is_refused(repo: Path, place: Path) -> None:
    git(repo, "branch", "w1")
    with pytest.raises(BranchExists, match=r"branch w1 already exists .*with --branch"):
        create(repo, place, "w1")
    assert not place.parent.exists()
    assert registered(repo) == [str(repo)]


@pytest.mark.parametrize(
    "name",
    [
        "-x",
        "--help",
        "a..b",
        "$(touch pwned)",
        "a;touch pwned",
        "`touch pwned`",
        "a b",
        "x\ny",
        "quote'd",
        "",
        "HEAD",  # in the alphabet, refused by git
        "x.lock",
        "a/.b",
        "a//b",
        "a/",
        "@{-1}",
        "é",
        "x" * 101,
    ],
)
def test_a_bad_branch_name_is_refused_and_nothing_is_made(
    repo: Path, place: Path, name: str
) -> None:
    with pytest.raises(InvalidBranch) as caught:
        create(repo, place, name)
    assert caught.value.exit_code == 2
    assert "--branch" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not place.parent.exists()
    assert branches(repo) == ["main"]
    assert registered(repo) == [str(repo)]
    assert not (repo / "pwned").exists()
    assert not Path("pwned").exists()


def test_a_place_that_holds_something_is_refused(repo: Path, place: Path) -> None:
    place.mkdir(parents=True)
    (place / "mine").write_text("keep")
    with pytest.raises(PlaceTaken, match="exists and is not an empty folder"):
        create(repo, place, "w1")
    assert (place / "mine").read_text() == "keep"
    assert branches(repo) == ["main"]


def test_a_place_that_is_a_file_is_refused(repo: Path, place: Path) -> None:
    place.parent.mkdir(parents=True)
    place.write_text("keep")
    with pytest.raises(PlaceTaken):
        create(repo, place, "w1")
    assert place.read_text() == "keep"


def test_paths_are_only_paths(tmp_path: Path) -> None:
    """A repository and a place whose names hold what a shell would run, a line feed and a
    leading dash: git gets them as paths, and nothing is run."""
    odd = "-r $(touch pwned); `touch pwned` 'q\" \n é"
    repo = new_repo(tmp_path / odd)
    place = tmp_path / f"-{odd}" / "w1"
    made = create(repo, place, "w1")
    assert made.repo == repo
    assert (place / "README").exists()
    (place / "new file").write_text("n")
    assert uncommitted(place) == ["new file"]
    (place / "new file").unlink()
    assert remove(made).branch_deleted
    assert not place.exists()
    assert not list(tmp_path.rglob("pwned"))


def test_a_failing_post_checkout_hook_fails_create_and_nothing_is_kept(
    repo: Path, place: Path
) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 3\n")
    hook.chmod(0o755)
    with pytest.raises(GitFailed, match=r"hook says no.*nothing was kept"):
        create(repo, place, "w1")
    assert not place.exists()
    assert not (place.parents[2]).exists()  # the folders made for it are gone too
    assert branches(repo) == ["main"]
    assert registered(repo) == [str(repo)]


def test_an_empty_folder_given_as_the_place_is_left_as_it_was_when_create_fails(
    repo: Path, place: Path
) -> None:
    place.mkdir(parents=True)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitFailed):
        create(repo, place, "w1")
    assert place.is_dir()
    assert list(place.iterdir()) == []
    assert branches(repo) == ["main"]


def test_a_hook_that_hangs_is_killed_at_the_time_limit_and_nothing_is_kept(
    repo: Path, place: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "hook.pid"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho $$ > '{pid_file}'\nexec sleep 60\n")
    hook.chmod(0o755)
    monkeypatch.setattr(worktrees, "CHECKOUT_TIMEOUT_S", 1.0)
    started = time.monotonic()
    with pytest.raises(GitTimedOut, match="took longer than 1 s"):
        create(repo, place, "w1")
    assert time.monotonic() - started < 8
    pid = int(pid_file.read_text())

    def hook_gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"

    wait_for(hook_gone, 5, "the hook's sleep to be killed")
    assert not place.exists()
    assert branches(repo) == ["main"]
    assert registered(repo) == [str(repo)]


def test_the_callers_git_variables_do_not_redirect_git(
    repo: Path, place: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = new_repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    made = create(repo, place, "w1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name)
    assert made.repo == repo
    assert branches(repo) == ["main", "w1"]
    assert branches(other) == ["main"]


def test_without_git_the_error_says_to_install_it(
    repo: Path, place: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GitNotInstalled, match="git is not installed"):
        create(repo, place, "w1")
    assert branch_of(repo) is None


# --- uncommitted ---------------------------------------------------------------------------


def test_uncommitted_lists_every_kind_of_change_and_no_ignored_file(
    repo: Path, place: Path
) -> None:
    commit(repo, ".gitignore", "*.log\nbuild/\n")
    for name in ("tracked", "gone", "old name", "staged"):
        commit(repo, name)
    made = create(repo, place, "w1")
    path = made.path
    (path / "tracked").write_text("changed\n")
    (path / "gone").unlink()
    git(path, "mv", "--", "old name", "new name")
    (path / "staged").write_text("staged change\n")
    git(path, "add", "--", "staged")
    odd = ["a b", "line\nfeed", "qu\"o'te", "tab\there", "naïve ☃", "-dash"]
    for name in odd:
        (path / name).write_text("u")
    raw = os.fsdecode(b"latin-\xe9")  # not UTF-8: comes back as it is on disk
    (path / raw).write_text("u")
    (path / "folder" / "deep").mkdir(parents=True)
    (path / "folder" / "deep" / "f").write_text("u")
    (path / "x.log").write_text("ignored")
    (path / "build").mkdir()
    (path / "build" / "out").write_text("ignored")
    found = uncommitted(path)
    assert sorted(found) == sorted(
        ["tracked", "gone", "new name", "old name", "staged", *odd, raw, "folder/"]
    )
    assert found.index("new name") + 1 == found.index("old name")  # new, then old


def test_a_clean_worktree_has_nothing_uncommitted(repo: Path, place: Path) -> None:
    assert uncommitted(create(repo, place, "w1").path) == []


def test_uncommitted_answers_only_for_a_worktrees_top_folder(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not the top folder of a git worktree"):
        uncommitted(repo / "sub")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotARepository):
        uncommitted(plain)


def test_the_modules_examples() -> None:
    result = doctest.testmod(worktrees)
    assert result.attempted > 0
    assert result.failed == 0


def test_parse_status_reads_renames_and_names_with_nul_separated_fields() -> None:
    out = b"R  new\nline\0old name\0 M a b\0C  copy\0orig\0?? \xe9\0"
    assert parse_status(out) == ["new\nline", "old name", "a b", "copy", "orig", "\udce9"]
    assert parse_status(b"") == []


# --- remove --------------------------------------------------------------------------------


def test_remove_a_clean_worktree_without_commits_deletes_the_branch(
    repo: Path, place: Path
) -> None:
    made = create(repo, place, "w1")
    removal = remove(made)
    assert removal.branch_deleted
    assert not removal.folder_was_gone
    assert removal.why == "branch w1 had no commit of its own: deleted"
    assert not place.exists()
    assert branches(repo) == ["main"]
    assert registered(repo) == [str(repo)]


def test_remove_a_branch_merged_into_its_base_deletes_it_whatever_the_repo_has_checked_out(
    repo: Path, place: Path
) -> None:
    made = create(repo, place, "w1")
    commit(place, "work")
    git(repo, "merge", "-q", "--ff-only", "w1")
    # the repository is now on a branch without w1: `git branch -d` would refuse
    git(repo, "checkout", "-q", "-b", "other", made.base_commit)
    removal = remove(made)
    assert removal.branch_deleted
    assert removal.why == "branch w1 is merged into main: deleted"
    assert branches(repo) == ["main", "other"]


def test_remove_keeps_an_unmerged_branch_and_says_why(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    commit(place, "one")
    tip = commit(place, "two")
    # merged into what the repository has checked out, but not into main: still kept
    git(repo, "checkout", "-q", "-b", "other", tip)
    removal = remove(made)
    assert not removal.branch_deleted
    assert removal.why == "branch w1 has 2 commits not in main: kept"
    assert not place.exists()
    assert registered(repo) == [str(repo)]
    assert git(repo, "rev-parse", "w1") == tip


def test_remove_a_dirty_worktree_is_refused_and_nothing_is_deleted(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    (place / "README").write_text("changed\n")
    names = [f"new{i:02}" for i in range(12)]
    for name in names:
        (place / name).write_text("u")
    with pytest.raises(WorktreeDirty) as caught:
        remove(made)
    error = caught.value
    assert sorted(error.uncommitted) == sorted(["README", *names])
    assert "README" in str(error)
    assert "and 3 more" in str(error)
    assert "nothing was deleted" in str(error)
    assert not isinstance(error, UsageError)
    assert (place / "README").read_text() == "changed\n"
    assert branches(repo) == ["main", "w1"]
    assert str(place) in registered(repo)


def test_a_dirty_name_with_a_line_feed_is_shown_on_one_line(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    (place / "a\nb").write_text("u")
    with pytest.raises(WorktreeDirty) as caught:
        remove(made)
    assert caught.value.uncommitted == ["a\nb"]
    assert "\n" not in str(caught.value)
    assert "a␊b" in str(caught.value)


def test_remove_when_the_folder_is_gone_prunes_and_applies_the_branch_rule(
    repo: Path, place: Path
) -> None:
    made = create(repo, place, "w1")
    shutil.rmtree(place)
    removal = remove(made)
    assert removal.folder_was_gone
    assert removal.branch_deleted
    assert registered(repo) == [str(repo)]
    assert branches(repo) == ["main"]


def test_remove_when_the_folder_is_gone_keeps_an_unmerged_branch(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    commit(place, "work")
    shutil.rmtree(place)
    removal = remove(made)
    assert removal.folder_was_gone
    assert not removal.branch_deleted
    assert removal.why == "branch w1 has 1 commit not in main: kept"
    assert registered(repo) == [str(repo)]


def test_when_the_base_branch_is_gone_the_base_commit_decides(repo: Path, tmp_path: Path) -> None:
    made = create(repo, tmp_path / "w1", "w1")
    other = create(repo, tmp_path / "w2", "w2")
    commit(other.path, "work")
    git(repo, "checkout", "-q", "-b", "elsewhere")
    git(repo, "branch", "-D", "main")
    assert remove(made).branch_deleted  # still at the base commit
    removal = remove(other)
    assert not removal.branch_deleted
    assert removal.why.startswith("branch w2 has 1 commit not in ")
    assert "where main was; it is gone" in removal.why


def test_a_detached_base_keeps_a_branch_with_commits(repo: Path, place: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    made = create(repo, place, "w1")
    commit(place, "work")
    removal = remove(made)
    assert not removal.branch_deleted
    assert removal.why == f"branch w1 has 1 commit not in {made.base_commit[:12]}: kept"


def test_commits_on_a_detached_head_no_branch_holds_stop_the_removal(
    repo: Path, place: Path
) -> None:
    made = create(repo, place, "w1")
    git(place, "checkout", "-q", "--detach")
    commit(place, "loose")
    with pytest.raises(UnsavedCommits, match=r"no branch holds.*nothing was deleted"):
        remove(made)
    assert place.exists()
    git(place, "branch", "keep")  # saved: the removal goes on
    removal = remove(made)
    assert removal.branch_deleted  # w1 itself never moved
    assert branches(repo) == ["keep", "main"]


def test_a_branch_the_agent_made_in_the_worktree_is_kept(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    git(place, "checkout", "-q", "-b", "idea")
    commit(place, "idea")
    assert remove(made).branch_deleted
    assert branches(repo) == ["idea", "main"]


def test_a_branch_deleted_already_is_said(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    git(place, "checkout", "-q", "--detach")
    git(repo, "branch", "-D", "w1")
    removal = remove(made)
    assert not removal.branch_deleted
    assert removal.why == "branch w1 no longer exists"
    assert not place.exists()


def test_a_folder_that_is_no_longer_a_worktree_is_left_alone(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    (place / ".git").unlink()
    with pytest.raises(ImessengerError, match="no longer a git worktree") as caught:
        remove(made)
    assert not isinstance(caught.value, UsageError)
    assert (place / "README").exists()
    assert branches(repo) == ["main", "w1"]


def test_a_locked_worktree_is_a_clear_error(repo: Path, place: Path) -> None:
    made = create(repo, place, "w1")
    git(repo, "worktree", "lock", "--reason", "mine", "--", str(place))
    with pytest.raises(GitFailed, match="locked") as caught:
        remove(made)
    assert isinstance(caught.value, ImessengerError)
    assert place.exists()
    assert branches(repo) == ["main", "w1"]


# --- the rest ------------------------------------------------------------------------------


def test_branch_of(repo: Path, tmp_path: Path) -> None:
    assert branch_of(repo) == "main"
    assert branch_of(repo / "sub") == "main"
    git(repo, "checkout", "-q", "--detach")
    assert branch_of(repo) is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert branch_of(plain) is None
    assert branch_of(tmp_path / "nowhere") is None


def test_toplevel_is_the_work_trees_top(repo: Path) -> None:
    assert toplevel(repo / "sub") == repo


def test_the_inside_of_a_git_folder_is_not_a_work_tree(repo: Path, place: Path) -> None:
    with pytest.raises(UsageError, match=r"git cannot use .* as a work tree: .*work tree"):
        create(repo / ".git", place, "w1")
    assert not place.parent.exists()


def test_default_place(tmp_path: Path) -> None:
    data = tmp_path / "data"
    one = default_place(data, Path("/a/project"), "w1")
    two = default_place(data, Path("/b/project"), "w1")
    assert one.parent.parent == data / "worktrees"
    assert one.name == "w1"
    assert one.parent.name.startswith("project-")
    assert len(one.parent.name) == len("project-") + 8
    assert one != two  # same folder name, another repository
    assert default_place(data, Path("/a/project"), "w1") == one
    odd = default_place(data, Path("/x/.a $(b);c\n"), "w1").parent.name
    assert odd.startswith("a___b__c_-")  # no leading dot, only letters, digits, . _ -
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(UsageError):
            default_place(data, Path("/a/project"), bad)
