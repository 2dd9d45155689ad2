"""A remote host for the tests: a real sshd on 127.0.0.1, and a second local user behind it.

The tests of imessenger on a remote host reach it the way a user would, with the ssh
program, but the host is this machine: an sshd of the test session's own listens on
127.0.0.1 (a free port) and lets in one user, ``imsgremote``, made for the session with
its home in a fresh temporary folder and removed at the end. Nothing of ssh is mocked.

Only the key made for the session logs in (no password, no root); the client checks the
host key against a known_hosts file of the session. The user cannot run the project's own
virtualenv (its Python may live where only the developer can read), so it gets one of its
own: the system Python with this checkout installed in editable mode, built once per
version of pyproject.toml and checkout in ``.cache/remote-venv-<hash>/`` of the checkout.

Everything here needs root (useradd, runuser, an sshd that switches users) and the
openssh-server package. Where they are missing the tests skip and say what to do; with
``IMESSENGER_REQUIRE_SSHD=1`` (which .ci/run sets) they fail instead. One test run uses
the user at a time: a machine-wide file lock is held for the whole session, and whatever
a crashed earlier run left (the user, its sshd, its folders) is removed first.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

#: Set to 1 to make a missing sshd, useradd or root fail the tests instead of skip them.
REQUIRE_ENV = "IMESSENGER_REQUIRE_SSHD"

#: The checkout the tests run from.
ROOT = Path(__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")
#: The Python of the remote user's virtualenv: one every user of the machine can run.
SYSTEM_PYTHON = Path("/usr/bin/python3")
#: sshd's privilege separation folder (Debian's path); it refuses to start without it.
PRIVSEP_DIR = Path("/run/sshd")

USER = "imsgremote"
#: The user's comment field: tells the harness's user from one it must not delete.
COMMENT = "imessenger tests remote host (tests/remote_host.py)"
#: The session's folder (the user's home, the keys, sshd's files) in the temporary folder.
FOLDER_PREFIX = "imessenger-remote-host-"
#: The environment of the user's sessions, over ssh (sshd's SetEnv) and through runuser.
LANG = "C.UTF-8"
PATH = "/usr/local/bin:/usr/bin:/bin"
#: tmux puts its sockets in /tmp/tmux-UID/ when TMUX_TMPDIR is unset (as it is for the user).
TMUX_TMP = Path("/tmp")
#: How long a second test run waits for the first to let the user go.
LOCK_WAIT = 900.0


def _unavailable(reason: str) -> NoReturn:
    """Skip (or, with IMESSENGER_REQUIRE_SSHD=1, fail) because the remote host cannot run."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(
            f"{reason} ({REQUIRE_ENV}=1: the remote-host tests must run here)", pytrace=False
        )
    pytest.skip(reason)


def _text(data: bytes | None) -> str:
    """Output as text, every byte kept (no newline translation; undecodable bytes escaped)."""
    return (data or b"").decode("utf-8", "surrogateescape")


def _run(
    argv: list[str], *, input: str | None, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return what it wrote as text, byte for byte; stdin is ``input`` or
    /dev/null."""
    if input is None:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=cwd
        )
    else:
        done = subprocess.run(
            argv, input=input.encode(), capture_output=True, timeout=timeout, cwd=cwd
        )
    return subprocess.CompletedProcess(
        argv, done.returncode, _text(done.stdout), _text(done.stderr)
    )


def _checked(argv: list[str], what: str, timeout: float = 60) -> None:
    """Run a set-up command; skip (or fail) with its output when it does not succeed."""
    done = _run(argv, input=None, timeout=timeout)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()
        _unavailable(f"{what}: `{shlex.join(argv)}` failed (exit {done.returncode}): {said}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- processes, read from /proc ------------------------------------------------------------


def _pids() -> list[int]:
    return [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    """The state letter and parent of ``pid`` (None: there is no such process)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended: only its parent's wait is missing)."""
    found = _state_and_parent(pid)
    return found is not None and found[0] not in ("Z", "X")


def _uids(pid: int) -> tuple[int, int] | None:
    """The real and effective uid of ``pid``."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            real, effective = line.split()[1:3]
            return int(real), int(effective)
    return None


def _own_processes() -> set[int]:
    """This process and its ancestors: never to be signalled."""
    own = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        found = _state_and_parent(pid)
        if found is None:
            break
        pid = found[1]
        own.add(pid)
    return own


def _processes_of(uid: int) -> list[int]:
    own = _own_processes()
    found = []
    for pid in _pids():
        uids = _uids(pid)
        if pid not in own and uids is not None and uid in uids and _alive(pid):
            found.append(pid)
    return found


def _descendants(ancestor: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _pids():
        found = _state_and_parent(pid)
        if found is not None:
            children.setdefault(found[1], []).append(pid)
    result: list[int] = []
    pending = list(children.get(ancestor, []))
    while pending:
        pid = pending.pop()
        result.append(pid)
        pending.extend(children.get(pid, []))
    return result


def _is_sshd(pid: int) -> bool:
    """True for sshd and its helper programs (sshd-session, sshd-auth in newer OpenSSH)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.startswith("sshd")
    except OSError:
        return False


def _end(pids: Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM ``pids`` (and SIGCONT, for stopped ones), then SIGKILL what is left after
    ``grace`` seconds."""
    pending = {pid for pid in pids if _alive(pid)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + grace
        while pending and time.monotonic() < deadline:
            time.sleep(0.02)
            pending = {pid for pid in pending if _alive(pid)}
        if not pending:
            return
    raise RuntimeError(f"processes {sorted(pending)} outlived SIGKILL")


def _end_processes_of(uid: int) -> None:
    """End every process of ``uid``, again while new ones appear (a shell may fork)."""
    for _ in range(10):
        pids = _processes_of(uid)
        if not pids:
            return
        _end(pids)
    raise RuntimeError(f"processes of uid {uid} keep appearing: {_processes_of(uid)}")


# --- the remote user's files ----------------------------------------------------------------


def _remove(path: Path) -> None:
    """Remove a file, a link or a folder (not following links)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _temporary_folders() -> set[Path]:
    """The shared temporary folders where a user's programs leave files."""
    folders = {Path(tempfile.gettempdir()), TMUX_TMP, Path("/var/tmp"), Path("/dev/shm")}
    return {folder for folder in folders if folder.is_dir()}


def _remove_temporary_files_of(uid: int) -> None:
    """Remove what ``uid`` owns at the top of the shared temporary folders (tmux's sockets)."""
    for folder in _temporary_folders():
        for entry in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.lstat().st_uid == uid:
                    _remove(entry)


def _traversable(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter (None: all can)."""
    for folder in [*reversed(path.parents), path]:
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


# --- sshd ------------------------------------------------------------------------------------


class SshdFailed(Exception):
    """sshd did not start; ``in_use`` when its port was taken."""

    def __init__(self, message: str, *, in_use: bool) -> None:
        super().__init__(message)
        self.in_use = in_use


@dataclass
class Sshd:
    """The session's sshd: ``/usr/sbin/sshd -D -e -f CONFIG``, its log in ``log``."""

    config: Path
    pid_file: Path
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, seconds: float = 15.0) -> None:
        """Start sshd and wait until it answers on its port with an SSH banner."""
        if self.running():
            return
        self.pid_file.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": os.defpath},
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                said = _tail(self.log)
                raise SshdFailed(
                    f"sshd exited at start (port {self.port}):\n{said}",
                    in_use="Address already in use" in said,
                )
            if self.pid_file.exists() and self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise SshdFailed(f"sshd did not answer on port {self.port} in {seconds}s", in_use=False)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                return connection.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop sshd by its PID, and the processes of its open connections: no connection
        survives, as when the host goes down. The user's other processes (tmux) live on."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGSTOP)  # it accepts no connection from here on
            connections = [pid for pid in _descendants(process.pid) if _is_sshd(pid)]
            process.terminate()
            os.kill(process.pid, signal.SIGCONT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _end(connections)
        self.pid_file.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _quoted(path: Path) -> str:
    if '"' in str(path):
        raise ValueError(f"cannot name {path} in sshd_config")
    return f'"{path}"'


def _sshd_config(*, port: int, host_key: Path, pid_file: Path, keys: Path) -> str:
    lines = [
        "# The remote host of the tests (tests/remote_host.py), for one test session.",
        f"ListenAddress 127.0.0.1:{port}",
        "AddressFamily inet",
        f"HostKey {_quoted(host_key)}",
        f"PidFile {_quoted(pid_file)}",
        f"AuthorizedKeysFile {_quoted(keys)}",
        f"AllowUsers {USER}",
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes yes",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "PermitUserEnvironment no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        f"SetEnv LANG={LANG} PATH={PATH}",
        # Connection sharing (ControlMaster) multiplexes sessions on one connection, and
        # tests may open many at once.
        "MaxSessions 50",
        "MaxStartups 100",
        "Subsystem sftp internal-sftp",
    ]
    return "\n".join(lines) + "\n"


#: Settings only some versions of sshd know, each kept when this sshd accepts it.
#: OpenSSH 9.8 and later hold back addresses that fail or drop connections; the tests
#: stop sshd and drop connections on purpose, all from 127.0.0.1.
_OPTIONAL_SETTINGS = ("PerSourcePenalties no",)


# --- the remote user's virtualenv -----------------------------------------------------------


def _clean_environment() -> dict[str, str]:
    """This environment without what points Python at the project's virtualenv or data."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
        and not name.startswith("IMESSENGER_")
    }
    env["HOME"] = pwd.getpwuid(os.getuid()).pw_dir  # pip's cache, not the test's home
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _works(program: Path) -> bool:
    try:
        done = subprocess.run(
            [str(program), "--version"],
            capture_output=True,
            timeout=60,
            env=_clean_environment(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _open_to_others(folder: Path) -> None:
    """Let every user read ``folder`` and run its programs (root's umask may forbid it)."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.lstat().st_mode
        if path.is_symlink():
            continue
        wanted = mode | 0o444 | (0o111 if path.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            path.chmod(wanted & 0o7777)


def remote_venv() -> Path:
    """The virtualenv the remote user runs imessenger from, built once per pyproject.toml.

    ``.cache/remote-venv-<sha256 of pyproject.toml and the checkout's folder, 12 hex>/``:
    the system Python's venv with this checkout installed in editable mode (so it runs the
    code under test: checkouts that share one ``.cache``, as git worktrees may, each get
    their own). A file lock keeps parallel runs from building it at the same time; a marker
    file says that a build is complete. Skips (or fails, see REQUIRE_ENV) when it cannot be
    built.
    """
    if not SYSTEM_PYTHON.is_file():
        _unavailable(f"{SYSTEM_PYTHON} is missing: the remote user's virtualenv needs it")
    made_of = (ROOT / "pyproject.toml").read_bytes() + str(ROOT).encode()
    digest = hashlib.sha256(made_of).hexdigest()[:12]
    venv = ROOT / ".cache" / f"remote-venv-{digest}"
    marker = venv / ".imessenger-installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    venv.parent.chmod(venv.parent.stat().st_mode | 0o555)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if marker.is_file() and _works(venv / "bin" / "imessenger"):
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        steps = [
            [str(SYSTEM_PYTHON), "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT)],
        ]
        for command in steps:
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=900, env=_clean_environment()
                )
            except subprocess.TimeoutExpired:
                _unavailable(f"`{shlex.join(command)}` took more than 15 minutes")
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                _unavailable(f"`{shlex.join(command)}` failed (exit {done.returncode}):\n{tail}")
        if not _works(venv / "bin" / "imessenger"):
            _unavailable(f"{venv}/bin/imessenger --version fails after the install")
        _open_to_others(venv)
        marker.write_text(f"built in {time.monotonic() - started:.1f}s\n")
    return venv


# --- the remote host ------------------------------------------------------------------------


@dataclass
class RemoteHost:
    """The remote host of a test: the user ``user`` behind the session's sshd.

    ``ssh *ssh_args destination COMMAND`` runs COMMAND there, non-interactively (BatchMode).
    ``command`` and ``isesh`` are the imessenger programs the user can run (this checkout).
    """

    user: str
    uid: int
    home: Path
    destination: str
    ssh_args: list[str]
    command: str
    isesh: str
    gid: int = field(repr=False)
    authorized_keys: str = field(repr=False)
    daemon: Sshd = field(repr=False)

    @property
    def port(self) -> int:
        """The port of sshd on 127.0.0.1 (the same after stop_sshd and start_sshd)."""
        return self.daemon.port

    def ssh(
        self, *remote_argv: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``remote_argv`` on the host through ssh (quoted for the remote shell).

        stdin is ``input`` (else /dev/null); stdout and stderr come back byte for byte.
        """
        argv = ["ssh", *self.ssh_args, self.destination]
        if remote_argv:
            argv.append(shlex.join(remote_argv))
        return _run(argv, input=input, timeout=timeout)

    def as_user(
        self, *argv: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as the user on this machine, without ssh (it works with sshd down),
        in the environment an ssh session gets, from its home."""
        env = [f"HOME={self.home}", f"PATH={PATH}", f"LANG={LANG}", f"USER={self.user}"]
        env += [f"LOGNAME={self.user}", "SHELL=/bin/sh"]
        command = ["runuser", "-u", self.user, "--", "env", "-i", *env, *argv]
        return _run(command, input=input, timeout=timeout, cwd=self.home)

    def reset(self) -> None:
        """Leave the user as new: no tmux server, no process, nothing in its home but the
        harness's ``.ssh``, nothing of its in the shared temporary folders."""
        self._kill_tmux_servers()
        _end_processes_of(self.uid)
        _remove_temporary_files_of(self.uid)
        for entry in self.home.iterdir():
            if entry.name != ".ssh":
                _remove(entry)
        self._restore_ssh_folder()

    def sshd_log(self) -> str:
        """What sshd has logged this session (logins, refusals, why it would not start)."""
        try:
            return self.daemon.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def processes(self) -> list[int]:
        """The PIDs of the user's running processes (its sshd sessions among them)."""
        return _processes_of(self.uid)

    def stop_sshd(self) -> None:
        """Stop sshd and drop every connection: the host is down (its processes live on)."""
        self.daemon.stop()

    def start_sshd(self) -> None:
        """Start sshd again, on the same port: the host is back."""
        self.daemon.start()

    def _kill_tmux_servers(self) -> None:
        sockets = TMUX_TMP / f"tmux-{self.uid}"
        targets: list[list[str]] = [[], *(["-S", str(path)] for path in sorted(sockets.glob("*")))]
        for target in targets:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.as_user("tmux", *target, "kill-server", timeout=10)  # "no server": fine

    def _restore_ssh_folder(self) -> None:
        folder = self.home / ".ssh"
        folder.mkdir(exist_ok=True)
        keys = folder / "authorized_keys"
        for entry in folder.iterdir():
            if entry != keys:
                _remove(entry)
        keys.unlink(missing_ok=True)
        keys.write_text(self.authorized_keys)
        for path, mode in ((self.home, 0o700), (folder, 0o700), (keys, 0o600)):
            os.chown(path, self.uid, self.gid)
            path.chmod(mode)


def _machine_lock() -> Path:
    """The lock file of the user, machine-wide (the user is): not under $TMPDIR."""
    folder = Path("/run/lock")
    if not folder.is_dir():
        folder = Path(tempfile.gettempdir())
    return folder / "imessenger-remote-host.lock"


@contextlib.contextmanager
def _holding_machine_lock() -> Iterator[None]:
    with open(_machine_lock(), "w") as lock:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    _unavailable(f"another test run has held {lock.name} for {LOCK_WAIT:.0f}s")
                time.sleep(0.5)
        yield  # the lock goes with the file


def _delete_user() -> None:
    """Remove the user, its processes, its files and its group (when they exist)."""
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        pass
    else:
        if user.pw_gecos != COMMENT:
            _unavailable(f"a user {USER} exists that tests/remote_host.py did not make: remove it")
        _end_processes_of(user.pw_uid)
        _remove_temporary_files_of(user.pw_uid)
        _checked(["userdel", "-r", "-f", USER], f"cannot remove the user {USER}")
    try:
        grp.getgrnam(USER)
    except KeyError:
        return
    _checked(["groupdel", USER], f"cannot remove the group {USER}")


def _remove_stale_sessions() -> None:
    """Remove what crashed earlier runs left: the user, their sshd, their folders."""
    _delete_user()
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid_file = folder / "sshd" / "sshd.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if str(folder) in cmdline and _is_sshd(pid):
                _end([pid, *(child for child in _descendants(pid) if _is_sshd(child))])
        shutil.rmtree(folder, ignore_errors=True)


def _check_prerequisites() -> None:
    if not SSHD.is_file():
        _unavailable(
            f"{SSHD} is missing: install openssh-server "
            "(`apt-get install openssh-server`; no system sshd needs to run)"
        )
    for program in ("useradd", "userdel", "groupdel", "runuser", "ssh", "ssh-keygen", "tmux"):
        if shutil.which(program) is None:
            _unavailable(f"{program} is not installed: the remote-host tests need it")
    if os.geteuid() != 0:
        _unavailable("the remote-host tests make a user and run sshd: run them as root")
    for path, what in ((ROOT, "this checkout"), (Path(tempfile.gettempdir()), "$TMPDIR")):
        closed = _traversable(path)
        if closed is not None:
            _unavailable(
                f"{closed} is closed to other users, so the remote user cannot reach {what} "
                f"({path}): run the tests from a checkout (and TMPDIR) other users can enter"
            )


def _keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key without passphrase at ``path``; return its public line."""
    _checked(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        "cannot make an ssh key",
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def _sshd_accepts(config: Path, text: str) -> str | None:
    """Write ``text`` to ``config``; None when ``sshd -t`` accepts it, else what sshd said."""
    config.write_text(text)
    done = _run([str(SSHD), "-t", "-f", str(config)], input=None, timeout=30)
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()


def _start_sshd(daemon: Sshd, *, host_key: Path, public_host_key: str, keys: Path) -> Path:
    """Start ``daemon`` on a free port (another one when the port is taken meanwhile); return
    the known_hosts file with its host key."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    known_hosts = daemon.config.with_name("known_hosts")
    optional: list[str] | None = None
    for attempt in range(1, 6):
        daemon.port = _free_port()

        def config(extra: Iterable[str]) -> str:
            return _sshd_config(
                port=daemon.port, host_key=host_key, pid_file=daemon.pid_file, keys=keys
            ) + "".join(f"{line}\n" for line in extra)

        if optional is None:
            optional = [
                s for s in _OPTIONAL_SETTINGS if not _sshd_accepts(daemon.config, config([s]))
            ]
        refused = _sshd_accepts(daemon.config, config(optional))
        if refused:
            _unavailable(f"sshd rejects the configuration {daemon.config}: {refused}")
        known_hosts.write_text(f"[127.0.0.1]:{daemon.port} {public_host_key}\n")
        try:
            daemon.start()
        except SshdFailed as failure:
            if not failure.in_use or attempt == 5:
                _unavailable(str(failure))
        else:
            return known_hosts
    raise AssertionError("unreachable")


@contextlib.contextmanager
def remote_host_running() -> Iterator[RemoteHost]:
    """Make the user, start sshd; yield the host; then stop sshd, reset the host, remove the
    user and the session's folder."""
    _check_prerequisites()
    venv = remote_venv()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_holding_machine_lock())
        _remove_stale_sessions()
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        folder.chmod(0o711)  # the user enters its home; nobody lists the folder
        home = folder / "home"
        private = folder / "sshd"  # keys, sshd's configuration, PID file and log
        private.mkdir(mode=0o700)

        useradd = ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh"]
        # "*": no password logs in, yet the account is not locked ("!"), which sshd refuses.
        useradd += ["--password", "*", "--user-group", "--comment", COMMENT, USER]
        _checked(useradd, f"cannot make the user {USER}")
        stack.callback(_delete_user)
        account = pwd.getpwnam(USER)
        client_key = private / "client_ed25519"
        public_client_key = _keygen(client_key, f"imessenger-tests-client@{USER}")
        host_key = private / "host_ed25519"
        public_host_key = _keygen(host_key, "imessenger-tests-host")

        host = RemoteHost(
            user=USER,
            uid=account.pw_uid,
            home=home,
            destination=f"{USER}@127.0.0.1",
            ssh_args=[],
            command=str(venv / "bin" / "imessenger"),
            isesh=str(venv / "bin" / "isesh"),
            gid=account.pw_gid,
            authorized_keys=public_client_key + "\n",
            daemon=Sshd(
                config=private / "sshd_config",
                pid_file=private / "sshd.pid",
                log=private / "sshd.log",
                port=0,
            ),
        )
        home.mkdir()
        host.reset()  # makes the home as every test finds it: .ssh/authorized_keys only
        stack.callback(host.reset)
        said = host.as_user(host.command, "--version")
        if said.returncode != 0:
            _unavailable(
                f"the user {USER} cannot run {host.command} (can other users read the files "
                f"of {ROOT}?): {(said.stdout + said.stderr).strip()}"
            )

        known_hosts = _start_sshd(
            host.daemon,
            host_key=host_key,
            public_host_key=public_host_key,
            keys=home / ".ssh" / "authorized_keys",
        )
        stack.callback(host.daemon.stop)
        host.ssh_args = [
            "-F", "/dev/null",
            "-p", str(host.port),
            "-i", str(client_key),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        yield host
