"""Read a campaign results directory into tidy frames, never crashing on a broken file.

Every planned run gets a row with its state (analysis.run_state: done, failed, not_finished, pending,
malformed, stale, waiting, not_needed) and a detail saying why. A file that cannot be read is listed
in `file_problems` with its path, and the report shows that list.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.run_state import DONE, FAILED, NOT_FINISHED, classify, sequential_gate
from analysis.settings import Settings, settings_from_spec
from textrl.endpoints import ENDPOINTS
from textrl.heldout_curve import CURVE_FILE
from textrl.io import read_jsonl

CURVE_METRICS = ("reward_mean", "correct_rate", "tokens_generated", "sepa_lambda", "planning_token_frac",
                 "changed_frac_sepa", "changed_frac_gtpo", "changed_frac_hicra",
                 "entropy_mean", "loss")
HELDOUT_CURVE_METRICS = ("avg_at_k", "pass_at_k")  # eval_curve.jsonl, when the runs set eval.every
RUN_COLUMNS = ["run_id", "arm", "label", "seed", "group_size", "lr", "config_hash", "status", "detail", *ENDPOINTS,
               "steps", "tokens_generated", "wall_s", "base_avg_at_k", "base_greedy_acc", "eval_task", "eval_size", "eval_k",
               "eval_split_seed", "eval_seed"]


@dataclass
class Campaign:
    root: Path
    name: str
    spec: dict
    settings: Settings
    runs: pd.DataFrame                  # one row per run
    curves: pd.DataFrame                # one row per run and training step (done runs)
    heldout_curves: pd.DataFrame        # one row per run and held-out curve point (done runs with eval.every)
    problems: pd.DataFrame              # one row per run and held-out problem (done runs)
    configs: dict[str, dict] = field(default_factory=dict)   # run_id -> config.json
    file_problems: list[dict] = field(default_factory=list)  # {"path", "problem"}
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "done"]


class _Reader:
    """Reads JSON files, recording what it could not read instead of raising."""

    def __init__(self):
        self.problems: list[dict] = []

    def note(self, path: Path, problem: str) -> None:
        self.problems.append({"path": str(path), "problem": problem})

    def json(self, path: Path, required: bool = True):
        if not path.exists():
            if required:
                self.note(path, "missing")
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            self.note(path, f"unreadable JSON ({e.__class__.__name__}: {e})")
            return None

    def jsonl(self, path: Path) -> list[dict]:
        """Every well-formed line; malformed lines are recorded with their number and skipped."""
        if not path.exists():
            self.note(path, "missing")
            return []
        return read_jsonl(path, on_bad=lambda problem: self.note(path, problem))


def _number(x) -> float:
    if isinstance(x, bool) or x is None:
        return math.nan
    if isinstance(x, dict):  # pass_at_k {"1": .., "4": ..}: the value at the largest k
        ks = [k for k in x if str(k).isdigit()]
        return _number(x[max(ks, key=int)]) if ks else math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _planned_runs(root: Path, reader: _Reader, notes: list[str]) -> tuple[str, dict, list[dict]]:
    plan_path = root / "plan.json"
    plan = reader.json(plan_path)
    if isinstance(plan, dict) and isinstance(plan.get("runs"), list):
        runs = [r for r in plan["runs"] if isinstance(r, dict) and "run_id" in r]
        return str(plan.get("campaign") or root.name), plan.get("spec") or {}, runs
    if plan is not None:
        reader.note(plan_path, "no 'runs' list")
    notes.append("plan.json unavailable: runs were discovered from runs/*/ and the analysis settings are the defaults")
    found = []
    for d in sorted((root / "runs").glob("*")) if (root / "runs").is_dir() else []:
        if d.is_dir() and ".stale-" not in d.name:
            found.append({"run_id": d.name})
    return root.name, {}, found


def _labels(planned: list[dict]) -> dict[str, str]:
    """run_id -> arm label. An arm trained at several fixed learning rates becomes one label per lr."""
    lrs: dict[str, set] = {}
    for r in planned:
        if isinstance(r.get("lr"), (int, float)):
            lrs.setdefault(r.get("arm"), set()).add(float(r["lr"]))
    out = {}
    for r in planned:
        arm = r.get("arm")
        if arm is not None and len(lrs.get(arm, ())) > 1:
            out[r["run_id"]] = f"{arm}@lr{float(r['lr']):g}"
        elif arm is not None:
            out[r["run_id"]] = str(arm)
    return out


def _run_row(root: Path, entry: dict, reader: _Reader, gate) -> tuple[dict, dict | None, dict | None]:
    """(row, config, eval) for one run; endpoints from summary.json, falling back to eval.json."""
    run_dir = root / "runs" / entry["run_id"]
    row = {"run_id": entry["run_id"], "arm": entry.get("arm"), "seed": entry.get("seed"),
           "group_size": entry.get("group_size"), "lr": entry.get("lr"), "config_hash": entry.get("config_hash")}
    state = classify(root, entry, gate=gate, on_problem=reader.note)
    row.update(status=state.state, detail=state.detail)
    if state.state in (FAILED, NOT_FINISHED) and state.log_tail[1:]:
        row["detail"] += "; last log lines:\n" + "\n".join(state.log_tail[1:])
    if state.state != DONE:
        return row, None, None
    summary, config = state.summary, state.config
    ev = reader.json(run_dir / "eval.json")
    ev = ev if isinstance(ev, dict) else None
    run_cfg = (config or {}).get("run", {}) if isinstance(config, dict) else {}
    for key, fallback in (("arm", run_cfg.get("arm")), ("seed", run_cfg.get("seed")),
                          ("group_size", (run_cfg.get("train") or {}).get("group_size")),
                          ("lr", (run_cfg.get("train") or {}).get("lr"))):
        # The run's own record wins for lr (a swept lr is only known after the sweep).
        value = summary.get(key) if summary.get(key) is not None else fallback
        if row[key] is None or (key == "lr" and value is not None):
            row[key] = value
    endpoints = summary.get("endpoints") if isinstance(summary.get("endpoints"), dict) else {}
    for ep in ENDPOINTS:
        value = endpoints.get(ep)
        if value is None and ev is not None:
            value = ev.get(ep)
        row[ep] = _number(value)
    row.update(status="done", steps=_number(summary.get("steps")), tokens_generated=_number(summary.get("tokens_generated")),
               wall_s=_number(summary.get("wall_s")))
    base = summary.get("base") if isinstance(summary.get("base"), dict) else (ev or {}).get("base")
    if isinstance(base, dict):  # the untrained model on the same held-out set: the floor every arm starts from
        row.update(base_avg_at_k=_number(base.get("avg_at_k")), base_greedy_acc=_number(base.get("greedy_acc")))
    if ev is not None:
        row.update(eval_task=ev.get("task"), eval_size=ev.get("size"), eval_k=ev.get("k"),
                   eval_split_seed=ev.get("split_seed"), eval_seed=ev.get("eval_seed"))
    return row, (config if isinstance(config, dict) else None), ev


def _curve_rows(run_id: str, metrics: list[dict], path: Path, reader: _Reader, fields=CURVE_METRICS) -> list[dict]:
    rows, seen, dup = [], {}, []
    for m in metrics:
        step = m.get("step")
        if not isinstance(step, int):
            continue
        if step in seen:
            dup.append(step)
        seen[step] = {"run_id": run_id, "step": step, **{k: _number(m.get(k)) for k in fields}}
    if dup:
        # A resume must not append a step twice; the last copy is kept and the duplication is reported.
        reader.note(path, f"{len(dup)} duplicated step(s) (e.g. step {dup[0]}); kept the last copy")
    rows.extend(seen[s] for s in sorted(seen))
    return rows


def _problem_rows(run_id: str, ev: dict, path: Path, reader: _Reader) -> list[dict]:
    per = ev.get("per_problem")
    if not isinstance(per, list):
        reader.note(path, "no per_problem list")
        return []
    rows = []
    for p in per:
        if isinstance(p, dict) and "correct" in p and "n" in p:
            rows.append({"run_id": run_id, "problem_id": str(p.get("id")), "correct": _number(p["correct"]),
                         "n": _number(p["n"]), "greedy_correct": p.get("greedy_correct")})
    if len(rows) != len(per):
        reader.note(path, f"{len(per) - len(rows)} per_problem entries without correct/n, skipped")
    return rows


def load_campaign(campaign_dir: str | Path) -> Campaign:
    root = Path(campaign_dir)
    reader, notes = _Reader(), []
    name, spec, planned = _planned_runs(root, reader, notes)
    labels = _labels(planned)
    rows, curves, heldout_curves, problems, configs = [], [], [], [], {}
    gate = sequential_gate(root, {"spec": spec}, on_problem=reader.note)
    for entry in planned:
        run_dir = root / "runs" / entry["run_id"]
        row, config, ev = _run_row(root, entry, reader, gate)
        rows.append(row)
        if row["status"] != "done":
            continue
        if config is not None:
            configs[row["run_id"]] = config
        curves += _curve_rows(row["run_id"], reader.jsonl(run_dir / "metrics.jsonl"), run_dir / "metrics.jsonl", reader)
        if (run_dir / CURVE_FILE).is_file():
            heldout_curves += _curve_rows(row["run_id"], reader.jsonl(run_dir / CURVE_FILE), run_dir / CURVE_FILE,
                                          reader, HELDOUT_CURVE_METRICS)
        if ev is not None:
            problems += _problem_rows(row["run_id"], ev, run_dir / "eval.json", reader)
    planned_ids = {e["run_id"] for e in planned}
    if (root / "runs").is_dir():
        extra = sorted(d.name for d in (root / "runs").iterdir()
                       if d.is_dir() and d.name not in planned_ids and ".stale-" not in d.name)
        if extra:
            notes.append(f"run directories not in plan.json, not analysed: {', '.join(extra)}")

    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    lab = {**labels, **{r["run_id"]: str(r["arm"]) for r in rows if r["run_id"] not in labels and r["arm"] is not None}}
    runs["label"] = runs["run_id"].map(lab)
    for col in ("seed", "group_size"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype("Int64")
    keys = runs[["run_id", "arm", "label", "seed", "group_size"]]
    curves_df = pd.DataFrame(curves, columns=["run_id", "step", *CURVE_METRICS]).merge(keys, on="run_id")
    heldout_df = pd.DataFrame(heldout_curves, columns=["run_id", "step", *HELDOUT_CURVE_METRICS]).merge(keys, on="run_id")
    problems_df = pd.DataFrame(problems, columns=["run_id", "problem_id", "correct", "n", "greedy_correct"]).merge(keys, on="run_id")
    return Campaign(root=root, name=name, spec=spec if isinstance(spec, dict) else {},
                    settings=settings_from_spec(spec if isinstance(spec, dict) else {}), runs=runs,
                    curves=curves_df, heldout_curves=heldout_df, problems=problems_df, configs=configs, file_problems=reader.problems, notes=notes)
