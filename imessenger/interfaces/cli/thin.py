"""The thin client: hand a command to the watcher's command server when one runs.

``imessenger send``, ``reply``, ``inbox``, ``approve``, ``deny``, ``hook ...`` and
``deliver`` are what people, agents and agents' hooks run most. Loading imessenger's
modules costs several times what starting Python does; the watcher's command server
(:mod:`imessenger.interfaces.cli.command_server`) has them loaded already. So this
client, which loads next to nothing, passes the command's arguments, environment,
working folder and its standard input, output and error to that server, which runs
the command in a process of its own (a fork of itself) writing to this process's
terminal or pipes directly; the client passes Ctrl-C (and SIGTERM, SIGHUP) on to that
process and ends with its exit status. The caller is still identified from its own
process (the server asks the kernel for the client's pid, and the command reads the
client's ancestry from /proc): handing a command over changes nothing about who may
do what.

When no server runs, or it will not take the command (another version of
imessenger), or anything about the exchange fails before the command started, the
command runs in this process as it always has: :func:`hand_over` returns None.
A command the server started is never run a second time here: once the server said it
runs it, its end is waited for, and a server that went away before saying how the
command ended is reported as such (exit status ``LOST``).

Agents' hooks run this file as a script, ``python -I -S .../thin.py hook event KIND``
(:func:`imessenger.core.agent_setup.hook_command`): without the site packages Python
starts in a third of the time. It then finds its own package beside itself, and when
no server takes the command it runs ``python -m imessenger`` in its place, with the
same standard input, not read yet.

Only built-in modules are loaded here (``_socket`` and ``_signal``, not ``socket`` and
``signal``, which load ``enum``): each one counts at every hook an agent runs.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's own core: no stubs
import _socket
import os
import sys

if __name__ == "__main__":  # run as a file (an agent's hook): find the package beside it
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))

from imessenger import __version__
from imessenger.adapters import command_socket as wire

#: The commands a server runs for a client.
HANDED_OVER = frozenset({"send", "reply", "inbox", "approve", "deny", "hook", "deliver"})
#: Set (to anything) to run every command in its own process.
NO_HANDOVER = "IMESSENGER_NO_SERVER"
#: The exit status when the server ended before it said how the command ended.
LOST = 4
_FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)


def server_label(args: list[str]) -> tuple[str, list[str]] | None:
    """The tmux server's label the arguments name (``-L``, else the environment) and the
    rest of them; None when they start with another option than ``-L``."""
    socket_name = None
    if args[:1] in (["-L"], ["--socket-name"]) and len(args) >= 2:
        socket_name, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("--socket-name="):
        socket_name, args = args[0].partition("=")[2], args[1:]
    elif args[:1] and args[0].startswith("-L") and len(args[0]) > 2:
        socket_name, args = args[0][2:], args[1:]
    if args[:1] and args[0].startswith("-"):
        return None
    return socket_name or os.environ.get("IMESSENGER_TMUX_SOCKET") or "default", args


def hand_over(args: list[str]) -> int | None:
    """Run ``imessenger ARGS`` in the command server; its exit status, or None to run it here."""
    if os.environ.get(NO_HANDOVER):
        return None
    found = server_label(args)
    if found is None:
        return None
    server, rest = found
    if not rest or rest[0] not in HANDED_OVER or "--help" in rest:
        return None
    try:
        path = wire.socket_path(server)
        cwd = os.getcwd()
    except (OSError, ValueError):
        return None
    connection = _connect(path)
    if connection is None:
        return None
    try:
        pid = _ask(connection, args, cwd)
        if pid is None:
            return None
        return _wait(connection, pid)
    finally:
        connection.close()


def _connect(path: str) -> _socket.socket | None:
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:  # no server, or one that is gone: its file is left
        connection.close()
        return None
    return connection


def _streams() -> list[str]:
    """The encoding and error handler of each standard stream, as Python chose them here."""
    found = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        found += [getattr(stream, "encoding", None) or "", getattr(stream, "errors", None) or ""]
    return found


def _ask(connection: _socket.socket, args: list[str], cwd: str) -> int | None:
    """Send the request; the pid of the process that runs it, or None (run it here)."""
    import imessenger

    package = wire.package_folder(imessenger.__file__)
    request = wire.request_fields(__version__, package, cwd, _streams(), args)
    if sys.stdout is not None:
        sys.stdout.flush()
    try:
        head = wire.number(len(request)) + request
        rights = wire.descriptors([0, 1, 2])
        sent = connection.sendmsg([head[:4096]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        connection.sendall(head[sent:])
        answer = _read(connection, 5)
    except OSError:
        return None
    if len(answer) < 5 or answer[:1] != wire.RUNNING:
        return None
    return wire.read_number(answer[1:])


def _read(connection: _socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _wait(connection: _socket.socket, pid: int) -> int:
    """Wait for the end of the command ``pid`` runs, passing signals on; its exit status."""

    def forward(signum: int, frame: object) -> None:
        try:  # noqa: SIM105 (contextlib is one more module to load)
            os.kill(pid, signum)
        except ProcessLookupError:
            pass  # it ended meanwhile

    previous = {signum: _signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        try:
            answer = _read(connection, 5)
        except OSError:
            answer = b""
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
    if len(answer) == 5 and answer[:1] == wire.EXITED:
        return wire.read_number(answer[1:])
    sys.stderr.write(
        "Error: the watcher's command server ended before the command did; what it did is "
        "not known: see `imessenger log` and `imessenger inbox`\n"
    )
    return LOST


def leave(status: int) -> None:
    """End this process with the status of the command the server ran for it, at once.

    The command wrote to this process's output itself; this one has nothing to finish
    but its own buffers, so it ends without Python's shutdown (a few ms, at every
    command handed over: the caller waits for this process, not for the command).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can reach it
    os._exit(status)


def _main() -> None:
    """Run as a file: hand the command over, or run it with the whole of imessenger."""
    args = sys.argv[1:]
    status = hand_over(args)
    if status is not None:
        leave(status)
    python = sys.executable
    os.execv(python, [python, "-m", "imessenger", *args])


if __name__ == "__main__":
    _main()
