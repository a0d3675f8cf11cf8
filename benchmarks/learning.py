"""Held-out learning of the default run from the shipped base model, over several RL seeds.

Prints one JSON object per seed, then the mean and SD of the gains: the figures behind the thresholds
of tests/engine/test_learning.py (1000 steps) and example 06's test (100 steps of 8 prompts x 8).

    .venv/bin/python benchmarks/learning.py --steps 100 --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/learning.py --steps 1000 --seeds 0 1 2
"""
import argparse
import json
import statistics
import tempfile
from pathlib import Path

from textrl import fastblas

fastblas.enable()

from textrl.config import load_run_config  # noqa: E402
from textrl.evaluate import evaluate_run  # noqa: E402
from textrl.trainer import train  # noqa: E402


def one_seed(seed: int, steps: int) -> dict:
    cfg = load_run_config({"run_id": f"learning-s{seed}", "seed": seed,
                           "train": {"steps": steps, "checkpoint_every": steps}})
    with tempfile.TemporaryDirectory() as run_dir:
        rows = train(cfg, Path(run_dir), log=lambda *_: None, progress=False)
        ev = evaluate_run(Path(run_dir), log=lambda *_: None)
    quarter = max(len(rows) // 4, 1)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"seed": seed, "steps": steps, "avg_before": ev["base"]["avg_at_k"], "avg_after": ev["avg_at_k"],
            "greedy_before": ev["base"]["greedy_acc"], "greedy_after": ev["greedy_acc"],
            "reward_first_quarter": round(mean([r["reward_mean"] for r in rows[:quarter]]), 4),
            "reward_last_quarter": round(mean([r["reward_mean"] for r in rows[-quarter:]]), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    rows = []
    for seed in args.seeds:
        rows.append(one_seed(seed, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    gains = {"avg_at_k": [r["avg_after"] - r["avg_before"] for r in rows],
             "greedy": [r["greedy_after"] - r["greedy_before"] for r in rows],
             "reward": [r["reward_last_quarter"] - r["reward_first_quarter"] for r in rows]}
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else None  # noqa: E731
    print(json.dumps({"gain_mean": {k: round(statistics.mean(v), 4) for k, v in gains.items()},
                      "gain_sd": {k: sd(v) and round(sd(v), 4) for k, v in gains.items()}, "fast_blas": fastblas.status()}))


if __name__ == "__main__":
    main()
