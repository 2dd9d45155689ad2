"""The policy applied to one caller: decide, record every refusal, raise.

:class:`Access` is what the commands ask before they act for an agent session. The
user passes every check. A refusal is written to the store (``imessenger log`` shows
it) and raised as :class:`Refused` (exit 77), with the rule and how to grant it.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from typing import NoReturn

from imessenger.adapters.caller import Caller, identify
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux
from imessenger.core.config import Config
from imessenger.core.errors import PolicyRefused, StoreError
from imessenger.core.policy import GRANTS, Action, Policy, Refusal

logger = logging.getLogger(__name__)


class Refused(PolicyRefused):
    """The policy refuses an agent session an action; the message names the rule."""

    def __init__(
        self, caller: Caller, action: Action, subject: str, refusal: Refusal, config: str
    ) -> None:
        grant = ""
        if action in GRANTS:
            key = GRANTS[action][0]
            grant = (
                f"; to allow it, add {shlex.quote(caller.name)} (or a glob) to {key} "
                f"under [policy] in {config} (the user's config; "
                "`imessenger config show policy` shows the policy in force)"
            )
        who = f'session "{caller.name}"' if caller.agent else f'"{caller.name}"'
        super().__init__(
            f"refused: {who} may not {_WORDS[action]}"
            f"{'' if action is Action.CONFIGURE else _about(subject)} "
            f"(rule {refusal.key}: {refusal.why}){grant}"
        )
        self.caller = caller
        self.action = action
        self.subject = subject
        self.refusal = refusal


#: Each action in words, to be followed by the session it is about.
_WORDS = {
    Action.APPROVE: "answer the permission prompts of",
    Action.READ: "read the inbox, prompts and messages of",
    Action.MANAGE: "start, stop, attach to or read the screen of",
    Action.SEND_RAW: "paste raw text into",
    Action.REPLY: "reply in the name of",
    Action.CONFIGURE: "change the configuration",
}


def _about(subject: str) -> str:
    return f' "{subject}"' if subject else " any session"


@dataclass
class Access:
    """What ``caller`` may do under ``policy``; refusals are recorded in ``store``."""

    caller: Caller
    policy: Policy
    store: Store
    server: str
    config_path: str = "your config file"

    @property
    def is_user(self) -> bool:
        """True for the user, who may do everything."""
        return not self.caller.agent

    def allows(self, action: Action, subject: str = "") -> bool:
        """True when the caller may do ``action`` to ``subject`` (nothing is recorded)."""
        return self.is_user or self.policy.decide(self.caller.name, action, subject) is None

    def require(self, action: Action, subject: str = "", *, always: bool = False) -> None:
        """Return when the caller may act; else record the refusal and raise Refused.

        The user passes, unless ``always``: a rule that binds everyone (only a
        message's target replies to it).
        """
        if self.is_user and not always:
            return
        refusal = self.policy.decide(self.caller.name, action, subject)
        if refusal is None:
            return
        self.refuse(action, subject, refusal)

    def refuse(self, action: Action, subject: str, refusal: Refusal) -> NoReturn:
        """Record that the caller is refused ``action`` on ``subject``, and raise Refused."""
        error = Refused(self.caller, action, subject, refusal, self.config_path)
        logger.warning("%s", error)
        try:
            self.store.add_refusal(
                actor=self.caller.name,
                server=self.server,
                action=str(action),
                subject=subject,
                rule=refusal.key,
            )
        except StoreError as store_error:
            logger.warning("could not record a refusal: %s", store_error)
        raise error


def access_for(tmux: Tmux, store: Store, config: Config, caller: Caller | None = None) -> Access:
    """The Access of ``caller`` (default: whoever runs this process) under ``config``'s policy."""
    where = str(config.user_path) if config.user_path else "your config file"
    return Access(
        caller if caller is not None else identify(tmux),
        config.settings.policy,
        store,
        tmux.label,
        where,
    )
