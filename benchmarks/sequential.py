"""Error rate, power and seeds used of the sequential seed design, by simulation through the interim code.

    .venv/bin/python benchmarks/sequential.py [--campaigns 2000] [--per-stage 5] [--max-stages 4]
        [--spending pocock] [--workers 2] [--adastop 300]

Each simulated campaign is a campaign spec (seeds: {per_stage, max_stages}) turned into its design and
comparisons by analysis.interim.sequential_plan, as `textrl interim` does, and judged stage by stage by
analysis.sequential.run_interims, the function every interim calls; a stage's values are drawn only for
the arms an open comparison still needs. Scenarios: 2 arms (one comparison) and 3 arms (two candidates
against the baseline), between-seed scores normal or skewed and bounded in [0, 1] (beta(2, 10)).

Prints one JSON object:
- under no effect (--campaigns per scenario, 4 scenarios): the family-wise false-positive rate with its
  95 % Wilson interval, and the seeds used per arm;
- with every candidate 1.5 between-seed SDs better: the power (share of candidates declared better), the
  power of the fixed design with the maximum seeds (Welch t, Holm over the family, as a fixed campaign's
  report), the seeds per arm used on average, the fixed seed count of equal power and their ratio;
- with --adastop N (the `adastop` package installed): the same 2-arm normal null through adastop 0.1.3's
  MultipleAgentsComparator at the same design, side by side (why textrl does not call it).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.interim import sequential_plan  # noqa: E402
from analysis.sequential import BETTER, WORSE, SequentialTest  # noqa: E402

EFFECT_SDS = 1.5
BETA_A, BETA_B = 2.0, 10.0  # skewed, bounded: mean 0.167, SD 0.103
FWER_TARGET = 0.055


def spec(arms: int, per_stage: int, max_stages: int, spending: str) -> dict:
    names = ["base", *[f"cand{i}" for i in range(1, arms)]]
    return {"arms": [{"name": n} for n in names], "group_sizes": [4],
            "seeds": {"per_stage": per_stage, "max_stages": max_stages},
            "analysis": {"baseline": "base", "candidates": names[1:], "alpha": 0.05, "sequential": {"spending": spending}}}


def _beta_a_for_mean(mean: float) -> float:
    return optimize.brentq(lambda a: a / (a + BETA_B) - mean, 1e-3, 1e3)


def draw(rng, shape: str, size, effect: bool) -> np.ndarray:
    """Per-seed scores of one arm (any array shape); effect: 1.5 between-seed SDs higher in mean."""
    if shape == "normal":
        return rng.normal(EFFECT_SDS if effect else 0.0, 1.0, size)
    a = BETA_A
    if effect:
        sd = np.sqrt(BETA_A * BETA_B / ((BETA_A + BETA_B) ** 2 * (BETA_A + BETA_B + 1)))
        a = _beta_a_for_mean(BETA_A / (BETA_A + BETA_B) + EFFECT_SDS * sd)
    return rng.beta(a, BETA_B, size)


def one_campaign(args: tuple) -> dict:
    seed, arms, shape, effect, per_stage, max_stages, spending = args
    plan = sequential_plan(spec(arms, per_stage, max_stages, spending))
    rng = np.random.default_rng(seed)
    design = plan.design
    design = replace(plan.design, seed=seed)  # fresh permutation paths per campaign
    test = SequentialTest(design, plan.comparisons)
    agents = list(dict.fromkeys(a for c in plan.comparisons for a in (c.baseline, c.candidate)))
    seeds = 0
    while not test.finished:
        last = test.step({a: draw(rng, shape, design.per_stage, effect and "cand" in a) for a in agents})
        seeds += design.per_stage * len(agents)
        agents = last.next_agents
    return {"rejected": [last.decisions[c.key] in (BETTER, WORSE) for c in plan.comparisons],
            "better": [last.decisions[c.key] == BETTER for c in plan.comparisons],
            "seeds_per_arm": seeds / arms, "stages": len(test.results)}


def fixed_power(arms: int, shape: str, n: int, sims: int, seed: int) -> float:
    """Share of candidates declared better by Welch t with Holm over the family, n seeds per arm, every candidate
    1.5 SDs better (vectorised over simulated campaigns)."""
    rng = np.random.default_rng(seed)
    base = draw(rng, shape, (sims, n), False)
    cands = [draw(rng, shape, (sims, n), True) for _ in range(arms - 1)]
    p = np.stack([stats.ttest_ind(c, base, axis=1, equal_var=False).pvalue for c in cands], axis=1)
    better = np.stack([c.mean(1) > base.mean(1) for c in cands], axis=1)
    # Holm: the i-th smallest p (0-based) is judged at alpha / (m - i), and only while every smaller one rejected
    m = p.shape[1]
    order = np.argsort(p, axis=1)
    sorted_p = np.take_along_axis(p, order, axis=1)
    passed = np.cumprod(sorted_p <= 0.05 / (m - np.arange(m)), axis=1).astype(bool)
    rejected = np.zeros_like(passed)
    np.put_along_axis(rejected, order, passed, axis=1)
    return float(np.mean(rejected & better))


def wilson(k: int, n: int) -> list[float]:
    return [round(float(x), 4) for x in proportion_confint(k, n, 0.05, "wilson")]


def adastop_fwer(n_campaigns: int, per_stage: int, max_stages: int) -> dict:
    try:
        from adastop import MultipleAgentsComparator
    except ImportError:
        return {"skipped": "adastop is not installed (pip install adastop==0.1.3)"}
    hits = 0
    for s in range(n_campaigns):
        rng = np.random.default_rng(10_000 + s)
        comp = MultipleAgentsComparator(n=per_stage, K=max_stages, B=10_000, comparisons=np.array([(1, 0)]),
                                        alpha=0.05, beta=0.0, seed=s)
        values = {"base": np.empty(0), "cand": np.empty(0)}
        for _ in range(max_stages):
            values = {k: np.concatenate([v, rng.normal(0, 1, per_stage)]) for k, v in values.items()}
            comp.partial_compare(values, verbose=False)
            if comp.is_finished:
                break
        hits += any(v in ("larger", "smaller") for v in comp.decisions.values())
    return {"package": "adastop 0.1.3", "campaigns": n_campaigns, "fwer": round(hits / n_campaigns, 4),
            "fwer_95ci": wilson(hits, n_campaigns)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaigns", type=int, default=2000, help="campaigns per null scenario (4 scenarios)")
    ap.add_argument("--effect-campaigns", type=int, default=500, help="campaigns per effect scenario (4 scenarios)")
    ap.add_argument("--per-stage", type=int, default=5)
    ap.add_argument("--max-stages", type=int, default=4)
    ap.add_argument("--spending", default="pocock")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--adastop", type=int, default=0, help="also run adastop 0.1.3 on this many 2-arm null campaigns")
    a = ap.parse_args()
    design = dict(per_stage=a.per_stage, max_stages=a.max_stages, spending=a.spending, alpha=0.05,
                  n_permutations=10_000)
    out = {"design": design, "null": {}, "effect_1.5_sd": {}}
    max_seeds = a.per_stage * a.max_stages
    with Pool(a.workers) as pool:
        for arms in (2, 3):
            for shape in ("normal", "skewed_bounded"):
                name = f"{arms}_arms_{shape}"
                jobs = [(s, arms, shape, False, a.per_stage, a.max_stages, a.spending) for s in range(a.campaigns)]
                res = pool.map(one_campaign, jobs, chunksize=20)
                k = sum(any(r["rejected"]) for r in res)
                out["null"][name] = {"campaigns": len(res), "fwer": round(k / len(res), 4), "fwer_95ci": wilson(k, len(res)),
                                     "seeds_per_arm": round(float(np.mean([r["seeds_per_arm"] for r in res])), 2),
                                     "max_seeds_per_arm": max_seeds}
                jobs = [(10**6 + s, arms, shape, True, a.per_stage, a.max_stages, a.spending)
                        for s in range(a.effect_campaigns)]
                res = pool.map(one_campaign, jobs, chunksize=10)
                power = float(np.mean([np.mean(r["better"]) for r in res]))
                asn = float(np.mean([r["seeds_per_arm"] for r in res]))
                fixed = {n: fixed_power(arms, shape, n, 4000, n) for n in range(2, 3 * max_seeds + 1)}
                equal = next((n for n, p in fixed.items() if p >= power), None)
                out["effect_1.5_sd"][name] = {
                    "campaigns": len(res), "power": round(power, 4), "fixed_power_at_max_seeds": round(fixed[max_seeds], 4),
                    "power_gap_points": round(100 * (fixed[max_seeds] - power), 1),
                    "seeds_per_arm": round(asn, 2), "fixed_seeds_of_equal_power": equal,
                    "seeds_ratio": round(asn / equal, 3) if equal else None,
                    "stages": round(float(np.mean([r["stages"] for r in res])), 2)}
    total = sum(v["campaigns"] for v in out["null"].values()) + sum(v["campaigns"] for v in out["effect_1.5_sd"].values())
    out["campaigns_total"] = total
    out["criteria"] = {
        "fwer_at_most_0.055": all(v["fwer"] <= FWER_TARGET for v in out["null"].values()),
        "power_within_5_points_of_fixed_max": all(v["power_gap_points"] <= 5 for v in out["effect_1.5_sd"].values()),
        "seeds_at_most_0.7x_fixed_of_equal_power": all((v["seeds_ratio"] or 9) <= 0.7 for v in out["effect_1.5_sd"].values())}
    if a.adastop:
        out["adastop_package_2_arms_normal_null"] = adastop_fwer(a.adastop, a.per_stage, a.max_stages)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
