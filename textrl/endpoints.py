"""The per-run numbers a campaign compares (summary.json "endpoints"), defined once.

Held-out endpoints come from eval.json (avg_at_k, pass_at_1, pass_at_k: the value at the largest k,
greedy_acc) and the held-out curve (heldout_auc). Training endpoints come from metrics.jsonl: reward_auc
is the mean reward over all steps, final_reward and final_correct_rate the means over the last 10 % of
steps (at least one). The LR sweep selects on training endpoints only: choosing the lr on held-out
accuracy would tune on the very problems the A/B is judged on.
"""

from __future__ import annotations

import math

TRAINING_ENDPOINTS = ("reward_auc", "final_reward", "final_correct_rate")
ENDPOINTS = ("avg_at_k", "pass_at_1", "pass_at_k", "greedy_acc", *TRAINING_ENDPOINTS, "heldout_auc")


def training_endpoints(rows: list[dict]) -> dict[str, float]:
    """reward_auc, final_reward and final_correct_rate of a run's metrics rows."""
    if not rows:
        raise ValueError("no training steps logged")
    tail = rows[-max(1, math.ceil(0.1 * len(rows))):]
    return {"reward_auc": sum(r["reward_mean"] for r in rows) / len(rows),
            "final_reward": sum(r["reward_mean"] for r in tail) / len(tail),
            "final_correct_rate": sum(r["correct_rate"] for r in tail) / len(tail)}
