"""Where imessenger keeps its data and looks for the user's configuration."""

from __future__ import annotations

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


def ensure_data_dir() -> Path:
    """Create the data directory (mode 0700) if needed and return it."""
    path = data_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def user_config_path() -> Path:
    """Return the user's config file: ``$IMESSENGER_CONFIG``, else the XDG config home."""
    from pathlib import Path

    explicit = os.environ.get("IMESSENGER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "imessenger" / "config.toml"
