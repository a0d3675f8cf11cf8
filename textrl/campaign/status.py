"""Per-run status of a campaign results directory for `textrl status`: each run's state (the vocabulary
and classifier of analysis.run_state, shared with the report), last step, reward and ETA."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis.run_state import DONE, RUNNING, classify, sequential_gate
from textrl.errors import ConfigError
from textrl.io import read_json


@dataclass
class RunStatus:
    run_id: str
    arm: str
    state: str  # one of analysis.run_state.STATES
    steps: int
    last_step: int = 0
    reward: float | None = None
    eta_s: float | None = None
    detail: str = ""
    log_tail: list[str] = field(default_factory=list)


def run_status(campaign_dir: Path, entry: dict, *, now: float | None = None, gate=None) -> RunStatus:
    now = time.time() if now is None else now
    s = classify(campaign_dir, entry, now=now, gate=gate, log_lines=8)
    steps = entry["config"]["train"]["steps"]
    status = RunStatus(entry["run_id"], entry["arm"], s.state, steps, s.last_step, s.reward_mean, detail=s.detail,
                       log_tail=s.log_tail)
    if s.state == DONE:
        status.reward = (s.summary.get("endpoints") or {}).get("final_reward", s.reward_mean)
    elif s.state == RUNNING and s.step_s:
        status.eta_s = (steps - s.last_step) * s.step_s
    return status


def campaign_status(campaign_dir: str | Path, *, now: float | None = None) -> list[RunStatus]:
    campaign_dir = Path(campaign_dir)
    plan_path = campaign_dir / "plan.json"
    if not plan_path.exists():
        raise ConfigError(f"{plan_path}: no plan.json; is {campaign_dir} a campaign results directory "
                          "(written by `textrl plan` or the Snakefile's plan rule)?")
    plan = read_json(plan_path)
    gate = sequential_gate(campaign_dir, plan)
    return [run_status(campaign_dir, entry, now=now, gate=gate) for entry in plan["runs"]]


def campaign_eta(statuses: list[RunStatus], parallel: int) -> float | None:
    """Remaining steps of unfinished runs at the mean observed step time, spread over `parallel` slots."""
    rates = [s.eta_s / max(1, s.steps - s.last_step) for s in statuses if s.eta_s]
    if not rates:
        return None
    step_s = sum(rates) / len(rates)
    remaining = sum(s.steps - s.last_step for s in statuses if s.state != DONE)
    return remaining * step_s / max(1, parallel)
