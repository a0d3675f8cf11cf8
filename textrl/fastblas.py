"""Route mlx's CPU BLAS calls to the system OpenBLAS (Linux `mlx[cpu]` wheel).

The Linux wheel links libmlx.so against a bundled reference BLAS. libmlx resolves `cblas_sgemm` & co.
through the global symbol scope first, so loading OpenBLAS with RTLD_GLOBAL *before mlx is imported*
makes every matmul use it: the same effect as LD_PRELOAD, without re-executing the process (figures:
benchmarks/README.md). Results agree to float round-off (OpenBLAS
sums in a different order), and sampled tokens and rewards of a tiny run are unchanged
(tests/engine/test_fastblas.py).

`enable()` is idempotent and changes the process (it loads a library, sets environment variables), so
nothing calls it at import time: textrl.engine.factory calls it right before it first imports mlx, as
does the built-in model's builder; a script that imports textrl's mlx modules itself calls it first. It
also turns on the other half of the fast CPU path, vectorised JIT kernels (textrl.fastjit). For the engine's two CPU lanes
(textrl.engine.cpu_lanes) it also sets, unless the user did, MLX_BFS_MAX_WIDTH (mlx[cpu] build only)
and OPENBLAS_THREAD_TIMEOUT (when it loads OpenBLAS). TEXTRL_FAST_BLAS=0 turns the BLAS off;
TEXTRL_BLAS_LIB=/path/to/libopenblas.so picks another library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

from textrl import fastjit

CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",  # Debian/Ubuntu libopenblas0-pthread
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",  # Fedora/RHEL
)

# mlx reads it once, at its first evaluation. Set for mlx's CPU-only build, where the engine's lanes run
# (textrl.engine.cpu_lanes); GPU builds keep mlx's default.
BFS_MAX_WIDTH = "4096"

_state: dict[str, str | None] = {"library": None, "reason": "not attempted"}
_blas: list = []  # the loaded library's ctypes handle


def find_library() -> str | None:
    override = os.environ.get("TEXTRL_BLAS_LIB")
    if override:
        return override if Path(override).is_file() else None
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    return ctypes.util.find_library("openblas")


def enable() -> str | None:
    """Load OpenBLAS globally if possible; returns its path, or None (see `status()` for why)."""
    fastjit.enable()
    if _state["reason"] != "not attempted":
        return _state["library"]
    if _cpu_only_mlx():
        os.environ.setdefault("MLX_BFS_MAX_WIDTH", BFS_MAX_WIDTH)
    if os.environ.get("TEXTRL_FAST_BLAS", "1") == "0":
        _state["reason"] = "disabled by TEXTRL_FAST_BLAS=0"
    elif not sys.platform.startswith("linux"):
        _state["reason"] = "not Linux (macOS mlx uses Accelerate/Metal)"
    elif "mlx.core" in sys.modules:
        _state["reason"] = "mlx was imported before textrl.fastblas.enable()"
    elif (lib := find_library()) is None:
        _state["reason"] = "no OpenBLAS found (apt-get install libopenblas0-pthread)"
    else:
        # OpenBLAS's idle threads sleep after 2^28 cycles (~0.1 s) without work. The CPU lanes' update
        # calls it single-threaded for longer than that, and the rollout after each update, woken from
        # that sleep, was 20-30 % slower on the 1M model; 2^30 cycles (~0.4 s, the largest allowed)
        # keeps them awake across an update. Read once, when the library loads.
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "30")
        try:
            _blas.append(ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL))
        except OSError as e:
            _state["reason"] = f"could not load {lib}: {e}"
        else:
            _state.update(library=lib, reason="loaded")
    return _state["library"]


def _cpu_only_mlx() -> bool:
    """True for the mlx[cpu] build (Linux, no GPU backend): every run there uses the CPU lanes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("mlx-cpu")
    except PackageNotFoundError:
        return False
    return sys.platform.startswith("linux")


def threads() -> int | None:
    """Threads OpenBLAS gives one call; None when no OpenBLAS was loaded (or the library is another BLAS)."""
    get = getattr(_blas[0], "openblas_get_num_threads", None) if _blas else None
    return int(get()) if get else None


def set_threads(n: int | None) -> None:
    """Threads for each later call (read by OpenBLAS at every call, from any thread); None: no-op."""
    set_ = getattr(_blas[0], "openblas_set_num_threads", None) if _blas else None
    if set_ and n:
        set_(int(n))


def status() -> dict[str, str | None]:
    """{'library': path or None, 'reason': ...}: recorded in config.json so runs show which BLAS they used."""
    return dict(_state)
