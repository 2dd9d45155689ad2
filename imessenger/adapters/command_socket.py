"""Where the watcher's command server listens, and the few bytes its clients and it exchange.

While a watcher runs for a tmux server, the commands run most (``send``, ``reply``,
``inbox``, ``approve``, ``deny``, ``hook ...``, ``deliver``) hand their work to the
command server it started (:mod:`imessenger.interfaces.cli.command_server`), which has every
module loaded already, instead of loading them again in each new process
(:mod:`imessenger.interfaces.cli.thin`).

The socket is ``srv-<key>.sock`` in the user's runtime folder: ``$XDG_RUNTIME_DIR/imessenger``,
else ``imessenger-<uid>`` in the system's temporary folder, made 0700 and refused when it
is not the user's own or is open to others (as tmux does with its own socket folder).
The key is a digest of the data folder and the tmux server's label, the two things
that tell one watcher from another. The socket itself is 0600, and the server takes a
connection only from a process of its own user (``SO_PEERCRED``).

One exchange on one connection:

1. the client sends its standard input, output and error (``SCM_RIGHTS``) with the
   first bytes of a request: a length (4 bytes, big-endian) and that many bytes of
   fields separated by NUL, which no argument, variable or path can hold, each as the
   file system encodes it (:func:`request_fields`, :func:`Request.parse`);
2. the server answers ``P`` with the pid (4 bytes) of the process that runs the
   command (the client passes Ctrl-C on to it), or ``R`` when it will not run it
   (another version of imessenger: the client runs the command itself);
3. the end: ``X`` with the command's exit status (4 bytes).

This module imports nothing heavy: the thin client loads it at every command.
"""

from __future__ import annotations

import os
import stat
import sys

from imessenger.adapters.paths import data_dir_name

#: The version of the exchange; a server refuses another one.
PROTOCOL = 1
#: The longest request a server reads (arguments and environment), in bytes.
MAX_REQUEST = 1 << 20

RUNNING = b"P"
REFUSED = b"R"
EXITED = b"X"


class UnsafeFolder(OSError):
    """The runtime folder is not the user's own, or others may open it."""


def runtime_dir() -> str:
    """The user's private folder for sockets (not created here)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base):
        return os.path.join(base, "imessenger")
    temp = os.environ.get("TMPDIR")
    if not temp or not os.path.isabs(temp):
        temp = "/tmp"
    return os.path.join(temp, f"imessenger-{os.getuid()}")


def socket_path(server: str, data_dir: str | None = None) -> str:
    """The command server's socket for tmux server ``server`` and this data folder."""
    folder = data_dir if data_dir is not None else data_dir_name()
    key = _digest(f"{os.path.abspath(folder)}\0{server}".encode("utf-8", "surrogateescape"))
    return os.path.join(runtime_dir(), f"srv-{key:016x}.sock")


def _digest(data: bytes) -> int:
    """64-bit FNV-1a: a name for the pair, not a secret (hashlib costs a client 2 ms)."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def check_private(folder: str) -> None:
    """UnsafeFolder unless ``folder`` is a real folder of this user that only it may open."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UnsafeFolder(f"{folder} is not a folder of this user")
    if info.st_mode & 0o077:
        raise UnsafeFolder(f"{folder} may be opened by other users (mode {info.st_mode:o})")


def make_runtime_dir() -> str:
    """Create the runtime folder (0700) if needed and check it; return it."""
    folder = runtime_dir()
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(folder, 0o700)  # whatever the umask
    check_private(folder)
    return folder


class Request:
    """A client's request as the server reads it."""

    def __init__(self, fields: list[str]) -> None:
        (protocol, self.version, self.package, self.cwd, *rest) = fields
        self.protocol = int(protocol)
        self.streams = [(rest[i] or None, rest[i + 1] or None) for i in range(0, 6, 2)]
        count = int(rest[6])
        self.args = rest[7 : 7 + count]
        if len(self.args) != count:
            raise ValueError("fewer arguments than announced")
        self.env = dict(item.partition("=")[::2] for item in rest[7 + count :])

    @classmethod
    def parse(cls, data: bytes) -> Request:
        """ValueError for a request that is not one."""
        return cls([os.fsdecode(field) for field in data.split(b"\0")])


def request_fields(
    version: str, package: str, cwd: str, streams: list[str], args: list[str]
) -> bytes:
    """A request for ``imessenger ARGS`` run in ``cwd`` with this process's environment."""
    fields = [str(PROTOCOL), version, package, cwd, *streams, str(len(args)), *args]
    fields += [f"{key}={value}" for key, value in os.environ.items()]
    return b"\0".join(map(os.fsencode, fields))


def package_folder(module_file: str) -> str:
    """The folder of the imessenger package a module file (of its top level) is in."""
    return os.path.dirname(os.path.realpath(module_file))


def descriptors(fds: list[int]) -> bytes:
    """File descriptors as ``SCM_RIGHTS`` carries them."""
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def number(value: int) -> bytes:
    """Four bytes, big-endian, as the exchange carries pids, statuses and lengths."""
    return value.to_bytes(4, "big", signed=True)


def read_number(data: bytes) -> int:
    return int.from_bytes(data[:4], "big", signed=True)
