"""Fixtures of the fault tests: a disk of the test's own, and watchers to run on it.

The ``disk`` fixture mounts a tmpfs (it needs root; without it, or when mount fails, the
test is skipped, or fails when the environment variable CI is set) and points
IMESSENGER_HOME at a folder on it; it is unmounted at the end. The ``watcher`` fixture
starts ``imessenger watch -v`` processes the way tests/test_watch.py does and terminates
each one at the end. A test takes ``disk`` before ``watcher``, so that its watchers end
before the disk goes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Disk, Watching
from support import python_cli, wait_for

from imessenger.adapters.status_cache import running_pid
from imessenger.adapters.tmux import Tmux


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    """A tmpfs holding the test's data folder, unmounted at the end."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = Disk.mounted(folder)
    monkeypatch.setenv("IMESSENGER_HOME", str(mounted.data))
    try:
        yield mounted
    finally:
        mounted.unmount()


@pytest.fixture
def watcher(tmux: Tmux, tmp_path: Path) -> Iterator[Callable[[], Watching]]:
    """Start ``imessenger watch -v`` (its log outside any test disk); stop each at the end."""
    started: list[Watching] = []

    def start() -> Watching:
        log = tmp_path / f"watch-{len(started)}.log"
        with open(log, "wb") as output:
            proc = subprocess.Popen(
                [*python_cli(), "watch", "-v"], stdout=output, stderr=subprocess.STDOUT
            )
        started.append(Watching(proc, log, tmux.label))
        wait_for(lambda: running_pid(tmux.label) == proc.pid, what="the watcher to start")
        return started[-1]

    yield start
    for watching in started:
        proc = watching.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(f"--- {watching.log.name} (exit {proc.returncode})\n{watching.text()}")
