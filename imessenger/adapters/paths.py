"""Where imessenger keeps its data and finds the user's configuration; how it writes them.

Whatever the umask, the folders imessenger creates are 0700 and its files 0600: the
mode is set by ``chmod``/``fchmod`` after creation, since the umask only ever takes
bits away (under ``umask 000`` a plain ``mkdir`` gives 0777). The process umask is never
changed: the tmux server that ``isesh start`` may launch would inherit it, and so
would every agent and the files it creates in the user's project.
"""

from __future__ import annotations

import errno
import os
import stat  # loaded by os already: free

# typing.TYPE_CHECKING without importing typing: `imessenger status` (tmux runs it every
# few seconds) finds its files through data_dir_name() and imports neither typing nor
# pathlib, which would add a third to what it costs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def data_dir_name() -> str:
    """Return the data directory: ``$IMESSENGER_HOME``, else the XDG data home.

    The directory is not created here; :func:`ensure_data_dir` does that.
    """
    explicit = os.environ.get("IMESSENGER_HOME")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    home = os.path.expanduser("~")
    base = os.path.expanduser(xdg) if xdg else os.path.join(home, ".local", "share")
    return os.path.join(base, "imessenger")


def data_dir() -> Path:
    """Return :func:`data_dir_name` as a Path."""
    from pathlib import Path

    return Path(data_dir_name())


#: The modes of what imessenger creates.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_data_dir() -> Path:
    """Create the data directory (and its missing parents, mode 0700) and return it.

    The directory itself is made 0700 even when it existed already. Its mode is changed
    only when it differs, so that a data directory on a read-only file system that is
    already private is usable for reading (a ``chmod`` there fails even when it would
    change nothing).
    """
    path = make_private_dir(data_dir())
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` and its missing parents, each one mode 0700; return it.

    Folders that exist already are left as they are. NotADirectoryError when
    ``path`` is something else.
    """
    from pathlib import Path

    target = Path(path)
    missing = []
    current = target
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process, which sets its mode
        os.chmod(folder, PRIVATE_DIR_MODE)
    if not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
    return target


def write_private_file(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace the file ``path`` with ``data`` (a str is written as UTF-8), mode 0600.

    Atomic: ``data`` goes to a temporary file in the same folder, made 0600 before
    anything is written, then renamed over ``path``, so a reader finds the old file
    or the new one, never part of one, and a failed write leaves nothing behind.
    The folder must exist (see :func:`make_private_dir`).
    """
    import contextlib
    import tempfile

    folder, name = os.path.split(os.fspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def user_config_path() -> Path:
    """Return the user's config file: ``$IMESSENGER_CONFIG``, else the XDG config home."""
    from pathlib import Path

    explicit = os.environ.get("IMESSENGER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "imessenger" / "config.toml"


def touch_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with mode 0600 if it is missing (a log, before it is opened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


# --- why the data directory cannot be written ------------------------------------------------

#: The faults of a folder that stop imessenger writing there, by the errno they raise.
READ_ONLY = "read-only"
FULL = "full"
NOT_WRITABLE = "not writable"
_FAULTS = {
    errno.EROFS: READ_ONLY,
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EACCES: NOT_WRITABLE,
    errno.EPERM: NOT_WRITABLE,
}


def folder_fault(folder: str | os.PathLike[str], error: OSError | None = None) -> str:
    """Why nothing can be written in ``folder``: READ_ONLY, FULL, NOT_WRITABLE, or "".

    The errno of ``error`` says it when it is one of those; otherwise (SQLite reports
    "unable to open database file" whatever the cause) the folder is looked at: its file
    system's flags and free space, and whether this process may write in it. A folder
    that does not exist is judged by its nearest existing parent.
    """
    if error is not None and error.errno in _FAULTS:
        return _FAULTS[error.errno]
    path = os.path.abspath(os.fspath(folder))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        info = os.statvfs(path)
    except OSError:
        return ""
    if info.f_flag & os.ST_RDONLY:
        return READ_ONLY
    free = info.f_bfree if os.geteuid() == 0 else info.f_bavail  # root may use the reserve
    if info.f_blocks and free == 0:
        return FULL
    if not os.access(path, os.W_OK | os.X_OK):
        return NOT_WRITABLE
    return ""


def fault_advice(folder: str | os.PathLike[str], error: OSError | None = None) -> str:
    """A sentence naming why ``folder`` cannot be written and what to do ("" when unknown)."""
    fault = folder_fault(folder, error)
    if fault == READ_ONLY:
        return (
            f"the data folder {folder} is on a read-only file system: remount it read-write "
            "(mount -o remount,rw), or set IMESSENGER_HOME to a writable folder"
        )
    if fault == FULL:
        return f"the disk holding {folder} is full: free some space on it, then try again"
    if fault == NOT_WRITABLE:
        return (
            f"permission denied in {folder}: make it yours and writable (chown, chmod u+rwx), "
            "or set IMESSENGER_HOME to a folder you own"
        )
    return ""
