"""Two lanes for the CPU update: a micro-batch's rows split in two, evaluated on two mlx streams at once.

mlx runs all ops of a stream on one thread, so on the CPU only the matmuls (OpenBLAS's threads) ever
used a second core: the elementwise and reduction half of a training step left it idle. Two CPU
streams, each calling a BLAS with half the cores, keep both cores busy for the whole step (figures:
benchmarks/README.md). Sampling keeps one stream: with two, the Python thread that builds both lanes'
decode steps became the bottleneck.

The split is part of the algorithm, not of the machine: every CPU run uses LANES lanes whatever the
core count, so results depend on the seed and the BLAS, never on how many cores ran them. Metal and
CUDA keep one stream (their kernels already use the whole device).

mlx builds each evaluation's schedule breadth-first with a width cap (MLX_BFS_MAX_WIDTH, 20 by
default): narrower than the two lanes' outputs, it schedules one lane's whole graph before the other's
and the lanes run one after the other. textrl.fastblas sets a wide cap before mlx's first evaluation
(mlx reads it once) when the installed mlx is the CPU-only build; a user's own MLX_BFS_MAX_WIDTH is
left alone. Elsewhere (macOS on the CPU device) the lanes are correct but may run one after the other.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import mlx.core as mx

from textrl import fastblas

LANES = 2

_streams: list = []


def count() -> int:
    """Lanes of the default device: LANES on the CPU, 1 elsewhere."""
    return LANES if mx.default_device() == mx.cpu else 1


def streams() -> list:
    """One mlx stream per lane (created once per process: streams are never freed)."""
    if not _streams:
        _streams.extend(mx.new_stream(mx.cpu) for _ in range(LANES))
    return _streams


def split(rows: int, lanes: int) -> list[slice]:
    """Contiguous row ranges, one per lane (fewer when there are fewer rows than lanes)."""
    lanes = max(1, min(lanes, rows))
    bounds = [rows * i // lanes for i in range(lanes + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


@contextmanager
def blas_threads(lanes: int):
    """BLAS threads per call = cores / lanes while the lanes run (the lanes' matmuls run side by side)."""
    if lanes <= 1:
        yield
        return
    before = fastblas.threads()
    fastblas.set_threads(max(1, cores() // lanes))
    try:
        yield
    finally:
        fastblas.set_threads(before)
