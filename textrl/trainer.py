"""The engine-neutral RL loop: each step runs the stages of textrl.rl_step (sample -> score -> advantages ->
datums -> update -> record), then logs the step, its held-out point and its checkpoint.

Seeds are real and need no RNG snapshot: the prompts of step s and the sampling key of step s are
functions of (run seed, s) alone, so a run resumed from the checkpoint of step s continues exactly as an
uninterrupted run would. On resume, metrics.jsonl and generations.jsonl.gz are cut back to the
checkpoint's step before any new step is appended, so no step is ever logged twice; eval_curve.jsonl
likewise, and a step's held-out point is written before its checkpoint, so a resumed run never lacks one.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from textrl import __version__, fastblas, fastjit, rl_step
from textrl.advantages import AdvantagePipeline
from textrl.checkpoint import Checkpoints, append_gzip_jsonl, truncate_log
from textrl.config import RunConfig, changed_settings
from textrl.engine.base import Engine, SamplingParams
from textrl.engine.factory import engine_class, make_engine
from textrl.engine.loss_spec import LossSpec
from textrl.errors import ConfigError
from textrl.evaluate import base_evaluation
from textrl.heldout_curve import CURVE_FILE, curve_point, is_curve_step
from textrl.io import append_jsonl, atomic_write_json, read_json
from textrl.progress import StepProgress
from textrl.run_lock import run_lock
from textrl.tasks import Example, Task, build_task
from textrl.tracking import Tracker

# the metrics row's field groups, still importable from here
CHANGED_FRACS, TIMING_FIELDS = rl_step.CHANGED_FRACS, rl_step.TIMING_FIELDS


def derived_seed(seed: int, step: int, purpose: str) -> int:
    """A 63-bit seed for one purpose at one step: independent streams without stored RNG state."""
    entropy = [seed & (2**64 - 1), step, zlib.crc32(purpose.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]) >> 1


def prompts_for_step(n_train: int, per_step: int, seed: int, step: int) -> list[int]:
    """Indices of the training problems of `step` (1-based): epochs of seeded permutations."""
    start = (step - 1) * per_step
    out = []
    while len(out) < per_step:
        epoch, offset = divmod(start + len(out), n_train)
        order = list(range(n_train))
        random.Random(derived_seed(seed, epoch, "prompt-order")).shuffle(order)
        take = min(per_step - len(out), n_train - offset)
        out.extend(order[offset : offset + take])
    return out


def lr_at(cfg, step: int) -> float:
    if cfg.train.lr_schedule == "warmup":
        return cfg.train.lr * min(1.0, step / cfg.train.warmup_steps)
    return cfg.train.lr


def versions() -> dict:
    out = {"python": platform.python_version(), "textrl": __version__}
    for dist in ("mlx", "mlx-lm", "numpy", "pydantic", "transformers", "tokenizers", "wandb", "tinker"):
        try:
            out[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@dataclass
class Setup:
    cfg: RunConfig
    task: Task
    train_set: list[Example]
    heldout: list[Example]
    pipeline: AdvantagePipeline
    engine: Engine
    model_dir: Path | str  # the Tinker backend's model is a name, not a directory


def setup(cfg, log=print) -> Setup:
    """Everything a run needs, validated in cost order: config-level errors before any model loads."""
    task = build_task(cfg.task)  # the task plus any task.rewards added to its score
    pipeline = AdvantagePipeline.from_config(dict(cfg.advantage)).resolved(cfg.train.steps)
    pipeline.require_uncertainty(engine_class(cfg).uncertainty_kinds, cfg.backend)
    train_set, heldout = task.split(cfg.task.split_seed, cfg.task.heldout_size)
    if not train_set:  # a custom task's split may return none
        raise ConfigError(f"run config task: {cfg.task.name!r} has no training problems")
    engine, model_dir = make_engine(cfg, "train", log=log)
    return Setup(cfg, task, train_set, heldout, pipeline, engine, model_dir)


def run_record(s: Setup) -> dict:
    return {
        "run": s.cfg.to_dict(),
        "advantage_pipeline": s.pipeline.model_dump(mode="json"),
        "versions": versions(),
        "git_revision": git_revision(),
        "host": platform.node(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "model_dir": str(s.model_dir),
        "fast_blas": fastblas.status(),
        "fast_jit": fastjit.status(),
    }


def _prepare_run_dir(cfg, out: Path, fresh: bool, ckpts: Checkpoints) -> dict | None:
    """The checkpoint state to resume from (None: start at step 1), after checking it is this run's."""
    config_path = out / "config.json"
    if fresh:
        ckpts.clear()
        for name in ("metrics.jsonl", "generations.jsonl.gz", "config.json", "eval.json", "summary.json"):
            (out / name).unlink(missing_ok=True)
        return None
    state = ckpts.latest_state()
    if config_path.is_file():
        stored = read_json(config_path).get("run")
        if stored != cfg.to_dict():
            changed = [key for key, _, _ in changed_settings(stored or {}, cfg.to_dict())]
            raise ConfigError(
                f"{out}: holds a run with a different config (changed: {', '.join(changed) or 'format'}); "
                "use another --out, or pass --fresh to discard it"
            )
    elif state is not None and state.get("config") != cfg.to_dict():
        raise ConfigError(f"{out}/checkpoint: was written by a different run config; pass --fresh to discard it")
    ckpts.remove_stale_tmp()
    return state


def reward_control_rate(cfg, s: Setup, log=print) -> float:
    """The success probability of a negative control's draws: given, or the base model's held-out avg@k."""
    if cfg.reward_control.rate is not None:
        return float(cfg.reward_control.rate)
    return float(base_evaluation(cfg, s.model_dir, s.task, s.heldout, log=log)["avg_at_k"])


def train(cfg, out_dir: str | os.PathLike, *, fresh: bool = False, log=print, progress: bool = True) -> list[dict]:
    """Train one run into out_dir (resuming from its checkpoint); returns the metrics rows of this call.
    Refuses, before touching a file, a directory that another `textrl train` or `textrl eval` is writing."""
    with run_lock(out_dir, "textrl train"):
        return _train(cfg, out_dir, fresh=fresh, log=log, progress=progress)


def _train(cfg, out_dir: str | os.PathLike, *, fresh: bool, log, progress: bool) -> list[dict]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpts = Checkpoints(out)
    state = _prepare_run_dir(cfg, out, fresh, ckpts)
    if state is not None and state["step"] >= cfg.train.steps:
        log(f"{out}: already trained ({state['step']} steps)")
        return []
    s = setup(cfg, log=log)
    engine, task, pipeline = s.engine, s.task, s.pipeline
    controller = pipeline.controller()
    start_step, tokens_total, wandb_id = 1, 0, None
    if state is not None:
        engine.load_state(ckpts.path)
        controller.load_state_dict(state["controller"])
        start_step, tokens_total, wandb_id = state["step"] + 1, state["tokens_generated"], state.get("wandb_run_id")
        log(f"{out}: resuming from the checkpoint of step {state['step']}")
    kept = truncate_log(out / "metrics.jsonl", start_step - 1)
    if kept != start_step - 1:  # a resume must continue the record, not leave a hole in it
        raise ConfigError(f"{out / 'metrics.jsonl'}: holds {kept} of the {start_step - 1} steps before the checkpoint; "
                          "restore the file, or start the run again with --fresh")
    truncate_log(out / "generations.jsonl.gz", start_step - 1)
    # a fresh start re-evaluates step 0 (the untrained policy), so nothing of a crashed first try is kept
    truncate_log(out / CURVE_FILE, start_step - 1 if start_step > 1 else -1)
    record = run_record(s)
    if record["fast_jit"]["stale_kernels"]:
        log(f"note: {record['fast_jit']['stale_kernels']}")
    control_rate = reward_control_rate(cfg, s, log) if cfg.reward_control else None
    if control_rate is not None:
        record["reward_control"] = {"kind": cfg.reward_control.kind, "rate": control_rate}
        log(f"negative control: rewards are Bernoulli({control_rate:.4f}) draws, not the task's")
    if not (out / "config.json").is_file():
        atomic_write_json(out / "config.json", record)
    tracker = Tracker(cfg, out, record, wandb_id)

    spec = LossSpec.from_run_config(cfg)
    grams = tuple(task.planning_grams) + tuple(pipeline.grams)
    stop = tuple(cfg.sampling.stop) + tuple(x for x in task.stop if x)
    params = SamplingParams(cfg.sampling.temperature, cfg.sampling.top_p, cfg.sampling.max_tokens, stop)
    B, G = cfg.train.prompts_per_step, cfg.train.group_size
    encoded: dict[str, list[int]] = {}
    bar = StepProgress(cfg.train.steps, start_step - 1) if progress else None
    rows = []

    def save(step: int) -> None:
        ckpts.save(
            {"step": step, "tokens_generated": tokens_total, "controller": controller.state_dict(),
             "wandb_run_id": tracker.run_id, "config": cfg.to_dict(),
             "rng": {"scheme": "derived from (seed, step)", "seed": cfg.seed}},
            engine.save_state,
        )

    def curve(step: int) -> None:
        point = curve_point(cfg, engine, task, s.heldout, step)
        append_jsonl(out / CURVE_FILE, [point])
        tracker.log({"step": step, **{f"heldout/{k}": v for k, v in point.items() if k != "step"}})

    def refill(step: int):
        """For dynamic sampling: n fresh training prompts, sampled and scored, from seeds of (run seed, step,
        round) alone, so a resumed run refills exactly as an uninterrupted one."""
        def draw(round_: int, n: int):
            rng = random.Random(derived_seed(cfg.seed, step, f"dynamic-sampling-prompts-{round_}"))
            examples = [s.train_set[i] for i in rng.sample(range(len(s.train_set)), min(n, len(s.train_set)))]
            fresh, sampled = rl_step.sample(engine, examples, G, params,
                                            derived_seed(cfg.seed, step, f"dynamic-sampling-{round_}"), encoded)
            fresh, _ = rl_step.score(task, fresh, step=step, task_name=cfg.task.name, control_rate=control_rate,
                                     control_seed=derived_seed(cfg.seed, step, f"dynamic-sampling-control-{round_}"))
            return fresh, sampled
        return draw

    try:
        if start_step == 1 and cfg.eval.every is not None:
            curve(0)
        for step in range(start_step, cfg.train.steps + 1):
            clock = rl_step.Clock()
            examples = [s.train_set[i] for i in prompts_for_step(len(s.train_set), B, cfg.seed, step)]
            batch, sampled = rl_step.sample(engine, examples, G, params, derived_seed(cfg.seed, step, "sampling"),
                                            encoded)
            clock.lap("gen_s")
            batch, scored = rl_step.score(task, batch, step=step, task_name=cfg.task.name, control_rate=control_rate,
                                          control_seed=derived_seed(cfg.seed, step, "reward-control"))
            refilled = {}
            if pipeline.dynamic_sampling is not None:
                # the logged rewards stay those of the step's own prompts (comparable across arms); the
                # update sees the kept groups
                batch, refilled = rl_step.keep_varied(batch, refill(step), rounds=pipeline.dynamic_sampling.rounds)
            batch, shaped = rl_step.advantages(pipeline, batch, step=step, controller=controller, grams=grams)
            data = rl_step.datums(batch)
            clock.lap("score_s")
            updated = rl_step.update(engine, data, spec, lr=lr_at(cfg, step), epochs=cfg.loss.epochs,
                                     target_kl=cfg.loss.target_kl)
            clock.lap("train_s")
            tokens_total += sampled["tokens"] + refilled.get("refill_tokens", 0)
            if cfg.train.log_generations:
                append_gzip_jsonl(out / "generations.jsonl.gz", rl_step.generations(step, batch))
            row = rl_step.record(step, sampled=sampled, scored=scored, shaped=shaped, updated=updated,
                                 tokens_generated=tokens_total, seconds=clock.seconds())
            row.update({k: v for k, v in refilled.items() if k != "refill_tokens"})
            append_jsonl(out / "metrics.jsonl", [row])
            tracker.log(row)
            rows.append(row)
            if is_curve_step(cfg, step):
                curve(step)
            if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
                save(step)
            if bar:
                bar.update(step, row["reward_mean"], sampled["tokens"] / max(row["gen_s"], 1e-9))
    finally:
        if bar:
            bar.close()
        tracker.finish()
    return rows


def strip_timing(row: dict) -> dict:
    """A metrics row without the fields that legitimately differ between identical runs."""
    return {k: v for k, v in row.items() if k not in TIMING_FIELDS}

