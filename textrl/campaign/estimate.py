"""Compute and wall-time estimates for `textrl plan`, from stored benchmark constants.

The constants are measured on the built-in tiny arithmetic model (mlx CPU with OpenBLAS, 2 cores, one
job per core); for other models or backends no constant is stored and the wall time is left unknown
rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textrl.campaign.expand import PlannedRun
from textrl.campaign.spec import CampaignSpec
from textrl.config import TINY_MODEL

# Seconds, built-in tiny model (2 layers), one job per core; the measurements they come from and how
# far the estimate is off for longer completions: benchmarks/README.md, "Where the code's constants
# come from".
STEP_FIXED_S = 0.012            # per RL step, independent of batch size
STEP_PER_COMPLETION_S = 0.00051  # per sampled completion (generation + loss), max_tokens <= 8
EVAL_PER_COMPLETION_S = 0.00016  # per held-out completion (no backward pass)
JOB_START_S = 1.3               # python + mlx import + model load, paid by each train and eval job
BASE_MODEL_S = 50.0             # supervised warm start of the tiny model, once per campaign


@dataclass(frozen=True)
class Compute:
    runs: int
    probes: int
    train_completions: int
    train_tokens_max: int
    eval_completions: int
    wall_s: float | None  # None when no benchmark constant covers this model/backend
    parallel_jobs: int


def _run_completions(run: PlannedRun) -> int:
    t = run.config["train"]
    return t["steps"] * t["prompts_per_step"] * t["group_size"]


def _eval_completions(spec: CampaignSpec) -> int:
    """Per run: the final evaluation plus the held-out curve's points (step 0, every N steps, the last)."""
    e = spec.evaluation
    final = spec.task.heldout_size * (e.k + (1 if e.greedy else 0))
    if e.every is None:
        return final
    steps = spec.training.steps
    points = 1 + steps // e.every + (steps % e.every != 0)
    return final + points * min(e.curve_size, spec.task.heldout_size) * e.k


def _run_seconds(run: PlannedRun, eval_completions: int) -> float:
    t = run.config["train"]
    # the constant was measured at up to 8 new tokens; longer completions cost about proportionally more
    per_completion = STEP_PER_COMPLETION_S * max(1.0, run.config["sampling"]["max_tokens"] / 8)
    train = t["steps"] * (STEP_FIXED_S + per_completion * t["prompts_per_step"] * t["group_size"])
    evaluate = 0.0 if run.probe else EVAL_PER_COMPLETION_S * eval_completions
    jobs = 1 if run.probe else 2  # train (+ eval); summarize imports no mlx and takes milliseconds
    return train + evaluate + jobs * JOB_START_S


def estimate(spec: CampaignSpec, runs: list[PlannedRun], probes: list[PlannedRun], cores: int) -> Compute:
    max_tokens = spec.training.max_tokens
    completions = sum(_run_completions(r) for r in runs + probes)
    eval_completions = _eval_completions(spec)
    parallel = max(1, cores // spec.resources.threads)
    wall = None
    if spec.backend == "mlx" and spec.model.path == TINY_MODEL:
        # Probes finish before the runs that need their lr start; each phase packs its jobs greedily.
        wall = BASE_MODEL_S + _phase_seconds([_run_seconds(p, 0) for p in probes], parallel) + _phase_seconds(
            [_run_seconds(r, eval_completions) for r in runs], parallel
        )
    return Compute(
        runs=len(runs),
        probes=len(probes),
        train_completions=completions,
        train_tokens_max=completions * max_tokens,
        eval_completions=eval_completions * len(runs),
        wall_s=wall,
        parallel_jobs=parallel,
    )


def _phase_seconds(durations: list[float], parallel: int) -> float:
    """Longest-first greedy packing onto `parallel` slots, as Snakemake's greedy scheduler roughly does."""
    slots = [0.0] * parallel
    for d in sorted(durations, reverse=True):
        i = min(range(parallel), key=slots.__getitem__)
        slots[i] += d
    return max(slots) if durations else 0.0


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = math.ceil(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
