"""The configuration files: the shipped defaults (``conf/``) and the user's file, read.

What is read is checked, merged and typed by :mod:`imessenger.core.config` (pure); this
module only finds and reads the files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from imessenger.adapters import paths
from imessenger.core.config import (
    DEFAULT_FILES,
    FALLBACK_PROFILE,
    GENERAL_FILE,
    Config,
    build_config,
    dotted_key,
    merge_defaults,
    parse_toml,
)
from imessenger.core.errors import ConfigError

logger = logging.getLogger(__name__)


def read_default(name: str, defaults_dir: Path | None) -> tuple[str, bytes]:
    """Return (location, bytes) of a shipped default file."""
    if defaults_dir is not None:
        candidates = [defaults_dir / name]
    else:
        candidates = []
        try:
            from importlib.resources import files

            candidates.append(Path(str(files("imessenger.conf").joinpath(name))))
        except (ModuleNotFoundError, TypeError, ValueError):
            pass  # an editable install or a plain checkout: the source tree below
        import imessenger

        candidates.append(Path(imessenger.__file__).resolve().parent.parent / "conf" / name)
    for candidate in candidates:
        try:
            return str(candidate), candidate.read_bytes()
        except OSError:
            continue
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise ConfigError(
        f"the default configuration file {name} is missing (looked at {tried}); "
        "reinstall imessenger"
    )


def _read_user(path: Path) -> dict[str, Any] | None:
    """Parse the user's file; None when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    return parse_toml(data, str(path))


#: The shipped defaults as a process read them once (see :func:`keep_defaults`).
_kept_defaults: tuple[dict[str, Any], dict[str, str]] | None = None


def keep_defaults() -> None:
    """Read the shipped defaults now and keep them for the rest of this process's life.

    For the watcher's command server, which forks for each command: the shipped files
    are its own package's, which do not change under it (a new version of the package
    is a new server), so every fork starts with them parsed.
    """
    global _kept_defaults
    _kept_defaults = load_defaults()


def load_defaults(defaults_dir: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the shipped defaults merged from both files, and their sources.

    ``defaults_dir`` replaces the shipped ``conf/`` directory (for tests).
    Raises ConfigError when a default file is missing or invalid.
    """
    if defaults_dir is None and _kept_defaults is not None:
        import copy

        return copy.deepcopy(_kept_defaults)
    tables = []
    for name in DEFAULT_FILES:
        where, data = read_default(name, defaults_dir)
        tables.append((name, where, parse_toml(data, where)))
    return merge_defaults(tables)


def load_config(user_path: Path | None = None, *, defaults_dir: Path | None = None) -> Config:
    """Load the defaults, then the user's file over them, and check the result.

    ``user_path`` defaults to :func:`imessenger.adapters.paths.user_config_path`; a missing
    file is fine (the defaults apply). ``defaults_dir`` replaces the shipped
    ``conf/`` directory (for tests). Raises ConfigError naming file, key and reason
    for invalid TOML, an unknown key, a wrongly typed or unusable value.
    """
    path = user_path if user_path is not None else paths.user_config_path()
    defaults, sources = load_defaults(defaults_dir)
    user = _read_user(path)
    if user is not None:
        logger.debug("loading configuration from %s over the defaults", path)
    return build_config(defaults, sources, user, path)


def starter_text(defaults_dir: Path | None = None) -> str:
    """Return the text of a starter user file: a header, then the general defaults commented out.

    Keeping the values commented out means the file changes nothing until the user
    uncomments a key, so later changes to the shipped defaults still reach them.
    The table headers (``[send]``...) stay live, so an uncommented key lands in the
    right table. Raises ConfigError when the default file cannot be read.
    """
    import tomli_w

    where, data = read_default(GENERAL_FILE, defaults_dir)
    general = parse_toml(data, where)
    lines = [
        "# imessenger user configuration.",
        "#",
        "# A key set here replaces imessenger's default for that key; every key you leave",
        "# out keeps its default. Below are the general defaults, commented out: to change",
        '# one, remove the "# " in front of its lines (keep it under its [table] line).',
        f"# What each setting does: see the shipped defaults in {where}",
        "# `imessenger config show` prints every setting and where its value came from.",
        "#",
        "# Agent profiles can be changed here too, for example:",
        "#   [agents.claude]",
        '#   command = ["claude", "--model", "sonnet"]',
        "# or added without any code (every key you leave out is taken from the",
        f'# "{FALLBACK_PROFILE}" profile, see `imessenger config show agents.{FALLBACK_PROFILE}`):',
        "#   [agents.myagent]",
        '#   command = ["myagent", "--no-color"]',
        '#   description = "my own agent"',
    ]

    def emit(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            if not isinstance(value, dict):
                text = tomli_w.dumps({key: value}, multiline_strings=True)
                lines.extend("# " + line for line in text.rstrip("\n").split("\n"))
        for key, value in table.items():
            if isinstance(value, dict):
                dotted = dotted_key(prefix, key)
                lines.extend(["", f"[{dotted}]"])
                emit(value, dotted)

    lines.append("")
    emit(general, "")
    return "\n".join(lines) + "\n"
