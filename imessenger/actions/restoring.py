"""Bringing remembered sessions back (``isesh restore``), each in its own conversation.

isesh remembers every session it starts (imessenger.adapters.store.remembered). A
remembered session that does not run (its tmux server was killed, the machine
rebooted, its agent exited, or ``isesh stop`` stopped it) is started again under its
name, in its folder, with its profile and its command as given, and its agent resumes
the conversation its record holds (imessenger.adapters.records.pinning.resume). The
new run continues the old one: the messages that waited for it are delivered once it
is ready (by the watcher, started with it), and its replies go where they would have.

It can be run any number of times: a session that runs is left alone, and two
restores at once start each session once (tmux refuses a second session of a name;
the restore that loses that race reports it running). A session whose conversation is
gone is started anew only when asked (``fresh``), and says so; one that cannot be
started (its folder is gone, its program is missing, the store cannot record it) is
reported with why, and the others are restored.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from imessenger.actions.sessions import Launch, Sessions, end_process_group, worktree_of
from imessenger.adapters import procfs
from imessenger.adapters.locks import target_lock
from imessenger.adapters.paths import fault_advice
from imessenger.adapters.records.pinning import CannotResume, Pin, resume
from imessenger.adapters.tmux import AgentPane
from imessenger.core.errors import ImessengerError, NoSuchSession, NoTmuxServer
from imessenger.core.names import check_free, check_name
from imessenger.core.profiles import get_profile
from imessenger.core.values import RememberedSession, Restored, RestoreOutcome

logger = logging.getLogger(__name__)

#: How long a restore waits for another restore of the same session, in seconds.
_LOCK_S = 120.0


class Restorer:
    """Restores the remembered sessions of one tmux server (see the module docstring)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def restore(
        self, names: Sequence[str] = (), *, fresh: bool = False, person: str = ""
    ) -> list[Restored]:
        """Restore the sessions named (every remembered one when none is named), in order;
        what was done with each. ``person`` is the name the person restoring sends as (a
        session may not be named so)."""
        store = self.sessions.store
        if names:
            wanted: list[RememberedSession | str] = []
            for name in names:
                check_name(name)
                wanted.append(store.remembered.get(name) or name)
        else:
            wanted = list(store.remembered.all())
        # what runs now, in one look (a restore run again finds every session running)
        running = {pane.session for pane in self.sessions.tmux.panes() if not pane.dead}
        done = []
        for session in wanted:
            if isinstance(session, str):
                detail = f'isesh remembers no session "{session}" (`isesh list --all`)'
                done.append(Restored(session, RestoreOutcome.FAILED, detail))
            elif session.name in running:
                done.append(Restored(session.name, RestoreOutcome.RUNNING))
            else:
                done.append(self._one(session, fresh=fresh, person=person))
        return done

    def _one(self, remembered: RememberedSession, *, fresh: bool, person: str) -> Restored:
        name = remembered.name
        store = self.sessions.store
        try:
            # one restore of a session at a time: what one sees as left of the last run
            # (an agent that outlived it, a dead pane) is not what another just started
            with target_lock(store.path.parent, store.server, f"restore\0{name}", timeout=_LOCK_S):
                remembered = store.remembered.get(name) or remembered  # as it is now
                if self._running(remembered):
                    return Restored(name, RestoreOutcome.RUNNING)
                return self._start(remembered, fresh=fresh, person=person)
        except OSError as error:
            advice = fault_advice(store.path.parent, error) or str(error)
            return Restored(name, RestoreOutcome.FAILED, f"could not take its lock: {advice}")
        except ImessengerError as error:
            if self._runs(name):  # another restore started it meanwhile
                return Restored(name, RestoreOutcome.RUNNING)
            logger.warning('"%s" was not restored: %s', name, error)
            return Restored(name, RestoreOutcome.FAILED, str(error))

    def _running(self, remembered: RememberedSession) -> bool:
        """Whether the session runs. A session of its name whose agent exited (its pane
        is dead) is the remembered one's last run: it is cleared, to start again."""
        tmux = self.sessions.tmux
        name = remembered.name
        try:
            pane = AgentPane.of(tmux, name)
        except (NoSuchSession, NoTmuxServer):
            return False
        if not pane.dead:
            return True
        record = self.sessions.store.sessions.get(name)
        if record is None or record.instance != remembered.instance:
            raise ImessengerError(
                f'a session named "{name}" is there, whose agent exited, and it is not the '
                f"one isesh remembers: look at it (`isesh logs {name}`) and end it "
                f"(`tmux kill-session -t ={name}`), then restore again"
            )
        with contextlib.suppress(ImessengerError):
            tmux.kill_session(name)
        return False

    def _had_a_turn(self, remembered: RememberedSession) -> bool:
        """Whether the agent's last run was given anything to work on: a message, or a
        turn its hooks reported (one a person typed in)."""
        store = self.sessions.store
        if store.messages.took_any(remembered.name, remembered.instance):
            return True
        return any(e.state == "busy" for e in store.hook_events.recent(remembered.name))

    def _end_left_behind(self, remembered: RememberedSession) -> None:
        """End what is left of the session's last run: an agent that outlived its tmux
        server (Gemini CLI 0.61 does), which would write its conversation beside the one
        restored. Found by the session's name and that server's pid in its environment."""
        server = remembered.instance.split("$", 1)[0]
        if not server.isdigit():
            return
        for pid in procfs.left_behind(remembered.name, int(server)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                end_process_group(os.getpgid(pid))

    def _runs(self, name: str) -> bool:
        with contextlib.suppress(ImessengerError):
            return self.sessions.tmux.has_session(name)
        return False

    def _start(self, remembered: RememberedSession, *, fresh: bool, person: str) -> Restored:
        sessions = self.sessions
        name = remembered.name
        check_free(name, hosts=sessions.config.settings.hosts, person=person)
        self._end_left_behind(remembered)
        folder = Path(remembered.directory)
        if not folder.is_dir():
            what = "worktree" if remembered.worktree else "folder"
            raise ImessengerError(
                f"its {what} {folder} is gone: `isesh forget {name}` drops it, or make the "
                "folder again and restore"
            )
        profile = get_profile(sessions.config, remembered.agent)
        given = sessions.command_for(profile, folder, list(remembered.command))
        outcome, detail = RestoreOutcome.RESUMED, ""
        pinned: Pin | None
        try:
            pinned = resume(remembered.record_kind, given, remembered.record_ref)
        except CannotResume as why:
            if not self._had_a_turn(remembered):
                outcome = RestoreOutcome.RESTARTED
                detail = "started anew: it had no conversation yet"
            elif not fresh:
                raise ImessengerError(
                    f"its conversation cannot be resumed: {why}; `isesh restore --fresh "
                    f"{name}` starts it anew"
                ) from None
            else:
                outcome, detail = RestoreOutcome.FRESH, f"started anew: {why}"
            pinned = sessions.pin_record(profile, given, folder, name)
        if not remembered.record_ref and outcome is RestoreOutcome.RESUMED:
            outcome = RestoreOutcome.RESTARTED
            detail = "started again as it was: isesh keeps no conversation of it to resume"
        launch = Launch(
            name,
            profile,
            folder,
            given,
            pinned if pinned is not None and (pinned.args or pinned.ref) else None,
            remembered.environment,
            continues=remembered.instance,
            worktree=worktree_of(remembered),
        )
        sessions.launch(launch)
        return Restored(name, outcome, detail)
