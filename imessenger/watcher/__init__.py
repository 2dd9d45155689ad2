"""The watcher: follows every session isesh started and acts when one changes.

Its parts, each in a module of its own (read their docstrings for the rules):

* ``loop``: :class:`Watcher`, the event loop; it waits for the next event or deadline
  and hands each change to the part below that acts on it;
* ``following``: the sessions followed, through one tmux control client each: attach,
  detach, read and classify a screen, dead panes, rescans;
* ``store_view``: what it knows from the store: records, pending and unanswered
  messages, unread counts;
* ``jobs``: deliveries and the collection of late replies, on worker threads;
* ``notices``: prompt and end notices, each given once, and how they are written;
  ``memory``: what was notified, kept across restarts; ``notify``: the notify command;
  ``display``: messages and status-line redraws on the person's tmux clients;
* ``publishing``: the status cache for ``imessenger status`` and the dashboard;
* ``retry``: how work that failed for a reason outside the watcher is tried again;
* ``daemon``: the watcher's life as a process: run under its pid file, start in the
  background with its log, stop; a watcher that cannot start exits with status 1.

The names below load their module when first asked for, so that importing
``imessenger.watcher.daemon`` (``watch --daemon``, ``watch --stop``) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imessenger.watcher.loop import Watcher as Watcher
    from imessenger.watcher.memory import Memory as Memory
    from imessenger.watcher.memory import Remembered as Remembered
    from imessenger.watcher.memory import memory_path as memory_path
    from imessenger.watcher.notices import USER as USER
    from imessenger.watcher.retry import Retry as Retry

#: The names importable from here, and the module each one is defined in.
_EXPORTS = {
    "Watcher": "imessenger.watcher.loop",
    "Memory": "imessenger.watcher.memory",
    "Remembered": "imessenger.watcher.memory",
    "memory_path": "imessenger.watcher.memory",
    "USER": "imessenger.watcher.notices",
    "Retry": "imessenger.watcher.retry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a name's module when the name is first asked for (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
