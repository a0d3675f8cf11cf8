"""Held-out evaluation of a run: its final policy scored on the held-out split -> eval.json.

The base model's evaluation under the same settings is copied into eval.json["base"] (from the
built-in model's base_eval.json, or computed once and cached under $TEXTRL_CACHE/base_eval/).
"""

from __future__ import annotations

from pathlib import Path

from textrl.checkpoint import Checkpoints
from textrl.config import load_run_config
from textrl.engine.factory import make_engine
from textrl.errors import ConfigError
from textrl.heldout_metrics import evaluate_policy, identity_of, settings_of
from textrl.io import atomic_write_json, read_json, stable_hash
from textrl.paths import cache_root
from textrl.run_lock import run_lock
from textrl.tasks import get_task


def _matches(record: dict, identity: dict, settings: dict) -> bool:
    return all(record.get(key) == value for key, value in identity.items() if key != "task_params") and all(
        record.get(key) == settings[key] for key in ("k", "temperature", "top_p", "max_tokens", "eval_seed")
    ) and (record.get("greedy_acc") is not None or not settings["greedy"]) and not settings["stop"]


def base_evaluation(cfg, model_dir, task, heldout, log=print) -> dict:
    """{"avg_at_k", "greedy_acc", ...} of the untrained base policy under this run's eval settings."""
    settings, identity = settings_of(cfg), identity_of(cfg)
    built = Path(str(model_dir)) / "base_eval.json"
    if cfg.backend == "mlx" and built.is_file():
        record = read_json(built)
        if _matches(record, identity, settings) and record.get("task_params") == identity["task_params"]:
            return record
    model_key = str(Path(model_dir).resolve()) if Path(str(model_dir)).is_dir() else str(model_dir)
    key = stable_hash({"backend": cfg.backend, "model": model_key, **identity, **settings,
                       "chat_template": cfg.model.chat_template}, 16)
    cached = cache_root() / "base_eval" / f"{key}.json"
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
    if not Path(run_dir).is_dir():
        return _evaluate_run(run_dir, log)  # which says what is missing, without creating the directory
    with run_lock(run_dir, "textrl eval"):
        return _evaluate_run(run_dir, log)


def _evaluate_run(run_dir: Path, log) -> dict:
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
