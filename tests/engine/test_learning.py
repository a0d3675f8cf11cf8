"""Slow (pytest -m slow): GRPO from the built-in warm-started model improves held-out avg@K on arithmetic.

Trains the default run (1000 steps of 8 prompts x 8 completions, about 40 s) from the shipped default
model (textrl.models.shipped: the same weights on every machine, held-out avg@4 0.2755). Measured over
seeds 0, 1, 2 (benchmarks/README.md, "Learning figures"): avg@4 0.492-0.535, a gain of 0.233 +- 0.023
(SD over seeds); greedy 0.550-0.612 (printed by the README, not asserted: one seed's greedy accuracy is
a single noisy sample per problem). Another machine's floating point changes the training trajectory
about as much as another seed does; the threshold sits five of those SDs below the mean gain and ten
standard errors of avg@4 on 500 problems (~0.01) above no change. (lr 1e-4 or 3e-4 instead of 3e-5
collapsed the policy within 300 steps on an earlier base model.)
"""

from __future__ import annotations

import pytest

from textrl.config import load_run_config
from textrl.evaluate import evaluate_run
from textrl.trainer import train


@pytest.mark.slow
def test_grpo_raises_heldout_avg_at_k(tmp_path):
    cfg = load_run_config({"run_id": "grpo-g8-s0", "seed": 0})
    rows = train(cfg, tmp_path, log=lambda *_: None, progress=False)
    ev = evaluate_run(tmp_path, log=lambda *_: None)
    base, after = ev["base"]["avg_at_k"], ev["avg_at_k"]
    assert after >= base + 0.12, (f"held-out avg@4 {base:.4f} -> {after:.4f}: expected a gain >= 0.12 "
                                  "(measured 0.233 +- 0.023 over seeds 0-2)")
    early = sum(r["reward_mean"] for r in rows[:50]) / 50
    late = sum(r["reward_mean"] for r in rows[-50:]) / 50
    assert late >= early + 0.05, f"training reward, first vs last 50 steps: {early:.3f} -> {late:.3f}; expected >= +0.05"
