"""One writer per run directory: `textrl train` and `textrl eval` hold an exclusive lock on RUN_DIR/.lock.

A second trainer on the same directory (two commands by hand, or a rerun of Snakemake after `kill -9`
left the first one's jobs running) would append every step twice. The lock is an flock, so the kernel
drops it when its process dies, however it dies: a stale lock cannot block a resume.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from textrl.errors import ConfigError

LOCK_FILE = ".lock"
UNLOCKABLE = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextmanager
def run_lock(run_dir: str | os.PathLike, command: str) -> Iterator[None]:
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _lock(fd, run_dir, command):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"`{command}` (pid {os.getpid()} on {socket.gethostname()})".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _lock(fd: int, run_dir, command: str) -> bool:
    """True once locked; False on a filesystem without flock (some Lustre mounts), which then runs unguarded
    rather than not at all; ConfigError, naming the holder, when another process holds the lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
    except OSError as e:
        if e.errno in UNLOCKABLE:
            return False
        raise
    raise ConfigError(
        f"{run_dir}: {holder} is already writing this run directory; running `{command}` on it too would "
        "write every step twice. Wait for it to finish (`textrl status` shows it running) or stop it, "
        "then run this again")
