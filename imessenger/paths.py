"""Where imessenger keeps its data and looks for the user's configuration."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Return the data directory: ``$IMESSENGER_HOME``, else the XDG data home.

    The directory is not created here; :func:`ensure_data_dir` does that.
    """
    explicit = os.environ.get("IMESSENGER_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "imessenger"


def ensure_data_dir() -> Path:
    """Create the data directory (mode 0700) if needed and return it."""
    path = data_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def user_config_path() -> Path:
    """Return the user's config file: ``$IMESSENGER_CONFIG``, else the XDG config home."""
    explicit = os.environ.get("IMESSENGER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "imessenger" / "config.toml"
