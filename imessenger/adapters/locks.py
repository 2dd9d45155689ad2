"""Locks across processes: one sender at a time per target pane.

A lock is an ``flock`` on a file in the data directory of the store. The kernel releases
it when its holder exits, however it exits, so a crashed sender never leaves
a target locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imessenger.adapters.paths import PRIVATE_FILE_MODE, make_private_dir
from imessenger.core.errors import ImessengerError


class LockTimeout(ImessengerError):
    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(
            f"another imessenger process kept {what} busy for {seconds:.0f}s; try again "
            "(or look for a stuck `imessenger send` with `ps`)"
        )


@contextmanager
def target_lock(data_dir: Path, server: str, target: str, *, timeout: float) -> Iterator[None]:
    """Hold the lock of one target session of one tmux server for the ``with`` block.

    ``data_dir`` is the folder of the store the sender records in (an agent's is the one
    isesh started it with, whatever its environment says), so that every sender to a
    target meets the same lock.
    """
    folder = make_private_dir(data_dir / "locks")
    digest = hashlib.sha256(f"{server}\0{target}".encode()).hexdigest()[:16]
    fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f'session "{target}"', timeout) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)
