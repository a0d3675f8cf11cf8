"""Power preview for `textrl plan`: what the requested seeds can detect, before any run exists.

The between-seed SD is an assumption (spec power_preview.prior_sd), not a measurement; the preview says
so. The statistics themselves live in analysis.power, so the plan and the final report agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from textrl.campaign.spec import CampaignSpec


@dataclass(frozen=True)
class PowerPreview:
    endpoint: str
    prior_sd: float
    n_per_arm: int
    n_tests: int
    alpha: float
    correction: str
    paired: bool
    power: float
    mde: float
    sd_upper: float          # 95 % upper bound of an SD estimated from n_per_arm seeds at prior_sd
    mde_at_sd_upper: float
    effect_of_interest: float | None
    seeds_needed: int | None  # per arm, for effect_of_interest at prior_sd

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def power_preview(spec: CampaignSpec) -> PowerPreview:
    from analysis import power as pw

    a, pp = spec.analysis, spec.power_preview
    n = len(spec.seed_list)
    # one test per (candidate arm, baseline lr, candidate lr, group size), as analysis.analyse counts them
    arms = {arm.name: arm for arm in spec.arms}
    n_tests = len(spec.group_sizes) * sum(len(arms[a].lrs) * len(arms[b].lrs) for a, b in spec.comparison_pairs)
    if n_tests == 0:  # only negative controls: their tests against the baseline are the family
        n_tests = len(spec.group_sizes) * len(arms[spec.baseline_arm].lrs) * sum(
            len(arm.lrs) for arm in spec.arms if arm.control)
    common = dict(alpha=a.alpha, n_tests=n_tests, correction=a.correction, power=pp.power, paired=a.paired)
    sd = pp.prior_sd
    mde = pw.minimum_detectable_effect(sd, sd, n, **common)
    sd_up = pw.sd_upper_bound(sd, n)
    needed = None
    if a.effect_of_interest is not None:
        needed = pw.seeds_needed(a.effect_of_interest, sd, sd, **common)
    return PowerPreview(
        endpoint=a.primary, prior_sd=sd, n_per_arm=n, n_tests=n_tests, alpha=a.alpha,
        correction=a.correction, paired=a.paired, power=pp.power, mde=mde, sd_upper=sd_up,
        mde_at_sd_upper=pw.minimum_detectable_effect(sd_up, sd_up, n, **common),
        effect_of_interest=a.effect_of_interest, seeds_needed=needed,
    )


@dataclass(frozen=True)
class SequentialPreview:
    simulations: int
    n_permutations: int
    max_runs: int
    stages: int
    per_stage: int
    runs_no_effect: float      # expected training runs when no arm differs
    runs_effect: float         # ... when every candidate is better by effect_of_interest
    stages_no_effect: float
    stages_effect: float
    power: float               # share of candidate comparisons declared better under the effect


def sequential_preview(spec: CampaignSpec, simulations: int = 200, n_permutations: int = 2000) -> SequentialPreview | None:
    """By simulation from power_preview.prior_sd, through the interim code itself: the seeds a sequential
    design is expected to use. Negative controls are simulated as no different from the baseline, so the
    expected seeds err on the high side."""
    if spec.stages is None:
        return None
    from dataclasses import replace

    import numpy as np

    from analysis.interim import sequential_plan
    from analysis.sequential import BETTER, SequentialTest

    plan = sequential_plan(spec.resolved())
    effect = spec.analysis.effect_of_interest or 0.0
    candidates = {f"{a} G={g}" for a in spec.candidate_arms for g in spec.group_sizes}
    sd, d = spec.power_preview.prior_sd, plan.design
    agents0 = list(dict.fromkeys(a for c in plan.comparisons for a in (c.baseline, c.candidate)))
    cand_keys = [c.key for c in plan.comparisons if c.candidate in candidates]

    def simulate(shift: float) -> tuple[float, float, float]:
        runs, stages, better = [], [], []
        for s in range(simulations):
            rng = np.random.default_rng([s, int(shift > 0)])
            test = SequentialTest(replace(d, n_permutations=n_permutations, seed=s), plan.comparisons)
            agents, used = agents0, 0
            while not test.finished:
                last = test.step({a: rng.normal(shift if a in candidates else 0.0, sd, d.per_stage) for a in agents})
                used += d.per_stage * len(agents)
                agents = last.next_agents
            runs.append(used)
            stages.append(len(test.results))
            better.append(np.mean([test.decisions[k] == BETTER for k in cand_keys]) if cand_keys else 0.0)
        return float(np.mean(runs)), float(np.mean(stages)), float(np.mean(better))

    runs0, stages0, _ = simulate(0.0)
    runs1, stages1, power = simulate(effect)
    return SequentialPreview(simulations, n_permutations, d.max_seeds * len(agents0), d.max_stages, d.per_stage,
                             runs0, runs1, stages0, stages1, power)
