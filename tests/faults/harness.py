"""What the fault tests work with: a small disk of their own.

:class:`Disk` is a tmpfs mounted for one test, holding its data folder: the test fills it
up or remounts it read-only, and frees it again. The watchers they run are
:class:`support.Watching`: ``imessenger watch -v`` processes whose log (outside the disk,
so that it can always be read) the test reads to see what the watcher said, and how often.
"""

from __future__ import annotations

import errno
import gc
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The size of a test's tmpfs: room for the database, its journal and the status files.
DISK_SIZE = "4m"


def cannot_run(reason: str) -> None:
    """Skip the test, saying why; under CI (``CI`` is set) fail instead: they must run there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, and there the fault tests must run", pytrace=False)
    pytest.skip(reason)


def _let_go() -> None:
    """Close the stores that the in-process command lines left to the garbage collector.

    Each run of the CLI in this process opens a store it never closes (the process would
    end there); its connection keeps the database open until the collector frees it.
    """
    gc.collect()


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@dataclass
class Disk:
    """A tmpfs of the test's own; the data folder (IMESSENGER_HOME) is ``data`` on it."""

    mount: Path
    data: Path

    @classmethod
    def mounted(cls, mount: Path) -> Disk:
        """Mount a tmpfs on the empty folder ``mount`` (the test is skipped when it cannot)."""
        if os.geteuid() != 0:
            cannot_run("mounting a tmpfs for the fault tests needs root")
        options = f"size={DISK_SIZE},mode=0700"
        done = _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount))
        if done.returncode != 0:
            cannot_run(f"cannot mount a tmpfs on {mount}: {done.stderr.strip()}")
        return cls(mount, mount / "data")

    def unmount(self) -> None:
        """Unmount it. If a file on it is still open, detach it now (``umount -l``): it is
        freed when that file is closed (a failed test's traceback can keep a store open)."""
        _let_go()
        if _run("umount", str(self.mount)).returncode != 0:
            done = _run("umount", "-l", str(self.mount))
            assert done.returncode == 0, done.stderr

    def remount(self, mode: str) -> None:
        """Remount it ``ro`` or ``rw`` (nothing may hold a file on it open for writing)."""
        _let_go()
        done = _run("mount", "-o", f"remount,{mode}", str(self.mount))
        assert done.returncode == 0, done.stderr

    def fill(self) -> Path:
        """Write a file that takes every free block; return it (delete it to free them)."""
        filler = self.mount / "filler"
        with open(filler, "wb", buffering=0) as output:
            block = b"\0" * 4096
            try:
                while True:
                    output.write(block)
            except OSError as error:
                failure = error
        assert failure.errno == errno.ENOSPC, failure
        assert os.statvfs(self.mount).f_bfree == 0
        return filler

    def empty_journal(self, database: Path) -> None:
        """Checkpoint the database's WAL and truncate it, so that its next write needs room."""
        conn = sqlite3.connect(database)
        try:
            busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
        assert (busy, frames) == (0, 0), "another connection kept the journal busy"
