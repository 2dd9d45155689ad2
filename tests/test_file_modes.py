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
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from support import python_cli, run_imessenger, run_isesh, start_demo, wait_for

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.locks import target_lock
from imessenger.adapters.status_cache import PidFile, write_status
from imessenger.adapters.store import DB_FILENAME, Store
from imessenger.adapters.tmux import Tmux
from imessenger.core.screen import State
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


@pytest.mark.default_config  # no config file, nor folder, before `config init`
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
    with Store.open(server="default") as store:
        store.inbox.add("user", "notice", "a title", "a body")  # the -wal and -shm files too
        write_status("default", {"version": 1, "line": ""})
        pid = PidFile("default")
        pid.acquire()
        pid.release()
        Memory(memory_path("default")).save()
        with target_lock(store.path.parent, "default", "w1", timeout=5):
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
    with Store.open(server=tmux.label) as store:
        start_demo("w1")
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


# --- a realistic run, under umask 000 ------------------------------------------------------

#: An agent that appends to the file imessenger names for its record, as Aider does to its
#: chat history (``--chat-history-file PATH``, the first arguments isesh adds), then runs
#: as the demo agent. ``$0`` is the Python to run.
APPENDS_TO_ITS_RECORD = (
    'printf "# aider chat started\\n" >> "$2"; exec "$0" -m imessenger.demo.agent'
)
#: An agent of any profile, run as the demo agent (the arguments isesh adds are left out).
AS_THE_DEMO = 'exec "$0" -m imessenger.demo.agent'


def umask_of(pid: int) -> str:
    with open(f"/proc/{pid}/status") as status:
        return next(line.split()[1] for line in status if line.startswith("Umask:"))


def not_private(*tops: Path) -> dict[str, str]:
    """What under ``tops`` (themselves included) is not private: folders not 0700, files
    (and sockets) not 0600; links are left out (their own mode means nothing)."""
    found = {}
    for top in tops:
        for path in [top, *top.rglob("*")]:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_IMODE(info.st_mode) != wanted:
                found[str(path)] = oct(stat.S_IMODE(info.st_mode))
    return found


@pytest.mark.default_config  # `config init` makes the file; the watcher runs from the start
@pytest.mark.usefixtures("open_umask")
def test_after_a_realistic_run_under_umask_000_everything_is_private(
    tmux: Tmux,
    tmp_path: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The data folder, the config folder, the runtime folder and what isesh makes in the
    user's Gemini CLI folder, walked whole after sessions of several kinds were started,
    messaged, asked, answered and stopped, with the watcher running: a file added later
    anywhere there is walked too."""
    runtime = Path(tempfile.mkdtemp(prefix="im-run-"))  # short: ssh's socket paths are
    request.addfinalizer(lambda: shutil.rmtree(runtime, ignore_errors=True))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    user_gemini = isolated_home / ".gemini"  # the user's own folder, with a file of theirs
    user_gemini.mkdir(mode=0o755)
    (user_gemini / "projects.json").write_text('{"projects": {}}\n')
    (user_gemini / "projects.json").chmod(0o644)
    work = tmp_path / "work"
    work.mkdir()

    def ok(result: Result) -> Result:
        assert result.exit_code == 0, result.output
        return result

    ok(run_imessenger("config", "init"))
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "imessenger" / "config.toml"
    ok(run_imessenger("watch", "--daemon"))
    try:
        with Store.open(server=tmux.label) as store:
            sessions = Sessions(tmux, store, load_config())
            for name in ("w1", "w2"):
                start_demo(name, folder=work, idle=False)
            ok(run_isesh("start", "a1", "--agent", "aider", "-d", str(work), "--",
                         "sh", "-c", APPENDS_TO_ITS_RECORD, sys.executable))  # fmt: skip
            for name in ("g1", "g2"):  # g1 is stopped below, g2 runs on
                ok(run_isesh("start", name, "--agent", "gemini", "-d", str(work), "--",
                             "sh", "-c", AS_THE_DEMO, sys.executable))  # fmt: skip
            assert umask_of(tmux.pane("w1").pid) == "0000"  # the agents run under it too
            for name in ("w1", "w2"):
                wait_for(lambda n=name: sessions.view(n).state is State.IDLE, what="idle")
            assert ok(run_imessenger("send", "w1", "hello")).stdout == "hello\n"
            ok(run_imessenger("send", "w2", "--no-reply", "ASK[touch made.txt] go on"))
            wait_for(lambda: sessions.view("w2").screen.prompt, what="w2 asking")
            ok(run_imessenger("approve", "w2"))
            for command in (["inbox"], ["log"], ["status"], ["whoami"]):
                ok(run_imessenger(*command))
            with open(config, "a") as more:
                more.write('\n[hosts.box]\ndestination = "box.invalid"\n')
            run_isesh("list")  # host box cannot be reached (exit 1): ssh's folder is made
            # Gemini CLI writes a setting into the session's copy as it does: a new file
            # renamed over the old one, made under the umask
            record = store.sessions.get("g1")
            assert record is not None
            assert record.files_dir
            settings = Path(record.files_dir) / "gemini-home" / ".gemini" / "settings.json"
            settings.with_name("settings.json.new").write_text('{"ui": {"theme": "x"}}\n')
            settings.with_name("settings.json.new").rename(settings)
            ok(run_isesh("stop", "g1", "--force"))  # what it wrote goes to kept/
            wait_for(lambda: sessions.view("w2").state is State.IDLE, what="w2 done")
    finally:
        run_imessenger("watch", "--stop")
    data = Path(os.environ["IMESSENGER_HOME"])
    walked = [
        data,
        config.parent.parent,  # XDG_CONFIG_HOME: made by `config init`
        runtime / f"imessenger-ssh-{os.getuid()}",
        user_gemini / "tmp",  # made by isesh for Gemini CLI, in the user's folder
        user_gemini / "history",
    ]
    names = {path.name for top in walked for path in top.rglob("*")}
    for expected in ("imessenger.db", "locks", "records", "sessions", "kept", "projects.json"):
        assert expected in names  # the run made them all
    assert {p.suffix for p in (data / "records").iterdir()} == {".jsonl", ".md"}
    assert not_private(*walked) == {}
