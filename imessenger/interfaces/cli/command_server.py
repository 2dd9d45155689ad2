"""The watcher's command server: runs the commands thin clients hand it, each in a fork.

The watcher starts it beside itself (``python -m imessenger.interfaces.cli.command_server``, see
:mod:`imessenger.watcher.handover`) once it holds its tmux server's pid file, and
it ends with the watcher. It loads every module a handed-over command needs, once,
then waits on its socket (:mod:`imessenger.adapters.command_socket`). For each client:

* it takes the connection only from a process of its own user (``SO_PEERCRED``), and
  only for the same protocol, version and folder of imessenger as its own (else the
  client runs the command itself);
* it forks; the child takes the client's standard input, output and error, its
  environment and its working folder, identifies the caller from the client's process
  (:func:`imessenger.adapters.caller.act_for`), runs the command line exactly as the
  ``imessenger`` command does, and writes its exit status to the client;
* a client that goes away before its command ended (killed) has the command's process
  killed too, as if it had been that process; a command ended by a signal is reported
  to the client as the shell would (128 + the signal);
* when a command ended, it tells the watcher (a byte on a pipe), which looks at the
  store at once: a hook's event or a pending message is acted on without waiting for
  the watcher's next look.

The server itself runs one thread, so that forking it is safe, and does no work of
its own beyond accepting, forking and reaping.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import selectors
import signal
import socket
import struct
import sys
from dataclasses import dataclass, field

from imessenger.adapters import command_socket as wire
from imessenger.core.visible import for_terminal

logger = logging.getLogger(__name__)

#: Modules a handed-over command may load, loaded once before serving.
_PRELOAD = (
    "imessenger.interfaces.cli.main",
    "imessenger.interfaces.cli.entry",
    "imessenger.app.here",
    "imessenger.app.remote",
    "imessenger.actions.delivery",
    "imessenger.actions.replies",
    "imessenger.actions.approval",
    "imessenger.actions.sessions",
    "imessenger.adapters.store",
    "imessenger.adapters.caller",
    "imessenger.adapters.config_files",
    "imessenger.adapters.records",
    "imessenger.adapters.tmux",
    "sqlite3",
)


@dataclass
class _Client:
    connection: socket.socket
    data: bytes = b""
    fds: list[int] = field(default_factory=list)
    pid: int | None = None  # the child that runs its command
    what: str = ""  # the command, for the log: its first words, never a message's text


def preload() -> None:
    """Load what the commands need, so that each fork starts with it."""
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    from imessenger.adapters.tmux.runner import load_libtmux

    load_libtmux()
    # The shipped profiles' patterns, compiled once: each fork finds them in re's cache.
    from imessenger.adapters.config_files import keep_defaults, load_config
    from imessenger.core.profiles import load_profiles

    with contextlib.suppress(Exception):  # a config that does not load is the command's news
        keep_defaults()
        load_profiles(load_config())


class Server:
    """Accepts clients on ``path`` until the watcher's end of ``life`` closes."""

    def __init__(self, path: str, life: int, nudge: int | None) -> None:
        self.path = path
        self.life = life
        self.nudge = nudge
        self.clients: dict[int, _Client] = {}  # by the connection's fd
        self.children: dict[int, _Client] = {}  # by the child's pid
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.wake_read, self.wake_write = os.pipe()

    def serve(self) -> None:
        wire.make_runtime_dir()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a server that crashed left it; the pid file is ours
        old_umask = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the life pipe ends it
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.life, selectors.EVENT_READ, "life")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        logger.info("command server listening on %s", self.path)
        try:
            while self._round():
                pass
        finally:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == os.fstat(self.listener.fileno()).st_ino:
                    os.unlink(self.path)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.listener.close()
            # Commands still running are left to finish: each holds its client's
            # connection and says how it ended itself (a watcher stopped while a send
            # waits for its reply does not end the send).
            self._reap()

    def _round(self) -> bool:
        for key, _ in self.selector.select():
            if key.data == "life":
                return False
            if key.data == "accept":
                self._accept()
            elif key.data == "wake":
                with contextlib.suppress(BlockingIOError):
                    while os.read(self.wake_read, 512):
                        pass
            else:
                self._readable(key.data)
        self._reap()
        return True

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as error:
                logger.warning("command server: cannot accept a client: %s", error)
                return
            if _peer_uid(connection) != os.getuid():
                connection.close()
                continue
            client = _Client(connection)
            self.clients[connection.fileno()] = client
            self.selector.register(connection, selectors.EVENT_READ, client)

    def _readable(self, client: _Client) -> None:
        if client.pid is not None:
            # The client went away (or wrote more, which it never does): its command
            # dies with it, as it would have had it run in the client's own process.
            # (One that ended already is only waiting to be reaped: the kill does nothing.)
            with contextlib.suppress(ProcessLookupError):
                os.kill(client.pid, signal.SIGKILL)
            self._drop(client)
            return
        try:
            data, fds, _, _ = socket.recv_fds(client.connection, 65536, 8)
        except OSError:
            self._drop(client)
            return
        client.fds.extend(fds)
        if not data:
            self._drop(client)
            return
        client.data += data
        if len(client.data) < 4:
            return
        size = wire.read_number(client.data)
        if size < 0 or size > wire.MAX_REQUEST:
            self._drop(client)
            return
        if len(client.data) < 4 + size:
            return
        self._start(client, client.data[4 : 4 + size])

    def _start(self, client: _Client, raw: bytes) -> None:
        import imessenger

        try:
            request = wire.Request.parse(raw)
            ours = (
                request.protocol == wire.PROTOCOL
                and request.version == imessenger.__version__
                and request.package == wire.package_folder(imessenger.__file__)
                and len(client.fds) == 3
            )
        except ValueError:
            ours = False
        if not ours:
            with contextlib.suppress(OSError):
                client.connection.sendall(wire.REFUSED)
            self._drop(client)
            return
        peer = _peer_pid(client.connection)
        client.what = f"{_command_words(request.args)} for pid {peer}"
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _run_in_child(client, request, peer, self)
        for fd in client.fds:
            os.close(fd)
        client.fds.clear()
        client.pid = pid
        self.children[pid] = client
        try:
            client.connection.sendall(wire.RUNNING + wire.number(pid))
        except OSError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            client = self.children.pop(pid, None)
            if client is None:
                continue
            logger.debug("ran %s: %s", client.what, _ending(status))
            if os.WIFSIGNALED(status) and client.connection.fileno() >= 0:
                # the child had no chance to say: tell the client as a shell would
                with contextlib.suppress(OSError):
                    code = 128 + os.WTERMSIG(status)
                    client.connection.sendall(wire.EXITED + wire.number(code))
            self._drop(client)
            if self.nudge is not None:
                with contextlib.suppress(OSError):
                    os.write(self.nudge, b".")

    def _drop(self, client: _Client) -> None:
        for fd in client.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        client.fds.clear()
        # a child stays in self.children until it is reaped (logged, the watcher nudged)
        fileno = client.connection.fileno()
        if fileno >= 0:
            self.clients.pop(fileno, None)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(client.connection)
        client.connection.close()


def _command_words(args: list[str]) -> str:
    """The command's first two words (``hook event``, ``send w1``), nothing after them, with
    their control characters shown as stand-ins: the log may go to a person's terminal."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-") or len(words) == 2:
            break
        words.append(arg)
    return for_terminal(" ".join(words)).replace("\n", "\\n").replace("\t", "\\t") or "?"


def _ending(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def _peer_credentials(connection: socket.socket) -> tuple[int, int, int]:
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def _peer_uid(connection: socket.socket) -> int:
    try:
        return _peer_credentials(connection)[1]
    except OSError:
        return -1


def _peer_pid(connection: socket.socket) -> int:
    return _peer_credentials(connection)[0]


# --- in the child ----------------------------------------------------------------------------


def _run_in_child(client: _Client, request: wire.Request, peer: int, server: Server) -> None:
    """Become the client's command: run it and write its exit status; never return."""
    code = 1
    try:
        _leave_server(server, client)
        _take_streams(client.fds, request.streams)
        os.environ.clear()
        os.environ.update(request.env)
        os.chdir(request.cwd)
        code = _run_command(request.args, peer)
    except BaseException as error:  # the client must hear of any end
        with contextlib.suppress(Exception):
            print(f"Error: the command server could not run the command: {error}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            client.connection.sendall(wire.EXITED + wire.number(code))
        os._exit(code)


def _leave_server(server: Server, client: _Client) -> None:
    """Drop what belongs to the server: its signals, sockets and other clients."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python itself starts
    server.selector.close()
    server.listener.close()
    for other in list(server.clients.values()):
        if other is not client:
            other.connection.close()
    for fd in (server.life, server.wake_read, server.wake_write, server.nudge):
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    logging.getLogger().handlers.clear()
    logging.getLogger("imessenger").handlers.clear()
    logging.getLogger("imessenger").setLevel(logging.NOTSET)


def _take_streams(fds: list[int], streams: list[tuple[str | None, str | None]]) -> None:
    """Make the client's standard input, output and error this process's own, with the
    encodings Python chose for them in the client."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    made = []
    for fd, (encoding, errors) in enumerate(streams):
        raw = open(fd, "rb" if fd == 0 else "wb", buffering=0 if fd == 2 else -1, closefd=False)  # noqa: SIM115
        made.append(
            io.TextIOWrapper(
                raw,
                encoding=encoding or "utf-8",
                errors=errors or ("backslashreplace" if fd == 2 else "strict"),
                line_buffering=fd != 0 and os.isatty(fd),
                write_through=fd == 2,
            )
        )
    sys.stdin, sys.stdout, sys.stderr = made


def _run_command(args: list[str], peer: int) -> int:
    """Run ``imessenger ARGS`` as the client's process would; its exit status."""
    from imessenger.adapters.caller import act_for
    from imessenger.interfaces.cli.entry import run

    act_for(peer)
    sys.argv = ["imessenger", *args]
    try:
        run(args)
    except SystemExit as done:
        if done.code is None:
            return 0
        if isinstance(done.code, int):
            return done.code
        print(done.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return 0


def main() -> None:
    """``python -m imessenger.interfaces.cli.command_server [-v] SOCKET LIFE_FD [NUDGE_FD]``
    (``-v``: log each command it runs)."""
    args = sys.argv[1:]
    verbose = args[:1] == ["-v"]
    if verbose:
        args = args[1:]
    path, life = args[0], int(args[1])
    nudge = int(args[2]) if len(args) > 2 else None
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    preload()
    Server(path, life, nudge).serve()


if __name__ == "__main__":
    main()
