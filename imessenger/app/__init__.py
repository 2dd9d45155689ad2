"""imessenger's actions: one method of :class:`Api` for each thing a user or an agent does.

Every interface calls this and nothing below it: the command lines (``cli/``), the
tmux plugin's menu, the dashboard, the tour and the MCP server (``mcp_server``). A
session on another host (``HOST:SESSION``) is the work of that host's imessenger,
reached through ``hosts`` (one ssh call). A method takes and returns plain typed
values (the dataclasses here, and the records of the modules it calls), and raises the
project's errors, each carrying its exit code (see imessenger.core.errors). It prints
nothing.

Each action applies the same checks, in this order:

1. The names it is given are in the session-name alphabet (imessenger.core.names).
2. The caller, found from the process tree (imessenger.adapters.caller), may do it under
   the policy (imessenger.app.access); a refusal is recorded and raised (exit 77).
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
to a person (``visible``, ``for_terminal``, ``json_text``: see imessenger.core.visible).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imessenger.app.agent_events import HookActions
from imessenger.app.configuring import ConfigActions
from imessenger.app.managing import SessionActions
from imessenger.app.messages import MessageActions
from imessenger.app.plugin import PluginActions
from imessenger.app.prompts import PromptActions
from imessenger.app.remote import FromHost as FromHost
from imessenger.app.remote import HostActions
from imessenger.app.remote import HostApproval as HostApproval
from imessenger.app.remote import HostSent as HostSent
from imessenger.app.values import Answered as Answered
from imessenger.app.values import Asking as Asking
from imessenger.app.values import Explained as Explained
from imessenger.app.values import Inbox as Inbox
from imessenger.app.values import Log as Log
from imessenger.app.values import OptionView as OptionView
from imessenger.app.values import Overview as Overview
from imessenger.app.values import PromptView as PromptView
from imessenger.app.values import Row as Row
from imessenger.app.values import check_name as check_name
from imessenger.app.values import describe as describe
from imessenger.app.values import first_line as first_line
from imessenger.app.values import parse_choice as parse_choice
from imessenger.app.watching import WatchActions
from imessenger.core.history import Event as Event
from imessenger.core.visible import for_terminal as for_terminal
from imessenger.core.visible import json_text as json_text
from imessenger.core.visible import visible as visible

if TYPE_CHECKING:
    from imessenger.actions.delivery import NotDelivered as NotDelivered
    from imessenger.actions.sessions import SessionView as SessionView
    from imessenger.adapters.ssh import EXIT_INCOMPATIBLE as EXIT_INCOMPATIBLE
    from imessenger.adapters.ssh import PROTOCOL as PROTOCOL
    from imessenger.adapters.ssh import ConnectionDropped as ConnectionDropped
    from imessenger.adapters.ssh import HostTimedOut as HostTimedOut
    from imessenger.adapters.status_cache import Status as Status
    from imessenger.adapters.status_cache import WatcherRunning as WatcherRunning
    from imessenger.core.screen import Explanation as Explanation
    from imessenger.core.screen import Hit as Hit
    from imessenger.core.screen import InputMiss as InputMiss
    from imessenger.core.screen import InputTrace as InputTrace
    from imessenger.core.screen import MarkerTrace as MarkerTrace
    from imessenger.core.screen import OptionTrace as OptionTrace
    from imessenger.core.screen import PatternRef as PatternRef
    from imessenger.core.screen import PromptMiss as PromptMiss
    from imessenger.core.screen import PromptTrace as PromptTrace
    from imessenger.core.screen import Rule as Rule
    from imessenger.core.screen import ScreenLine as ScreenLine
    from imessenger.core.screen import Subject as Subject
    from imessenger.core.targets import Host as Host
    from imessenger.core.targets import split_target as split_target
    from imessenger.core.values import Approval as Approval
    from imessenger.core.values import Choice as Choice
    from imessenger.core.values import HookEventRecord as HookEventRecord
    from imessenger.core.values import InboxEntry as InboxEntry
    from imessenger.core.values import MessageRecord as MessageRecord
    from imessenger.core.values import MessageState as MessageState
    from imessenger.core.values import SendResult as SendResult
    from imessenger.interfaces.menu import Menu as Menu
    from imessenger.watcher.daemon import Daemon as Daemon
    from imessenger.watcher.daemon import Stopped as Stopped

#: The value types importable from here, and the module each one is defined in.
_VALUE_TYPES = {
    "Approval": "imessenger.actions.approval",
    "Choice": "imessenger.adapters.store",
    "HookEventRecord": "imessenger.adapters.store",
    "Explanation": "imessenger.core.screen",
    "Hit": "imessenger.core.screen",
    "InboxEntry": "imessenger.adapters.store",
    "InputMiss": "imessenger.core.screen",
    "InputTrace": "imessenger.core.screen",
    "MarkerTrace": "imessenger.core.screen",
    "Menu": "imessenger.interfaces.menu",
    "MessageRecord": "imessenger.adapters.store",
    "MessageState": "imessenger.adapters.store",
    "NotDelivered": "imessenger.actions.delivery",
    "OptionTrace": "imessenger.core.screen",
    "PatternRef": "imessenger.core.screen",
    "PromptMiss": "imessenger.core.screen",
    "PromptTrace": "imessenger.core.screen",
    "Rule": "imessenger.core.screen",
    "ScreenLine": "imessenger.core.screen",
    "SendResult": "imessenger.actions.delivery",
    "SessionView": "imessenger.actions.sessions",
    "Status": "imessenger.adapters.status_cache",
    "Subject": "imessenger.core.screen",
    "WatcherRunning": "imessenger.adapters.status_cache",
    "Host": "imessenger.core.targets",
    "split_target": "imessenger.core.targets",
    "ConnectionDropped": "imessenger.adapters.ssh",
    "HostTimedOut": "imessenger.adapters.ssh",
    "EXIT_INCOMPATIBLE": "imessenger.adapters.ssh",
    "PROTOCOL": "imessenger.adapters.ssh",
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
