"""The interim analyses of a sequential campaign, from its result files (no mlx).

A campaign whose spec has `seeds: {per_stage, max_stages}` trains stage 1 (the first per_stage seeds of
every arm and group size); after stage k, `textrl interim` writes results/<c>/sequential/stage_<k>.json
(docs/contracts.md): every comparison's decision, the statistic and boundary, and the runs of stage k+1,
which are those of the arms that a comparison still open needs. Snakemake's checkpoint reads that list.

The stages are recomputed from the runs' summaries each time (analysis.sequential is a pure function of
them) and must agree with the stage files already written: a closed stage is never re-decided, and a
summary that changed after its stage was decided is an error naming the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.compare import json_float
from analysis.load import Campaign, load_campaign
from analysis.sequential import Comparison, Design, SequentialTest, StageResult, spent
from textrl.errors import ConfigError
from textrl.io import atomic_write_json

STAGE_DIR = "sequential"
METHOD = "adastop (AdaStop's group-sequential permutation test, two-sided; textrl's implementation)"


def stage_path(campaign_dir: str | Path, stage: int) -> Path:
    return Path(campaign_dir) / STAGE_DIR / f"stage_{stage}.json"


def agent_id(arm: str, group_size: int) -> str:
    return f"{arm} G={group_size}"


@dataclass(frozen=True)
class SequentialPlan:
    design: Design
    endpoint: str
    baseline: str
    comparisons: list[Comparison]
    group_of: dict[str, tuple[str, int]]     # comparison key -> (candidate arm, group size)

    def stage_of(self, seed: int) -> int:
        return int(seed) // self.design.per_stage + 1


def sequential_plan(spec: dict) -> SequentialPlan | None:
    """The design of a sequential campaign from plan.json's resolved spec; None for fixed seeds."""
    seeds = spec.get("seeds")
    if not isinstance(seeds, dict):
        return None
    a = spec.get("analysis") or {}
    seq = a.get("sequential") or {}
    design = Design(per_stage=int(seeds["per_stage"]), max_stages=int(seeds["max_stages"]),
                    alpha=float(a.get("alpha", 0.05)), spending=seq.get("spending", "pocock"),
                    futility=float(seq.get("futility", 0.0)), n_permutations=int(seq.get("n_permutations", 10_000)),
                    seed=int(seq.get("seed", 0)))
    arms = [arm["name"] for arm in spec.get("arms", [])]
    baseline = a.get("baseline") or arms[0]
    candidates = list(a.get("candidates") or [x for x in arms if x != baseline])
    controls = [arm["name"] for arm in spec.get("arms", []) if arm.get("control") and arm["name"] not in candidates]
    comparisons, group_of = [], {}
    for g in spec.get("group_sizes", []):
        for arm in [*candidates, *controls]:
            key = f"{arm} vs {baseline} G={g}"
            comparisons.append(Comparison(key, agent_id(baseline, g), agent_id(arm, g)))
            group_of[key] = (arm, int(g))
    return SequentialPlan(design, a.get("primary", "avg_at_k"), baseline, comparisons, group_of)


def _stage_runs(runs: pd.DataFrame, plan: SequentialPlan, stage: int, agents: list[str]) -> list[str]:
    ids = set(agents)
    chosen = runs[np.array([agent_id(a, int(g)) in ids and plan.stage_of(s) == stage
                            for a, g, s in zip(runs["arm"], runs["group_size"], runs["seed"])], dtype=bool)]
    return chosen["run_id"].tolist()


def read_stage(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable stage file ({e.__class__.__name__}: {e}); delete it to recompute "
                          "this interim from the runs") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("comparisons"), list):
        raise ConfigError(f"{path}: not a stage file (no comparisons list); delete it to recompute this interim")
    return doc


def scheduled(campaign_dir: str | Path, c: Campaign, plan: SequentialPlan) -> dict[int, list[str]]:
    """Stage -> the run ids that stage trains (or trained), as far as the stage files say."""
    all_agents = list(dict.fromkeys(x for comp in plan.comparisons for x in (comp.baseline, comp.candidate)))
    out = {1: _stage_runs(c.runs, plan, 1, all_agents)}
    for k in range(1, plan.design.max_stages):
        path = stage_path(campaign_dir, k)
        if not path.exists():
            break
        nxt = read_stage(path).get("next_stage_runs") or []
        if not nxt:
            break
        out[k + 1] = list(nxt)
    return out


def _values(c: Campaign, plan: SequentialPlan, run_ids: list[str], stage: int) -> dict[str, np.ndarray]:
    rows = c.runs.set_index("run_id").loc[run_ids]
    not_done = rows[rows["status"] != "done"]
    if len(not_done):
        rid = not_done.index[0]
        raise ConfigError(f"stage {stage}: run {rid} is {not_done.loc[rid, 'status']} ({not_done.loc[rid, 'detail']}); "
                          "every run of a stage must be done before its interim analysis")
    values: dict[str, list[float]] = {}
    for (arm, g, v) in zip(rows["arm"], rows["group_size"], rows[plan.endpoint]):
        if not math.isfinite(v):
            raise ConfigError(f"stage {stage}: a run of {arm} G={g} has no {plan.endpoint} in its summary.json")
        values.setdefault(agent_id(arm, int(g)), []).append(float(v))
    return {k: np.array(v) for k, v in values.items()}


def recompute(campaign_dir: str | Path, c: Campaign, plan: SequentialPlan, upto: int) -> tuple[list[StageResult], dict[int, list[str]]]:
    """The interims of stages 1..upto from the runs; each earlier stage must agree with its stage file."""
    sched = scheduled(campaign_dir, c, plan)
    if upto not in sched:
        raise ConfigError(f"stage {upto}: no runs are scheduled for it (the interim of stage {upto - 1} is missing, "
                          "or it closed every comparison)")
    test = SequentialTest(plan.design, plan.comparisons)
    for k in range(1, upto + 1):
        result = test.step(_values(c, plan, sched[k], k))
        if k < upto:
            _check_written(stage_path(campaign_dir, k), result)
    return test.results, sched


def _check_written(path: Path, result: StageResult) -> None:
    """A closed stage is never re-decided: its file must hold the decisions its runs give now."""
    written = {x["key"]: x["decision"] for x in read_stage(path)["comparisons"]}
    if written != result.decisions:
        key = sorted(k for k in result.decisions if written.get(k) != result.decisions[k])[0]
        raise ConfigError(
            f"{path}: stage {result.stage} decided {key!r} as {written.get(key)!r}, but its runs now give "
            f"{result.decisions[key]!r}: a run's summary.json, or the spec's analysis or seeds settings, changed after "
            "the stage was decided. A closed stage is never re-decided; restore them, or start the campaign again in "
            "a new results directory")


def stage_document(c: Campaign, plan: SequentialPlan, results: list[StageResult], sched: dict[int, list[str]]) -> dict:
    r = results[-1]
    k, d = r.stage, plan.design
    decided_at = {}
    for res in results:
        for key in res.decided_now:
            decided_at[key] = res.stage
    last_seen = {}
    for res in results:
        for key in res.statistic:
            last_seen[key] = res
    comps = []
    for comp in plan.comparisons:
        arm, g = plan.group_of[comp.key]
        seen = last_seen[comp.key]
        nb, nc = seen.n[comp.key]
        comps.append({"key": comp.key, "baseline": plan.baseline, "candidate": arm, "group_size": g,
                      "decision": r.decisions[comp.key], "decided_at_stage": decided_at.get(comp.key),
                      "statistic": seen.statistic[comp.key], "difference": seen.difference[comp.key],
                      "boundary": json_float(seen.faced[comp.key]),
                      "n_baseline": nb, "n_candidate": nc,
                      "futility_boundary": seen.futility_boundary.get(comp.key)})
    next_runs = _stage_runs(c.runs, plan, k + 1, r.next_agents) if not r.finished else []
    return {"campaign": c.name, "stage": k, "max_stages": d.max_stages, "per_stage": d.per_stage,
            "method": METHOD, "endpoint": plan.endpoint,
            "design": {"alpha": d.alpha, "spending": d.spending, "futility": d.futility,
                       "n_permutations": d.n_permutations, "seed": d.seed},
            "alpha_allowed": spent(d.alpha, k / d.max_stages, d.spending), "alpha_spent": r.alpha_spent,
            "boundary": json_float(r.boundary), "step_boundaries": [json_float(b) for b in r.step_boundaries],
            "comparisons": comps, "runs_used": sched[k], "finished": r.finished,
            "next_stage": None if r.finished else k + 1, "next_stage_runs": next_runs}


def write_interim(campaign_dir: str | Path, stage: int) -> Path:
    """The interim analysis after `stage`: results/<c>/sequential/stage_<stage>.json."""
    c = load_campaign(campaign_dir)
    plan = sequential_plan(c.spec)
    if plan is None:
        raise ConfigError(f"{Path(campaign_dir) / 'plan.json'}: seeds is not {{per_stage, max_stages}}: this campaign "
                          "has no interim analyses")
    if not 1 <= stage <= plan.design.max_stages:
        raise ConfigError(f"stage must be between 1 and {plan.design.max_stages}, got {stage}")
    results, sched = recompute(campaign_dir, c, plan, stage)
    path = stage_path(campaign_dir, stage)
    atomic_write_json(path, stage_document(c, plan, results, sched))
    return path

