"""A trainer started by a workflow dies with it: after a hard kill of Snakemake, an orphaned
`textrl train` would hold its run directory (and a core) until it finished on its own."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel for SIGTERM when the parent process ends (Linux only; elsewhere a no-op that
    returns False). Exits at once when the parent is already gone (this process was re-parented)."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if ok and (os.getppid() != parent or parent == 1):
        raise SystemExit("textrl: the process that started this one has already ended")
    return ok
