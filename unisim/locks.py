"""Advisory file locks that leave no file behind.

    with file_lock(Path("experiments-archive/.journal/lock"), timeout_s=60):
        ...  # one process at a time; the lock file is gone afterwards

``filelock.FileLock`` keeps its file after release, because unlinking a lock file
safely needs one extra check: a waiter may have opened the old file just before
the holder unlinked it, and would then lock a file nobody else can see. Here each
acquirer checks, after ``flock``, that the path still names the inode it locked,
and tries again when not; the holder unlinks the path before it unlocks.
POSIX only (``fcntl``), like the rest of unisim's process handling.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class LockTimeout(Exception):
    """The lock stayed held by another process for longer than the timeout."""


@contextlib.contextmanager
def file_lock(path: str | Path, timeout_s: float, poll_s: float = 0.05) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created 0600, removed on release)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                msg = f"{path}: held by another process for over {timeout_s:g} s"
                raise LockTimeout(msg) from None
            time.sleep(poll_s)
            continue
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # we locked a file the previous holder had already unlinked: again
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)  # releases the flock
