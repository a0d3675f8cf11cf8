"""LR sweep selection: the best learning rate per arm from its probe runs' training metrics.

Called by the Snakefile's select_lr rule; writes results/<c>/sweep/<arm>/best_lr.json.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from textrl.endpoints import training_endpoints
from textrl.io import atomic_write_json, read_jsonl


def training_metric(rows: list[dict], metric: str) -> float:
    """One of textrl.endpoints' training endpoints of a probe's metrics rows."""
    return training_endpoints(rows)[metric]


def select_lr(arm: str, metric: str, probes: list[tuple[float, int, str | Path]]) -> dict:
    """probes: (lr, seed, metrics.jsonl path). Highest mean over seeds wins; a tie goes to the smaller lr,
    the safer choice for a longer run than the probe."""
    by_lr: dict[float, list[float]] = defaultdict(list)
    per_probe = []
    for lr, seed, path in probes:
        value = training_metric(read_jsonl(path), metric)
        by_lr[lr].append(value)
        per_probe.append({"lr": lr, "seed": seed, metric: value})
    means = {lr: sum(v) / len(v) for lr, v in by_lr.items()}
    best = min(means, key=lambda lr: (-means[lr], lr))
    return {"arm": arm, "metric": metric, "lr": best,
            "mean_by_lr": {format(lr, "g"): m for lr, m in sorted(means.items())}, "probes": per_probe}


def write_best_lr(out: str | Path, arm: str, metric: str, probes: list[tuple[float, int, str | Path]]) -> dict:
    result = select_lr(arm, metric, probes)
    atomic_write_json(out, result)
    return result
