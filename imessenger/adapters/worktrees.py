"""A git worktree of a session's own: made from a repository, listed, removed without loss.

The git layer of ``isesh start --worktree``: each agent works in a folder of its own on
a branch of its own, made from the branch the repository had checked out, and when the
session stops the folder goes and the branch goes too, if nothing of it would be lost.

The API:

- :class:`Worktree`: ``path`` (the worktree's folder), ``repo`` (the top folder of the
  repository it was made from), ``branch``, ``base`` (what the branch was made from:
  the branch the repository had checked out, such as ``main``, or the commit id when it
  was on a detached HEAD) and ``base_commit`` (the commit it was made at).
- :func:`toplevel` (folder): the top folder of the git work tree holding it.
- :func:`default_place` (data folder, repository top, session name): where a
  session's worktree goes unless told otherwise,
  ``<data>/worktrees/<repo's folder name>-<8 hex of its path>/<name>``; the hash keeps
  apart two repositories whose folders have the same name.
- :func:`create` (repository, place, branch) -> :class:`Worktree`: checks everything
  first (a repository, with a commit; a branch name of :data:`BRANCH_RULE` that git
  takes and no branch has; a place that is not there yet or is an empty folder), then
  ``git worktree add -b BRANCH -- PLACE COMMIT``, from the repository's top. When that
  fails nothing is kept (the new worktree and branch are removed again, and the folders
  made for it).
- :func:`uncommitted` (worktree folder): what is not committed there (modified, staged,
  deleted, untracked but not ignored), paths relative to the folder; a rename gives its
  new path then its old one, a folder wholly untracked one entry ending in ``/``.
- :func:`remove` (worktree) -> :class:`Removal`: refuses (:class:`WorktreeDirty`,
  nothing deleted) when anything is uncommitted, or (:class:`UnsavedCommits`) when the
  worktree is on a detached HEAD holding commits no branch or tag has. Else ``git
  worktree remove`` (never ``--force``; a folder already gone: ``git worktree prune``),
  then the branch rule: the branch is deleted when its tip is still ``base_commit`` (no
  commit of its own) or is merged into ``base`` (``git merge-base --is-ancestor``; when
  ``base`` is a branch that no longer exists, into ``base_commit``). Else it is kept and
  :attr:`Removal.why` says how many commits it has that ``base`` has not. The merge
  check is this module's (then ``git branch -D``): ``git branch -d`` would check against
  the repository's current HEAD, not against ``base``. A branch checked out elsewhere
  (git refuses to delete it) is kept too, and ``why`` says so. Another branch the agent
  made in the worktree is never deleted: only the one recorded. Ignored files (build
  output, caches) go with the folder, as ``git worktree remove`` has it.
- :func:`branch_of` (folder): the branch checked out there, or None (a detached HEAD,
  no repository, no git).

How git is run (one function, :func:`_git`): always an argv list, never a shell, with
``--`` before the paths where git takes them, so that a repository path, a file name or
a place holding ``$(...)``, ``;``, quotes, newlines or a leading dash is only ever a
path. Branch names are held to :data:`BRANCH_RULE` before git sees them (git itself
takes ``$(x)`` or ``a;b`` as a branch name, and a person may paste one from a hint into
a shell). The environment is the caller's, but without the variables that point git at
another repository, index or configuration (``GIT_DIR``, ``GIT_WORK_TREE``,
``GIT_INDEX_FILE``... as ``git rev-parse --local-env-vars`` lists them: a command run
from inside a git hook has them), with ``GIT_TERMINAL_PROMPT=0``, no pager
(``--no-pager``), an editor that does nothing, ``GIT_OPTIONAL_LOCKS=0`` (``git
status`` does not write the index an agent may be using) and ``LC_ALL=C`` (git's
messages in English, as they are read here). Output is read as bytes and paths decoded
as the file system's (``os.fsdecode``), so a name that is not UTF-8 comes back as it
is on disk. Each call has a time limit (:data:`QUICK_TIMEOUT_S`, and
:data:`CHECKOUT_TIMEOUT_S` for adding and removing a worktree); when it passes, git and
whatever it started (a hook) are killed, as a process group.

The repository's own hooks run as git runs them: ``git worktree add`` runs its
``post-checkout`` hook, in the new worktree. That is git's normal behaviour, and the
repository is the user's own; a hook that fails makes :func:`create` fail (git reports
it), and one that hangs is killed at the time limit.

Every failure is an :class:`~imessenger.core.errors.ImessengerError` whose message says
what to do: a :class:`~imessenger.core.errors.UsageError` when it is the input's
(:class:`NotARepository`, :class:`NoCommits`, :class:`InvalidBranch`,
:class:`BranchExists`, :class:`PlaceTaken`), else :class:`GitNotInstalled`,
:class:`GitFailed`, :class:`GitTimedOut`, :class:`WorktreeDirty` or
:class:`UnsavedCommits`. Paths in messages are shown with their control characters made
visible (:func:`imessenger.core.visible.visible`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imessenger.core.errors import ImessengerError, UsageError
from imessenger.core.visible import visible

#: Seconds a git command that only reads may take.
QUICK_TIMEOUT_S = 30.0
#: Seconds ``git worktree add`` (a checkout, and the post-checkout hook) and ``git
#: worktree remove`` may take.
CHECKOUT_TIMEOUT_S = 120.0
#: The most uncommitted paths a :class:`WorktreeDirty` message names.
SHOWN_PATHS = 10

#: Variables that make git use another repository, work tree, index or configuration
#: than the folder it runs in (``git rev-parse --local-env-vars``, git 2.39): never
#: passed on.
_REDIRECTING = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NAMESPACE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
)
#: What is set for every call.
_SET = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "LC_ALL": "C",
}

#: The longest branch name, in characters.
MAX_BRANCH_LENGTH = 100
#: The branch names taken, in words (git's own rules apply too).
BRANCH_RULE = (
    "ASCII letters, digits, '_', '-', '.' and '/', starting with a letter or a digit, "
    f"at most {MAX_BRANCH_LENGTH} characters, and a name git takes as a branch "
    "(no '..', no part starting with '.' or ending with '.lock')"
)
_BRANCH = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_./-]{{0,{MAX_BRANCH_LENGTH - 1}}}")
_HEADS = "refs/heads/"


# --- the errors ---------------------------------------------------------------------------


class GitNotInstalled(ImessengerError):
    def __init__(self) -> None:
        super().__init__(
            "git is not installed (or not on PATH): install git, for example "
            "`apt-get install git` or `brew install git`, or leave --worktree out"
        )


class GitFailed(ImessengerError):
    """A git command failed; ``stderr`` is what git said."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


class GitTimedOut(ImessengerError):
    """A git command took longer than its time limit; it was killed, with what it started."""


class NotARepository(UsageError):
    """The folder is in no git work tree."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"{_shown(folder)} is not in a git repository: run `git init` there, "
            "or leave --worktree out"
        )
        self.folder = folder


class NoCommits(UsageError):
    """The repository has no commit yet: there is nothing to make a branch from."""

    def __init__(self, repo: Path) -> None:
        super().__init__(
            f"the git repository {_shown(repo)} has no commit yet: make a first commit "
            "there (`git add` and `git commit`), or leave --worktree out"
        )
        self.repo = repo


class InvalidBranch(UsageError):
    """A branch name outside :data:`BRANCH_RULE`; nothing was created. Exit 2, as a
    session name outside its alphabet."""

    exit_code = 2

    def __init__(self, branch: str) -> None:
        shown = ascii(branch if len(branch) <= 80 else branch[:80] + "...")
        super().__init__(
            f"branch name {shown} is not taken: use {BRANCH_RULE} (for example w1 or "
            "agent/w1), with --branch"
        )
        self.branch = branch


class BranchExists(UsageError):
    """The branch asked for exists in the repository already."""

    def __init__(self, repo: Path, branch: str) -> None:
        super().__init__(
            f"branch {branch} already exists in {_shown(repo)}: pick another with --branch "
            f"(or delete it first, `git branch -d {branch}` in that repository)"
        )
        self.repo = repo
        self.branch = branch


class PlaceTaken(UsageError):
    """The worktree's place exists and is not an empty folder."""

    def __init__(self, place: Path) -> None:
        super().__init__(
            f"{_shown(place)} exists and is not an empty folder: a worktree is made only "
            "where nothing is; remove it, or choose another place"
        )
        self.place = place


class WorktreeDirty(ImessengerError):
    """The worktree holds what is not committed (``uncommitted``): nothing was deleted."""

    def __init__(self, path: Path, uncommitted: list[str], *, stopped: str = "") -> None:
        names = ", ".join(visible(name) for name in uncommitted[:SHOWN_PATHS])
        more = len(uncommitted) - SHOWN_PATHS
        if more > 0:
            names += f" and {more} more"
        # ``stopped``: the session that was stopped before this was found (it stays
        # restorable)
        then = f'"{stopped}" was stopped (it stays restorable), but ' if stopped else ""
        super().__init__(
            f"{then}the worktree {_shown(path)} holds what is not committed: {names}; "
            "commit it (or stash it, or delete it) there, then try again; nothing was deleted"
        )
        self.path = path
        self.uncommitted = uncommitted


class UnsavedCommits(ImessengerError):
    """The worktree is on a detached HEAD whose commits no branch or tag holds: removing
    it would lose them. Nothing was deleted."""

    def __init__(self, path: Path, commit: str) -> None:
        super().__init__(
            f"the worktree {_shown(path)} is on a detached HEAD at {commit[:12]}, whose "
            "commits no branch holds: make a branch of them there (`git branch NAME`) or "
            "check out its branch again, then try again; nothing was deleted"
        )
        self.path = path
        self.commit = commit


# --- the values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Worktree:
    """A worktree made by :func:`create`."""

    #: The worktree's folder (absolute).
    path: Path
    #: The top folder of the repository's work tree it was made from (absolute).
    repo: Path
    #: The branch made for it.
    branch: str
    #: What the branch was made from: the branch checked out in ``repo`` (``main``), or
    #: the commit id when ``repo`` was on a detached HEAD.
    base: str
    #: The commit the branch was made at (the full id).
    base_commit: str


@dataclass(frozen=True)
class Removal:
    """What :func:`remove` did."""

    #: The worktree's folder was gone already (git's record of it was pruned).
    folder_was_gone: bool
    #: The branch was deleted.
    branch_deleted: bool
    #: What became of the branch, in a sentence (``"branch w1 has 2 commits not in main:
    #: kept"``).
    why: str


# --- the API ------------------------------------------------------------------------------


def toplevel(folder: Path) -> Path:
    """The top folder of the git work tree holding ``folder``.

    Raise :class:`NotARepository` (also for a folder that does not exist), or a
    UsageError with git's words when git refuses the repository (another user's, a
    bare one, the inside of ``.git``).
    """
    if not folder.is_dir():
        raise UsageError(
            f"{_shown(folder)} is not a folder: give the folder of a git repository, "
            "or leave --worktree out"
        )
    done = _git(["rev-parse", "--show-toplevel"], folder)
    if done.returncode != 0:
        said = _said(done)
        if "not a git repository" in said:
            raise NotARepository(folder)
        raise UsageError(
            f"git cannot use {_shown(folder)} as a work tree: {said}; "
            "give a folder of a git work tree, or leave --worktree out"
        )
    return Path(_line(done.stdout))


def default_place(data_dir: Path, repo: Path, name: str) -> Path:
    """Where the worktree of session ``name`` made from ``repo`` (a repository's top, as
    :func:`toplevel` gives it) goes: ``data_dir/worktrees/<repo's folder
    name>-<8 hex>/<name>``, the hex the start of the SHA-256 of the repository's path.

    The folder name is kept to letters, digits, ``.``, ``_`` and ``-`` (others become
    ``_``, 40 characters at most). ``name`` must be one plain path part (a session name
    is); else UsageError.
    """
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise UsageError(f"{name!a} cannot name a worktree folder: use a session name")
    digest = hashlib.sha256(os.fsencode(repo)).hexdigest()[:8]
    label = re.sub(r"[^A-Za-z0-9._-]", "_", repo.name)[:40].lstrip(".") or "repo"
    return data_dir / "worktrees" / f"{label}-{digest}" / name


def create(repo: Path, where: Path, branch: str) -> Worktree:
    """Make a worktree at ``where`` on a new branch ``branch`` from what ``repo`` (any
    folder of a git work tree) has checked out. Everything is checked before anything is
    made; see the module docstring for the errors.
    """
    top = toplevel(repo)
    check_branch(top, branch)
    head = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], top)
    if head.returncode != 0:
        raise NoCommits(top)
    base_commit = _line(head.stdout)
    base = _checked_out(top) or base_commit
    if _tip(top, branch) is not None:
        raise BranchExists(top, branch)
    place = Path(os.path.abspath(where))
    existed = _check_place(place)
    made = _make_parents(place.parent)
    place = place.parent.resolve() / place.name
    try:
        added = _git(
            ["worktree", "add", "-b", branch, "--", str(place), base_commit],
            top,
            timeout=CHECKOUT_TIMEOUT_S,
        )
    except GitTimedOut:
        _undo_add(top, place, branch, base_commit, existed, made)
        raise
    if added.returncode != 0:
        _undo_add(top, place, branch, base_commit, existed, made)
        raise GitFailed(
            f"git worktree add failed in {_shown(top)}: {_said(added)}; nothing was kept "
            "(a hook of the repository? fix what git says, then try again)",
            _said(added),
        )
    return Worktree(path=place, repo=top, branch=branch, base=base, base_commit=base_commit)


def check_branch(repo: Path, branch: str) -> str:
    """Return ``branch`` when it is in :data:`BRANCH_RULE` and git takes it as a branch
    name in ``repo``; raise :class:`InvalidBranch` else."""
    if not _BRANCH.fullmatch(branch):
        raise InvalidBranch(branch)
    done = _git(["check-ref-format", "--branch", branch], repo)
    # --branch prints the name it takes: "@{-1}" would come back as another branch's
    # name (outside the alphabet today; checked in case the alphabet widens)
    if done.returncode != 0 or _line(done.stdout) != branch:
        raise InvalidBranch(branch)
    return branch


def uncommitted(path: Path) -> list[str]:
    """What is not committed in the worktree whose top folder is ``path``: modified,
    staged, deleted and untracked paths, relative to it, ignored ones left out (``git
    status --porcelain=v1 -z``). A rename or copy gives its new path then its old one;
    a folder wholly untracked is one entry, ending in ``/``.

    Raise UsageError when ``path`` is not the top of a git work tree (a folder inside
    another repository would otherwise answer for that repository).
    """
    top = toplevel(path)
    if not _same(top, path):
        raise UsageError(
            f"{_shown(path)} is not the top folder of a git worktree "
            f"(it is inside {_shown(top)}): give the worktree's own folder"
        )
    done = _git(
        [
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=normal",
            "--ignore-submodules=none",
        ],
        path,
    )
    if done.returncode != 0:
        raise GitFailed(
            f"git status failed in {_shown(path)}: {_said(done)}; fix what git says, "
            "then try again",
            _said(done),
        )
    return parse_status(done.stdout)


def parse_status(output: bytes) -> list[str]:
    r"""The paths in the output of ``git status --porcelain=v1 -z``: each entry is two
    status letters, a space and a path, ended by NUL; a rename or copy (``R`` or ``C``
    in either letter) is followed by its old path, ended by NUL too.

    >>> parse_status(b" M a b\0R  new\0old\0?? dir/\0")
    ['a b', 'new', 'old', 'dir/']
    """
    fields = output.split(b"\0")
    paths: list[str] = []
    at = 0
    while at < len(fields):
        entry = fields[at]
        at += 1
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        paths.append(os.fsdecode(path))
        if (b"R" in status or b"C" in status) and at < len(fields):
            paths.append(os.fsdecode(fields[at]))
            at += 1
    return paths


def remove(worktree: Worktree) -> Removal:
    """Remove ``worktree``'s folder and, when nothing of it would be lost, its branch
    (the rule is in the module docstring). Raise :class:`WorktreeDirty` or
    :class:`UnsavedCommits` (nothing deleted) when the folder holds what would be lost.
    """
    repo = worktree.repo
    if not repo.is_dir():
        raise ImessengerError(
            f"the repository {_shown(repo)} of the worktree {_shown(worktree.path)} is "
            "gone: remove the worktree's folder by hand if you no longer need it"
        )
    gone = not os.path.lexists(worktree.path)
    if gone:
        _must(_git(["worktree", "prune"], repo), f"git worktree prune in {_shown(repo)}")
    else:
        try:
            left = uncommitted(worktree.path)
        except UsageError as error:
            raise ImessengerError(
                f"the folder {_shown(worktree.path)} is no longer a git worktree ({error}): "
                "move out what you want to keep and delete it by hand, then run "
                "`git worktree prune` in the repository; nothing was deleted"
            ) from error
        if left:
            raise WorktreeDirty(worktree.path, left)
        _check_detached(worktree)
        _must(
            _git(
                ["worktree", "remove", "--", str(worktree.path)],
                repo,
                timeout=CHECKOUT_TIMEOUT_S,
            ),
            f"git worktree remove in {_shown(repo)}",
        )
    deleted, why = _settle_branch(worktree)
    return Removal(folder_was_gone=gone, branch_deleted=deleted, why=why)


def branch_of(path: Path) -> str | None:
    """The branch checked out in the git work tree holding ``path``; None on a detached
    HEAD, outside a repository, or without git."""
    if not path.is_dir():
        return None
    try:
        done = _git(["symbolic-ref", "--quiet", "HEAD"], path)
    except ImessengerError:
        return None
    ref = _line(done.stdout)
    if done.returncode != 0 or not ref.startswith(_HEADS):
        return None
    return ref.removeprefix(_HEADS)


# --- the steps ----------------------------------------------------------------------------


def _checked_out(top: Path) -> str | None:
    """The branch ``top`` has checked out, None on a detached HEAD."""
    done = _git(["symbolic-ref", "--quiet", "HEAD"], top)
    ref = _line(done.stdout)
    if done.returncode == 0 and ref.startswith(_HEADS):
        return ref.removeprefix(_HEADS)
    return None


def _tip(repo: Path, branch: str) -> str | None:
    """The commit branch ``branch`` is at, None when there is no such branch."""
    done = _git(["rev-parse", "--verify", "--quiet", f"{_HEADS}{branch}^{{commit}}"], repo)
    return _line(done.stdout) if done.returncode == 0 else None


def _check_place(place: Path) -> bool:
    """Raise :class:`PlaceTaken` unless ``place`` is not there or is an empty folder
    (not a link); True when it is there."""
    if not os.path.lexists(place):
        return False
    if place.is_symlink() or not place.is_dir():
        raise PlaceTaken(place)
    try:
        empty = next(place.iterdir(), None) is None
    except OSError as error:
        raise UsageError(
            f"cannot read {_shown(place)} ({error.strerror}): choose another place"
        ) from error
    if not empty:
        raise PlaceTaken(place)
    return True


def _make_parents(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; return those made, deepest last."""
    missing: list[Path] = []
    at = folder
    while not os.path.lexists(at):
        missing.append(at)
        at = at.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"cannot make the folder {_shown(folder)} ({error.strerror}): choose another place"
        ) from error
    return list(reversed(missing))


def _undo_add(
    top: Path, place: Path, branch: str, base_commit: str, existed: bool, made: list[Path]
) -> None:
    """Take back what a failed ``git worktree add`` left (its hook failed, or it was
    killed): the new worktree (a fresh checkout, still locked if git was killed), the
    new branch when it is still at ``base_commit``, the folders made for it."""
    try:
        if (place / ".git").exists():
            _git(["worktree", "remove", "--force", "--force", "--", str(place)], top)
        _git(["worktree", "prune"], top)
        if _tip(top, branch) == base_commit:
            _git(["branch", "-D", "--", branch], top)
    except ImessengerError:
        pass  # the error of the add is the one reported
    if existed and not os.path.lexists(place):
        place.mkdir()
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            break


def _check_detached(worktree: Worktree) -> None:
    """Raise :class:`UnsavedCommits` when the worktree is on a detached HEAD whose commit
    no branch, tag or remote branch holds (and is not ``base_commit``)."""
    path = worktree.path
    if _git(["symbolic-ref", "--quiet", "HEAD"], path).returncode == 0:
        return
    head = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], path)
    commit = _line(head.stdout)
    if head.returncode != 0 or commit == worktree.base_commit:
        return
    held = _git(
        [
            "for-each-ref",
            "--count=1",
            f"--contains={commit}",
            "--format=%(refname)",
            "refs/heads",
            "refs/tags",
            "refs/remotes",
        ],
        path,
    )
    if held.returncode == 0 and not held.stdout.strip():
        raise UnsavedCommits(path, commit)


def _settle_branch(worktree: Worktree) -> tuple[bool, str]:
    """Delete the worktree's branch when nothing of it would be lost; whether it was, and
    why, in a sentence."""
    repo, branch = worktree.repo, worktree.branch
    tip = _tip(repo, branch)
    if tip is None:
        return False, f"branch {branch} no longer exists"
    if tip == worktree.base_commit:
        kept = _delete_branch(repo, branch)
        if kept:
            return False, kept
        return True, f"branch {branch} had no commit of its own: deleted"
    base_ref, base_name = _base_ref(worktree)
    merged = _git(["merge-base", "--is-ancestor", tip, base_ref], repo)
    if merged.returncode == 0:
        kept = _delete_branch(repo, branch)
        if kept:
            return False, kept
        return True, f"branch {branch} is merged into {base_name}: deleted"
    if merged.returncode != 1:
        raise GitFailed(
            f"git merge-base failed in {_shown(repo)}: {_said(merged)}; the worktree is "
            f"removed, branch {branch} is kept: delete it by hand if it is merged",
            _said(merged),
        )
    count = _git(["rev-list", "--count", f"{base_ref}..{tip}"], repo)
    ahead = _line(count.stdout) if count.returncode == 0 else "some"
    commits = "commit" if ahead == "1" else "commits"
    return False, f"branch {branch} has {ahead} {commits} not in {base_name}: kept"


def _base_ref(worktree: Worktree) -> tuple[str, str]:
    """What to check the branch against, and its name for a person: the base branch,
    else (a detached base, or a base branch gone) the base commit."""
    short = worktree.base_commit[:12]
    if worktree.base == worktree.base_commit:
        return worktree.base_commit, short
    if _tip(worktree.repo, worktree.base) is None:
        return worktree.base_commit, f"{short} (where {worktree.base} was; it is gone)"
    return f"{_HEADS}{worktree.base}", worktree.base


def _delete_branch(repo: Path, branch: str) -> str | None:
    """Delete ``branch`` (checked already); None when done, else why it was kept."""
    done = _git(["branch", "-D", "--", branch], repo)
    if done.returncode == 0:
        return None
    return f"branch {branch} could not be deleted ({_said(done)}): kept"


# --- running git --------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING}
    env.update(_SET)
    return env


def _git(
    args: Sequence[str], cwd: Path, *, timeout: float = QUICK_TIMEOUT_S
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` in ``cwd`` (argv, no shell; see the module docstring): its exit
    status and output as bytes, whatever the status. Raise :class:`GitNotInstalled`,
    or :class:`GitTimedOut` after killing git and what it started."""
    argv = ["git", "--no-pager", "-c", "core.quotepath=off", *args]
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        if isinstance(error, FileNotFoundError) and cwd.is_dir():
            raise GitNotInstalled() from error
        raise ImessengerError(
            f"cannot run git in {_shown(cwd)} ({error.strerror}): "
            "check that the folder is there and yours, then try again"
        ) from error
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        _kill_group(process)
        words = " ".join(args[:2])
        raise GitTimedOut(
            f"git {words} took longer than {timeout:g} s in {_shown(cwd)} and was "
            "stopped (a hook of the repository that waits? another git holding a lock?): "
            "look at the repository, then try again"
        ) from error
    except BaseException:
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill git and everything it started (its own process group), and reap git."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()  # a child that left the group may hold its end: read no more
    process.wait()


def _must(done: subprocess.CompletedProcess[bytes], what: str) -> None:
    if done.returncode != 0:
        raise GitFailed(
            f"{what} failed: {_said(done)}; fix what git says, then try again", _said(done)
        )


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    """What git said (its error output, else its output), on one visible line."""
    text = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return visible("; ".join(lines)) or f"exit status {done.returncode}"


def _line(output: bytes) -> str:
    """One value git printed on a line of its own (a path may hold a line feed: only the
    last one is taken off)."""
    return os.fsdecode(output.removesuffix(b"\n"))


def _same(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _shown(path: Path) -> str:
    return visible(str(path))
