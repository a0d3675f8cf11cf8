"""Held-out evaluation: K samples (and one greedy decode) per held-out problem -> eval.json.

Engine-neutral: anything with encode_prompt/sample works. The base model's evaluation under the same
settings is copied into eval.json["base"] (from the built-in model's base_eval.json, or computed once
and cached under $TEXTRL_CACHE/base_eval/).
"""

from __future__ import annotations

import hashlib
import json
from math import comb
from pathlib import Path

from textrl.engine.base import SamplingParams
from textrl.io import atomic_write_json, read_json


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def settings_of(cfg) -> dict:
    """The decoding settings of a run's evaluation (what must match for runs to be comparable)."""
    return {
        "k": cfg.eval.k,
        "temperature": cfg.eval.temperature,
        "top_p": cfg.eval.top_p,
        "max_tokens": cfg.eval_max_tokens,
        "eval_seed": cfg.eval.seed,
        "greedy": cfg.eval.greedy,
        "stop": list(cfg.sampling.stop),
    }


def identity_of(cfg) -> dict:
    return {"task": cfg.task.name, "task_params": dict(cfg.task.params), "split": "heldout",
            "split_seed": cfg.task.split_seed, "size": cfg.task.heldout_size}


def evaluate_policy(engine, task, heldout, settings: dict) -> dict:
    """avg@k, pass@1, pass@k, greedy accuracy and per-problem counts for `engine`'s current policy."""
    k = settings["k"]
    stop = tuple(settings.get("stop") or ()) + tuple(s for s in task.stop if s)
    prompts = [engine.encode_prompt(ex.prompt) for ex in heldout]
    sampled = engine.sample(
        prompts, k, SamplingParams(settings["temperature"], settings["top_p"], settings["max_tokens"], stop),
        seed=settings["eval_seed"],
    )
    flat_examples = [ex for ex in heldout for _ in range(k)]
    scores = task.score([c.text for group in sampled for c in group], flat_examples)
    counts = [sum(bool(scores[i * k + j]["correct"]) for j in range(k)) for i in range(len(heldout))]
    greedy = [None] * len(heldout)
    if settings["greedy"]:
        decoded = engine.sample(prompts, 1, SamplingParams(0.0, 1.0, settings["max_tokens"], stop), seed=settings["eval_seed"])
        greedy = [bool(s["correct"]) for s in task.score([g[0].text for g in decoded], heldout)]
    n = len(heldout)
    ks = sorted({1, k} | {2**i for i in range(1, k.bit_length()) if 2**i <= k})
    return {
        **{key: settings[key] for key in ("k", "temperature", "top_p", "max_tokens", "eval_seed")},
        "avg_at_k": sum(counts) / (n * k) if n else 0.0,
        "pass_at_1": sum(pass_at_k(k, c, 1) for c in counts) / n if n else 0.0,
        "pass_at_k": {str(j): (sum(pass_at_k(k, c, j) for c in counts) / n if n else 0.0) for j in ks},
        "greedy_acc": (sum(greedy) / n if n else 0.0) if settings["greedy"] else None,
        "per_problem": [
            {"id": ex.id, "correct": c, "n": k, "greedy_correct": g} for ex, c, g in zip(heldout, counts, greedy)
        ],
    }


def _matches(record: dict, identity: dict, settings: dict) -> bool:
    return all(record.get(key) == value for key, value in identity.items() if key != "task_params") and all(
        record.get(key) == settings[key] for key in ("k", "temperature", "top_p", "max_tokens", "eval_seed")
    ) and (record.get("greedy_acc") is not None or not settings["greedy"]) and not settings["stop"]


def base_evaluation(cfg, model_dir, task, heldout, log=print) -> dict:
    """{"avg_at_k", "greedy_acc", ...} of the untrained base policy under this run's eval settings."""
    from textrl.models.builtin import cache_root
    from textrl.trainer import make_engine

    settings, identity = settings_of(cfg), identity_of(cfg)
    built = Path(str(model_dir)) / "base_eval.json"
    if cfg.backend == "mlx" and built.is_file():
        record = read_json(built)
        if _matches(record, identity, settings) and record.get("task_params") == identity["task_params"]:
            return record
    model_key = str(Path(model_dir).resolve()) if Path(str(model_dir)).is_dir() else str(model_dir)
    blob = json.dumps({"backend": cfg.backend, "model": model_key, **identity, **settings,
                       "chat_template": cfg.model.chat_template}, sort_keys=True)
    cached = cache_root() / "base_eval" / (hashlib.sha256(blob.encode()).hexdigest()[:16] + ".json")
    if cached.is_file():
        return read_json(cached)
    log(f"evaluating the base model {model_dir} on {len(heldout)} held-out problems (cached for later runs)")
    engine, _ = make_engine(cfg, "base", log=log)
    result = {**identity, **evaluate_policy(engine, task, heldout, settings)}
    atomic_write_json(cached, result)
    return result


def evaluate_run(run_dir: Path, log=print) -> dict:
    """Evaluate a finished run's final policy and write RUN_DIR/eval.json (not while another process writes
    the run directory)."""
    from textrl.run_lock import run_lock

    if not Path(run_dir).is_dir():
        return _evaluate_run(run_dir, log)  # which says what is missing, without creating the directory
    with run_lock(run_dir, "textrl eval"):
        return _evaluate_run(run_dir, log)


def _evaluate_run(run_dir: Path, log) -> dict:
    from textrl.checkpoint import Checkpoints
    from textrl.config import load_run_config
    from textrl.errors import ConfigError
    from textrl.tasks import get_task
    from textrl.trainer import make_engine

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ConfigError(f"{run_dir}: no config.json; is this a run directory written by `textrl train`?")
    cfg = load_run_config(config_path)
    ckpts = Checkpoints(run_dir)
    state = ckpts.latest_state()
    if state is None or state["step"] < cfg.train.steps:
        done = 0 if state is None else state["step"]
        raise ConfigError(f"{run_dir}: training is not finished (checkpoint at step {done} of {cfg.train.steps})")
    task = get_task(cfg.task.name, **cfg.task.params)
    _, heldout = task.split(cfg.task.split_seed, cfg.task.heldout_size)
    engine, model_dir = make_engine(cfg, "policy", log=log)
    engine.load_state(ckpts.path, optimizer=False)
    result = {**identity_of(cfg), **evaluate_policy(engine, task, heldout, settings_of(cfg))}
    base = base_evaluation(cfg, model_dir, task, heldout, log=log)
    result["base"] = {"avg_at_k": base["avg_at_k"], "pass_at_1": base["pass_at_1"], "greedy_acc": base["greedy_acc"]}
    result["checkpoint_step"] = state["step"]
    atomic_write_json(run_dir / "eval.json", result)
    return result
