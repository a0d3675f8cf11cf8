"""summary.json: a finished run's endpoints, from eval.json and metrics.jsonl. Written last; marks "done"."""

from __future__ import annotations

from pathlib import Path

from textrl.endpoints import training_endpoints
from textrl.errors import ConfigError
from textrl.heldout_curve import CURVE_FILE, curve_auc
from textrl.io import atomic_write_json, read_json, read_jsonl


def summarize_run(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    for name in ("config.json", "metrics.jsonl", "eval.json"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir}: no {name}; summarize runs after `textrl train` and `textrl eval`")
    run = read_json(run_dir / "config.json")["run"]
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    ev = read_json(run_dir / "eval.json")
    steps = run["train"]["steps"]
    if len(metrics) != steps or metrics[-1]["step"] != steps:
        raise ConfigError(f"{run_dir}/metrics.jsonl: {len(metrics)} rows for a run of {steps} steps (training unfinished?)")
    curve = read_jsonl(run_dir / CURVE_FILE) if (run_dir / CURVE_FILE).is_file() else []
    if run["eval"].get("every") and (not curve or curve[-1]["step"] != steps):
        raise ConfigError(f"{run_dir}/{CURVE_FILE}: no held-out point at the last step {steps} (training unfinished?)")
    summary = {
        "run_id": run["run_id"],
        "arm": run["arm"],
        "seed": run["seed"],
        "group_size": run["train"]["group_size"],
        "lr": run["train"]["lr"],
        "status": "done",
        "steps": steps,
        "endpoints": {
            "avg_at_k": ev["avg_at_k"],
            "pass_at_1": ev["pass_at_1"],
            "pass_at_k": ev["pass_at_k"],
            "greedy_acc": ev["greedy_acc"],
            **training_endpoints(metrics),
            "heldout_auc": curve_auc(curve),
        },
        "base": ev.get("base"),
        "tokens_generated": metrics[-1]["tokens_generated"],
        "wall_s": round(sum(m["step_s"] for m in metrics) + sum(r["eval_s"] for r in curve), 2),
    }
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
