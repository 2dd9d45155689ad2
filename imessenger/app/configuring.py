"""The configuration commands: where the file is, what it holds, a starter file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imessenger.app.services import Services
from imessenger.core.errors import UsageError

if TYPE_CHECKING:
    from imessenger.core.config import Config


class ConfigActions(Services):
    """What ``imessenger config`` does."""

    def user_config(self) -> Config:
        """The configuration of the user's file (``config_file``) over the shipped defaults."""
        from imessenger.adapters.config_files import load_config

        return load_config()

    def config_file(self) -> Path:
        """The user's configuration file: $IMESSENGER_CONFIG, else the XDG config home."""
        from imessenger.adapters.paths import user_config_path

        return user_config_path()

    def write_starter_config(self, *, force: bool = False) -> Path:
        """Write the starter configuration at ``config_file`` (0600); return where.

        An existing file is kept unless ``force``.
        """
        from imessenger.adapters import paths
        from imessenger.adapters.config_files import load_config, starter_text

        where = self.config_file()
        if where.exists() and not force:
            raise UsageError(f"{where} already exists; use --force to overwrite it")
        text = starter_text()
        try:
            # 0600 in folders made 0700, whatever the umask: the file may come to hold
            # settings that are nobody else's business.
            paths.make_private_dir(where.parent)
            paths.write_private_file(where, text)
        except OSError as exc:
            raise UsageError(f"cannot write {where}: {exc.strerror}") from exc
        load_config(where)  # the starter must load back; a ConfigError here is a bug
        return where
