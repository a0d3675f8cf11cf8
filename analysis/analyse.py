"""From a loaded campaign to the comparison document (comparison.json): every number the report shows."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata

import pandas as pd

from analysis import power as pw
from analysis.compare import adjust, compare_cell, equivalence_test, json_float
from analysis.generation_level import pooled_tests
from analysis.interaction import interaction_estimate
from analysis.learning import baseline_caution, control_arms, learning
from analysis.load import Campaign
from analysis.sanity import aa_check, degenerate, eval_noise
from analysis.sequential_report import sequential_summary
from analysis.verdict import verdict
from textrl.config import arm_difference
from textrl.errors import ConfigError

PRIMARY_TEST_NAMES = {("welch", False): "Welch t", ("welch", True): "paired t by seed",
                      ("permutation", False): "exact permutation test of the difference of means",
                      ("permutation", True): "exact permutation test, paired by seed (sign flips)"}


def arm_order(c: Campaign) -> list[str]:
    return list(dict.fromkeys(c.runs["label"].dropna()))


def comparison_pairs(c: Campaign) -> list[tuple[str, str]]:
    """(baseline label, candidate label) pairs from the settings; an arm at several lrs gives several labels."""
    s = c.settings
    arms = list(dict.fromkeys(c.runs["arm"].dropna().astype(str)))
    if not arms:
        return []
    base_arm = s.baseline or arms[0]
    if base_arm not in arms:
        raise ConfigError(f"plan.json spec.analysis.baseline: {base_arm!r} is not an arm of this campaign; arms are {', '.join(arms)}")
    cand_arms = list(s.candidates) or [a for a in arms if a != base_arm and a not in control_arms(c.spec)]
    for a in cand_arms:
        if a not in arms:
            raise ConfigError(f"plan.json spec.analysis.candidates: {a!r} is not an arm of this campaign; arms are {', '.join(arms)}")
    labels_of = c.runs.groupby("arm", sort=False)["label"].unique()
    if s.comparisons == "all_pairs":  # every pair of the baseline and the candidates, earlier arm as "baseline"
        labels = [lab for arm in [base_arm, *cand_arms] for lab in labels_of[arm]]
        return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    return [(b, cl) for ca in cand_arms for cl in labels_of[ca] for b in labels_of[base_arm]]


def baseline_labels(c: Campaign) -> list[str]:
    arms = list(dict.fromkeys(c.runs["arm"].dropna().astype(str)))
    base_arm = c.settings.baseline or (arms[0] if arms else None)
    return list(dict.fromkeys(c.runs.loc[c.runs["arm"] == base_arm, "label"].dropna()))


def _values(done: pd.DataFrame, label: str, g: int, endpoint: str) -> pd.Series:
    d = done[(done["label"] == label) & (done["group_size"] == g)]
    return pd.Series(d[endpoint].to_numpy(float), index=d["seed"].to_numpy()).dropna()


def _power(cell: dict, s, n_tests: int) -> dict | None:
    sd_b, sd_c = cell["baseline_arm"]["sd"], cell["candidate_arm"]["sd"]
    n = min(cell["n_baseline"], cell["n_candidate"])
    if sd_b is None or sd_c is None or n < 2:
        return None
    rho = cell["correlation"] if (s.paired and cell["correlation"] is not None) else 0.0
    common = dict(alpha=s.alpha, n_tests=n_tests, correction=s.correction, power=s.power, paired=s.paired, rho=rho)
    up_b, up_c = pw.sd_upper_bound(sd_b, cell["baseline_arm"]["n"]), pw.sd_upper_bound(sd_c, cell["candidate_arm"]["n"])
    lo_b, lo_c = pw.sd_lower_bound(sd_b, cell["baseline_arm"]["n"]), pw.sd_lower_bound(sd_c, cell["candidate_arm"]["n"])
    e = s.effect_of_interest
    no_power = {k: v for k, v in common.items() if k != "power"}
    beta = pw.miss_rate(e, sd_b, sd_c, n, **no_power)
    # the SDs are estimates: power and seeds needed over their 95 % intervals, not only at the point
    power_range = [json_float(1 - pw.miss_rate(e, up_b, up_c, n, **no_power)),
                   json_float(1 - pw.miss_rate(e, max(lo_b, 1e-12), max(lo_c, 1e-12), n, **no_power))]
    method = ("paired t approximation, difference SD from the observed correlation" if s.paired
              else "Colas et al. Welch approximation")
    return {"method": method,
            "power": s.power, "n_per_arm": n, "n_tests": n_tests, "per_test_alpha": pw.per_test_alpha(s.alpha, n_tests, s.correction),
            "rho": json_float(rho), "sd_baseline": sd_b, "sd_candidate": sd_c, "sd_baseline_upper": json_float(up_b),
            "sd_candidate_upper": json_float(up_c), "mde": json_float(pw.minimum_detectable_effect(sd_b, sd_c, n, **common)),
            "mde_at_sd_upper": json_float(pw.minimum_detectable_effect(up_b, up_c, n, **common)),
            "effect_of_interest": e, "power_at_effect": json_float(1 - beta), "power_at_effect_range": power_range,
            "sd_baseline_lower": json_float(lo_b), "sd_candidate_lower": json_float(lo_c),
            "seeds_needed_at_sd_lower": pw.seeds_needed(e, max(lo_b, 1e-12), max(lo_c, 1e-12), **common),
            "seeds_needed": pw.seeds_needed(e, sd_b, sd_c, **common),
            "seeds_needed_at_sd_upper": pw.seeds_needed(e, up_b, up_c, **common)}


def primary_comparisons(c: Campaign, pairs, sizes, lrn: dict | None = None) -> list[dict]:
    s, done = c.settings, c.done
    rows = []
    for b, cand in pairs:
        for g in sizes:
            base_v, cand_v = _values(done, b, g, s.primary), _values(done, cand, g, s.primary)
            cell = compare_cell(base_v, cand_v, paired=s.paired, test=s.primary_test)
            if s.equivalence_margin is not None:
                cell["equivalence"] = equivalence_test(base_v, cand_v, s.equivalence_margin, s.paired)
            rows.append({"baseline": b, "candidate": cand, "group_size": int(g), **cell})
    n_tests = max(1, sum(r["p"] is not None for r in rows))
    adj, rej = adjust([r["p"] for r in rows], s.alpha, s.correction)
    if s.equivalence_margin is not None:  # equivalence claims are a family of their own, corrected alike
        eq_adj, eq_rej = adjust([r["equivalence"]["p"] for r in rows], s.alpha, s.correction)
        for r, pa, eq in zip(rows, eq_adj, eq_rej):
            r["equivalence"].update(p_adjusted=pa, equivalent=eq)
    k = _common(done, "eval_k")
    for r, pa, sig in zip(rows, adj, rej):
        min_p = r["permutation"]["min_p"]
        r.update(p_adjusted=pa, significant=sig, n_tests=n_tests,
                 # no step of the correction tests at more than loosest_alpha: above it, never rejected
                 cannot_reach_significance=bool(min_p is not None
                                                and min_p > pw.loosest_alpha(s.alpha, n_tests, s.correction)),
                 # Holm: above alpha / m this test is rejected only after the others of the family are
                 needs_others_rejected=bool(min_p is not None and s.correction == "holm"
                                            and pw.per_test_alpha(s.alpha, n_tests, s.correction) < min_p <= s.alpha),
                 power=_power(r, s, n_tests))
        r["verdict"] = verdict(r, s.primary, s.alpha, s.correction, k)
        caution = baseline_caution(lrn, r["baseline"], r["group_size"]) if lrn else None
        if caution:
            r["verdict"] += " " + caution
    return rows


def secondary_comparisons(c: Campaign, pairs, sizes) -> dict[str, list[dict]]:
    s, done, out = c.settings, c.done, {}
    for ep in s.secondary:
        out[ep] = [{"baseline": b, "candidate": cand, "group_size": int(g),
                    **compare_cell(_values(done, b, g, ep), _values(done, cand, g, ep), paired=s.paired, permutation=False)}
                   for b, cand in pairs for g in sizes]
    return out


def _common(df: pd.DataFrame, col: str):
    """The value every finished run shares in `col` (None if they differ or none has it)."""
    vals = df[col].dropna().unique() if col in df else []
    if len(vals) != 1:
        return None
    v = vals[0].item() if hasattr(vals[0], "item") else vals[0]
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _range(values: pd.Series) -> list[float] | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return [json_float(v.min()), json_float(v.max())] if len(v) else None


def design(c: Campaign, pairs, sizes, n_tests: int) -> dict:
    spec, done, s = c.spec, c.done, c.settings
    seeds = spec.get("seeds") if isinstance(spec.get("seeds"), list) else sorted(c.runs["seed"].dropna().unique().tolist())
    training = spec.get("training") or {}
    return {"campaign": c.name, "arms": arm_order(c), "comparisons": [f"{cand} vs {b}" for b, cand in pairs],
            "group_sizes": [int(g) for g in sizes], "seeds": [int(x) for x in seeds],
            "finished_seeds": {f"{lab} G={int(g)}": int(len(grp)) for (lab, g), grp in done.groupby(["label", "group_size"])},
            "task": _common(done, "eval_task"), "heldout_size": _common(done, "eval_size"), "k": _common(done, "eval_k"),
            "base_model_avg_at_k": _range(done["base_avg_at_k"]), "steps": training.get("steps"), "prompts_per_step": training.get("prompts_per_step"),
            "primary": s.primary, "secondary": list(s.secondary), "alpha": s.alpha, "correction": s.correction,
            "paired": s.paired, "primary_test": PRIMARY_TEST_NAMES[(s.primary_test, s.paired)],
            "n_primary_tests": n_tests, "effect_of_interest": s.effect_of_interest, "power": s.power}


def pipelines(c: Campaign) -> dict[str, dict]:
    """The resolved advantage pipeline (and loss) of each arm, flagged when its runs disagree."""
    out = {}
    for label, grp in c.done.groupby("label", sort=False):
        seen = {}
        for rid in grp["run_id"]:
            cfg = c.configs.get(rid) or {}
            item = {"advantage_pipeline": cfg.get("advantage_pipeline"), "loss": (cfg.get("run") or {}).get("loss")}
            seen.setdefault(json.dumps(item, sort_keys=True), item)
        if seen:
            out[label] = {**next(iter(seen.values())), "consistent_across_runs": len(seen) == 1}
    return out


def arm_differences(c: Campaign, base_labels: list[str]) -> dict[str, list[str]]:
    """Per arm label, what its runs' resolved config changes from the baseline's (a swept lr included), from
    config.json of finished runs at the same group size and seed where there is one."""
    done = c.done
    if not base_labels:
        return {}
    base = {(r.group_size, r.seed): r.run_id for r in done[done["label"] == base_labels[0]].itertuples()}
    out = {}
    for label, grp in done.groupby("label", sort=False):
        if label in base_labels or not base:
            continue
        pair = next(((r.run_id, base[(r.group_size, r.seed)]) for r in grp.itertuples() if (r.group_size, r.seed) in base),
                    (grp["run_id"].iloc[0], next(iter(base.values()))))
        cand, ref = ((c.configs.get(rid) or {}).get("run") for rid in pair)
        if isinstance(cand, dict) and isinstance(ref, dict):
            out[str(label)] = arm_difference(ref, cand)
    return out


STAGE_METRICS = ("planning_token_frac", "changed_frac_sepa", "changed_frac_gtpo", "changed_frac_hicra")


def stage_activity(c: Campaign) -> dict[str, dict]:
    """Per arm, over every step of its finished runs: how often each token-level stage acted, and SEPA's lambda.

    A stage that is on but changes no token (a pipeline whose completions hold no planning phrase) makes its
    arm a different pipeline from the one its name says; this table is where that shows."""
    cur, out = c.curves, {}
    if cur.empty:
        return out
    for label, grp in cur.groupby("label", sort=False):
        row = {}
        for m in STAGE_METRICS:
            v = pd.to_numeric(grp[m], errors="coerce").dropna() if m in grp else pd.Series(dtype=float)
            row[m] = json_float(v.mean()) if len(v) else None
        per_run = grp.groupby("run_id")["planning_token_frac"].mean().dropna() if "planning_token_frac" in grp else []
        row["planning_token_frac_run_range"] = _range(pd.Series(per_run))
        row["sepa_lambda_range"] = _range(grp["sepa_lambda"]) if "sepa_lambda" in grp else None
        out[str(label)] = row
    return out


def reproducibility(c: Campaign) -> dict:
    versions: dict[str, set] = {}
    revisions, hosts, started = set(), set(), []
    for cfg in c.configs.values():
        for k, v in (cfg.get("versions") or {}).items():
            versions.setdefault(k, set()).add(str(v))
        revisions.add(str(cfg.get("git_revision")))
        hosts.add(str(cfg.get("host")))
        if cfg.get("started_at"):
            started.append(str(cfg["started_at"]))
    import textrl

    analysis_env = {"python": platform.python_version(), "textrl": textrl.__version__}
    for pkg in ("numpy", "pandas", "scipy", "statsmodels", "matplotlib"):
        try:
            analysis_env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            analysis_env[pkg] = None
    return {"training_versions": {k: sorted(v) for k, v in sorted(versions.items())}, "git_revisions": sorted(revisions),
            "hosts": sorted(hosts), "first_started_at": min(started) if started else None,
            "last_started_at": max(started) if started else None, "analysis_environment": analysis_env,
            "spec": c.spec}


def analyse(c: Campaign) -> dict:
    s, done = c.settings, c.done
    pairs = comparison_pairs(c)
    sizes = sorted(int(g) for g in c.runs["group_size"].dropna().unique())
    base_labels = list(dict.fromkeys(b for b, _ in pairs)) or baseline_labels(c)
    lrn = learning(c, base_labels, sizes)
    primary = primary_comparisons(c, pairs, sizes, lrn)
    n_tests = primary[0]["n_tests"] if primary else 0
    aa = []
    if s.aa_check:
        for b in base_labels:
            for g in sizes:
                aa.append({"arm": b, "group_size": g, "endpoint": s.primary, **aa_check(_values(done, b, g, s.primary), s.alpha)})
        # one family, like the primary tests: with several cells, raw alpha per cell would fire by chance
        adj, rej = adjust([a["p"] for a in aa], s.alpha, s.correction)
        for a, pa, fired in zip(aa, adj, rej):
            a.update(p_adjusted=pa, fired=None if a["p"] is None else fired)
    gen = []
    for b, cand in pairs:
        for g in sizes:
            res = pooled_tests(c.problems, b, cand, g)
            if res is not None:
                gen.append({"baseline": b, "candidate": cand, "group_size": g, **res})
    seq = sequential_summary(c, _common(done, "eval_k"))
    if seq is not None:  # the sequential test decides; the fixed-design columns only describe
        by_key = {r["key"]: r["verdict"] for r in seq["comparisons"]}
        for r in primary:
            r["verdict"] = by_key.get(f"{r['candidate']} vs {r['baseline']} G={r['group_size']}", r["verdict"])
    status_counts = c.runs["status"].value_counts().to_dict()
    not_done = c.runs[c.runs["status"] != "done"][["run_id", "status", "detail"]].to_dict("records")
    return {
        "campaign": c.name,
        "settings": s.as_dict(),
        "design": design(c, pairs, sizes, n_tests),
        "runs": {"planned": int(len(c.runs)), "done": int(len(done)), "by_status": {k: int(v) for k, v in status_counts.items()},
                 "not_done": not_done},
        "file_problems": c.file_problems,
        "notes": c.notes,
        "primary": {"endpoint": s.primary, "comparisons": primary},
        "verdicts": [r["verdict"] for r in primary] if seq is None else
                    [r["verdict"] for r in seq["comparisons"]] or [seq.get("note", "no interim analysis yet")],
        "sequential": seq,
        "learning": lrn,
        "secondary": secondary_comparisons(c, pairs, sizes),
        "interaction": {f"{cand} vs {b}": interaction_estimate(done, s.primary, b, cand) for b, cand in pairs},
        "sanity": {"aa": aa, "eval_noise": eval_noise(c.problems, c.runs),
                   "degenerate": degenerate(c.runs, c.curves, [s.primary, *s.secondary])},
        "generation_level": gen,
        "pipelines": pipelines(c),
        "arm_differences": arm_differences(c, base_labels),
        "stage_activity": stage_activity(c),
        "reproducibility": reproducibility(c),
    }


def json_safe(obj):
    """NaN/inf -> null and numpy scalars -> Python, so comparison.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj
