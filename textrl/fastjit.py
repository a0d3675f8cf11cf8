"""Vectorised kernels from mlx's CPU compiler (Linux x86-64 `mlx[cpu]`).

`mx.compile` on CPU fuses elementwise ops into C++ that mlx builds at run time with `g++ -O3` and no
target flags (mlx 0.32). Without -mfma the fma calls of mlx's exp polynomial are libm calls, nothing
inlines, and no loop vectorises: a fused sigmoid costs ~14 ns per element where a multiply costs 0.4 ns,
which made SwiGLU and softmax the largest costs of a training step. mlx runs the compiler as `g++` from
PATH, so this module puts a `g++` wrapper first on PATH that adds `-mavx2 -mfma -ffp-contract=off
-fno-trapping-math` and larger inlining limits to mlx's JIT builds only (any other g++ call passes
through unchanged; figures in benchmarks/README.md). The wrapper is
test-built once before it goes on PATH (mlx has no fallback when a kernel fails to build).

Results are bit-identical (a NaN's sign bit aside): -ffp-contract=off stops g++ from fusing a multiply
and an add the source writes apart (it does by default, even in ISO C++ mode); fma, floor and division
are correctly rounded with or without AVX; -fno-trapping-math only drops floating-point exception side
effects (tests/engine/test_fastjit.py).

mlx caches built kernels in <tmp>/mlx/<version>/cpu under names that do not include the flags: kernels
built without the wrapper stay in use (same results, slower) until that directory is removed.
`status()` reports it (and `textrl train` prints it) when the cache held kernels before textrl first
marked it; kernels that mlx used outside textrl (plain mlx_lm, say) adds to a marked cache go unseen. The kernels are built for the
machine's CPU: a <tmp> shared by machines without AVX2 would need its own directory per machine.
TEXTRL_FAST_JIT=0 turns the wrapper off.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from textrl.paths import cache_root

# -ffp-contract=off: g++ contracts a*b+c into an fma by default, even in ISO C++ mode; with -mfma that
# would change results. Without contraction every operation rounds as in mlx's scalar build.
FLAGS = ("-mavx2 -mfma -ffp-contract=off -fno-trapping-math "
         "--param max-inline-insns-single=2000 --param max-inline-insns-auto=2000")

# mlx's command is `g++ -std=c++17 -O3 ... <tmp>/mlx/<version>/cpu/<name>.cpp -o ...`. The wrapper takes
# its own directory off PATH first, so that a compiler which itself looks g++ up on PATH (ccache's
# masquerade directory) finds the real one, not the wrapper again.
WRAPPER = """#!/bin/sh
# Written by textrl.fastjit: vector flags for mlx's CPU JIT builds; every other call passes through.
self={dir}
rest=
IFS=:
for entry in $PATH; do [ "$entry" = "$self" ] || rest="${{rest:+$rest:}}$entry"; done
unset IFS
PATH=$rest
export PATH
case "$*" in
  *"/mlx/"*"/cpu/"*".cpp"*) exec {gxx} {flags} "$@" ;;
esac
exec {gxx} "$@"
"""

# Built once with the wrapper before it is used: mlx has no fallback when a JIT build fails.
PROBE_SOURCE = "float f(float a, float b, float c) { return a * b + c; }\n"

_state: dict[str, str | None] = {"wrapper": None, "reason": "not attempted", "stale_kernels": None}


def _cpu_has(*features: str) -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return all(f in flags for f in features)


def _wrapper_dir(gxx: str) -> Path:
    # one directory per compiler, so that processes seeing different g++ binaries never share a wrapper
    return cache_root() / "jit-bin" / hashlib.sha256(gxx.encode()).hexdigest()[:12]


def _builds(wrapper: Path, directory: Path) -> str | None:
    """None if the wrapper builds a shared library the way mlx asks it to, else why not."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        source = Path(tmp) / "mlx" / "probe" / "cpu" / "probe.cpp"
        source.parent.mkdir(parents=True)
        source.write_text(PROBE_SOURCE)
        cmd = [str(wrapper), "-std=c++17", "-O3", "-Wall", "-fPIC", "-shared", str(source), "-o", str(source.with_suffix(".so"))]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["failed"])[-1]


def _write_wrapper(directory: Path, gxx: str) -> Path:
    """The wrapper for `gxx`, written (atomically) and test-built unless an identical one exists."""
    path = directory / "g++"
    text = WRAPPER.format(dir=shlex.quote(str(directory)), gxx=shlex.quote(gxx), flags=FLAGS)
    if path.is_file() and path.read_text() == text and os.access(path, os.X_OK):
        return path
    directory.mkdir(parents=True, exist_ok=True)
    # Concurrent jobs write the same bytes; the rename makes each write atomic.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".g++.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    failure = _builds(Path(tmp), directory)
    if failure:
        os.unlink(tmp)
        raise OSError(f"{gxx} with {FLAGS!r} cannot build mlx's kernels: {failure}")
    os.replace(tmp, path)
    return path


def _kernel_cache() -> Path:
    from importlib.metadata import version

    return Path(tempfile.gettempdir()) / "mlx" / version("mlx") / "cpu"


def _is_wrapper_dir(entry: str) -> bool:
    try:
        with open(Path(entry) / "g++", "rb") as f:
            return b"textrl.fastjit" in f.read(200)
    except OSError:
        return False


def _stale_kernels() -> str | None:
    """Why kernels built without the flags may still be in use, or None (then mark the cache as ours)."""
    try:
        cache = _kernel_cache()
    except ImportError:  # importlib.metadata.PackageNotFoundError: mlx is not installed
        return None
    marker = cache / ".textrl-fastjit"
    try:
        if marker.is_file() and marker.read_text() == FLAGS:
            return None
        if cache.is_dir() and any(cache.glob("*.so")):
            return f"{cache} holds kernels built without textrl's flags; remove that directory for full speed"
        cache.mkdir(parents=True, exist_ok=True)
        marker.write_text(FLAGS)
    except OSError:
        pass
    return None


def enable() -> str | None:
    """Put the wrapper first on PATH if it applies; returns its path, or None (see `status()`)."""
    if _state["reason"] != "not attempted":
        return _state["wrapper"]
    # A parent textrl process may have put its wrapper on the PATH this one inherited.
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    if any(_is_wrapper_dir(p) for p in path if p):
        path = [p for p in path if not (p and _is_wrapper_dir(p))]
        os.environ["PATH"] = os.pathsep.join(path)
    gxx = shutil.which("g++")
    if os.environ.get("TEXTRL_FAST_JIT", "1") == "0":
        _state["reason"] = "disabled by TEXTRL_FAST_JIT=0"
    elif not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        _state["reason"] = "not Linux x86-64 (other platforms' mlx kernels are vectorised already)"
    elif gxx is None:
        _state["reason"] = "no g++ on PATH (mlx then runs compiled functions without fusing them)"
    elif not _cpu_has("avx2", "fma"):
        _state["reason"] = "CPU lacks AVX2/FMA"
    else:
        try:
            directory = _wrapper_dir(gxx)
            wrapper = _write_wrapper(directory, gxx)
        except (OSError, RuntimeError) as e:  # RuntimeError: no home directory to cache in
            _state["reason"] = f"wrapper not installed: {e}"
        else:
            os.environ["PATH"] = os.pathsep.join([str(directory), *path])
            _state.update(wrapper=str(wrapper), reason="active", stale_kernels=_stale_kernels())
    return _state["wrapper"]


def status() -> dict[str, str | None]:
    """{'wrapper': path or None, 'reason': ..., 'stale_kernels': None or why}: recorded in config.json."""
    return dict(_state)
