"""Pinning an agent's record when isesh starts it, and finding that record again.

Each agent keeps its own record of its answers. To read the right one, isesh fixes
it when it starts the agent, and never looks for the newest file:

* ``claude``: a fresh session id (``--session-id``); the transcript's path follows
  from the id, the session's folder and Claude Code's config folder.
* ``gemini``: a fresh session id (``--session-id``); the chat file is the one whose
  name holds the id's first 8 characters and whose first line holds the whole id.
* ``copilot``: a fresh session id (``--session-id``); the events file's path follows
  from the id and Copilot CLI's home folder.
* ``aider`` and ``demo``: a file in imessenger's data folder, given to the agent
  (``--chat-history-file``, ``--record``); one the command line already names is
  read instead.
* ``qwen``: a fresh session id (``--session-id``); the chat file is named for the id,
  in a folder named for the project under Qwen Code's runtime folder.
* ``codex``: no flag takes an id. isesh gives Codex a notify program
  (``-c notify=[...]``, ``imessenger hook codex-notify``), which Codex runs at the
  end of each turn with the thread id; that id (see :func:`learned`) names the
  rollout file. The user's own ``notify`` (in ``$CODEX_HOME/config.toml``) is
  run after it, with the same payload.

* ``opencode``: no flag takes a new id (``--session`` opens one that exists), and the
  session is made at the first message. The record is OpenCode's database
  (``OPENCODE_DB`` moves it); the plugin isesh gives OpenCode reports the session's id
  to ``imessenger hook event opencode``, which adds it to the ref (see :func:`learned`).

A command line that already picks a session of its own (``--resume``,
``--session-id``, ``--continue``, OpenCode's ``--session``) is left alone: its replies
come from the screen.

:func:`resume` is the other half, for ``isesh restore``: the command line that brings
the agent back into the conversation its record holds (Claude Code, Gemini CLI and
Qwen Code ``--resume <id>``, Copilot CLI ``--resume=<id>``, Codex ``resume <thread
id>``, Aider ``--restore-chat-history`` on the same chat history file, the demo agent
``--resume`` on its record, OpenCode ``--session <id>``), or why it cannot be
(:class:`CannotResume`: the conversation's file is gone, or was never made).

What locates a record is kept as a small JSON object (the session's
``record_ref``): ``{"path": ...}`` once the file is known, else what finds it.

Where Claude Code, Gemini CLI and Codex write follows from their environment (a config
folder, ``HOME``), which isesh reads from its own at the start. A command line that
changes it (``env HOME=... claude``, a wrapper script, ``CLAUDE_CONFIG_DIR=...``) makes
the agent write elsewhere: :func:`relocated` finds the record from the environment the
agent process itself runs with (imessenger.adapters.agent_process, found by
:func:`marker`), and :class:`PinnedRecord` asks for it once while its file is not there.
:func:`from_hook` takes the path an agent's own hook reports (Claude Code's
``transcript_path``).
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imessenger.adapters.records import (
    claude,
    codex,
    copilot,
    gemini,
    opencode,
    qwen,
    reader_for,
)
from imessenger.adapters.records.reading import RecordReader
from imessenger.core.envelope import Delimiters

#: How often a record that cannot be located yet is looked for again, in seconds.
_LOCATE_EVERY_S = 0.5

#: Options with which a command line picks a session of its own (then nothing is pinned).
_OWN_SESSION = {
    "claude": ("--session-id", "--resume", "-r", "--continue", "-c", "--from-pr"),
    "gemini": ("--session-id", "--resume", "-r"),
    "qwen": ("--session-id", "--resume", "-r", "--continue", "-c"),
    "copilot": ("--session-id", "--resume", "-r", "--continue", "--connect"),
    "opencode": ("--session", "-s", "--continue", "-c"),
}
#: The option that names the record file, for the agents that take a path.
_PATH_OPTION = {"aider": "--chat-history-file", "demo": "--record"}


@dataclass(frozen=True)
class Pin:
    """What isesh adds to the agent's command line, and what will find its record."""

    args: tuple[str, ...]
    ref: str


def pin(
    kind: str,
    argv: Sequence[str],
    directory: Path,
    records_dir: Path,
    name: str,
    environ: Mapping[str, str],
) -> Pin | None:
    """How to pin a ``kind`` record for an agent started as ``argv`` in ``directory``.

    None when nothing can be pinned (the command line picks its own session). A file
    for ``aider``/``demo`` goes in ``records_dir``, named for the session and unique.
    """
    if any(option in argv or _given(argv, option) for option in _OWN_SESSION.get(kind, ())):
        return None
    if kind in _PATH_OPTION:
        option = _PATH_OPTION[kind]
        given = _value_of(argv, option)
        if given is not None:
            return Pin((), _ref(path=str((directory / given).resolve())))
        path = (
            records_dir / f"{name}-{uuid.uuid4().hex[:12]}.{'md' if kind == 'aider' else 'jsonl'}"
        )
        return Pin((option, str(path)), _ref(path=str(path)))
    if kind == "claude":
        session_id = str(uuid.uuid4())
        path = claude.transcript_path(claude.config_dir(environ), directory, session_id)
        return Pin(("--session-id", session_id), _ref(path=str(path)))
    if kind == "gemini":
        session_id = str(uuid.uuid4())
        home = gemini.gemini_home(environ)
        return Pin(("--session-id", session_id), _ref(home=str(home), session_id=session_id))
    if kind == "qwen":
        session_id = str(uuid.uuid4())
        runtime = qwen.runtime_dir(environ)
        return Pin(("--session-id", session_id), _ref(home=str(runtime), session_id=session_id))
    if kind == "copilot":
        session_id = str(uuid.uuid4())
        path = copilot.events_path(copilot.copilot_home(environ), session_id)
        return Pin(("--session-id", session_id), _ref(path=str(path)))
    if kind == "opencode":
        db = opencode.db_path(environ)
        return Pin((), _ref(db=str(db))) if db is not None else None
    if kind == "codex":
        if any(arg.startswith("notify=") or arg.startswith("notify =") for arg in argv):
            return None  # the command line gives a notify program of its own
        home = codex.codex_home(environ)
        notify = [sys.executable, "-m", "imessenger", "hook", "codex-notify", *_notify_of(home)]
        return Pin(("-c", f"notify={json.dumps(notify)}"), _ref(home=str(home)))
    return None


class CannotResume(Exception):
    """The agent cannot be brought back into its conversation; the message says why.

    Claude Code and Gemini CLI write their conversation's file at the first turn, and
    Codex names its thread then: for an agent that never had a turn this is raised too
    (there is nothing to resume, and nothing to lose by starting it anew)."""


def resume(kind: str, argv: Sequence[str], ref: str) -> Pin:
    """How to bring back an agent of ``kind`` that was started as ``argv`` (before isesh's
    additions) with the record ``ref``: the arguments that resume its conversation and
    the ref that finds its record.

    ``Pin.args`` are added after ``argv``, except for Codex, whose ``resume`` subcommand
    comes first (:func:`resumed_command` puts them in place). A session that pinned
    nothing (``ref`` empty: its command line picks its own session, or the agent keeps
    no record) is started again as it was. Raises CannotResume when the conversation
    cannot be found.
    """
    if not ref:
        return Pin((), "")
    found = _parse(ref)
    record = locate(kind, ref)
    if kind in _PATH_OPTION:
        if record is None or not record.is_file():
            raise CannotResume(f"its conversation file {record} is gone")
        option = _PATH_OPTION[kind]
        named = () if _value_of(argv, option) is not None else (option, str(record))
        again = "--restore-chat-history" if kind == "aider" else "--resume"
        return Pin((*named, again), ref)
    if kind == "codex":
        if "thread_id" not in found:
            raise CannotResume("Codex named no conversation (it does after a turn)")
        if record is None:
            raise CannotResume(f"the conversation of thread {found['thread_id']} was not found")
        pinned = pin(kind, argv, Path("."), Path("."), "", {"CODEX_HOME": found.get("home", "")})
        notify = pinned.args if pinned is not None else ()
        return Pin(("resume", found["thread_id"], *notify), ref)
    if kind == "claude":
        if record is None or not record.is_file():
            raise CannotResume(f"its conversation file {record} is gone")
        return Pin(("--resume", record.stem), ref)
    if kind == "copilot":
        if record is None or not record.is_file():
            raise CannotResume(f"its conversation file {record} is gone")
        # the session's folder is named by its id; "=": --resume takes an optional value
        return Pin((f"--resume={record.parent.name}",), ref)
    if kind == "opencode":
        session_id = found.get("session_id")
        if session_id is None:
            raise CannotResume("OpenCode named no conversation (it does at the first message)")
        if record is None or not opencode.has_session(record, session_id):
            raise CannotResume(f"its conversation (session {session_id}) is not in {record}")
        return Pin(("--session", session_id), ref)
    if kind == "gemini":
        if record is None or not record.is_file():
            raise CannotResume(f"its conversation (session {found.get('session_id')}) is gone")
        # Resumed, Gemini CLI 0.61 makes a second, empty chat file of the same id (named
        # for the minute) and goes on writing the first: the record is pinned to that one.
        return Pin(("--resume", found["session_id"]), _ref(path=str(record)))
    if kind == "qwen":
        if record is None or not record.is_file():
            raise CannotResume(f"its conversation (session {found.get('session_id')}) is gone")
        # --resume goes on writing the same chat file
        return Pin(("--resume", record.stem), _ref(path=str(record)))
    return Pin((), ref)


def resumed_command(kind: str, argv: Sequence[str], resumed: Pin) -> list[str]:
    """``argv`` with the arguments :func:`resume` gave put in place."""
    if kind == "codex" and resumed.args[:1] == ("resume",):
        return [argv[0], *resumed.args[:2], *argv[1:], *resumed.args[2:]]
    return [*argv, *resumed.args]


def _notify_of(codex_home: Path) -> list[str]:
    """The user's own notify program, from Codex's config file ([] when none or unreadable)."""
    try:
        with open(codex_home / "config.toml", "rb") as file:
            notify = tomllib.load(file).get("notify")
    except (OSError, tomllib.TOMLDecodeError):
        return []
    if isinstance(notify, list) and all(isinstance(part, str) for part in notify):
        return list(notify)
    return []


def marker(kind: str, ref: str) -> str:
    """What isesh put on the command line of an agent of ``kind`` that tells its process
    from a wrapper's ("" when nothing can)."""
    found = _parse(ref)
    if kind == "claude" and "path" in found:
        return Path(found["path"]).stem  # its --session-id
    if kind == "gemini" and "session_id" in found:
        return found["session_id"]
    if kind == "codex":
        return "codex-notify"  # its -c notify=[... "hook", "codex-notify" ...]
    return ""


def relocated(kind: str, ref: str, directory: Path, environ: Mapping[str, str]) -> str | None:
    """The ref of the record an agent of ``kind`` started in ``directory`` writes, given
    the environment its process runs with; None when that is the one ``ref`` says (or
    the kind's record does not follow its environment)."""
    found = _parse(ref)
    if kind == "claude" and "path" in found:
        pinned = Path(found["path"])
        path = claude.transcript_path(claude.config_dir(environ), directory, pinned.stem)
        return _ref(path=str(path)) if path != pinned else None
    if kind == "gemini" and "home" in found:
        home = str(gemini.gemini_home(environ))
        return _ref(**{**found, "home": home}) if home != found["home"] else None
    if kind == "codex" and "home" in found:
        home = str(codex.codex_home(environ))
        return _ref(**{**found, "home": home}) if home != found["home"] else None
    if kind == "opencode" and "db" in found:
        db = opencode.db_path(environ)
        if db is None or str(db) == found["db"]:
            return None
        return _ref(**{**found, "db": str(db)})
    return None


def from_hook(kind: str, ref: str, reported: str) -> str | None:
    """The ref of the record an agent's hook reports (``reported``: Claude Code's
    ``transcript_path``), when it is the pinned conversation's and another file than
    ``ref`` names; else None."""
    found = _parse(ref)
    if kind != "claude" or "path" not in found or not reported:
        return None
    path = Path(reported)
    pinned = Path(found["path"])
    if not path.is_absolute() or path.stem != pinned.stem or path == pinned:
        return None
    return _ref(path=str(path))


def described(kind: str, ref: str) -> str:
    """Which record a session's replies are read from, in words (``isesh explain``)."""
    if not kind or not ref:
        return "none: replies are read from the screen (isesh pinned no record)"
    path = locate(kind, ref)
    if path is None:
        return f"{kind}: not located yet ({ref})"
    state = "written" if path.is_file() else "not written yet (the agent writes it at a turn)"
    return f"{kind}: {path} ({state})"


def locate(kind: str, ref: str) -> Path | None:
    """The record file ``ref`` names, when it can be told yet (it may not exist yet)."""
    found = _parse(ref)
    if "path" in found:
        return Path(found["path"])
    if kind == "gemini" and "home" in found and "session_id" in found:
        return gemini.chat_path(Path(found["home"]), found["session_id"])
    if kind == "qwen" and "home" in found and "session_id" in found:
        return qwen.chat_path(Path(found["home"]), found["session_id"])
    if kind == "codex" and "home" in found and "thread_id" in found:
        return codex.rollout_path(Path(found["home"]), found["thread_id"])
    if kind == "opencode" and "db" in found and "session_id" in found:
        return Path(found["db"])
    return None


class PinnedRecord:
    """The record a session's ``ref`` names: located once it can be, then read as it grows.

    ``current_ref`` gives the ref as it stands now (Codex's is completed after the first
    turn); it is asked again only while the record cannot be located.
    """

    def __init__(
        self,
        kind: str,
        current_ref: Callable[[], str],
        relocate: Callable[[], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self._current_ref = current_ref
        #: asked once, while the record's file is not there: the ref of the record the
        #: agent really writes (:func:`relocated`), or None
        self._relocate = relocate
        self._reader: RecordReader | opencode.OpencodeRecord | None = None
        self._next_look = 0.0

    @property
    def path(self) -> Path | None:
        return self._reader.path if self._reader is not None else None

    def reply(self, delims: Delimiters) -> str | None:
        """The exact reply between ``delims`` in the record so far, or None."""
        if self._reader is None:
            now = time.monotonic()
            if now < self._next_look:
                return None
            self._next_look = now + _LOCATE_EVERY_S
            ref = self._current_ref()
            path = locate(self.kind, ref)
            if path is None:
                return None
            self._reader = reader_for(self.kind, path, _parse(ref).get("session_id", ""))
        if self._relocate is not None and not self._reader.path.exists():
            relocate, self._relocate = self._relocate, None
            found = relocate()
            path = locate(self.kind, found) if found else None
            if path is not None and found is not None:
                self._reader = reader_for(self.kind, path, _parse(found).get("session_id", ""))
        return self._reader.reply(delims)

    def mentions(self, text: str) -> bool | None:
        """Whether the record holds ``text``, as written or as a JSON string holds it.

        None when there is no record to read (not located yet, not written yet, or
        unreadable): only a True says something. An agent writes a message it took into
        its record, so a message's envelope there is lasting evidence that it was taken.
        """
        if self.kind == "opencode":  # a database: asked, not read whole
            ref = self._current_ref()
            path = locate(self.kind, ref)
            if path is None:
                return None
            return opencode.OpencodeRecord(path, _parse(ref)["session_id"]).mentions(text)
        path = self.path or locate(self.kind, self._current_ref())
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        return any(form.encode("utf-8") in data for form in forms)


def made_here(ref: str, records_dir: Path) -> Path | None:
    """The file ``ref`` names when isesh made it, in ``records_dir`` (None for an agent's own
    file, which is the agent's to keep)."""
    path = _parse(ref).get("path")
    if path is None or Path(path).parent != records_dir:
        return None
    return Path(path)


def learned(ref: str, **found: str) -> str:
    """``ref`` with what was learned after the start (Codex's ``thread_id``, OpenCode's
    ``session_id``) added."""
    return _ref(**{**_parse(ref), **found})


def _ref(**parts: str) -> str:
    return json.dumps(parts, sort_keys=True)


def _parse(ref: str) -> dict[str, str]:
    try:
        parsed = json.loads(ref) if ref else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(key): str(value) for key, value in parsed.items()}


def _given(argv: Sequence[str], option: str) -> bool:
    """``--option=value`` given in one argument."""
    return option.startswith("--") and any(arg.startswith(option + "=") for arg in argv)


def _value_of(argv: Sequence[str], option: str) -> str | None:
    """The value of ``option`` in ``argv`` (``--option value`` or ``--option=value``)."""
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(option + "="):
            return arg[len(option) + 1 :]
    return None
