"""One command on another host, through ``ssh``: the only way imessenger reaches a host.

Every call runs the host's own imessenger (``<command> remote --protocol N``), which
does the work next to its panes and its store; this side never reads a remote pane.
The call itself (the tool, its arguments, a message) travels as JSON on stdin, never on
the command line: the remote login shell, whichever it is, reads nothing of it, and a
message has no length limit. Only ``isesh attach``, whose stdin is the terminal, puts
its words on the command line, and those must be plain words (a session name).

Calls to one host share one connection (``ControlMaster=auto``, ``ControlPersist``),
whose sockets live in a private folder (:func:`control_dir`), so a call after the first
costs one round trip, not a login. ``BatchMode`` makes ssh fail, not ask, when it
would need a password; ``ConnectTimeout`` and ``ServerAlive*`` make a dead or slow
link an error within seconds, never a hang.

Errors name the host and say what to do: :class:`HostUnreachable` (ssh's exit 255:
down, refused key, unknown host key), :class:`ConnectionDropped` (it ended while the
command ran), :class:`HostTimedOut`, :class:`RemoteMissing`
(no imessenger there, exit 127) and :class:`RemoteIncompatible` (another protocol).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imessenger import __version__
from imessenger.adapters.paths import make_private_dir
from imessenger.core.envelope import neutralise
from imessenger.core.errors import ImessengerError
from imessenger.core.targets import Host

#: The exit status of ``imessenger remote`` when the caller speaks another protocol (as
#: imessenger.core.wire has it).
EXIT_INCOMPATIBLE = 65
#: Seconds ssh waits for a connection, and the keep-alive that notices a dead one.
CONNECT_TIMEOUT_S = 10
_ALIVE_INTERVAL_S = 5
_ALIVE_COUNT = 3
#: How long a shared connection stays open after its last call.
PERSIST_S = 120
#: The words a command line may hold as they are (no shell reads anything into them).
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")
#: This version, as the remote side is told it (a plain word, or "?").
_VERSION = __version__ if _PLAIN.fullmatch(__version__) else "?"


class HostUnreachable(ImessengerError):
    """ssh could not reach the host, or was refused."""


class ConnectionDropped(ImessengerError):
    """The connection ended while the remote command ran: what it did there is unknown
    here, and recorded there."""


class RemoteFailed(ImessengerError):
    """The host's imessenger refused or failed; ``exit_code`` is its own."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class HostTimedOut(ImessengerError):
    """The host did not answer in time."""


class RemoteMissing(ImessengerError):
    """The host has no imessenger where the config says."""


class RemoteIncompatible(ImessengerError):
    """The host's imessenger speaks another protocol."""


@dataclass(frozen=True)
class Completed:
    """What the remote command exited with and printed."""

    code: int
    stdout: str
    stderr: str


def control_dir() -> Path:
    """The private folder of the shared connections' sockets (short: a socket path is
    limited to about 100 bytes)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path(tempfile.gettempdir())
    folder = base / f"imessenger-ssh-{os.getuid()}"
    make_private_dir(folder)
    info = folder.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or folder.is_symlink():
        raise ImessengerError(
            f"{folder} (for ssh's shared connections) is not a private folder of yours: "
            "remove it and try again"
        )
    return folder


def remote_command(host: Host, protocol: int) -> str:
    """The command line the remote shell runs: the host's command (as the user wrote it),
    then fixed words, ``protocol`` the version of the calls' format. What to do comes on
    stdin (the call), where no shell of any kind (sh, bash, zsh, fish) reads it."""
    return f"{host.command} remote --protocol {protocol} --caller-version {_VERSION}"


def tty_command(host: Host, protocol: int, tool: str, args: list[str]) -> str:
    """The command line for a call in a terminal (``isesh attach``), whose stdin is the
    terminal: its words go on the command line, so each must be a plain word."""
    for word in [tool, *args]:
        if not _PLAIN.fullmatch(word):
            raise ValueError(f"{word!r} is not a plain word")
    return f"{remote_command(host, protocol)} {' '.join([tool, *args])}"


def ssh_argv(host: Host, command: str, *, share: bool = True, tty: bool = False) -> list[str]:
    """The ssh command that runs ``command`` on ``host``."""
    options = [
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT_S}",
        "-o",
        f"ServerAliveInterval={_ALIVE_INTERVAL_S}",
        "-o",
        f"ServerAliveCountMax={_ALIVE_COUNT}",
    ]
    if share:
        options += [
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={control_dir()}/%C",
            "-o",
            f"ControlPersist={PERSIST_S}",
        ]
    options.append("-t" if tty else "-T")
    return ["ssh", *options, *host.ssh_args, "--", host.destination, command]


def call(
    host: Host,
    protocol: int,
    line: str,
    *,
    timeout: float = 60.0,
    share: bool = True,
    stop: threading.Event | None = None,
) -> Completed:
    """Give the host's imessenger the call ``line`` (protocol ``protocol``) on its stdin.

    ``stop``, set from another thread, ends the call as a dropped link would (the
    remote side settles as on Ctrl-C: see imessenger.app.remote). Raises
    HostUnreachable, HostTimedOut, RemoteMissing, RemoteIncompatible, ConnectionDropped;
    any other exit status is the remote side's own, returned with what it printed.
    """
    # bytes, decoded here: a pipe of text would read a "\r" the command printed as "\n"
    try:
        process = subprocess.Popen(
            ssh_argv(host, remote_command(host, protocol), share=share),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        raise _no_ssh(host) from None
    finished = threading.Event()
    if stop is not None:
        threading.Thread(target=_end_on, args=(stop, finished, process), daemon=True).start()
    try:
        data, errors = process.communicate(line.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise HostTimedOut(
            f'host "{host.name}" ({host.destination}) did not answer within {timeout:.0f} s '
            "(a slow or broken link): what it was doing there may have been done; look with "
            f"`imessenger log {host.name}:SESSION`"
        ) from None
    finally:
        finished.set()
    out, err = data.decode("utf-8", "replace"), errors.decode("utf-8", "replace")
    return _checked(host, Completed(process.returncode, out, err))


def connect(host: Host, protocol: int, *, share: bool = True) -> subprocess.Popen[str]:
    """ssh to ``host`` running its imessenger (:func:`remote_command`), its stdin, stdout
    and stderr pipes of text: the call goes on stdin.

    Raises HostUnreachable when there is no ssh here.
    """
    try:
        return subprocess.Popen(
            ssh_argv(host, remote_command(host, protocol), share=share),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise _no_ssh(host) from None


def _no_ssh(host: Host) -> HostUnreachable:
    return HostUnreachable(
        f'cannot reach host "{host.name}": there is no ssh command here (install OpenSSH\'s client)'
    )


def _end_on(
    stop: threading.Event, finished: threading.Event, process: subprocess.Popen[Any]
) -> None:
    while not finished.is_set():
        if stop.wait(0.1):
            if not finished.is_set():
                process.terminate()
            return


#: What ssh says when it could not connect at all (nothing ran on the host).
_NOT_CONNECTED = (
    "connect to host",
    "could not resolve",
    "permission denied",
    "host key verification failed",
    "connection refused",
    "connection timed out",
    "no route to host",
    "network is unreachable",
)


def _checked(host: Host, done: Completed) -> Completed:
    said = neutralise(done.stderr.strip().splitlines()[-1]) if done.stderr.strip() else ""
    connected = not any(words in done.stderr.lower() for words in _NOT_CONNECTED)
    if done.code < 0 or (done.code == 255 and connected and said):
        how = f"ssh ended by signal {-done.code}" if done.code < 0 else said
        raise ConnectionDropped(
            f'the connection to host "{host.name}" dropped ({how}): what the command did there '
            "is recorded there"
        )
    if done.code == 255:
        raise HostUnreachable(
            f'cannot reach host "{host.name}" ({host.destination}): {said or "ssh failed"}; '
            f"check that it is up and that `ssh {shlex.join([*host.ssh_args, host.destination])}` "
            "works without a password"
        )
    if done.code == 127:
        raise RemoteMissing(
            f'host "{host.name}" has no imessenger at `{host.command}` ({said}): install it '
            f"there (`pip install imessenger=={__version__}`), or set hosts.{host.name}.command "
            "to its path"
        )
    if done.code == EXIT_INCOMPATIBLE:
        raise RemoteIncompatible(f'host "{host.name}": {said}')
    return done


def close(host: Host) -> None:
    """Close the shared connection to ``host``, if one is open."""
    argv = ssh_argv(host, "")
    options = argv[1 : argv.index("--")]
    subprocess.run(
        ["ssh", *options, "-O", "exit", host.destination],
        capture_output=True,
        timeout=CONNECT_TIMEOUT_S,
        check=False,
    )


def attach(host: Host, protocol: int, args: list[str]) -> int:
    """Run ``isesh ARGS`` on ``host`` in this terminal (``-t``), for ``isesh attach``."""
    argv = ssh_argv(host, tty_command(host, protocol, "isesh", args), tty=True)
    return subprocess.call(argv)
