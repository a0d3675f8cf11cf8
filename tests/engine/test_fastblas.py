"""The OpenBLAS fast path is on by default and changes nothing but speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textrl import fastblas
from textrl.io import read_json, read_jsonl

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(fastblas.find_library() is None, reason="no OpenBLAS on this machine")
def test_openblas_and_reference_blas_train_identically(tmp_path, tiny_run_config):
    data = dict(tiny_run_config, train={**tiny_run_config["train"], "steps": 2})
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(data))
    runs = {}
    for flag in ("1", "0"):
        out = tmp_path / f"blas{flag}"
        env = {**os.environ, "TEXTRL_FAST_BLAS": flag}
        proc = subprocess.run([sys.executable, "-m", "textrl.cli", "train", str(cfg), "--out", str(out), "--no-progress"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs[flag] = (read_jsonl(out / "metrics.jsonl"), read_json(out / "config.json")["fast_blas"])
    (fast, fast_status), (ref, ref_status) = runs["1"], runs["0"]
    assert fast_status["reason"] == "loaded" and ref_status["reason"].startswith("disabled")
    # same samples, rewards and advantages; the update agrees to float round-off (different summation order)
    exact = ("reward_mean", "correct_rate", "completion_len_mean", "tokens_generated", "frac_zero_std_groups", "adv_abs_mean")
    for a, b in zip(fast, ref):
        assert {k: a[k] for k in exact} == {k: b[k] for k in exact}
        for k in ("loss", "grad_norm", "entropy_mean"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setattr(fastblas, "_state", {"library": None, "reason": "not attempted"})
    monkeypatch.setenv("TEXTRL_FAST_BLAS", "0")
    assert fastblas.enable() is None
    assert fastblas.status()["reason"] == "disabled by TEXTRL_FAST_BLAS=0"
