"""Held-out accuracy during training: avg@k of the current policy on a fixed held-out subset -> eval_curve.jsonl.

Every run of a campaign evaluates the same subset (the first `eval.curve_size` problems of the held-out
split) with the same sampling seed, so the curves of two arms are paired point by point. No greedy
decode: the curve is the primary endpoint's quantity, at a fraction of the final evaluation's cost.
Step 0 is the untrained policy, so every curve starts from the base model on the same subset.
"""

from __future__ import annotations

import time

from textrl.heldout_metrics import evaluate_policy, settings_of

CURVE_FILE = "eval_curve.jsonl"


def is_curve_step(cfg, step: int) -> bool:
    every = cfg.eval.every
    return every is not None and (step % every == 0 or step == cfg.train.steps)


def curve_point(cfg, engine, task, heldout, step: int) -> dict:
    """One eval_curve.jsonl row for the policy after `step` optimizer steps."""
    start = time.perf_counter()
    subset = heldout[: cfg.eval.curve_size]
    result = evaluate_policy(engine, task, subset, {**settings_of(cfg), "greedy": False})
    return {"step": step, "n": len(subset), "k": result["k"], "avg_at_k": result["avg_at_k"],
            "pass_at_k": result["pass_at_k"][str(result["k"])], "eval_s": round(time.perf_counter() - start, 4)}


def curve_auc(rows: list[dict]) -> float | None:
    """Area under the held-out avg@k curve per step (trapezoids over the evaluated steps, divided by their
    span): the curve's average height, so it reads on avg@k's own scale; one point is its own value."""
    if not rows:
        return None
    if len(rows) == 1:
        return rows[0]["avg_at_k"]
    area = sum((b["step"] - a["step"]) * (a["avg_at_k"] + b["avg_at_k"]) / 2 for a, b in zip(rows, rows[1:]))
    return area / (rows[-1]["step"] - rows[0]["step"])
