"""The sequential design's part of comparison.json and of the report: stages, decisions, intervals, seeds used."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.compare import adjust, equivalence_test, json_float
from analysis.interim import (
    agent_id,
    read_stage,
    scheduled,
    sequential_plan,
    stage_path,
)
from analysis.load import Campaign
from analysis.sequential import BETTER, FUTILE, OPEN, UNDECIDED, WORSE, repeated_ci
from analysis.verdict import _num, _p, endpoint_name
from textrl.errors import ConfigError


def _scheduled(c: Campaign, plan) -> dict[int, list[str]]:
    """The stages' runs as far as readable stage files say; an unreadable one is a file problem, not a crash."""
    try:
        return scheduled(c.root, c, plan)
    except ConfigError as e:
        c.file_problems.append({"path": str(c.root / "sequential"), "problem": str(e)})
        return {}


def _stage_values(c: Campaign, plan, run_ids: list[str], agent: str) -> np.ndarray:
    rows = c.done[c.done["run_id"].isin(run_ids)]
    rows = rows[np.array([agent_id(a, int(g)) == agent for a, g in zip(rows["arm"], rows["group_size"])], dtype=bool)]
    return rows[plan.endpoint].to_numpy(float)


def sequential_summary(c: Campaign, k: int | None) -> dict | None:
    """Stage table, final decisions with sequential confidence intervals, and seeds used; None for fixed seeds."""
    plan = sequential_plan(c.spec)
    if plan is None:
        return None
    d = plan.design
    stages = []
    for stage in range(1, d.max_stages + 1):
        path = stage_path(c.root, stage)
        try:
            stages.append(read_stage(path))
        except ConfigError as e:
            if path.exists():
                c.file_problems.append({"path": str(path), "problem": str(e)})
            break
    sched = _scheduled(c, plan) if stages else {}
    agents = list(dict.fromkeys(a for comp in plan.comparisons for a in (comp.baseline, comp.candidate)))
    seeds_used = {a: sum(len(_stage_values(c, plan, ids, a)) for ids in sched.values()) for a in agents}
    out = {"method": stages[0]["method"] if stages else None, "per_stage": d.per_stage, "max_stages": d.max_stages,
           "alpha": d.alpha, "spending": d.spending, "futility": d.futility, "n_permutations": d.n_permutations,
           "stages": stages, "seeds_used": seeds_used, "max_seeds_per_arm": d.max_seeds,
           "runs_used": int(sum(seeds_used.values())), "runs_max": d.max_seeds * len(agents), "comparisons": []}
    if not stages:
        out["note"] = "no interim analysis yet: stage 1's runs are not all finished"
        return out
    last = stages[-1]
    m = len(plan.comparisons)
    margin = (c.settings.equivalence_margin if c.settings else None)
    for comp, entry in zip(plan.comparisons, last["comparisons"]):
        stop = entry["decided_at_stage"] or last["stage"]
        base = [_stage_values(c, plan, sched.get(s, []), comp.baseline) for s in range(1, stop + 1)]
        cand = [_stage_values(c, plan, sched.get(s, []), comp.candidate) for s in range(1, stop + 1)]
        ci = (None, None)
        if all(b.size and x.size for b, x in zip(base, cand)):
            ci = repeated_ci(d, base, cand, d.alpha / m)
        row = {**entry, "stopped_at_stage": stop, "ci_low": json_float(ci[0]), "ci_high": json_float(ci[1]),
               "ci_confidence": 1 - d.alpha, "ci_alpha_per_comparison": d.alpha / m}
        if margin is not None and base:
            row["equivalence"] = equivalence_test(pd.Series(np.concatenate(base)), pd.Series(np.concatenate(cand)),
                                                  margin, False)
        out["comparisons"].append(row)
    if margin is not None:
        eq = [r["equivalence"] for r in out["comparisons"]]
        adj, rej = adjust([e["p"] for e in eq], d.alpha, "holm")
        for e, pa, ok in zip(eq, adj, rej):
            e.update(p_adjusted=pa, equivalent=ok)
    controls = {a["name"] for a in c.spec.get("arms", []) if a.get("control")}
    for row in out["comparisons"]:
        row["verdict"] = sequential_verdict(row, out, plan.endpoint, k, row["candidate"] in controls)
    return out


def sequential_verdict(r: dict, seq: dict, endpoint: str, k: int | None, control: bool) -> str:
    who = f"G={r['group_size']}: {r['candidate']} vs {r['baseline']}"
    ep = endpoint_name(endpoint, k)
    K, stop = seq["max_stages"], r["stopped_at_stage"]
    est = (f"difference {_num(r['difference'])} (sequential {r['ci_confidence']:.0%} CI {_num(r['ci_low'])} to "
           f"{_num(r['ci_high'])}; {r['n_candidate']} vs {r['n_baseline']} seeds of at most {seq['max_seeds_per_arm']})")
    when = f"decided at stage {stop} of {K}"
    eq = r.get("equivalence") or {}
    tost = ("" if not eq else
            f" It is also within the equivalence margin +/- {eq['margin']:g} (TOST holm-adjusted p = "
            f"{_p(eq['p_adjusted'])}): real, but smaller than the difference the spec counts as mattering."
            if eq.get("equivalent") else
            f" Not shown equivalent within +/- {eq['margin']:g} (TOST holm-adjusted p = {_p(eq['p_adjusted'])}).")
    d = r["decision"]
    if d in (BETTER, WORSE) and control:
        if d == WORSE:
            return f"{who}: {r['baseline']} beats the negative control {r['candidate']} on {ep}, {when}: {est}."
        return (f"{who}: WARNING: the negative control {r['candidate']} beats {r['baseline']} on {ep}, {when}: {est}. "
                "The baseline learns less than training on noise.")
    if d in (BETTER, WORSE):
        return (f"{who}: {r['candidate']} is {'better' if d == BETTER else 'worse'} than {r['baseline']} on {ep}, "
                f"{when} (sequential permutation test, family-wise alpha {seq['alpha']:g}): {est}.{tost}")
    if d == OPEN:
        return f"{who}: still open after stage {stop} of {K}: {est}; the next stage's runs decide further."
    why = (f"stopped for futility at stage {stop} of {K} (the difference is closer to zero than the futility "
           "boundary)" if d == FUTILE else
           f"no significant difference after all {K} stages (sequential permutation test, family-wise alpha "
           f"{seq['alpha']:g})")
    if eq.get("equivalent"):
        return (f"{who}: equivalent within +/- {eq['margin']:g} on {ep} (TOST on the seeds used, holm-adjusted p = "
                f"{_p(eq['p_adjusted'])}): the data rule out any difference as large as the margin; {why}: {est}.")
    assert d in (FUTILE, UNDECIDED), d
    return f"{who}: {why} on {ep}: {est}. This is not evidence that the arms are equal.{tost}"


def stage_rows(seq: dict) -> list[list]:
    rows = []
    for st in seq["stages"]:
        for cmp in st["comparisons"]:
            if cmp["decided_at_stage"] is not None and cmp["decided_at_stage"] < st["stage"]:
                continue
            rows.append([st["stage"], cmp["key"], f"{cmp['n_candidate']} / {cmp['n_baseline']}",
                         _num(cmp["difference"]), _num(cmp["statistic"]),
                         "none possible" if cmp["boundary"] is None else f"{cmp['boundary']:.4f}",
                         f"{st['alpha_spent']:.4f} of {st['alpha_allowed']:.4f}",
                         "n/a" if cmp.get("futility_boundary") is None else f"{cmp['futility_boundary']:.4f}",
                         cmp["decision"]])
    return rows


def stage_points(seq: dict | None) -> pd.DataFrame:
    """One row per stage and comparison open at it: the statistic and the boundary it had to cross."""
    rows = []
    for st in (seq or {}).get("stages", []):
        for cmp in st["comparisons"]:
            if cmp["decided_at_stage"] is not None and cmp["decided_at_stage"] < st["stage"]:
                continue
            rows.append({"stage": st["stage"], "comparison": cmp["key"], "statistic": cmp["statistic"],
                         "boundary": cmp["boundary"], "futility": cmp.get("futility_boundary"),
                         "decision": cmp["decision"]})
    return pd.DataFrame(rows, columns=["stage", "comparison", "statistic", "boundary", "futility", "decision"])
