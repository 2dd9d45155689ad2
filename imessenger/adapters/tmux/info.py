"""What tmux reports about panes and clients, read from the lines its formats print.

Each record has its format beside it (the fields joined by tabs) and a ``parse``
that reads one line of it. A pane that reads dead without an exit status gets its
status from /proc (:func:`_unreaped_exit_status`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from imessenger.adapters.tmux.options import AGENT_OPTION, CONFIG_OPTION, HOME_OPTION

#: The fields of a :class:`PaneOwner`.
OWNER_FORMAT = "\t".join(
    [
        "#{pane_pid}",
        "#{pane_tty}",
        "#{session_id}",
        "#{session_name}",
        "#{" + AGENT_OPTION + "}",
        "#{" + HOME_OPTION + "}",
        "#{" + CONFIG_OPTION + "}",
        "#{session_created}",
        "#{pid}",
    ]
)

#: The fields of a :class:`PaneInfo`.
PANE_FORMAT = "\t".join(
    [
        "#{session_name}",
        "#{pane_id}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{pane_width}",
        "#{pane_height}",
        "#{pane_pid}",
        "#{pane_current_command}",
        "#{session_created}",
        "#{history_size}",
        "#{window_activity}",
        "#{pane_tty}",
        "#{pane_in_mode}",
        "#{session_id}",
        "#{pid}",
    ]
)

#: The fields of a :class:`ClientInfo`.
CLIENT_FORMAT = (
    "#{client_name}\t#{session_name}\t#{client_control_mode}\t#{client_activity}"
    "\t#{client_tty}\t#{pane_id}"
)


@dataclass(frozen=True)
class PaneOwner:
    """Which session a pane's program belongs to, and whether isesh started it as an agent."""

    pid: int
    tty: str
    session_id: str
    session: str
    #: the agent session's name ("" for a session isesh did not start)
    agent: str
    home: str
    config: str
    #: the label of the server ("default" or its socket name or path)
    server: str = ""
    #: when the session was created (whole seconds since the epoch)
    session_created: float = 0.0
    #: the process id of the tmux server (a server started anew has another)
    server_pid: int = 0

    @classmethod
    def parse(cls, line: str, server: str) -> PaneOwner | None:
        """Build a PaneOwner from one line printed with ``OWNER_FORMAT``; None without a pid."""
        fields = (line.split("\t") + [""] * 9)[:9]
        pid, tty, session_id, session, agent, home, config, created, server_pid = fields
        if not pid.isdigit():
            return None
        return cls(
            int(pid),
            tty,
            session_id,
            session,
            agent,
            home,
            config,
            server,
            _seconds(created),
            int(server_pid) if server_pid.isdigit() else 0,
        )


@dataclass(frozen=True)
class PaneInfo:
    """What tmux says about the active pane of a session."""

    session: str
    pane_id: str
    dead: bool
    dead_status: int | None
    width: int
    height: int
    pid: int | None
    current_command: str
    session_created: float
    history_size: int
    #: when the pane's window last printed anything (whole seconds since the epoch)
    window_activity: float
    #: the terminal device the pane's program reads its keys from
    tty: str
    #: a person is in a tmux mode in the pane (copy mode: scrolled back), where a paste
    #: would not be bracketed and each line break would submit
    in_mode: bool = False
    #: tmux's id of the session ("$3"), unique while its server runs
    session_id: str = ""
    #: the process id of the tmux server (a server started anew has another)
    server_pid: int = 0

    @classmethod
    def parse(cls, line: str) -> PaneInfo:
        """Build a PaneInfo from one line printed with ``PANE_FORMAT``."""
        fields = line.split("\t")
        (
            name,
            pane_id,
            dead,
            status,
            width,
            height,
            pid,
            command,
            created,
            history,
            active,
            tty,
            in_mode,
            session_id,
            server_pid,
        ) = (fields + [""] * 15)[:15]
        exit_status = int(status) if status.lstrip("-").isdigit() else None
        if exit_status is None and dead == "1":
            exit_status = _unreaped_exit_status(pid)
        return cls(
            session=name,
            pane_id=pane_id,
            dead=dead == "1",
            dead_status=exit_status,
            width=int(width or 0),
            height=int(height or 0),
            pid=int(pid) if pid.isdigit() else None,
            current_command=command,
            session_created=float(created or 0),
            history_size=int(history or 0),
            window_activity=float(active or 0),
            tty=tty,
            in_mode=in_mode == "1",
            session_id=session_id,
            server_pid=int(server_pid) if server_pid.isdigit() else 0,
        )


def _seconds(text: str) -> float:
    """A time tmux printed in whole seconds; 0 when it printed none."""
    return float(text) if text.isdigit() else 0.0


def _unreaped_exit_status(pid: str) -> int | None:
    """The exit status of a pane's program that tmux has not reaped, read from /proc.

    tmux 3.3a can miss the SIGCHLD of a program that exits while the server is busy:
    the pane reads dead but without a status, and the program stays a zombie, whose
    status Linux keeps (the 52nd field of /proc/PID/stat). None elsewhere.
    """
    if not pid.isdigit():
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 50 or fields[0] != "Z" or not fields[49].isdigit():
        return None
    wait_status = int(fields[49])
    return os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None


@dataclass(frozen=True)
class ClientInfo:
    """A client attached to the server (a terminal, or a control-mode client)."""

    name: str
    session: str
    control: bool
    activity: int  # when it last had input (unix seconds)
    #: its terminal device ("/dev/pts/3"; "" for a control client)
    tty: str = ""
    #: the pane it shows: the active pane of its session's current window ("%3")
    pane: str = ""

    @classmethod
    def parse(cls, line: str) -> ClientInfo:
        """Build a ClientInfo from one line printed with ``CLIENT_FORMAT``."""
        name, session, control, activity, tty, pane = [*line.split("\t"), *[""] * 6][:6]
        seen = int(activity) if activity.isdigit() else 0
        return cls(name, session, control == "1", seen, tty, pane)
