"""Sessions here: start, list, look at, explain, attach to, stop them.

The door (imessenger.app.api) has checked the names and the policy before any of this
runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from imessenger.app.services import Services
from imessenger.app.values import Explained, Restoration
from imessenger.core.errors import EmptyArgument
from imessenger.core.values import RememberedSession, Restored, Usage

if TYPE_CHECKING:
    from imessenger.actions.sessions import SessionView


class SessionActions(Services):
    """What isesh does."""

    def start(
        self,
        name: str,
        directory: Path,
        agent: str | None = None,
        command: Sequence[str] = (),
        *,
        worktree: bool = False,
        branch: str | None = None,
    ) -> SessionView:
        """Start agent session ``name`` in ``directory``, detached; return it as it starts.

        A name that names someone or something else is refused (imessenger.core.names.check_free),
        the name the person starting it sends as among them. ``agent`` None is the default
        profile; an empty one is refused.
        """
        from imessenger.core.names import check_free

        if agent is not None and not agent.strip():
            profiles = self.config.values.get("agents", {})
            raise EmptyArgument(
                f"the agent profile is empty: give one ({', '.join(sorted(profiles))}), or "
                f"leave it out for the default ({self.config.settings.default_agent})"
            )
        person = "" if self.caller.agent else self.caller.name
        check_free(name, hosts=self.config.settings.hosts, person=person)
        return self.sessions.start(
            name, directory, agent, list(command), person=person, worktree=worktree, branch=branch
        )

    def list_sessions(self, *, include_all: bool = False) -> list[SessionView]:
        """The sessions isesh started (with ``include_all``, every session), with live states."""
        return self.sessions.views(include_all=include_all)

    def usage(self, name: str, remembered: RememberedSession | None = None) -> Usage | None:
        """The tokens session ``name`` used, from its agent's own record (None: isesh did not
        start it, or its record holds no usage); of a session that does not run, pass what
        isesh ``remembered`` of it. See imessenger.adapters.records.usage."""
        from imessenger.adapters.records.usage import usage_of

        record = remembered if remembered is not None else self.store.sessions.get(name)
        return usage_of(record) if record is not None else None

    def view(self, name: str) -> SessionView:
        """One session as it is now (started by isesh or not); NoSuchSession when absent."""
        return self.sessions.view(name)

    def forget_session(self, name: str) -> None:
        """Drop isesh's record of session ``name``; its tmux session, if any, is not touched."""
        self.store.sessions.forget(name)

    def remembered(self) -> list[RememberedSession]:
        """The sessions isesh remembers (running or not), sorted by name."""
        return self.store.remembered.all()

    def restore(self, names: Sequence[str] = (), *, fresh: bool = False) -> list[Restored]:
        """Bring back the remembered sessions named (all when none is) that do not run, each
        resuming its own conversation (imessenger.actions.restoring)."""
        from imessenger.actions.restoring import Restorer

        person = "" if self.caller.agent else self.caller.name
        return Restorer(self.sessions).restore(names, fresh=fresh, person=person)

    def note_restored(self, done: Restoration) -> None:
        """Leave what a restore did in the caller's inbox, a notice (nothing when it started
        and failed nothing): each session it started or could not start, and why."""
        from imessenger.core.values import InboxKind, RestoreOutcome

        shown = [r for r in done.sessions if r.outcome is not RestoreOutcome.RUNNING]
        if not shown:
            return
        lines = [f"{r.name}: {r.outcome}" + (f" ({r.detail})" if r.detail else "") for r in shown]
        lines += ["", "`isesh list --all` lists them; `isesh restore NAME` tries again"]
        title = f"{done.summary()} (tmux server {self.server})"
        self.store.inbox.add(self.caller.name, InboxKind.NOTICE, title, "\n".join(lines))

    def forget(self, name: str) -> RememberedSession:
        """Forget session ``name`` (not running): restore will not bring it back."""
        return self.sessions.forget(name)

    def end_server(self) -> None:
        """End the tmux server and every session on it (the tour's private server)."""
        from imessenger.core.errors import NoTmuxServer

        with contextlib.suppress(NoTmuxServer):  # it exited with its last session
            self.tmux.run("kill-server")

    def attach(self, name: str) -> None:
        """Attach this terminal to session ``name`` (switch the client inside tmux)."""
        self.tmux.attach(name)

    def stop(self, name: str, *, force: bool = False, remove_worktree: bool = False) -> str:
        """Stop session ``name``; return "exited" (it left when asked) or "killed" (with
        ``remove_worktree``, and what became of its worktree and branch)."""
        return self.sessions.stop(name, force=force, remove_worktree=remove_worktree)

    def logs(self, name: str, lines: int) -> str:
        """The text of the session's pane with up to ``lines`` lines of scrollback."""
        return self.sessions.logs(name, lines)

    def explain(self, name: str) -> Explained:
        """Why session ``name``'s screen reads as it does: its state, input box and prompt,
        with the screen lines and the profile's patterns that decided each.

        The pane is read as every state is (its visible screen, with the session's
        profile, or the profile guessed from the screen for a session isesh did not
        start); see imessenger.core.screen.explain. An idle screen that shows no error of
        its own has the one the session's hooks said its last turn ended on, if any
        (``reported_error``, as every view of it has). Raises NoSuchSession when there is
        no such session.
        """
        from imessenger.actions.sessions import tools_missing
        from imessenger.core.screen import explain

        view = self.sessions.view(name, capture=False)
        profile = self.sessions.view_profile(view)
        dead = view.pane.info.dead
        text = "" if dead else view.pane.look()
        # as Sessions reads a state: a screen without markers is "starting" for an agent
        # isesh started less than the profile's startup_ms ago
        starting = view.managed and profile.launch.starting(view.age)
        record = self.store.sessions.get(name) if view.managed else None
        tools = ""
        if record is not None and record.mcp:
            tools = "connected" if record.mcp_connected_at is not None else "not connected yet"
            missing = "" if tools == "connected" else tools_missing(record, view.pane.info.pid)
            tools = f"missing: {missing}" if missing else tools
        from imessenger.adapters.records.pinning import described

        where = described(record.record_kind, record.record_ref) if record is not None else ""
        explanation = explain(text, profile.grammar, dead=dead, starting=starting)
        reported = self.sessions.reported_error(name, explanation.screen) if view.managed else None
        if reported is not None:
            screen = replace(explanation.screen, error=reported.detail)
            explanation = replace(explanation, screen=screen)
        return Explained(
            session=name,
            agent=view.agent,
            profile=profile.name,
            managed=view.managed,
            capture=text,
            explanation=explanation,
            hook_events=tuple(self.store.hook_events.recent(name, limit=10)),
            tools=tools,
            record=where,
            reported_error=reported,
        )
