"""The CPU engine's two lanes: same gradient as one lane, BLAS threads restored, mlx's scheduling widened."""

from __future__ import annotations

import os
import subprocess
import sys

import mlx.core as mx
import pytest

from textrl import fastblas
from textrl.engine import cpu_lanes
from textrl.engine.loss_spec import LossSpec


@pytest.mark.parametrize("rows,lanes", [(64, 2), (7, 2), (1, 2), (5, 1), (3, 4)])
def test_split_covers_every_row_once(rows, lanes):
    parts = cpu_lanes.split(rows, lanes)
    assert len(parts) == min(rows, lanes)
    assert [r for p in parts for r in range(p.start, p.stop)] == list(range(rows))
    assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


def test_engine_uses_two_lanes_on_the_cpu(tiny_model_dir):
    from mlx_lm import load

    from textrl.engine.mlx_engine import MLXEngine

    assert MLXEngine(*load(str(tiny_model_dir))).lanes == (2 if mx.default_device() == mx.cpu else 1)


def test_two_lanes_give_the_one_lane_gradient(tiny_model_dir):
    from mlx.utils import tree_flatten
    from mlx_lm import load

    from textrl.engine.base import Datum, SamplingParams
    from textrl.engine.mlx_engine import MLXEngine

    spec = LossSpec(aggregation="seq-mean-token-mean", kl_coef=0.1, entropy_coef=0.01)
    engine = MLXEngine(*load(str(tiny_model_dir)), reference=load(str(tiny_model_dir))[0])
    groups = engine.sample([engine.encode_prompt(p) for p in ["1+2=", "3+3=", "7+2="]], 3, SamplingParams(1.0, 1.0, 5), seed=1)
    datums = [Datum(c.prompt_tokens, c.tokens, [x - 0.1 for x in c.logprobs], [0.5 - i % 2] * len(c.tokens))
              for g in groups for i, c in enumerate(g)]  # 9 rows: lanes of 4 and 5
    results = {}
    for lanes in (1, 2):
        engine.lanes = lanes
        stats = engine.forward_backward(datums, spec)
        results[lanes] = (stats, dict(tree_flatten(engine._grads)))
    (one, g1), (two, g2) = results[1], results[2]
    assert {key[2] for key in engine._grad_fns} == {0, 1}  # the second run did evaluate two lanes
    assert g1.keys() == g2.keys()
    for name in g1:
        assert mx.allclose(g2[name], g1[name], atol=1e-6, rtol=1e-4).item(), name
    for key in ("loss", "clip_frac", "kl", "approx_kl", "train_entropy_mean"):
        assert two[key] == pytest.approx(one[key], abs=1e-6)


@pytest.mark.skipif(fastblas.threads() is None, reason="no OpenBLAS loaded")
def test_blas_threads_are_restored():
    before = fastblas.threads()
    with cpu_lanes.blas_threads(2):
        assert fastblas.threads() == max(1, cpu_lanes.cores() // 2)
    assert fastblas.threads() == before
    with pytest.raises(RuntimeError):
        with cpu_lanes.blas_threads(2):
            raise RuntimeError("a failed step")
    assert fastblas.threads() == before


@pytest.mark.skipif(not fastblas._cpu_only_mlx(), reason="set for the mlx[cpu] build only")
@pytest.mark.parametrize("preset,expected", [(None, fastblas.BFS_MAX_WIDTH), ("7", "7")])
def test_mlx_scheduling_width_is_widened_unless_set(preset, expected):
    assert _env_after_import("MLX_BFS_MAX_WIDTH", preset) == expected


@pytest.mark.skipif(fastblas.threads() is None, reason="no OpenBLAS loaded")
@pytest.mark.parametrize("preset,expected", [(None, "30"), ("25", "25")])
def test_openblas_workers_stay_awake_across_an_update_unless_set(preset, expected):
    assert _env_after_import("OPENBLAS_THREAD_TIMEOUT", preset) == expected


def _env_after_import(name: str, preset: str | None) -> str:
    """The variable's value in a fresh process once the fast CPU path is set up (as the engine factory does
    before it imports mlx)."""
    env = {k: v for k, v in os.environ.items() if k != name}
    if preset:
        env[name] = preset
    code = f"import os; from textrl import fastblas; fastblas.enable(); print(os.environ.get({name!r}))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
