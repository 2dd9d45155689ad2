"""What the agents' own hooks report, through ``imessenger hook ...``.

A hook runs inside the agent's session, so the caller is that session (found from the
process tree, see imessenger.caller); it can only speak of itself.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence

from imessenger.api.services import Services
from imessenger.errors import UsageError

logger = logging.getLogger(__name__)


class HookActions(Services):
    """What ``imessenger hook`` records."""

    def codex_turn_ended(self, payload: str, chained: Sequence[str] = ()) -> bool:
        """Codex's ``notify`` program, at the end of a turn: learn the session's thread id,
        which names its rollout file (the record its replies are read from).

        The first thread whose rollout exists is the session's (a title side thread
        has none); return whether it was learned now. ``chained`` is the user's own
        notify program, run after with the same payload, as Codex would have.
        """
        from imessenger.records.pinning import learned, locate

        try:
            event = json.loads(payload)
        except ValueError as error:
            raise UsageError(f"the notify payload is not JSON: {error}") from None
        if chained:
            try:
                subprocess.Popen([*chained, payload], stdin=subprocess.DEVNULL)
            except OSError as error:
                logger.warning("could not run the chained notify program: %s", error)
        thread = event.get("thread-id") if isinstance(event, dict) else None
        if not self.caller.agent or not isinstance(thread, str) or not thread:
            return False
        session = self.store.get_session(self.tmux.label, self.caller.name)
        if session is None or session.record_kind != "codex":
            return False
        ref = learned(session.record_ref, thread_id=thread)
        if locate("codex", ref) is None:
            return False  # no rollout of that thread: not the session's own
        return self.store.set_record_ref(self.tmux.label, session.name, ref, was=session.record_ref)
