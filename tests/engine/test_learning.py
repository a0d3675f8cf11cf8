"""Slow (pytest -m slow): GRPO from the built-in warm-started model improves held-out avg@K on arithmetic.

Builds the default tiny model (500 warm-start steps) in the session's cache and trains the default run
(300 steps of 8 prompts x 8 completions): a few minutes on 2 cores. Measured over 3 seeds, held-out
avg@4 rises by about +0.13 (base 0.26), several times the seed-to-seed spread.
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
    assert ev["avg_at_k"] >= ev["base"]["avg_at_k"] + 0.05
    early = sum(r["reward_mean"] for r in rows[:50]) / 50
    late = sum(r["reward_mean"] for r in rows[-50:]) / 50
    assert late > early + 0.05
