"""Error rates of the report's primary tests, by simulation through the report's own comparison code.

    .venv/bin/python benchmarks/statistics.py [--sims 2000] [--seeds 5] [--workers 2]

One synthetic campaign directory (2 arms x 2 group sizes, one Holm family of 2 tests) is loaded once; for
every simulated campaign its endpoint column is redrawn under a scenario and judged by
analysis.analyse.primary_comparisons, the function the report's verdicts come from (Welch or the exact
permutation test as `analysis.primary_test`, Holm, alpha 0.05). Prints one JSON object:

- null scenarios (no difference): the family-wise false-positive rate with its 95 % Wilson interval, for
  equal SDs, SDs 3:1, heavy tails (t, 3 df), scores bounded near 0.05 (beta), and one failed run;
- planted effects (1 and 1.5 between-seed SDs in every cell): the empirical power per test against the
  average power the report prints for that effect (its plug-in from the observed SDs);
- Welch's family-wise rate with SDs 3:1 at 5 to 10 seeds over 40,000 campaigns, vectorised with scipy
  (the same test and Holm decision; the report path above checks that they agree).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SD = 0.03
MEAN = 0.5
FWER_TARGET = 0.055


def _draw(scenario: str, rng, arms: np.ndarray, effect: float) -> np.ndarray:
    """One endpoint value per run; `arms` is 1 for the candidate's runs, 0 for the baseline's."""
    n = arms.size
    if scenario == "sd_3_to_1":
        return MEAN + rng.normal(0, 1, n) * np.where(arms == 1, SD / 3, SD) + effect * arms
    if scenario == "heavy_tails":
        return MEAN + rng.standard_t(3, n) * SD / np.sqrt(3.0) + effect * arms
    if scenario == "bounded_near_0.05":
        # beta with mean 0.05 and SD 0.02: skewed, bounded at 0
        return rng.beta(5.89, 111.86, n) + effect * arms
    return MEAN + rng.normal(0, SD, n) + effect * arms  # equal_sd, one_failed_run, planted effects


def _simulate(job: tuple) -> dict:
    scenario, test, effect, sims, seeds, worker_seed = job
    gc.collect = lambda *a: 0  # statsmodels' Holm calls gc.collect() on every call; results unchanged
    from analysis.analyse import comparison_pairs, primary_comparisons
    from analysis.load import load_campaign
    from analysis.synthetic import write_campaign

    with tempfile.TemporaryDirectory() as tmp:
        c = load_campaign(write_campaign(Path(tmp) / "sim", effect=0.0, seeds=tuple(range(seeds)), rng=0))
    c.settings = replace(c.settings, primary_test=test, effect_of_interest=effect if effect else c.settings.effect_of_interest)
    pairs, sizes = comparison_pairs(c), sorted(int(g) for g in c.runs["group_size"].unique())
    arms = (c.runs["label"] == pairs[0][1]).to_numpy(int)
    if scenario == "one_failed_run":
        c.runs.loc[c.runs.index[0], "status"] = "failed"
    rng = np.random.default_rng(worker_seed)
    fired = rejections = tests = 0
    printed = []
    for _ in range(sims):
        c.runs["avg_at_k"] = _draw(scenario, rng, arms, effect)
        rows = primary_comparisons(c, pairs, sizes)
        fired += any(r["significant"] for r in rows)
        rejections += sum(r["significant"] for r in rows)
        tests += len(rows)
        printed += [r["power"]["power_at_effect"] for r in rows if r.get("power")]
    return {"fired": fired, "sims": sims, "rejections": rejections, "tests": tests, "printed": printed}


def _run(pool, scenario, test, effect, sims, seeds, workers, base_seed) -> dict:
    share = [sims // workers + (i < sims % workers) for i in range(workers)]
    parts = pool.map(_simulate, [(scenario, test, effect, n, seeds, base_seed + i) for i, n in enumerate(share)])
    fired, tests = sum(p["fired"] for p in parts), sum(p["tests"] for p in parts)
    lo, hi = proportion_confint(fired, sims, alpha=0.05, method="wilson")
    out = {"scenario": scenario, "test": test, "sims": sims}
    if effect == 0:
        out.update(fwer=round(fired / sims, 4), fwer_ci=[round(lo, 4), round(hi, 4)],
                   within_target=fired / sims <= FWER_TARGET)
    else:
        printed = [x for p in parts for x in p["printed"]]
        out.update(effect=effect, effect_in_sds=round(effect / SD, 2),
                   empirical_power=round(sum(p["rejections"] for p in parts) / tests, 4),
                   printed_power_mean=round(float(np.mean(printed)), 4) if printed else None)
    return out


def welch_sd_3_to_1_by_seeds(sims: int = 40_000, seed: int = 3) -> list[dict]:
    """Holm over 2 tests rejects something iff min p <= alpha / 2: scipy's Welch over all campaigns at once."""
    from scipy import stats

    rng, out = np.random.default_rng(seed), []
    for n in (5, 6, 8, 10):
        c, b = rng.normal(0, SD / 3, (sims, 2, n)), rng.normal(0, SD, (sims, 2, n))
        fired = int((stats.ttest_ind(c, b, axis=2, equal_var=False).pvalue.min(axis=1) <= 0.025).sum())
        lo, hi = proportion_confint(fired, sims, alpha=0.05, method="wilson")
        out.append({"seeds": n, "sims": sims, "fwer": round(fired / sims, 4), "fwer_ci": [round(lo, 4), round(hi, 4)]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=2000, help="simulated campaigns per scenario (default 2000)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per arm and group size (default 5)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tests", nargs="+", default=["welch", "permutation"])
    args = ap.parse_args()
    nulls = ("equal_sd", "sd_3_to_1", "heavy_tails", "bounded_near_0.05", "one_failed_run")
    rows = []
    with Pool(args.workers) as pool:
        for i, test in enumerate(args.tests):
            for j, scenario in enumerate(nulls):
                rows.append(_run(pool, scenario, test, 0.0, args.sims, args.seeds, args.workers, 1000 * (10 * i + j)))
            for j, sds in enumerate((1.0, 1.5)):
                rows.append(_run(pool, "planted", test, sds * SD, args.sims, args.seeds, args.workers,
                                 1000 * (10 * i + 7 + j)))
    print(json.dumps({"benchmark": "statistics", "seeds_per_arm": args.seeds, "group_sizes": 2, "correction": "holm",
                      "alpha": 0.05, "fwer_target": FWER_TARGET, "results": rows,
                      "welch_sd_3_to_1_by_seeds": welch_sd_3_to_1_by_seeds()}, indent=2))


if __name__ == "__main__":
    main()
