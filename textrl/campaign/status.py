"""Per-run status of a campaign results directory, from the files alone (works while Snakemake runs,
after it stopped, and on a cluster's shared filesystem).

- done:    summary.json (written last, atomically) and eval.json exist; an unreadable summary.json is failed.
- running: the run's metrics, checkpoint or log changed within the last STALE_S seconds (or a few
           of its own step times, for slow steps).
- failed:  not running, and its last log ends in an error (the log's last lines are shown).
- pending: everything else, including runs stopped mid-way: they resume from their checkpoint.

A sequential campaign (seeds: {per_stage, max_stages}) adds two states for runs of stage k > 1:
- waiting:    stage k-1's interim (sequential/stage_<k-1>.json) has not decided yet whether they train;
- not_needed: it decided they do not (every comparison needing them was closed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from textrl.io import read_json

STALE_S = 120.0
# a job log whose last lines hold one of these ended in an error (shared with analysis.load)
ERROR_MARKERS = ("Traceback (most recent call last)", "error:", "Error:", "Killed", "MemoryError")


@dataclass
class RunStatus:
    run_id: str
    arm: str
    state: str  # done | running | failed | pending
    steps: int
    last_step: int = 0
    reward: float | None = None
    eta_s: float | None = None
    log_tail: list[str] = field(default_factory=list)


def _last_lines(path: Path, n: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 8192))
        return f.read().decode(errors="replace").splitlines()[-n:]


def _last_metrics(path: Path) -> tuple[int, float | None, float | None]:
    """(last step, its reward_mean, mean step_s over recent steps) without reading the whole file."""
    lines = _last_lines(path, 20)
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill, or the first partial line of the tail
    if not rows:
        return 0, None, None
    step_s = [r["step_s"] for r in rows if isinstance(r.get("step_s"), (int, float))]
    return rows[-1].get("step", 0), rows[-1].get("reward_mean"), (sum(step_s) / len(step_s) if step_s else None)


def _newest_mtime(paths: list[Path]) -> float | None:
    times = []
    for p in paths:
        if p.is_dir():
            times += [c.stat().st_mtime for c in p.iterdir()]
        elif p.exists():
            times.append(p.stat().st_mtime)
    return max(times) if times else None


def job_logs(campaign_dir: Path, run_id: str) -> list[Path]:
    """Where the Snakefile's jobs of one run write their logs."""
    return [campaign_dir / "logs" / stage / f"{run_id}.log" for stage in ("train", "evaluate", "summarize")]


def run_status(campaign_dir: Path, entry: dict, *, now: float | None = None, log_lines: int = 8) -> RunStatus:
    now = time.time() if now is None else now
    run_id = entry["run_id"]
    run_dir = campaign_dir / "runs" / run_id
    steps = entry["config"]["train"]["steps"]
    last, reward, step_s = _last_metrics(run_dir / "metrics.jsonl")
    status = RunStatus(run_id, entry["arm"], "pending", steps, last, reward)
    if (run_dir / "summary.json").exists():
        try:
            summary = read_json(run_dir / "summary.json")
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:  # a truncated or foreign file: say so, never crash the table
            status.state = "failed"
            status.log_tail = [f"{run_dir / 'summary.json'}: unreadable ({e}); delete it and rerun the campaign "
                               "to summarize the run again"]
            return status
        if (run_dir / "eval.json").is_file():
            status.state = "done"
            status.last_step = summary.get("steps", last)
            status.reward = (summary.get("endpoints") or {}).get("final_reward", reward)
            return status
        # summary.json without eval.json: the evaluation was deleted; the campaign's rerun redoes both
    logs = job_logs(campaign_dir, run_id)
    newest = _newest_mtime([run_dir / "metrics.jsonl", run_dir / "checkpoint", *logs])
    stale_after = max(STALE_S, 5 * (step_s or 0))
    if newest is not None and now - newest < stale_after:
        status.state = "running"
        if step_s:
            status.eta_s = (steps - last) * step_s
        return status
    existing = [log for log in logs if log.exists()]
    if existing:
        latest = max(existing, key=lambda p: p.stat().st_mtime)
        tail = _last_lines(latest, log_lines)
        if any(marker in line for line in tail for marker in ERROR_MARKERS):
            status.state = "failed"
            status.log_tail = [f"{latest}:"] + tail
    return status


def campaign_status(campaign_dir: str | Path, *, now: float | None = None) -> list[RunStatus]:
    campaign_dir = Path(campaign_dir)
    plan_path = campaign_dir / "plan.json"
    if not plan_path.exists():
        from textrl.errors import ConfigError

        raise ConfigError(f"{plan_path}: no plan.json; is {campaign_dir} a campaign results directory "
                          "(written by `textrl plan` or the Snakefile's plan rule)?")
    plan = read_json(plan_path)
    gate = _sequential_gate(campaign_dir, plan)
    out = []
    for entry in plan["runs"]:
        state = gate(entry)
        out.append(run_status(campaign_dir, entry, now=now) if state is None else
                   RunStatus(entry["run_id"], entry["arm"], state, entry["config"]["train"]["steps"]))
    return out


def _sequential_gate(campaign_dir: Path, plan: dict):
    """entry -> None (an ordinary run) or the sequential state of a later-stage run that has not started."""
    if not isinstance((plan.get("spec") or {}).get("seeds"), dict):
        return lambda entry: None
    chosen: dict[int, set[str]] = {}
    for path in (campaign_dir / "sequential").glob("stage_*.json"):
        try:
            chosen[int(path.stem.split("_")[1]) + 1] = set(read_json(path).get("next_stage_runs") or [])
        except (OSError, ValueError, AttributeError):
            continue  # a file cut short: the interim is rerun; its runs count as waiting meanwhile

    def gate(entry: dict) -> str | None:
        stage = entry.get("stage") or 1
        if stage == 1 or (campaign_dir / "runs" / entry["run_id"]).exists():
            return None
        if stage not in chosen:
            return "waiting"
        return None if entry["run_id"] in chosen[stage] else "not_needed"

    return gate


def campaign_eta(statuses: list[RunStatus], parallel: int) -> float | None:
    """Remaining steps of unfinished runs at the mean observed step time, spread over `parallel` slots."""
    rates = [s.eta_s / max(1, s.steps - s.last_step) for s in statuses if s.eta_s]
    if not rates:
        return None
    step_s = sum(rates) / len(rates)
    remaining = sum(s.steps - s.last_step for s in statuses if s.state != "done")
    return remaining * step_s / max(1, parallel)
