"""A Qwen Code settings file of one session's own, for what Qwen Code takes from no flag.

Qwen Code 0.24.4 reads hooks and permission rules only from settings files (user
``~/.qwen/settings.json``, the project's ``.qwen/settings.json``, and the system's).
It merges them: ``hooks`` are joined event by event, ``permissions.allow`` is the union
of every file's rules, ``mcpServers`` a merge by server name. The one per-run way to add
a file is the system settings file, which ``QWEN_CODE_SYSTEM_SETTINGS_PATH`` names
(else ``/etc/qwen-code/settings.json``). So isesh makes, in the session's own folder:

- ``qwen-settings.json``: the system settings in effect (the file that variable named,
  else ``/etc/qwen-code/settings.json``; JSON with comments, read, never written) with
  imessenger's additions merged in (:func:`merged_settings`), and points
  ``QWEN_CODE_SYSTEM_SETTINGS_PATH`` at it;
- ``QWEN_CODE_SYSTEM_DEFAULTS_PATH`` at the system defaults file in effect (Qwen Code
  looks for it beside the system settings file, which moved).

The user's own ``~/.qwen`` is not touched, nor moved: Qwen Code reads the user's
settings, login, memory and chats there as always (and the chat that the record reader
reads lies there). What Qwen Code writes into the session's file instead of the system's
(a setting saved for "system" in its settings dialog) is not dropped in silence:
:func:`keep_changes` moves it out of the session's folder before that folder goes. The
``"$version"`` Qwen Code 0.24.4 adds to every settings file it reads is not a change.

Whatever the umask, the file is private (0600), in the session's private folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from imessenger.adapters.gemini_home import SettingsUnreadable, strip_json_comments
from imessenger.adapters.paths import PRIVATE_FILE_MODE, make_private_dir, write_private_file

#: The name of the settings file in a session's own folder.
FILE_NAME = "qwen-settings.json"
#: Where the written settings are kept to tell a change (see keep_changes).
_WRITTEN = ".qwen-settings-written.json"
#: The key Qwen Code adds to a settings file it reads (its format's version): bookkeeping.
_VERSION = "$version"
#: Qwen Code's system settings file on Linux when no variable names one.
SYSTEM_SETTINGS = Path("/etc/qwen-code/settings.json")
SETTINGS_ENV = "QWEN_CODE_SYSTEM_SETTINGS_PATH"
DEFAULTS_ENV = "QWEN_CODE_SYSTEM_DEFAULTS_PATH"

__all__ = ["SettingsUnreadable", "build", "keep_changes", "merged_settings"]


def _merge(mine: object, added: object) -> object:
    """``added`` merged into ``mine``: tables key by key, lists joined (``mine`` first,
    nothing twice); where both give another value, ``mine`` wins."""
    if isinstance(mine, dict) and isinstance(added, dict):
        merged = dict(mine)
        for key, value in added.items():
            merged[key] = _merge(mine[key], value) if key in mine else value
        return merged
    if isinstance(mine, list) and isinstance(added, list):
        return [*mine, *(item for item in added if item not in mine)]
    return mine


def merged_settings(system_text: str | None, additions: Mapping[str, object]) -> str:
    """The system settings (``None``: no file) with ``additions`` merged in.

    Tables are merged key by key and lists joined, so the system's own hooks, rules and
    MCP servers stay; where both set a value, the system's own wins. Raises
    SettingsUnreadable when the text is not a JSON object (comments allowed).
    """
    settings: dict[str, object] = {}
    if system_text is not None and system_text.strip():
        try:
            parsed = json.loads(strip_json_comments(system_text))
        except ValueError as error:
            raise SettingsUnreadable(str(error)) from None
        if not isinstance(parsed, dict):
            raise SettingsUnreadable("it is not a JSON object")
        settings = parsed
    merged = _merge(settings, dict(additions))
    return json.dumps(merged, indent=2) + "\n"


def system_paths(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """The system settings file and the system defaults file Qwen Code reads with
    ``environ``."""
    settings = Path(environ.get(SETTINGS_ENV) or SYSTEM_SETTINGS)
    defaults = Path(environ.get(DEFAULTS_ENV) or settings.parent / "system-defaults.json")
    return settings, defaults


def build(
    session_folder: Path, additions: Mapping[str, object], environ: Mapping[str, str]
) -> dict[str, str]:
    """Write the session's settings file in ``session_folder``; return the environment
    that has Qwen Code read it.

    Raises SettingsUnreadable (nothing is written) and OSError.
    """
    settings, defaults = system_paths(environ)
    try:
        system_text: str | None = settings.read_text(encoding="utf-8")
    except FileNotFoundError:
        system_text = None
    merged = merged_settings(system_text, additions)
    make_private_dir(session_folder)
    path = session_folder / FILE_NAME
    write_private_file(path, merged)
    write_private_file(session_folder / _WRITTEN, merged)  # what keep_changes compares with
    return {SETTINGS_ENV: str(path), DEFAULTS_ENV: str(defaults)}


def keep_changes(session_folder: Path, kept_root: Path, name: str) -> Path | None:
    """Move the session's settings file out of ``session_folder`` into a new folder under
    ``kept_root`` when Qwen Code changed it; return that folder (None: nothing changed,
    or no such file)."""
    path = session_folder / FILE_NAME
    if not path.is_file() or _same_json(path, session_folder / _WRITTEN):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = kept_root / f"{name}-{stamp}-{os.getpid()}"
    make_private_dir(kept_root)
    make_private_dir(kept)
    shutil.move(str(path), str(kept / FILE_NAME))
    (kept / FILE_NAME).chmod(PRIVATE_FILE_MODE)
    return kept


def _same_json(a: Path, b: Path) -> bool:
    """Whether two settings files say the same, but for the ``$version`` Qwen Code adds."""
    try:
        texts = [strip_json_comments(path.read_text(encoding="utf-8")) for path in (a, b)]
        values = [json.loads(text) for text in texts]
    except (OSError, ValueError):
        return False
    for value in values:
        if isinstance(value, dict):
            value.pop(_VERSION, None)
    return bool(values[0] == values[1])
