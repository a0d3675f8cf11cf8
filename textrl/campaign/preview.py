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
    n = len(spec.seeds)
    # one test per (candidate arm, baseline lr, candidate lr, group size), as analysis.analyse counts them
    arms = {arm.name: arm for arm in spec.arms}
    n_tests = len(spec.group_sizes) * len(arms[spec.baseline_arm].lrs) * sum(
        len(arms[name].lrs) for name in spec.candidate_arms)
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
