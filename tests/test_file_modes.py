"""What imessenger writes is private whatever the umask, and no message is left in a file.

Under ``umask 000`` the files imessenger creates must still be 0600 and its folders
(every one it creates, parents included) 0700. And a ``send`` killed while it
pastes leaves its message in no file under /tmp or the data folder (the store,
which keeps every message by design, aside).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import python_cli, run_imessenger, start_demo, wait_for

from imessenger.config import load_config
from imessenger.locks import target_lock
from imessenger.sessions import Sessions
from imessenger.status import PidFile, write_status
from imessenger.store import DB_FILENAME, Store
from imessenger.tmux import Tmux
from imessenger.watcher import Memory, memory_path


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run the test under ``umask 000`` (restored after it)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(top: Path) -> dict[str, int]:
    """The mode of ``top`` and of everything under it, by path relative to ``top``'s parent."""
    found = {top.name: mode(top)}
    for path in top.rglob("*"):
        found[str(path.relative_to(top.parent))] = mode(path)
    return found


def private(modes: dict[str, int], top: Path) -> dict[str, int]:
    """What ``modes`` should be: 0700 for folders, 0600 for files."""
    return {name: 0o700 if (top.parent / name).is_dir() else 0o600 for name in modes}


@pytest.mark.usefixtures("open_umask")
def test_config_init_writes_a_private_file_in_private_folders(isolated_home: Path) -> None:
    result = run_imessenger("config", "init")
    assert result.exit_code == 0, result.output
    created = isolated_home / ".config"  # neither it nor its imessenger folder existed
    assert modes_under(created) == {
        ".config": 0o700,
        ".config/imessenger": 0o700,
        ".config/imessenger/config.toml": 0o600,
    }
    config = created / "imessenger" / "config.toml"
    config.chmod(0o644)
    assert run_imessenger("config", "init", "--force").exit_code == 0
    assert mode(config) == 0o600
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]  # no temporary file


@pytest.mark.usefixtures("open_umask")
def test_the_store_status_files_and_locks_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "new"
    monkeypatch.setenv("IMESSENGER_HOME", str(top / "folders" / "data"))
    with Store.open() as store:
        store.add_inbox("user", "notice", "a title", "a body")  # the -wal and -shm files too
        write_status("default", {"version": 1, "line": ""})
        pid = PidFile("default")
        pid.acquire()
        pid.release()
        Memory(memory_path("default")).save()
        with target_lock("default", "w1", timeout=5):
            modes = modes_under(top)
    data = top / "folders" / "data"
    assert {data / DB_FILENAME, data / "locks", data / "watch-default.pid"} <= {
        top.parent / name for name in modes
    }
    assert len(modes) >= 10
    assert modes == private(modes, top)


def files_holding(text: bytes, *folders: Path) -> list[Path]:
    """Every regular file under ``folders`` that holds ``text`` (unreadable ones skipped)."""
    found = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root, name)
                try:
                    if path.is_symlink() or not path.is_file() or path.stat().st_size > 2**26:
                        continue
                    if text in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue
    return found


def test_a_send_killed_while_it_pastes_leaves_the_message_in_no_file(
    tmux: Tmux, tmp_path: Path
) -> None:
    with Store.open() as store:
        start_demo(Sessions(tmux, store, load_config()), "w1")
        data = store.path.parent
    # a tmux on PATH that stops at the paste (load-buffer) until the test has killed `send`
    real = shutil.which("tmux")
    assert real is not None
    started = tmp_path / "pasting"
    shim = tmp_path / "bin" / "tmux"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" load-buffer "*)\n'
        f"  echo $$ > {shlex.quote(str(started))}.new\n"
        f"  mv {shlex.quote(str(started))}.new {shlex.quote(str(started))}\n"
        "  exec sleep 60 ;;\n"
        "esac\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o700)
    message = f"a secret message {secrets.token_hex(16)}"
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    send = subprocess.Popen(
        [*python_cli(), "send", "--no-reply", "w1", message],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pid = wait_for(lambda: started.exists() and started.read_text().strip(), what="the paste")
        pasting = int(pid)
        send.kill()
        send.wait(10)
        os.kill(pasting, signal.SIGKILL)
    finally:
        if send.poll() is None:
            send.kill()
            send.wait()
    store_files = {data / (DB_FILENAME + suffix) for suffix in ("", "-wal", "-shm", "-journal")}
    holding = files_holding(message.encode(), Path("/tmp"), data)
    assert [path for path in holding if path not in store_files] == []
