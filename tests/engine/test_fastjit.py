"""The JIT wrapper adds vector flags to mlx's own kernel builds only, and changes no result bit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from textrl import fastjit

fastjit.enable()
pytestmark = pytest.mark.skipif(
    not fastjit.status()["wrapper"], reason=f"fast JIT path not active here: {fastjit.status()['reason']}"
)

# Compiled functions whose kernels fuse: every transcendental mlx's CPU preamble implements, at ordinary
# and extreme inputs (overflow, underflow, signed zeros, infinities, NaN).
PROBE = r"""
import sys
import numpy as np
from textrl import fastblas
fastblas.enable()
import mlx.core as mx

x = np.concatenate([np.linspace(-100, 100, 20001, dtype=np.float32),
                    np.array([0.0, -0.0, 1e-38, -1e-38, 88.7, -88.7, 89.0, -104.0, np.inf, -np.inf, np.nan], np.float32)])
x = mx.array(x)
pos = mx.abs(x) + 1e-3
fns = {
    "silu_mul": lambda a: a * mx.sigmoid(a) * (a + 1),
    "exp": lambda a: mx.exp(a) * 1.5,
    "log": lambda a: mx.log(mx.abs(a) + 1e-3) + 1,
    "tanh": lambda a: mx.tanh(a) * 2,
    "erf": lambda a: mx.erf(a * 0.1) + a,
    "log1p_expm1": lambda a: mx.log1p(mx.abs(a)) - mx.expm1(a * 0.01),
    "sin_cos": lambda a: mx.sin(a) * mx.cos(a),
    "pow_sqrt": lambda a: mx.power(mx.abs(a), 0.37) + mx.sqrt(mx.abs(a)),
    "where": lambda a: mx.where(a > 0, mx.exp(-a), a * 2),
    # multiply-adds, which a compiler may contract into fma instructions (different rounding)
    "mul_add": lambda a: a * (a * 0.37) + 0.11,
    "horner": lambda a: ((a * 0.3 + 0.7) * a - 0.2) * a + (a * 1.1 - 0.4),
    "swiglu_grad": lambda a: (a + 1) * (mx.sigmoid(a) * 0.5 + a * mx.sigmoid(a * 1.0) * (1 - mx.sigmoid(a))),
}
out = {name: np.array(mx.compile(f)(x)) for name, f in fns.items()}
np.savez(sys.argv[1], **out)
"""


def _probe(tmp_path: Path, tag: str, flag: str) -> tuple[dict, Path]:
    tmpdir = tmp_path / f"tmp-{tag}"  # a fresh mlx kernel cache for each side
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "TEXTRL_FAST_JIT": flag}
    out = tmp_path / f"{tag}.npz"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kernels = sorted((tmpdir / "mlx").rglob("*.so"))
    assert kernels, "mlx built no kernels: the probe no longer exercises the JIT"
    with np.load(out) as data:
        return {k: data[k] for k in data.files}, kernels[0].parent


def _uses_ymm(library: Path) -> bool:
    dump = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    return "%ymm" in dump


def test_fast_and_plain_kernels_agree_bit_for_bit(tmp_path):
    fast, fast_cache = _probe(tmp_path, "fast", "1")
    plain, plain_cache = _probe(tmp_path, "plain", "0")
    for name in fast:
        a, b = fast[name], plain[name]
        # every bit, except the sign of a NaN (vector and scalar code may produce a NaN either way)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        assert a[~np.isnan(a)].tobytes() == b[~np.isnan(b)].tobytes(), name
    assert (fast_cache / ".textrl-fastjit").read_text() == fastjit.FLAGS
    if shutil.which("objdump"):
        # the flags reached the compiler: the fast kernels use 256-bit registers, the plain ones none
        assert any(_uses_ymm(lib) for lib in fast_cache.glob("*.so"))
        assert not any(_uses_ymm(lib) for lib in plain_cache.glob("*.so"))


def test_wrapper_adds_flags_to_mlx_builds_only(tmp_path):
    wrapper = fastjit.status()["wrapper"]
    source = "#ifdef __AVX2__\n#error flags added\n#endif\nint f(void) { return 1; }\n"
    plain = tmp_path / "other" / "a.cpp"
    mlx_like = tmp_path / "mlx" / "9.9" / "cpu" / "a.cpp"
    for path in (plain, mlx_like):
        path.parent.mkdir(parents=True)
        path.write_text(source)
    build = lambda src: subprocess.run([wrapper, "-std=c++17", "-O3", "-fPIC", "-shared", str(src), "-o",  # noqa: E731
                                        str(src.with_suffix(".so"))], capture_output=True, text=True)
    assert build(plain).returncode == 0  # passed through unchanged: no AVX2
    failed = build(mlx_like)
    assert failed.returncode != 0 and "flags added" in failed.stderr


def test_disabled_by_environment(tmp_path):
    env = {**os.environ, "TEXTRL_FAST_JIT": "0"}
    code = "from textrl import fastjit; fastjit.enable(); print(fastjit.status()['reason'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "disabled by TEXTRL_FAST_JIT=0"


def test_reports_kernels_built_before_the_wrapper(tmp_path):
    from importlib.metadata import version

    code = "from textrl import fastjit; fastjit.enable(); print(fastjit.status()['stale_kernels'])"
    run = lambda tmpdir: subprocess.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmpdir)},  # noqa: E731
                                        capture_output=True, text=True, check=True).stdout.strip()
    fresh, old = tmp_path / "fresh", tmp_path / "old"
    cache = old / "mlx" / version("mlx") / "cpu"
    cache.mkdir(parents=True)
    (cache / "libsomekernel.so").write_bytes(b"")
    fresh.mkdir()
    assert run(fresh) == "None"  # an empty cache is marked as built with the flags
    assert (fresh / "mlx" / version("mlx") / "cpu" / ".textrl-fastjit").read_text() == fastjit.FLAGS
    assert str(cache) in run(old)


def test_wrapper_takes_itself_off_path_before_running_the_compiler(tmp_path):
    # a compiler that looks g++ up on PATH itself (ccache's masquerade) must not find the wrapper again
    fake = tmp_path / "fake-g++"
    fake.write_text('#!/bin/sh\nfor a; do out=$a; done\n: > "$out"\necho "PATH=$PATH"\n')  # "builds" the -o file
    fake.chmod(0o755)
    directory = tmp_path / "wrapper"
    wrapper = fastjit._write_wrapper(directory, str(fake))
    env = {**os.environ, "PATH": f"{directory}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    out = subprocess.run([str(wrapper), "-o", str(tmp_path / "x")], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"PATH=/usr/bin{os.pathsep}/bin"
