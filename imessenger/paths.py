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

    The directory itself is made 0700 even when it existed already.
    """
    path = make_private_dir(data_dir())
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
