"""Agent sessions: start, look at, stop. What ``isesh`` does, without the printing.

A session is a tmux session whose active pane runs an agent. Sessions that
``isesh`` started are recorded in the store with their profile, folder,
command and start time; other sessions on the same server are seen too (with
``--all``) and can still be messaged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from imessenger.adapters import gemini_home, opencode_config, procfs, qwen_settings, worktrees
from imessenger.adapters.paths import (
    fault_advice,
    make_private_dir,
    touch_private_file,
    user_config_path,
    write_private_file,
)
from imessenger.adapters.records.pinning import Pin, made_here, pin, resumed_command
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import (
    AGENT_OPTION,
    CONFIG_OPTION,
    HOME_OPTION,
    SOCKET_ENV,
    AgentPane,
    Tmux,
)
from imessenger.adapters.worktrees import Worktree
from imessenger.core.agent_setup import setup
from imessenger.core.agent_setup import tools_missing as registered_tools_missing
from imessenger.core.config import FALLBACK_PROFILE, Config
from imessenger.core.errors import ImessengerError, NoSuchSession, NotRemembered, UsageError
from imessenger.core.hook_events import REPORTS_FAILURES, failed_turn
from imessenger.core.names import check_free, check_name
from imessenger.core.policy import Action
from imessenger.core.profiles import Profile, get_profile, load_profiles
from imessenger.core.screen import Screen, State, classify
from imessenger.core.values import HookEventRecord, RememberedSession, SessionRecord, instance_of

logger = logging.getLogger(__name__)

#: Variables a session inherits so that ``imessenger`` run inside it reaches the same data.
_PASSED_ON = ("IMESSENGER_HOME", "IMESSENGER_CONFIG", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
#: Profiles tried, in order, to read the screen of a session isesh did not start.
_GUESS_ORDER = ("claude", "codex", "gemini", "qwen", "aider", "demo", "opencode")


#: How many of a session's latest hook events are looked at for the error its last turn
#: ended on (:meth:`Sessions.reported_error`).
HOOK_EVENTS_READ = 20

#: How long a just-started agent whose profile registers imessenger's MCP server reads
#: as starting until that server connected (then it is taken as ready without it).
MCP_CONNECT_S = 30.0


def waiting_for_tools(
    record: SessionRecord | None, screen: Screen, pane_pid: int | None = None
) -> Screen:
    """``screen``, read as starting while the agent's imessenger MCP server has not
    connected yet: ready means its tools are there for the first message."""
    if screen.state is State.IDLE and _tools_pending(record, pane_pid):
        return replace(screen, state=State.STARTING)
    return screen


def _tools_pending(record: SessionRecord | None, pane_pid: int | None = None) -> bool:
    """Whether the session waits for its imessenger MCP server (for at most MCP_CONNECT_S,
    and not when its agent process cannot start it: :func:`tools_missing`)."""
    return (
        record is not None
        and bool(record.mcp)
        and record.mcp_connected_at is None
        and time.time() - record.started_at < MCP_CONNECT_S
        and not tools_missing(record, pane_pid)
    )


#: The runs of sessions whose agent process was seen unable to start imessenger's MCP
#: server, and why (the process's command line and environment do not change).
_MISSING: dict[str, str] = {}


def tools_missing(record: SessionRecord, pane_pid: int | None) -> str:
    """Why the agent of ``record``'s session cannot start the imessenger MCP server isesh
    registered for it, read from the agent process's own command line and environment
    (imessenger.adapters.agent_process); "" when nothing says so (the process was not
    found: a wrapper not done yet, or no /proc)."""
    from imessenger.adapters import agent_process
    from imessenger.adapters.records.pinning import marker

    if not record.mcp:
        return ""
    if record.instance in _MISSING:
        return _MISSING[record.instance]
    found = None
    for mark in (marker(record.record_kind, record.record_ref), record.files_dir):
        found = agent_process.find(pane_pid, mark)
        if found is not None:
            break
    if found is None:
        return ""
    why = registered_tools_missing(record.mcp, found.argv, found.environment, record.files_dir)
    if why and record.instance:
        _MISSING[record.instance] = why
    return why


def validate_name(name: str) -> None:
    """Raise InvalidName (a UsageError) when ``name`` is outside the session-name alphabet."""
    check_name(name)


@dataclass(frozen=True)
class SessionView:
    """A session as seen now: its record (if isesh started it), its pane and its screen.

    ``pane`` is the handle everything done to the session goes through; what tmux
    said of the pane when it was seen is ``pane.info``. ``screen`` is the pane's text
    read with the session's profile; for a session isesh started, its ``error`` is also
    the one its own hooks said its last turn ended on, while it reads idle and shows
    none of its own (:meth:`Sessions.reported_error`).
    """

    name: str
    agent: str
    directory: str
    started_at: float
    managed: bool
    pane: AgentPane
    screen: Screen
    #: its profile registered imessenger's MCP server, which had not connected when the
    #: session was seen (its screen reads starting until it does: :func:`waiting_for_tools`)
    tools_pending: bool = False

    @property
    def state(self) -> State:
        return self.screen.state

    @property
    def instance(self) -> str:
        """Which run of the session this is: a session started again under its name is another."""
        info = self.pane.info
        return instance_of(info.server_pid, info.session_id, info.session_created)

    @property
    def age(self) -> float:
        """Seconds since the session started."""
        return max(0.0, time.time() - self.started_at)


def passed_on() -> tuple[tuple[str, str], ...]:
    """The variables of this process a session is given, so that ``imessenger`` run inside
    it reaches the same data and configuration (:data:`_PASSED_ON`)."""
    return tuple((key, os.environ[key]) for key in _PASSED_ON if os.environ.get(key))


@dataclass(frozen=True)
class Launch:
    """What starting one session takes: its name, profile and folder, the command as given
    (or the profile's), what pins (or resumes) its agent's record, and the variables it
    is passed; for a restore, the run it ``continues``."""

    name: str
    profile: Profile
    folder: Path
    #: the command as given or the profile's, before isesh's additions
    given: list[str]
    pinned: Pin | None
    passed_on: tuple[tuple[str, str], ...]
    #: the instance of the run this one continues (``isesh restore``), else None
    continues: str | None = None
    #: the git worktree isesh made for the session (the folder is in it), else None
    worktree: Worktree | None = None

    def command(self) -> list[str]:
        """The agent's command line with what pins or resumes its record in place."""
        if self.pinned is None:
            return list(self.given)
        return resumed_command(self.profile.launch.record, self.given, self.pinned)

    def remembered(
        self, server: str, record_kind: str, record_ref: str, instance: str
    ) -> RememberedSession:
        """What to remember of the session once it runs as ``instance``."""
        tree = self.worktree
        return RememberedSession(
            server=server,
            name=self.name,
            agent=self.profile.name,
            directory=str(self.folder),
            command=tuple(self.given),
            environment=self.passed_on,
            record_kind=record_kind,
            record_ref=record_ref,
            started_at=time.time(),
            instance=instance,
            worktree=str(tree.path) if tree else "",
            repo=str(tree.repo) if tree else "",
            branch=tree.branch if tree else "",
            base=tree.base if tree else "",
            base_commit=tree.base_commit if tree else "",
        )


def _files_failed(files_dir: Path, what: str, error: OSError) -> ImessengerError:
    """The error of files isesh could not make for a session (``what`` it tried, in
    ``files_dir``), once what it made of them is removed."""
    shutil.rmtree(files_dir, ignore_errors=True)
    advice = fault_advice(files_dir.parent.parent, error) or str(error)
    return ImessengerError(f"could not {what} in {files_dir}: {advice}")


class Sessions:
    """The sessions of one tmux server, with their records in the store opened for it."""

    def __init__(self, tmux: Tmux, store: Store, config: Config) -> None:
        if store.server != tmux.label:
            raise ValueError(
                f'a store opened for tmux server "{store.server}" holds none of the records '
                f'of "{tmux.label}": open it with server=tmux.label'
            )
        self.tmux = tmux
        self.store = store
        self.config = config
        self._profiles: dict[str, Profile] | None = None

    @property
    def profiles(self) -> dict[str, Profile]:
        if self._profiles is None:
            self._profiles = load_profiles(self.config)
        return self._profiles

    # -- starting -------------------------------------------------------------

    def command_for(self, profile: Profile, directory: Path, explicit: list[str]) -> list[str]:
        """Return the argv to run: the explicit command, else the profile's; check it exists."""
        argv = list(explicit) if explicit else profile.launch.argv()
        program = argv[0]
        if "/" in program:
            path = directory / program if not os.path.isabs(program) else Path(program)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise UsageError(f'command "{program}" is not an executable file')
        elif shutil.which(program) is None:
            hint = ""
            if not explicit:
                hint = (
                    f"; install it, or start another program with "
                    f"`isesh start NAME --agent {profile.name} -- COMMAND`"
                )
            raise UsageError(f'command "{program}" was not found on PATH{hint}')
        return argv

    def start(
        self,
        name: str,
        directory: Path,
        agent: str | None,
        command: list[str],
        *,
        person: str = "",
        worktree: bool = False,
        branch: str | None = None,
    ) -> SessionView:
        """Start a detached session NAME in DIRECTORY running the agent; record it.

        The name must be free (imessenger.core.names.check_free): not the person's ("user",
        nor ``person``, the name the person starting it sends as), not "local", not a
        host of the config. With ``worktree``, the agent works in a git worktree of the
        repository DIRECTORY is in, made for it on a new branch (``branch``, else the
        session's name), in the same folder of it as DIRECTORY; a start that fails
        removes it again.
        """
        validate_name(name)
        check_free(name, hosts=self.config.settings.hosts, person=person)
        if branch is not None and not worktree:
            raise UsageError("--branch names the branch of a worktree: give --worktree too")
        profile = get_profile(self.config, agent or self.config.settings.default_agent)
        folder = directory.expanduser()
        if not folder.is_dir():
            raise UsageError(f'directory "{directory}" does not exist: create it or pick another')
        folder = folder.resolve()
        argv = self.command_for(profile, folder, command)
        if not worktree:
            pinned = self.pin_record(profile, argv, folder, name)
            return self.launch(Launch(name, profile, folder, argv, pinned, passed_on()))
        if self.tmux.has_session(name):
            raise UsageError(
                f'a session named "{name}" already exists: pick another name, '
                f"or stop it first with `isesh stop {name}`"
            )
        top = worktrees.toplevel(folder)
        place = worktrees.default_place(self.store.path.parent, top, name)
        tree = worktrees.create(top, place, branch or name)
        try:
            inside = tree.path / folder.relative_to(top)
            pinned = self.pin_record(profile, argv, inside, name)
            launch = Launch(name, profile, inside, argv, pinned, passed_on(), worktree=tree)
            return self.launch(launch)
        except BaseException:
            with contextlib.suppress(ImessengerError):
                worktrees.remove(tree)  # nothing was done in it yet
            raise

    def launch(self, launch: Launch) -> SessionView:
        """Start the session ``launch`` describes and record it (and remember it); nothing of
        it is left when that fails. A launch that ``continues`` an earlier run (a restore)
        keeps that run's messages and inbox, and never removes its record."""
        name, profile, folder = launch.name, launch.profile, launch.folder
        pinned = launch.pinned
        argv = launch.command()
        files_dir = self._files_dir(name)
        approver = self.config.settings.policy.decide(name, Action.APPROVE) is None
        extra = setup(
            profile.launch.allow_reply,
            profile.launch.hooks,
            argv,
            files_dir,
            mcp=profile.launch.mcp,
            approver=approver,
            socket=self.tmux.socket_name,
        )
        if extra.skipped:
            logger.warning('"%s": %s', name, extra.skipped)
        argv = [*argv, *extra.args]
        self.tmux.check_version()
        if self.tmux.has_session(name):
            raise UsageError(
                f'a session named "{name}" already exists: pick another name, '
                f"or stop it first with `isesh stop {name}`"
            )
        environment = {
            **profile.launch.env(),
            **dict(launch.passed_on),
            "IMESSENGER_SESSION": name,
        }
        if self.tmux.socket_name:
            environment[SOCKET_ENV] = self.tmux.socket_name
        window = self.config.settings.start
        if extra.files:
            _write_files(files_dir, extra.files)
        mcp = profile.launch.mcp
        if extra.gemini_settings:
            made = self._gemini_home(name, folder, files_dir, extra.gemini_settings)
            environment.update(made)
            if not made:
                mcp = ""
        if extra.qwen_settings:
            environment.update(self._qwen_settings(name, files_dir, extra.qwen_settings))
        hooks = profile.launch.hooks
        if extra.opencode_config:
            given = self._opencode_config(name, extra.opencode_config)
            environment.update(given)
            if not given:
                mcp = hooks = ""
        if extra.skipped or (hooks == "codex" and pinned is None):
            hooks = ""  # not installed: no events will come
        record_file: Path | None = None
        try:
            if launch.continues is None:
                record_file = self._make_record_file(pinned)
            pane = self.tmux.new_session(
                name,
                folder,
                argv,
                environment=environment,
                width=window.width,
                height=window.height,
                options=self._agent_options(name),
                history=window.history_limit,
            )
        except BaseException:  # nothing made for the session is left
            if record_file is not None:
                record_file.unlink(missing_ok=True)
            if extra.files or extra.qwen_settings:
                shutil.rmtree(files_dir, ignore_errors=True)
            raise
        instance = instance_of(pane.server_pid, pane.session_id, pane.session_created)
        replaced = self.store.remembered.get(name) if launch.continues is None else None
        record_kind = profile.launch.record if pinned is not None else ""
        record_ref = pinned.ref if pinned is not None else ""
        try:
            self.store.sessions.record(
                name,
                profile.name,
                str(folder),
                argv,
                record_kind=record_kind,
                record_ref=record_ref,
                hooks=hooks,
                files_dir=str(files_dir) if extra.files or extra.qwen_settings else "",
                mcp=mcp,
                instance=instance,
                remember=launch.remembered(self.store.server, record_kind, record_ref, instance),
                continues=launch.continues,
            )
            self.store.messages.cancel_undelivered(  # an earlier session of this name is not it
                name,
                f'the session "{name}" it was for has ended; the one running now is another',
                keep_instance=instance,
            )
            if replaced is not None:
                self._replaced(replaced)
            return self._seen(AgentPane(self.tmux, pane), self.store.sessions.get(name))
        except BaseException:
            # Nothing half-started is left behind: the session goes with the failed start.
            end_process_group(pane.pid, grace=0.2)
            with contextlib.suppress(ImessengerError):
                self.tmux.kill_session(name)
            if extra.files or extra.qwen_settings:
                shutil.rmtree(files_dir, ignore_errors=True)
            if record_file is not None:
                record_file.unlink(missing_ok=True)
            raise

    def _replaced(self, old: RememberedSession) -> None:
        """A new session took the name of a remembered one: the conversation file isesh made
        for the old one goes; its worktree, which may hold work, stays (and is said)."""
        self._remove_made(old.record_ref)
        if old.worktree:
            logger.warning(
                '"%s": the worktree %s of the session remembered under this name is kept; '
                "remove it with `git worktree remove` when its work is done",
                old.name,
                old.worktree,
            )

    def _gemini_home(
        self, name: str, folder: Path, files_dir: Path, additions: dict[str, object]
    ) -> dict[str, str]:
        """Make the session's own Gemini CLI home (imessenger.adapters.gemini_home); return the
        environment that points Gemini CLI at it, or {} (logged) when it is left out."""
        if folder == Path.home().resolve():
            # Gemini CLI would read the user's ~/.gemini a second time, as the settings
            # of the work folder, over the session's own.
            logger.warning('"%s": no imessenger MCP server in a session whose folder is ~', name)
            return {}
        try:
            return gemini_home.build(files_dir, additions, os.environ)
        except gemini_home.SettingsUnreadable as error:
            logger.warning('"%s": no imessenger MCP server: Gemini CLI settings: %s', name, error)
            return {}
        except OSError as error:
            raise _files_failed(files_dir, "make the session's Gemini CLI home", error) from None

    def _qwen_settings(
        self, name: str, files_dir: Path, additions: dict[str, object]
    ) -> dict[str, str]:
        """Write the session's own Qwen Code settings (imessenger.adapters.qwen_settings);
        return the environment that has Qwen Code read them."""
        try:
            return qwen_settings.build(files_dir, additions, os.environ)
        except qwen_settings.SettingsUnreadable as error:
            shutil.rmtree(files_dir, ignore_errors=True)
            settings, _ = qwen_settings.system_paths(os.environ)
            raise ImessengerError(
                f"Qwen Code's system settings {settings} cannot be read ({error}): "
                "fix that file, or give the session a profile without hooks, mcp and "
                "allow_reply"
            ) from None
        except OSError as error:
            raise _files_failed(
                files_dir, "write the session's Qwen Code settings", error
            ) from None

    @staticmethod
    def _opencode_config(name: str, additions: dict[str, object]) -> dict[str, str]:
        """The environment that gives OpenCode isesh's configuration for the session
        (imessenger.adapters.opencode_config), or {} (logged) when it is left out."""
        try:
            return opencode_config.environment(additions, os.environ)
        except opencode_config.ConfigUnreadable as error:
            logger.warning(
                '"%s": no imessenger MCP server, hooks nor reply rule: your %s: %s',
                name,
                opencode_config.VARIABLE,
                error,
            )
            return {}

    def pin_record(self, profile: Profile, argv: list[str], folder: Path, name: str) -> Pin | None:
        """Fix which record the agent keeps of its answers (imessenger.adapters.records.pinning)."""
        if not profile.launch.record:
            return None
        records = self._records_dir()
        pinned = pin(profile.launch.record, argv, folder, records, name, os.environ)
        if pinned is not None and pinned.args:
            make_private_dir(records)
        return pinned

    def _make_record_file(self, pinned: Pin | None) -> Path | None:
        """Create the record file isesh names for the agent (Aider's chat history, the
        demo agent's record), empty and 0600, in the private records folder: the agent
        appends to it, and a file it made itself would have the agent's umask. None when
        isesh named none."""
        made = made_here(pinned.ref, self._records_dir()) if pinned is not None else None
        if made is not None:
            try:
                touch_private_file(made)
            except OSError as error:
                advice = fault_advice(made.parent.parent, error) or str(error)
                raise ImessengerError(
                    f"could not make the agent's record {made}: {advice}"
                ) from None
        return made

    def _records_dir(self) -> Path:
        return self.store.path.parent / "records"

    def _files_dir(self, name: str) -> Path:
        """A new folder (not made yet) for the files isesh makes for one session."""
        return self.store.path.parent / "sessions" / f"{name}-{uuid.uuid4().hex[:12]}"

    def _agent_options(self, name: str) -> dict[str, str]:
        """The session options that mark an agent session and pin its data and config.

        tmux keeps them with the session, out of reach of the agent's environment: an
        imessenger run inside the session finds who it is, and which data and policy
        apply, from them (see imessenger.adapters.caller).
        """
        home = str(self.store.path.parent)
        config = str(self.config.user_path or user_config_path())
        for what, value in (("data folder", home), ("config file", config)):
            if any(ch in value for ch in "\t\n\r"):
                raise UsageError(f"the {what} path {value!r} holds a tab or a line break")
        return {AGENT_OPTION: name, HOME_OPTION: home, CONFIG_OPTION: config}

    # -- looking ----------------------------------------------------------------

    def views(self, *, include_all: bool = False) -> list[SessionView]:
        """Return the sessions isesh started (and, with include_all, every other one)."""
        records = {r.name: r for r in self.store.sessions.all()}
        views = []
        for info in self.tmux.panes():
            record = records.get(info.session)
            if record is None and not include_all:
                continue
            views.append(self._seen(AgentPane(self.tmux, info), record))
        return sorted(views, key=lambda v: (v.started_at, v.name))

    def view(self, name: str, *, capture: bool = True) -> SessionView:
        """Return one session as it is now (started by isesh or not); NoSuchSession when absent.

        Every call asks tmux afresh about the pane and reads its screen. With
        ``capture`` False, a session isesh started is not read (its screen says only
        whether it exited): for callers that :meth:`look` at it next anyway.
        """
        check_name(name)
        pane = AgentPane.of(self.tmux, name)
        record = self.store.sessions.get(name)
        if not capture and record is not None:
            state = State.EXITED if pane.dead else State.UNKNOWN
            return SessionView(
                name=name,
                agent=record.agent,
                directory=record.directory,
                started_at=record.started_at,
                managed=True,
                pane=pane,
                screen=Screen(state),
                tools_pending=_tools_pending(record, pane.info.pid),
            )
        return self._seen(pane, record)

    def profile_for(self, agent: str) -> Profile:
        """Return the profile named ``agent``, else the plain program's (FALLBACK_PROFILE)."""
        return self.profiles.get(agent) or self.profiles[FALLBACK_PROFILE]

    def view_profile(self, view: SessionView) -> Profile:
        return self.profile_for(view.agent)

    def look(self, view: SessionView, *, history: int = 0) -> tuple[SessionView, str]:
        """Read the screen again, in one tmux call; return the new view and the text read.

        Only the text is read again: what tmux said of the pane (dead, in a mode, its
        size) is kept from ``view`` (:meth:`view` asks afresh). With ``history``, the
        text holds that many lines of scrollback too, and the screen is read from its
        last ``pane.info.height`` lines.
        """
        text = view.pane.look(history)
        info = view.pane.info
        visible = "\n".join(text.split("\n")[-info.height :]) if history else text
        profile = self.view_profile(view)
        starting = view.managed and profile.launch.starting(time.time() - view.started_at)
        screen = classify(visible, profile.grammar, dead=info.dead, starting=starting)
        if view.managed and profile.launch.hooks in REPORTS_FAILURES:
            screen = self.with_reported_error(view.name, screen)
        pending = view.tools_pending
        if pending and screen.state is State.IDLE:
            record = self.store.sessions.get(view.name)
            pending = _tools_pending(record, info.pid)
            screen = waiting_for_tools(record, screen, info.pid)
        return replace(view, screen=screen, tools_pending=pending), text

    def reported_error(self, name: str, screen: Screen) -> HookEventRecord | None:
        """The event in which session ``name``'s own hooks said that its last turn ended
        on an error, when its ``screen`` reads idle and shows no error of its own (an agent
        whose errors look like its messages: OpenCode); None otherwise, and once a turn
        began after it (:func:`imessenger.core.hook_events.failed_turn`)."""
        if screen.state is not State.IDLE or screen.error is not None:
            return None
        return failed_turn(self.store.hook_events.recent(name, limit=HOOK_EVENTS_READ))

    def with_reported_error(self, name: str, screen: Screen) -> Screen:
        """``screen`` with the error of :meth:`reported_error` as its ``error``, if any."""
        failed = self.reported_error(name, screen)
        return screen if failed is None else replace(screen, error=failed.detail)

    def _seen(self, pane: AgentPane, record: SessionRecord | None) -> SessionView:
        """The view of a pane just listed: its screen read with its profile (else guessed)."""
        info = pane.info
        text = "" if info.dead else pane.look()
        if record is not None:
            profile = self.profile_for(record.agent)
            starting = profile.launch.starting(time.time() - record.started_at)
            screen = classify(text, profile.grammar, dead=info.dead, starting=starting)
            if record.hooks in REPORTS_FAILURES:
                screen = self.with_reported_error(record.name, screen)
            screen = waiting_for_tools(record, screen, info.pid)
            return SessionView(
                name=info.session,
                agent=record.agent,
                directory=record.directory,
                started_at=record.started_at,
                managed=True,
                pane=pane,
                screen=screen,
                tools_pending=_tools_pending(record, info.pid),
            )
        agent, screen = self._guess(text, info.dead)
        return SessionView(
            name=info.session,
            agent=agent,
            directory="",
            started_at=info.session_created,
            managed=False,
            pane=pane,
            screen=screen,
        )

    def _guess(self, text: str, dead: bool) -> tuple[str, Screen]:
        """Read an unrecorded session's screen with the first profile that recognises it."""
        for name in _GUESS_ORDER:
            profile = self.profiles.get(name)
            if profile is None:
                continue
            screen = classify(text, profile.grammar, dead=dead)
            if screen.state is not State.UNKNOWN:
                return name, screen
        fallback = self.profiles[FALLBACK_PROFILE]
        return FALLBACK_PROFILE, classify(text, fallback.grammar, dead=dead)

    def logs(self, name: str, lines: int) -> str:
        """Return the pane's text with up to ``lines`` lines of scrollback."""
        check_name(name)
        return AgentPane.of(self.tmux, name).look(lines).rstrip("\n")

    # -- stopping ---------------------------------------------------------------

    def stop(self, name: str, *, force: bool = False, remove_worktree: bool = False) -> str:
        """Stop a session: ask the agent to exit, wait the grace period, then kill.

        Returns "exited" when the agent left by itself, "killed" otherwise. With
        ``remove_worktree``, the git worktree isesh made for it goes too, and the session
        is forgotten (:meth:`remove_worktree`): nothing is stopped while the worktree
        holds uncommitted work (WorktreeDirty names it).
        """
        check_name(name)
        tree = self._worktree_of(name) if remove_worktree else None
        if tree is not None:
            dirty = worktrees.uncommitted(tree.path) if tree.path.is_dir() else []
            if dirty:
                raise worktrees.WorktreeDirty(tree.path, dirty)
        how = self._stop(name, force=force)
        if tree is None:
            return how
        try:
            return f"{how}; {self.remove_worktree(name, tree)}"
        except worktrees.WorktreeDirty as error:
            raise worktrees.WorktreeDirty(tree.path, error.uncommitted, stopped=name) from None

    def remove_worktree(self, name: str, tree: Worktree) -> str:
        """Remove session ``name``'s worktree (it does not run) and forget the session, whose
        folder it was; say what became of its branch. WorktreeDirty (nothing removed, the
        session remembered) when the worktree holds uncommitted work."""
        removal = worktrees.remove(tree)
        self.forget(name)
        return f"worktree {tree.path} removed; {removal.why}"

    def _worktree_of(self, name: str) -> Worktree:
        tree = worktree_of(self.store.remembered.get(name))
        if tree is None:
            raise UsageError(f'isesh made no worktree for "{name}": leave --remove-worktree out')
        return tree

    def _stop(self, name: str, *, force: bool) -> str:
        record = self.store.sessions.get(name)
        try:
            view = self.view(name)
        except NoSuchSession:
            self._forget(name, record)
            raise
        how = "killed"
        if not force:
            grace = self.config.settings.stop.grace_s
            if not view.pane.dead:
                self._ask_to_exit(view)
                retry = self.config.settings.send.submit_retry_s
                if not self._wait_exit(name, min(retry, grace)):
                    self._submit_exit_again(view)
            if self._wait_exit(name, grace):
                how = "exited"
        end_process_group(view.pane.info.pid)
        if self.tmux.has_session(name):
            self.tmux.kill_session(name)
        self.store.messages.cancel_undelivered(
            name, f'the session "{name}" was stopped before it could take it'
        )
        self._forget(name, record)
        self.store.remembered.stopped(name, view.instance)
        return how

    def forget(self, name: str) -> RememberedSession:
        """Forget a session that is not running: ``isesh restore`` will not bring it back.

        The file isesh made for its conversation goes too; its folder (a worktree
        included) is left as it is. Raises UsageError while it runs, NoSuchSession when
        nothing of it is remembered (NotRemembered).
        """
        check_name(name)
        if self.tmux.has_session(name) and not AgentPane.of(self.tmux, name).dead:
            raise UsageError(
                f'session "{name}" is running: stop it first with `isesh stop {name}` '
                "(it stays restorable until it is forgotten)"
            )
        record = self.store.sessions.get(name)
        forgotten = self.store.remembered.forget(name)
        if forgotten is None:
            if record is None:
                raise NotRemembered(name)
            forgotten = _as_remembered(record)
        self._forget(name, record)
        self._remove_made(forgotten.record_ref)
        return forgotten

    def _forget(self, name: str, record: SessionRecord | None) -> None:
        """Drop the session's record, and the file isesh made for its agent's answers
        unless the session is remembered (it holds the conversation a restore resumes)."""
        self.store.sessions.forget(name)
        if record is None:
            return
        kept = self.store.remembered.get(name)
        if kept is None or kept.record_ref != record.record_ref:
            self._remove_made(record.record_ref)
        files = Path(record.files_dir) if record.files_dir else None
        if files is not None and files.parent == self.store.path.parent / "sessions":
            self._keep_changes(name, files)
            shutil.rmtree(files, ignore_errors=True)

    def _remove_made(self, ref: str) -> None:
        """Remove the record file isesh made for an agent (none for an agent's own file)."""
        made = made_here(ref, self._records_dir())
        if made is not None:
            with contextlib.suppress(OSError):
                made.unlink(missing_ok=True)

    def _keep_changes(self, name: str, files: Path) -> None:
        """Keep what the agent wrote into the session's folder instead of the user's."""
        self._keep_qwen_changes(name, files)
        try:
            kept = gemini_home.keep_changes(files, self.store.path.parent / "kept", name)
        except OSError as error:
            logger.warning(
                '"%s": could not keep what Gemini CLI wrote in %s: %s', name, files, error
            )
            raise ImessengerError(
                f"the session's folder {files} holds settings Gemini CLI changed and they "
                f"could not be moved out ({error}): copy what you need from it"
            ) from None
        if kept is not None:
            logger.warning(
                '"%s": Gemini CLI changed settings or files in the session\'s own copy; '
                "they are kept in %s (copy what you want into ~/.gemini)",
                name,
                kept,
            )

    def _keep_qwen_changes(self, name: str, files: Path) -> None:
        """Keep the session's Qwen Code settings file when Qwen Code changed it."""
        try:
            kept = qwen_settings.keep_changes(files, self.store.path.parent / "kept", name)
        except OSError as error:
            raise ImessengerError(
                f"the session's folder {files} holds settings Qwen Code changed and they "
                f"could not be moved out ({error}): copy what you need from it"
            ) from None
        if kept is not None:
            logger.warning(
                '"%s": Qwen Code changed its system settings in the session\'s own copy; '
                "they are kept in %s (copy what you want into your own settings)",
                name,
                kept,
            )

    def _ask_to_exit(self, view: SessionView) -> None:
        profile = self.view_profile(view)
        if profile.launch.exit_text:
            view.pane.type(profile.launch.exit_text)
            view.pane.press(profile.drive.submit_keys)
        elif profile.launch.exit_keys:
            view.pane.press(profile.launch.exit_keys)

    def _submit_exit_again(self, view: SessionView) -> None:
        """Press the submit key once more when the exit command still sits in the input box.

        Some agents drop an Enter that comes right after typed text (Gemini CLI
        0.61), as they do after a paste.
        """
        profile = self.view_profile(view)
        if not profile.launch.exit_text or not profile.drive.submit_retry:
            return
        try:
            fresh, _ = self.look(view)
        except NoSuchSession:
            return
        if fresh.screen.input_text == profile.launch.exit_text:
            view.pane.press(profile.drive.submit_keys)

    def _wait_exit(self, name: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if AgentPane.of(self.tmux, name).dead:
                    return True
            except NoSuchSession:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def end_process_group(pid: int | None, grace: float = 1.0) -> None:
    """End what is left of the process group tmux started a pane's program in.

    tmux's hang-up on kill-session is not enough for every agent (Gemini CLI
    0.61 was seen to outlive its pane): the group gets SIGHUP and SIGTERM,
    then SIGKILL if anything of it still runs after ``grace`` seconds (what
    ended and waits to be reaped does not: it is not waited for).
    """
    if pid is None or pid <= 1:
        return
    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return  # nothing left (or not ours)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        # ended, not reaped yet: a process whose tmux server is gone waits for init to
        # reap it, which the init of a container may never do
        if procfs.group_runs(pid) is False:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def worktree_of(remembered: RememberedSession | None) -> Worktree | None:
    """The git worktree isesh made for a remembered session, or None."""
    if remembered is None or not remembered.worktree:
        return None
    return Worktree(
        path=Path(remembered.worktree),
        repo=Path(remembered.repo),
        branch=remembered.branch,
        base=remembered.base,
        base_commit=remembered.base_commit,
    )


def _as_remembered(record: SessionRecord) -> RememberedSession:
    """What there is to forget of a session recorded and not remembered (one started before
    isesh remembered sessions)."""
    return RememberedSession(
        server=record.server,
        name=record.name,
        agent=record.agent,
        directory=record.directory,
        command=record.command,
        environment=(),
        record_kind=record.record_kind,
        record_ref=record.record_ref,
        started_at=record.started_at,
        instance=record.instance,
    )


def attach(tmux: Tmux, name: str) -> None:
    """Attach the terminal to session ``name`` (a name in the alphabet)."""
    check_name(name)
    tmux.attach(name)


def whoami(tmux: Tmux) -> str:
    """Return who is sending: the session this process runs in (see imessenger.adapters.caller)."""
    from imessenger.adapters.caller import identify

    return identify(tmux).name


def _write_files(folder: Path, files: dict[str, str]) -> None:
    """Write the files isesh made for a session into its own (new, private) folder."""
    try:
        make_private_dir(folder)
        for name, text in files.items():
            make_private_dir((folder / name).parent)  # a name may hold folders
            write_private_file(folder / name, text)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        advice = fault_advice(folder.parent.parent, error) or str(error)
        raise ImessengerError(
            f"could not write the agent's session files in {folder}: {advice}"
        ) from None
