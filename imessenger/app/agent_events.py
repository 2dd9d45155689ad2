"""What the agents' own hooks report, through ``imessenger hook ...``, and that an agent
connected to imessenger's MCP server (``imessenger mcp``).

A hook, like the MCP server an agent starts, runs inside the agent's session, so the
caller is that session (found from the process tree, see imessenger.adapters.caller); it can only
speak of itself.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imessenger.app.services import Services
from imessenger.core.errors import UsageError

if TYPE_CHECKING:
    from imessenger.core.values import HookEventRecord

logger = logging.getLogger(__name__)


class HookActions(Services):
    """What ``imessenger hook`` records."""

    def hook_event(self, kind: str, payload: str) -> HookEventRecord | None:
        """Record the event a ``kind`` hook of the caller's session reports.

        None when the caller is not a session isesh started with such hooks (nothing is
        recorded: a hook speaks only of its own session). Raises UsageError for a
        payload that cannot be read or a kind that has no hooks.
        """
        from imessenger.core.agent_setup import HOOK_KINDS
        from imessenger.core.hook_events import PayloadError, read_event

        if kind not in HOOK_KINDS:
            raise UsageError(f'"{kind}" is not a kind of hooks: use one of {", ".join(HOOK_KINDS)}')
        try:
            event = read_event(kind, payload)
        except PayloadError as error:
            raise UsageError(f"the {kind} hook's payload cannot be read: {error}") from None
        if event.conversation:
            self._learn_conversation(kind, event.conversation)
        recorded = self._record(kind, event.event, event.state, event.detail)
        if recorded is not None and event.transcript:
            self._learn_record(kind, event.transcript)
        return recorded

    def _learn_record(self, kind: str, reported: str) -> None:
        """The agent's hook said where it writes its record: keep it as the session's when
        isesh thought it was elsewhere (the command line moved its config folder)."""
        from imessenger.adapters.records.pinning import from_hook

        session = self.store.sessions.get(self.caller.name)
        if session is None:
            return
        ref = from_hook(session.record_kind or kind, session.record_ref, reported)
        if ref is not None:
            self.store.sessions.set_record_ref(session.name, ref, was=session.record_ref)

    def _learn_conversation(self, kind: str, conversation: str) -> bool:
        """An OpenCode session took a message into ``conversation`` (its session id): the
        caller's record is that session of its database from now on. Return whether the
        record's ref changed."""
        from imessenger.adapters.records.opencode import SESSION_ID
        from imessenger.adapters.records.pinning import learned

        if kind != "opencode" or not self.caller.agent:
            return False
        if SESSION_ID.fullmatch(conversation) is None:
            logger.warning(
                "an OpenCode hook named a session id of an unknown shape: %.80r", conversation
            )
            return False
        session = self.store.sessions.get(self.caller.name)
        if session is None or session.record_kind != "opencode" or session.hooks != kind:
            return False
        ref = learned(session.record_ref, session_id=conversation)
        if ref == session.record_ref:
            return False
        return self.store.sessions.set_record_ref(session.name, ref, was=session.record_ref)

    def _record(self, kind: str, event: str, state: str, detail: str) -> HookEventRecord | None:
        if not self.caller.agent:
            return None
        session = self.store.sessions.get(self.caller.name)
        if session is None or session.hooks != kind:
            return None
        import time

        from imessenger.adapters.caller import acting_process
        from imessenger.adapters.procfs import age_of

        # when the agent ran the hook: its process's start (it may have waited for the CPU)
        at = time.time() - (age_of(acting_process()) or 0.0)
        return self.store.hook_events.add(
            session.name,
            kind=kind,
            event=event,
            state=state,
            detail=detail,
            at=at,
        )

    def mcp_connected(self) -> bool:
        """Record that the caller's session has connected to imessenger's MCP server (the
        agent's MCP client finished its handshake): what ``isesh start`` can wait for.

        Return whether it was recorded: False when the caller is not a session isesh
        started (nothing is written).
        """
        if not self.caller.agent:
            return False
        return self.store.sessions.mark_mcp_connected(self.caller.name)

    def codex_turn_ended(self, payload: str, chained: Sequence[str] = ()) -> bool:
        """Codex's ``notify`` program, at the end of a turn: learn the session's thread id,
        which names its rollout file (the record its replies are read from).

        The first thread whose rollout exists is the session's (a title side thread
        has none); return whether it was learned now. ``chained`` is the user's own
        notify program, run after with the same payload, as Codex would have.
        """
        from imessenger.adapters.records.pinning import learned, locate

        try:
            event = json.loads(payload)
        except ValueError as error:
            raise UsageError(f"the notify payload is not JSON: {error}") from None
        if chained:
            try:
                subprocess.Popen([*chained, payload], stdin=subprocess.DEVNULL)
            except OSError as error:
                logger.warning("could not run the chained notify program: %s", error)
        if not self.caller.agent:
            return False
        if isinstance(event, dict) and event.get("type") == "agent-turn-complete":
            self._record("codex", "agent-turn-complete", "idle", "")
        thread = event.get("thread-id") if isinstance(event, dict) else None
        if not isinstance(thread, str) or not thread:
            return False
        session = self.store.sessions.get(self.caller.name)
        if session is None or session.record_kind != "codex":
            return False
        ref = learned(session.record_ref, thread_id=thread)
        if locate("codex", ref) is None:
            return False  # no rollout of that thread: not the session's own
        return self.store.sessions.set_record_ref(session.name, ref, was=session.record_ref)
