"""imessenger's actions: one method of :class:`Api` for each thing a user or an agent does.

Every interface calls this and nothing below it: the command lines (``cli/``), the
tmux plugin's menu, the dashboard, the tour and the MCP server (``mcp_server``). A
session on another host (``HOST:SESSION``) is the work of that host's imessenger,
reached through ``hosts`` (one ssh call). A method takes and returns plain typed
values (the dataclasses here, and the records of the modules it calls), and raises the
project's errors, each carrying its exit code (see imessenger.errors). It prints
nothing.

Each action applies the same checks, in this order:

1. The names it is given are in the session-name alphabet (imessenger.names).
2. The caller, found from the process tree (imessenger.caller), may do it under
   the policy (imessenger.access); a refusal is recorded and raised (exit 77).
3. Then the work is done by the module that owns it: sessions (start, look,
   stop), delivery (send, reply, deliver), approval (answer a prompt), the
   watcher's daemon (watch) and status (the status line).

The methods are grouped by concern, a module each: ``sessions``, ``messages``,
``prompts``, ``watching``, ``plugin``, ``configuring``, ``hooks`` and ``hosts``, all
on one ``services`` base whose services (tmux, the caller, the configuration, the store, the policy)
are made on first use, so that a command pays only for what it touches. The
dataclasses they return are in ``values``. The value types the interfaces need
(``MessageState``, ``Choice``, ``SessionView`` ...) can be imported from here;
their modules load when first used. So can the functions that show an agent's text
to a person (``visible``, ``for_terminal``, ``json_text``: see imessenger.visible).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imessenger.api.configuring import ConfigActions
from imessenger.api.hooks import HookActions
from imessenger.api.hosts import FromHost as FromHost
from imessenger.api.hosts import HostActions
from imessenger.api.hosts import HostApproval as HostApproval
from imessenger.api.hosts import HostSent as HostSent
from imessenger.api.messages import MessageActions
from imessenger.api.plugin import PluginActions
from imessenger.api.prompts import PromptActions
from imessenger.api.sessions import SessionActions
from imessenger.api.values import Answered as Answered
from imessenger.api.values import Asking as Asking
from imessenger.api.values import Explained as Explained
from imessenger.api.values import Inbox as Inbox
from imessenger.api.values import Log as Log
from imessenger.api.values import OptionView as OptionView
from imessenger.api.values import Overview as Overview
from imessenger.api.values import PromptView as PromptView
from imessenger.api.values import Row as Row
from imessenger.api.values import check_name as check_name
from imessenger.api.values import describe as describe
from imessenger.api.values import first_line as first_line
from imessenger.api.values import parse_choice as parse_choice
from imessenger.api.watching import WatchActions
from imessenger.history import Event as Event
from imessenger.visible import for_terminal as for_terminal
from imessenger.visible import json_text as json_text
from imessenger.visible import visible as visible

if TYPE_CHECKING:
    from imessenger.approval import Approval as Approval
    from imessenger.delivery import NotDelivered as NotDelivered
    from imessenger.delivery import SendResult as SendResult
    from imessenger.hosts import Host as Host
    from imessenger.hosts import split_target as split_target
    from imessenger.menu import Menu as Menu
    from imessenger.screen import Explanation as Explanation
    from imessenger.screen import Hit as Hit
    from imessenger.screen import InputMiss as InputMiss
    from imessenger.screen import InputTrace as InputTrace
    from imessenger.screen import MarkerTrace as MarkerTrace
    from imessenger.screen import OptionTrace as OptionTrace
    from imessenger.screen import PatternRef as PatternRef
    from imessenger.screen import PromptMiss as PromptMiss
    from imessenger.screen import PromptTrace as PromptTrace
    from imessenger.screen import Rule as Rule
    from imessenger.screen import ScreenLine as ScreenLine
    from imessenger.screen import Subject as Subject
    from imessenger.sessions import SessionView as SessionView
    from imessenger.ssh import EXIT_INCOMPATIBLE as EXIT_INCOMPATIBLE
    from imessenger.ssh import PROTOCOL as PROTOCOL
    from imessenger.ssh import ConnectionDropped as ConnectionDropped
    from imessenger.ssh import HostTimedOut as HostTimedOut
    from imessenger.status import Status as Status
    from imessenger.status import WatcherRunning as WatcherRunning
    from imessenger.store import Choice as Choice
    from imessenger.store import HookEventRecord as HookEventRecord
    from imessenger.store import InboxEntry as InboxEntry
    from imessenger.store import MessageRecord as MessageRecord
    from imessenger.store import MessageState as MessageState
    from imessenger.watcher.daemon import Daemon as Daemon
    from imessenger.watcher.daemon import Stopped as Stopped

#: The value types importable from here, and the module each one is defined in.
_VALUE_TYPES = {
    "Approval": "imessenger.approval",
    "Choice": "imessenger.store",
    "HookEventRecord": "imessenger.store",
    "Explanation": "imessenger.screen",
    "Hit": "imessenger.screen",
    "InboxEntry": "imessenger.store",
    "InputMiss": "imessenger.screen",
    "InputTrace": "imessenger.screen",
    "MarkerTrace": "imessenger.screen",
    "Menu": "imessenger.menu",
    "MessageRecord": "imessenger.store",
    "MessageState": "imessenger.store",
    "NotDelivered": "imessenger.delivery",
    "OptionTrace": "imessenger.screen",
    "PatternRef": "imessenger.screen",
    "PromptMiss": "imessenger.screen",
    "PromptTrace": "imessenger.screen",
    "Rule": "imessenger.screen",
    "ScreenLine": "imessenger.screen",
    "SendResult": "imessenger.delivery",
    "SessionView": "imessenger.sessions",
    "Status": "imessenger.status",
    "Subject": "imessenger.screen",
    "WatcherRunning": "imessenger.status",
    "Host": "imessenger.hosts",
    "split_target": "imessenger.hosts",
    "ConnectionDropped": "imessenger.ssh",
    "HostTimedOut": "imessenger.ssh",
    "EXIT_INCOMPATIBLE": "imessenger.ssh",
    "PROTOCOL": "imessenger.ssh",
}


def __getattr__(name: str) -> Any:
    """Load a value type's module when the type is first asked for (PEP 562)."""
    module = _VALUE_TYPES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


class Api(
    SessionActions,
    MessageActions,
    PromptActions,
    WatchActions,
    PluginActions,
    ConfigActions,
    HookActions,
    HostActions,
):
    """The actions on the sessions of one tmux server, for the caller of this process.

    ``Api(socket_name)`` finds everything from the environment, as a command does;
    :meth:`over` builds one on services already made (the tour, tests).
    """
