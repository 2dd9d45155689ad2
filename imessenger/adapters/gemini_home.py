"""A Gemini CLI home of one session's own, for the settings it takes from no flag.

Gemini CLI 0.61.0 reads MCP servers only from settings files. The one per-session
way to add one is ``GEMINI_CLI_HOME``: Gemini CLI then reads ``<home>/.gemini``
instead of ``~/.gemini``. isesh makes that folder in the session's own folder:

- ``settings.json`` is a copy of the user's, with imessenger's additions merged in
  (the user's file is JSON with comments; it is read, never written);
- ``projects.json`` is a copy: Gemini CLI replaces it (a temporary file renamed over
  it) when it meets a new project, which would turn a link into a stray file; the
  folders it names keep a marker of their project, so the user's own copy finds
  them again;
- every other entry is a symbolic link to the user's, so the login, the chats (in
  ``tmp/``, which the record reader reads), the history, extensions, commands and
  ``GEMINI.md`` are the user's own; ``tmp/`` and ``history/`` are made in the user's
  folder first when missing (a link to nothing stops Gemini CLI at start);
- ``GEMINI_CLI_TRUSTED_FOLDERS_PATH`` points at the user's trusted folders file, so
  that a "trust this folder" answer is kept.

What Gemini CLI writes into the session's copy instead of the user's (a setting
changed in the session, a file it replaced by renaming) is never dropped in
silence: :func:`keep_changes` moves it out of the session folder before that folder
goes, and says where.

Whatever the umask, what isesh makes here is private (folders 0700, files 0600): the
home and its copies, the folders it makes in the user's ``.gemini``, and what it keeps
of Gemini CLI's writes (made under the umask of the agent).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from imessenger.adapters.paths import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    make_private_dir,
    write_private_file,
)

#: Entries that are the session's own, not links to the user's.
_OWN = ("settings.json", "projects.json")
#: Entries Gemini CLI makes for its own bookkeeping (projects' folders, an id, tips
#: shown): nothing the user chose is in them.
_BOOKKEEPING = ("projects.json", "projects.json.lock", "state.json", "installation_id")
#: Folders Gemini CLI makes when missing: made in the user's folder, then linked.
_MADE_FIRST = ("tmp", "history")
#: The name of the folder, in a session's own folder, that holds its Gemini CLI home.
HOME_NAME = "gemini-home"
#: Where a settings file of the session's is kept (see keep_changes).
_WRITTEN = ".imessenger-settings.json"


class SettingsUnreadable(ValueError):
    """The user's Gemini CLI settings file is not JSON (with comments) isesh can read."""


def strip_json_comments(text: str) -> str:
    """``text`` without its ``//`` and ``/* */`` comments (those outside strings)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def merged_settings(user_text: str | None, additions: Mapping[str, object]) -> str:
    """The user's settings (``None``: no file) with ``additions`` merged one level deep.

    A table the user has too (``mcpServers``) keeps the user's entries; where both
    name the same entry, the user's wins. Raises SettingsUnreadable.
    """
    settings: dict[str, object] = {}
    if user_text is not None and user_text.strip():
        try:
            parsed = json.loads(strip_json_comments(user_text))
        except ValueError as error:
            raise SettingsUnreadable(str(error)) from None
        if not isinstance(parsed, dict):
            raise SettingsUnreadable("it is not a JSON object")
        settings = parsed
    for key, value in additions.items():
        mine = settings.get(key)
        if isinstance(value, dict) and isinstance(mine, dict):
            settings[key] = {**value, **mine}
        elif key not in settings:
            settings[key] = value
    return json.dumps(settings, indent=2) + "\n"


def user_dir(environ: Mapping[str, str]) -> Path:
    """The user's own ``.gemini`` folder (``GEMINI_CLI_HOME`` moves it)."""
    configured = environ.get("GEMINI_CLI_HOME") or environ.get("HOME")
    return (Path(configured) if configured else Path.home()) / ".gemini"


def build(
    session_folder: Path, additions: Mapping[str, object], environ: Mapping[str, str]
) -> dict[str, str]:
    """Make the session's Gemini CLI home in ``session_folder``; return the environment
    that points Gemini CLI at it.

    Raises SettingsUnreadable (nothing is made) and OSError.
    """
    source = user_dir(environ)
    settings_file = source / "settings.json"
    try:
        user_text: str | None = settings_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        user_text = None
    merged = merged_settings(user_text, additions)
    home = session_folder / HOME_NAME
    gemini = home / ".gemini"
    make_private_dir(home)
    make_private_dir(gemini)
    for name in _MADE_FIRST:
        make_private_dir(source / name)  # the user's own when there, else made private
    for entry in sorted(source.iterdir()):
        if entry.name in _OWN:
            continue
        (gemini / entry.name).symlink_to(entry)
    projects = source / "projects.json"
    if projects.is_file():
        write_private_file(gemini / "projects.json", projects.read_bytes())
    write_private_file(gemini / "settings.json", merged)
    write_private_file(home / _WRITTEN, merged)  # what keep_changes compares with
    trusted = environ.get("GEMINI_CLI_TRUSTED_FOLDERS_PATH") or str(source / "trustedFolders.json")
    return {"GEMINI_CLI_HOME": str(home), "GEMINI_CLI_TRUSTED_FOLDERS_PATH": trusted}


def keep_changes(session_folder: Path, kept_root: Path, name: str) -> Path | None:
    """Move what Gemini CLI wrote into the session's home instead of the user's out of
    ``session_folder``, into a new folder under ``kept_root``; return it (None: nothing
    to keep).

    Kept: ``settings.json`` when it changed (a setting changed in the session), and
    every other entry that is no longer a link to the user's (a file Gemini CLI
    replaced, or made), but for its own bookkeeping.
    """
    home = session_folder / HOME_NAME
    gemini = home / ".gemini"
    if not gemini.is_dir():
        return None
    changed: list[Path] = []
    for entry in sorted(gemini.iterdir()):
        if entry.is_symlink() or entry.name in _BOOKKEEPING or entry.name.endswith(".tmp"):
            continue
        if entry.name == "settings.json" and _same_json(entry, home / _WRITTEN):
            continue  # rewritten in another layout, but the same settings
        changed.append(entry)
    if not changed:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = kept_root / f"{name}-{stamp}-{os.getpid()}"
    make_private_dir(kept_root)
    make_private_dir(kept)
    for entry in changed:
        shutil.move(str(entry), str(kept / entry.name))
        _make_private(kept / entry.name)  # Gemini CLI made it under the umask
    return kept


def _make_private(path: Path) -> None:
    """Make ``path`` (and, a folder, everything in it) 0600 for files, 0700 for folders;
    links are left as they are."""
    for item in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else ())]:
        if not item.is_symlink():
            item.chmod(PRIVATE_DIR_MODE if item.is_dir() else PRIVATE_FILE_MODE)


def _same_json(a: Path, b: Path) -> bool:
    try:
        texts = [strip_json_comments(path.read_text(encoding="utf-8")) for path in (a, b)]
        return bool(json.loads(texts[0]) == json.loads(texts[1]))
    except (OSError, ValueError):
        return False
