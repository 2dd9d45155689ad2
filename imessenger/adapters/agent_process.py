"""The agent's own process in a pane: its command line and the environment it runs with.

isesh starts a session's program with an environment and a command line it knows, but
the program may change both before the agent runs: a wrapper script, ``env -i``,
``env HOME=/elsewhere``, ``CLAUDE_CONFIG_DIR=... claude``. Where the agent writes its
record, and whether it can start imessenger's MCP server, follow from what the agent
process itself got, which Linux shows in ``/proc/PID/cmdline`` and ``/proc/PID/environ``
(readable by the same user).

:func:`find` looks at the pane's process and its descendants for the one whose command
line holds a marker isesh put there (the session id it pinned, its notify program),
the deepest such: that is the agent, however it was wrapped (``exec`` keeps the pid;
``env`` and a shell start it as a child, and a shell's ``-c`` text holds the marker
too). Nothing here raises when /proc is missing or a
process ends meanwhile: it answers None.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from dataclasses import dataclass

from imessenger.adapters.procfs import environment_of

#: How many processes below the pane are looked at, at most (a wrapper or two, the
#: agent, and what it started).
_MAX_LOOKED_AT = 256


@dataclass(frozen=True)
class AgentProcess:
    """The agent's process: its pid, its command line and the environment it started with."""

    pid: int
    argv: tuple[str, ...]
    environment: dict[str, str]


def find(pane_pid: int | None, marker: str) -> AgentProcess | None:
    """The process deepest under the pane's (``pane_pid`` itself included) whose command
    line holds ``marker`` in one of its arguments (the first such at its depth); None
    when there is none (or no /proc)."""
    if not pane_pid or not marker:
        return None
    children = _children()
    queue = deque([(pane_pid, 0)])
    looked = 0
    found: tuple[int, AgentProcess] | None = None
    while queue and looked < _MAX_LOOKED_AT:
        pid, depth = queue.popleft()
        looked += 1
        argv = _argv(pid)
        if argv is not None and any(marker in arg for arg in argv):
            environment = environment_of(pid)
            if environment is not None and (found is None or depth > found[0]):
                found = (depth, AgentProcess(pid, argv, environment))
        queue.extend((child, depth + 1) for child in children.get(pid, ()))
    return found[1] if found is not None else None


def _argv(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            data = cmdline.read()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in data.split(b"\0") if part)


def _children() -> dict[int, list[int]]:
    """Every process's children, by parent pid (one pass over /proc)."""
    found: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            found.setdefault(parent, []).append(int(entry))
    return found
