"""What Linux's /proc says about processes: ancestors, terminals, start times, sockets.

Read-only and cheap (a few small files); every function answers "don't know" (None,
0, False, []) rather than raise when /proc is missing or a process is gone.
"""

from __future__ import annotations

import contextlib
import os

#: How far up the process tree to look (a pane's program is rarely more than a few up).
_MAX_DEPTH = 64


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def ancestors(pid: int | None = None) -> list[int]:
    """Return ``pid`` (default: this process) and its ancestors, nearest first."""
    chain: list[int] = []
    current = os.getpid() if pid is None else pid
    while current > 1 and current not in chain and len(chain) < _MAX_DEPTH:
        chain.append(current)
        fields = _stat_fields(current)
        if fields is None or len(fields) < 2 or not fields[1].isdigit():
            break
        current = int(fields[1])
    return chain


def controlling_tty(pid: int | None = None) -> int:
    """Return the device number of the process's controlling terminal (0: none)."""
    fields = _stat_fields(os.getpid() if pid is None else pid)
    if fields is None or len(fields) < 5 or not fields[4].lstrip("-").isdigit():
        return 0
    return int(fields[4])


def is_tmux_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as comm:
            return comm.read().strip().startswith("tmux")
    except OSError:
        return False


def tty_device(path: str) -> int:
    try:
        return os.stat(path).st_rdev
    except OSError:
        return 0


def socket_of(server_pid: int) -> str | None:
    """The path of the listening socket of the tmux server ``server_pid``, from /proc."""
    inodes: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{server_pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{server_pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("/"):
                    return fields[7]
    except OSError:
        return None
    return None


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (None: no such process).

    With the pid, it names one process for good: a pid reused later has another
    start time.
    """
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])


def age_of(pid: int) -> float | None:
    """How long ago the process started, in seconds (to a clock tick; None: unknown)."""
    started = start_time(pid)
    try:
        with open("/proc/uptime", encoding="ascii") as file:
            uptime = float(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if started is None:
        return None
    return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))


def environment_of(pid: int) -> dict[str, str] | None:
    """The environment process ``pid`` started with (None: gone, or not readable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            data = environ.read()
    except OSError:
        return None
    found = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            found[key.decode(errors="replace")] = value.decode(errors="replace")
    return found


def left_behind(session: str, server_pid: int) -> list[int]:
    """The processes still running that tmux server ``server_pid`` started in the session
    named ``session`` (isesh gives each ``IMESSENGER_SESSION``; tmux gives each ``TMUX``,
    which names its server's pid): an agent that outlived its pane and its server."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        environment = environment_of(int(entry))
        if environment is None or environment.get("IMESSENGER_SESSION") != session:
            continue
        parts = environment.get("TMUX", "").split(",")
        if len(parts) >= 2 and parts[1] == str(server_pid):
            found.append(int(entry))
    return found


def group_runs(pgid: int) -> bool | None:
    """Whether a process of process group ``pgid`` still runs: one that ended and waits
    to be reaped (a zombie) does not. None when /proc cannot tell."""
    if not os.path.isdir("/proc"):
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        if fields[2] == str(pgid):
            return True
    return False


def is_alive(pid: int | None, started: int | None) -> bool:
    """True while the process ``pid`` that started at ``started`` runs (not a zombie)."""
    if not pid or pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is None or not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or start_time(pid) == started
