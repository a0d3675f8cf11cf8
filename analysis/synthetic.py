"""Synthetic campaign results with a known truth, in the real file layout (for tests and the benchmark).

Each run has a true held-out accuracy: base + the arm's effect at its group size + a seed effect
(optionally shared between arms, which correlates same-seed runs) + the run's own deviation. Problems
have a shared difficulty (logit scale), and K samples per problem are drawn from
sigmoid(logit(accuracy) + difficulty): so pooled generations carry the between-seed spread as
pseudo-replicates, exactly the trap the report must not fall into.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from textrl.io import atomic_write_json

SEPA_PRESETS = ("full", "sepa")


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def write_campaign(root: str | Path, *, name: str = "synthetic", arms: tuple[str, ...] = ("grpo", "full"),
                   group_sizes: tuple[int, ...] = (4, 8), seeds: tuple[int, ...] = tuple(range(5)),
                   base_accuracy: float = 0.5, effect: Mapping | float = 0.0, seed_sd: float = 0.03,
                   shared_seed_sd: float = 0.0, problems: int = 100, problem_sd: float = 1.0, k: int = 4,
                   steps: int = 20, prompts_per_step: int = 4, accuracy: Callable[[str, int, int], float] | None = None,
                   analysis: dict | None = None, missing: tuple[str, ...] = (), failed: tuple[str, ...] = (),
                   base: float | None = None, controls: tuple[str, ...] = (), rng: int = 0) -> Path:
    """Write <root>/plan.json and runs/<run_id>/ files; returns root.

    effect: a number for every non-first arm, {arm: number} or {(arm, G): number}.
    accuracy(arm, G, seed), when given, sets each run's true accuracy and overrides the other knobs.
    missing: run ids with no directory; failed: run ids whose train job log (logs/train/<id>.log) ends in a traceback.
    base: the untrained base model's held-out avg@k written into every eval.json (None: no base score).
    controls: arms marked as negative controls in the spec.
    """
    root = Path(root)
    gen = np.random.default_rng(rng)
    difficulty = gen.normal(0.0, problem_sd, problems)
    shared = {s: gen.normal(0.0, shared_seed_sd) for s in seeds}

    def arm_effect(arm: str, g: int) -> float:
        if isinstance(effect, Mapping):
            return float(effect.get((arm, g), effect.get(arm, 0.0)))
        return 0.0 if arm == arms[0] else float(effect)

    plan_runs = []
    for arm in arms:
        for g in group_sizes:
            for seed in seeds:
                run_id = f"{arm}-g{g}-s{seed}"
                plan_runs.append({"run_id": run_id, "arm": arm, "seed": seed, "group_size": g, "lr": 3e-5,
                                  "config_hash": "synthetic", "config": _run_config(name, run_id, arm, seed, g, steps, k, problems, prompts_per_step)})
                if run_id in missing:
                    continue
                acc = (accuracy(arm, g, seed) if accuracy else
                       base_accuracy + arm_effect(arm, g) + shared[seed] + gen.normal(0.0, seed_sd))
                _write_run(root / "runs" / run_id, plan_runs[-1], acc, difficulty, k, steps, prompts_per_step,
                           gen, failed=run_id in failed, base=base)
    spec = {"name": name, "task": {"name": "synthetic", "heldout_size": problems}, "seeds": list(seeds),
            "group_sizes": list(group_sizes), "arms": [{"name": a, "advantage": {"preset": a}, **({"control": "bernoulli"} if a in controls else {})}
                     for a in arms],
            "training": {"steps": steps, "prompts_per_step": prompts_per_step}, "evaluation": {"k": k},
            "analysis": {"baseline": arms[0], "candidate": arms[1] if len(arms) == 2 and arms[1] not in controls else None, **(analysis or {})}}
    atomic_write_json(root / "plan.json", {"campaign": name, "spec": spec, "runs": plan_runs}, indent=None)
    return root


def _run_config(name, run_id, arm, seed, g, steps, k, problems, prompts_per_step) -> dict:
    return {"run_id": run_id, "campaign": name, "arm": arm, "seed": seed, "backend": "mlx",
            "task": {"name": "synthetic", "params": {}, "heldout_size": problems, "split_seed": 1234},
            "advantage": {"preset": arm}, "loss": {"kind": "grpo", "eps_low": 0.2, "eps_high": 0.28},
            "train": {"steps": steps, "prompts_per_step": prompts_per_step, "group_size": g, "lr": 3e-5},
            "eval": {"k": k, "temperature": 1.0, "top_p": 1.0, "greedy": True, "seed": 0}}


def _write_run(run_dir: Path, entry: dict, acc: float, difficulty: np.ndarray, k: int, steps: int,
               prompts_per_step: int, gen: np.random.Generator, failed: bool, base: float | None = None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    arm, g, seed = entry["arm"], entry["group_size"], entry["seed"]
    sepa = arm in SEPA_PRESETS
    atomic_write_json(run_dir / "config.json", {
        "run": entry["config"],
        "advantage_pipeline": {"preset": arm, "episode": "grpo", "sepa": {"schedule": "linear"} if sepa else None},
        "versions": {"python": "3.11.0", "mlx": "0.32.4", "textrl": "0.1.0"}, "git_revision": "0123abc",
        "host": "synthetic", "started_at": "2026-01-01T00:00:00+00:00", "slurm_job_id": None})
    t = np.arange(1, steps + 1)
    reward = np.clip(acc * (0.6 + 0.4 * t / steps) + gen.normal(0, 0.03, steps), 0, 1)
    tokens = np.cumsum(gen.integers(4, 9, steps) * prompts_per_step * g)
    with open(run_dir / "metrics.jsonl", "w") as f:
        for i in range(steps):
            f.write(json.dumps({"step": int(t[i]), "reward_mean": float(reward[i]), "reward_std": 0.3,
                                "correct_rate": float(reward[i]), "loss": 0.1, "grad_norm": 1.0, "entropy_mean": 1.0,
                                "clip_frac": 0.0, "kl": None, "adv_abs_mean": 0.5, "frac_zero_std_groups": 0.1,
                                "completion_len_mean": 6.0, "max_token_hit_rate": 0.0,
                                "sepa_lambda": float(min(1.0, t[i] / steps)) if sepa else None,
                                "planning_token_frac": 0.2 if sepa else None, "lr": 3e-5, "gen_s": 0.1,
                                "train_s": 0.1, "step_s": 0.2, "tokens_generated": int(tokens[i])}) + "\n")
    if failed:  # as the Snakefile leaves it: the train job's log ends in the traceback
        log = run_dir.parent.parent / "logs" / "train" / f"{run_dir.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("step 3/20 reward 0.41\nTraceback (most recent call last):\nRuntimeError: synthetic failure\n")
        return
    p = 1.0 / (1.0 + np.exp(-(_logit(acc) + difficulty)))
    correct = gen.binomial(k, p)
    per_problem = [{"id": f"synthetic/heldout/{i:05d}", "correct": int(c), "n": k, "greedy_correct": bool(pi > 0.5)}
                   for i, (c, pi) in enumerate(zip(correct, p))]
    avg = float(correct.sum() / (k * len(correct)))
    pass_k = float(np.mean([_pass_at_k(k, int(c), k) for c in correct]))
    greedy = float(np.mean(p > 0.5))
    atomic_write_json(run_dir / "eval.json", {
        "task": "synthetic", "split": "heldout", "split_seed": 1234, "size": len(correct), "k": k, "temperature": 1.0,
        "top_p": 1.0, "max_tokens": 8, "eval_seed": 0, "avg_at_k": avg, "pass_at_1": avg,
        "pass_at_k": {"1": avg, str(k): pass_k}, "greedy_acc": greedy, "per_problem": per_problem,
        "base": None if base is None else {"avg_at_k": base, "pass_at_1": base, "greedy_acc": base}}, indent=None)
    with gzip.open(run_dir / "generations.jsonl.gz", "wt") as f:
        for i in range(min(4, g)):
            f.write(json.dumps({"step": steps, "prompt_id": "synthetic/train/00000", "prompt": "1+1=", "completion": "2",
                                "reward": 1.0, "correct": True, "components": {}, "n_tokens": 2, "truncated": False}) + "\n")
    tail = max(1, math.ceil(steps * 0.1))
    atomic_write_json(run_dir / "summary.json", {
        "run_id": entry["run_id"], "arm": arm, "seed": seed, "group_size": g, "lr": entry["lr"], "status": "done",
        "steps": steps, "endpoints": {"avg_at_k": avg, "pass_at_1": avg, "pass_at_k": {"1": avg, str(k): pass_k},
                                      "greedy_acc": greedy, "reward_auc": float(reward.mean()),
                                      "final_reward": float(reward[-tail:].mean()),
                                      "final_correct_rate": float(reward[-tail:].mean())},
        "tokens_generated": int(tokens[-1]), "wall_s": 1.0})
