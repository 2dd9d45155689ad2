"""What an agent session may do: the policy, pure (no tmux, no database).

The user (a process in no agent session) may do everything. An agent session may,
by default:

* list sessions and send them messages (with the envelope that names it);
* reply to the messages sent to it, and to no others;
* read and clear its own inbox, and see its own messages in the log.

It may not, unless the user's config grants it in ``[policy]`` (each key a list of
session names or globs, ``fnmatch`` style):

* ``approvers``: answer permission prompts (``approve``, ``deny``), of other sessions;
* ``readers``: read another session's inbox, the prompts sessions wait on, and the
  bodies of messages it neither sent nor received;
* ``managers``: start and stop sessions, read their screens (``isesh logs``), attach,
  and start or stop the watcher;
* ``raw_senders``: paste raw text (``send --raw``), which reaches an agent without
  the envelope that says who sent it.

Two things no grant allows: a session answering its own prompt, and an agent
changing the configuration (the file that holds this policy).

>>> policy = Policy(approvers=("coord*",))
>>> policy.decide("coordinator", Action.APPROVE, "worker-1") is None
True
>>> policy.decide("worker-1", Action.APPROVE, "worker-2").key
'approvers'
>>> policy.decide("coordinator", Action.APPROVE, "coordinator").key
'self'
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from imessenger.core.errors import ConfigError


class Action(StrEnum):
    """What a caller asks to do that the policy restricts."""

    APPROVE = "approve"  # answer another session's permission prompt
    READ = "read"  # read another's inbox, prompts or message bodies
    MANAGE = "manage"  # start, stop, attach to or read the screen of sessions; run the watcher
    SEND_RAW = "send-raw"  # paste text without the envelope
    REPLY = "reply"  # answer a message (only the session it was sent to)
    CONFIGURE = "configure"  # change the configuration


#: The ``[policy]`` key that grants each action, and what it grants in words.
GRANTS: dict[Action, tuple[str, str]] = {
    Action.APPROVE: ("approvers", "answer permission prompts"),
    Action.READ: ("readers", "read other sessions' inboxes, prompts and messages"),
    Action.MANAGE: ("managers", "start, stop, attach to or read the screen of sessions"),
    Action.SEND_RAW: ("raw_senders", "paste raw text without the envelope"),
}


@dataclass(frozen=True)
class Refusal:
    """Why the policy refuses: the rule (``key``) and a sentence for the user."""

    key: str
    why: str


@dataclass(frozen=True)
class Policy:
    """The grants of the user's ``[policy]`` table: session names or globs per action."""

    approvers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    raw_senders: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str = "[policy]") -> Policy:
        """Build the policy from the config's ``policy`` table; ConfigError on a bad entry."""
        lists: dict[str, tuple[str, ...]] = {}
        for key, _ in GRANTS.values():
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(
                    f"{where}: policy.{key} must be a list of session names or globs, got {value!r}"
                )
            lists[key] = tuple(value)
        return cls(**lists)

    def granted(self, key: str) -> tuple[str, ...]:
        """The names and globs a ``[policy]`` key lists."""
        grants: tuple[str, ...] = getattr(self, key)
        return grants

    def decide(self, agent: str, action: Action, subject: str = "") -> Refusal | None:
        """Return why agent session ``agent`` may not do ``action`` to ``subject``, or None.

        ``subject`` is the session acted on (the prompt's session, the inbox's owner,
        the message's target); callers that are the user are never asked about.
        """
        if action is Action.CONFIGURE:
            return Refusal("user-only", "only the user changes the configuration")
        if action is Action.REPLY:
            if subject == agent:
                return None
            return Refusal(
                "reply-to-own",
                f'a session replies only to messages sent to it; this one was sent to "{subject}"',
            )
        if action is Action.APPROVE and subject == agent:
            return Refusal("self", "no session answers its own permission prompt")
        if action is Action.READ and subject == agent:
            return None  # its own inbox and messages
        key, what = GRANTS[action]
        if any(fnmatch.fnmatchcase(agent, glob) for glob in self.granted(key)):
            return None
        return Refusal(key, f"an agent session may not {what} unless [policy] {key} lists it")
