"""The state of one planned run, from its files alone: the one vocabulary and classifier that
`textrl status`, the report and `textrl runs` share (it works while Snakemake runs, after it stopped,
and on a cluster's shared filesystem).

- done:         summary.json (written last, atomically) is readable, eval.json exists, and config.json
                is the plan's config for the run.
- stale:        finished, but trained with another config than the plan's (the spec was edited and
                re-planned): not analysed; rerunning the campaign moves it aside and trains it again.
- malformed:    summary.json cannot be read (truncated, foreign).
- running:      (only when asked with a clock) its metrics, checkpoint or job log changed within the last
                STALE_S seconds, or a few of its own step times for slow steps.
- failed:       not running, and its newest job log ends in an error (the log's last lines are kept).
- not_finished: started but not done, no error: rerunning the campaign resumes it from its checkpoint.
- pending:      not started (no run directory).
- waiting / not_needed: a later-stage run of a sequential design (seeds: {per_stage, max_stages})
                whose stage the previous interim has not decided yet / decided it does not need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from textrl.config import changed_settings
from textrl.io import read_json

DONE, STALE, MALFORMED, RUNNING, FAILED = "done", "stale", "malformed", "running", "failed"
NOT_FINISHED, PENDING, WAITING, NOT_NEEDED = "not_finished", "pending", "waiting", "not_needed"
STATES = (DONE, RUNNING, FAILED, NOT_FINISHED, PENDING, WAITING, NOT_NEEDED, STALE, MALFORMED)

STALE_S = 120.0
# a job log whose last lines hold one of these ended in an error
ERROR_MARKERS = ("Traceback (most recent call last)", "error:", "Error:", "Killed", "MemoryError")
LOG_NAMES = ("train.log", "log.txt", "stderr.log")  # a run trained by hand, outside Snakemake


@dataclass
class RunState:
    state: str
    detail: str = ""
    summary: dict | None = None       # a finished run's summary.json
    config: dict | None = None        # its config.json
    last_step: int = 0                # from the tail of metrics.jsonl
    reward_mean: float | None = None  # of that last step
    step_s: float | None = None       # mean of the recent steps' step_s
    log_tail: list[str] = field(default_factory=list)  # "<log path>:" then its last lines, for failures


def job_logs(campaign_dir: Path, run_id: str) -> list[Path]:
    """Where the Snakefile's jobs of one run write their logs."""
    return [campaign_dir / "logs" / stage / f"{run_id}.log" for stage in ("train", "evaluate", "summarize")]


def last_lines(path: Path, n: int) -> list[str]:
    """The last n lines of a file, reading at most its last 8 KB."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            return f.read().decode(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def last_metrics(path: Path) -> tuple[int, float | None, float | None]:
    """(last step, its reward_mean, mean step_s over recent steps) without reading the whole file."""
    rows = []
    for line in last_lines(path, 20):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill, or the first partial line of the tail
        if isinstance(row, dict):
            rows.append(row)
    if not rows:
        return 0, None, None
    step_s = [r["step_s"] for r in rows if isinstance(r.get("step_s"), (int, float))]
    return rows[-1].get("step", 0), rows[-1].get("reward_mean"), (sum(step_s) / len(step_s) if step_s else None)


def planned_vs_trained(entry: dict, config) -> list[str]:
    """Settings where the run's own config.json differs from its plan.json entry (a swept lr excepted),
    as "key trained -> planned"."""
    planned, ran = entry.get("config"), (config or {}).get("run") if isinstance(config, dict) else None
    if not isinstance(planned, dict) or not isinstance(ran, dict):
        return []
    return [f"{k} {trained!r} -> {plan!r}" for k, plan, trained in changed_settings(planned, ran)
            if not (k == "train.lr" and entry.get("lr") == "from_sweep")]


def sequential_gate(campaign_dir: Path, plan: dict, on_problem: Callable[[Path, str], None] | None = None):
    """entry -> None (an ordinary run) or the state of a later-stage run that has not started."""
    seeds = (plan.get("spec") or {}).get("seeds")
    if not isinstance(seeds, dict):
        return lambda entry: None
    per_stage = seeds.get("per_stage")
    chosen: dict[int, set[str]] = {}
    for path in (campaign_dir / "sequential").glob("stage_*.json"):
        try:
            chosen[int(path.stem.split("_")[1]) + 1] = set(read_json(path).get("next_stage_runs") or [])
        except (OSError, ValueError, AttributeError) as e:
            # a file cut short: the interim is rerun; its runs count as waiting meanwhile
            if on_problem:
                on_problem(path, f"unreadable stage file ({e.__class__.__name__})")

    def gate(entry: dict) -> str | None:
        stage = entry.get("stage")
        if stage is None:  # a plan written before runs carried their stage: the seed says it
            stage = int(entry["seed"]) // per_stage + 1 if isinstance(entry.get("seed"), int) and per_stage else 1
        if stage == 1 or (campaign_dir / "runs" / entry["run_id"]).exists():
            return None
        if stage not in chosen:
            return WAITING
        return None if entry["run_id"] in chosen[stage] else NOT_NEEDED

    return gate


def _newest_mtime(paths: list[Path]) -> float | None:
    times = []
    for p in paths:
        try:
            times += [c.stat().st_mtime for c in p.iterdir()] if p.is_dir() else [p.stat().st_mtime]
        except OSError:
            continue
    return max(times) if times else None


def _read(path: Path, on_problem) -> dict | None:
    """A JSON object, or None (and a problem noted) when the file cannot be read as one."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        on_problem(path, f"unreadable JSON ({e.__class__.__name__}: {e})")
        return None
    if not isinstance(value, dict):
        on_problem(path, "not a JSON object")
        return None
    return value


def classify(campaign_dir: str | Path, entry: dict, *, now: float | None = None, gate=None,
             on_problem: Callable[[Path, str], None] | None = None, log_lines: int = 5) -> RunState:
    """The state of the run of one plan.json entry. `now`: a clock to tell running from not_finished
    (None: a snapshot of the files, never "running"). `gate`: sequential_gate's function for the plan."""
    campaign_dir = Path(campaign_dir)
    on_problem = on_problem or (lambda path, problem: None)
    run_dir = campaign_dir / "runs" / entry["run_id"]
    if gate is not None and (sequential := gate(entry)) is not None:
        detail = ("its seed stage was not needed: the sequential design decided before it" if sequential == NOT_NEEDED
                  else "its stage waits for the interim analysis of the stage before")
        return RunState(sequential, detail)
    if not run_dir.is_dir():
        return RunState(PENDING, "not started (no run directory)")
    last, reward, step_s = last_metrics(run_dir / "metrics.jsonl")
    state = RunState(NOT_FINISHED, "", last_step=last, reward_mean=reward, step_s=step_s)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        summary = _read(summary_path, on_problem)
        if summary is None:
            state.state = MALFORMED
            state.detail = ("summary.json unreadable; delete it and rerun the campaign to summarize the run again")
            return state
        if not (run_dir / "eval.json").is_file():  # the summary outlived its evaluation: not a finished run
            on_problem(run_dir / "eval.json", "missing beside summary.json")
            state.detail = "eval.json is missing (deleted?); rerunning the campaign evaluates and summarizes the run again"
            return state
        config = _read(run_dir / "config.json", on_problem) if (run_dir / "config.json").exists() else None
        if config is None and not (run_dir / "config.json").exists():
            on_problem(run_dir / "config.json", "missing")
        changed = planned_vs_trained(entry, config)
        if changed:  # e.g. the spec was edited and re-planned after these runs trained
            state.state = STALE
            state.detail = (f"trained with another config than plan.json's (changed: {', '.join(changed[:5])}); "
                            "rerunning the campaign retrains it, or restore the spec it was planned from")
            return state
        state.state, state.summary, state.config = DONE, summary, config
        state.last_step = summary.get("steps", last) if isinstance(summary.get("steps"), int) else last
        return state
    logs = [*job_logs(campaign_dir, entry["run_id"]), *(run_dir / n for n in LOG_NAMES)]
    if now is not None:
        newest = _newest_mtime([run_dir / "metrics.jsonl", run_dir / "checkpoint", *logs])
        if newest is not None and now - newest < max(STALE_S, 5 * (step_s or 0)):
            state.state, state.detail = RUNNING, f"step {last}"
            return state
    existing = [log for log in logs if log.is_file()]
    if existing:
        latest = max(existing, key=lambda p: p.stat().st_mtime)
        tail = last_lines(latest, log_lines)
        if any(marker in line for line in tail for marker in ERROR_MARKERS):
            state.state, state.detail = FAILED, "its last job log ends in an error"
        state.log_tail = [f"{latest}:"] + tail
    if state.state == NOT_FINISHED:
        state.detail = "not finished (no summary.json)"
    return state
