"""Fixtures of the fault tests: a disk of the test's own, and watchers to run on it.

The ``disk`` fixture mounts a tmpfs (it needs root; without it, or when mount fails, the
test is skipped, or fails when the environment variable CI is set) and points
IMESSENGER_HOME at a folder on it; it is unmounted at the end. The watchers come from the
``watcher`` fixture of tests/conftest.py; a test takes ``disk`` before ``watcher``, so
that its watchers end before the disk goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Disk


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
