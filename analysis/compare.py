"""Two arms compared across seeds: one number per run, scipy/statsmodels for every test.

A cell is one (baseline, candidate, group size) comparison. Values are pandas Series indexed by seed,
so a paired test can match runs that share a seed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.multitest import multipletests

# An exact permutation test enumerates every arrangement up to this many; beyond it, random resamples.
PERMUTATION_EXACT_MAX = 20_000
PERMUTATION_SEED = 12345


def json_float(x) -> float | None:
    """JSON-safe float."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def arm_summary(values: pd.Series, conf: float = 0.95) -> dict:
    """n, mean, SD and the t interval of the mean of one arm's per-seed values."""
    v = values.dropna().to_numpy(float)
    out = {"n": int(v.size), "mean": json_float(v.mean()) if v.size else None, "sd": json_float(v.std(ddof=1)) if v.size > 1 else None,
           "ci_low": None, "ci_high": None}
    if v.size > 1 and v.std() > 0:
        lo, hi = stats.ttest_1samp(v, 0.0).confidence_interval(conf)
        out.update(ci_low=json_float(lo), ci_high=json_float(hi))
    elif v.size > 1:
        out.update(ci_low=json_float(v[0]), ci_high=json_float(v[0]))
    return out


def paired_values(baseline: pd.Series, candidate: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of the seeds present (and finite) in both arms, in seed order."""
    both = pd.concat({"b": baseline, "c": candidate}, axis=1).dropna().sort_index()
    return both["b"].to_numpy(float), both["c"].to_numpy(float)


def primary_test(baseline: pd.Series, candidate: pd.Series, paired: bool = False, conf: float = 0.95) -> dict:
    """Difference of means (candidate - baseline) with its CI and p-value: Welch t, or paired t by seed."""
    if paired:
        b, c = paired_values(baseline, candidate)
    else:
        b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    out = {"test": "paired t (by seed)" if paired else "Welch t", "n_baseline": int(b.size), "n_candidate": int(c.size),
           "difference": json_float(c.mean() - b.mean()) if b.size and c.size else None,
           "statistic": None, "df": None, "p": None, "ci_low": None, "ci_high": None, "correlation": None}
    if min(b.size, c.size) < 2:
        return out
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (near-)constant data: reported by the sanity checks
        res = stats.ttest_rel(c, b) if paired else stats.ttest_ind(c, b, equal_var=False)
        lo, hi = res.confidence_interval(conf)
    out.update(statistic=json_float(res.statistic), df=json_float(res.df), p=json_float(res.pvalue), ci_low=json_float(lo), ci_high=json_float(hi))
    if paired and b.size > 2 and b.std() > 0 and c.std() > 0:
        out["correlation"] = json_float(stats.pearsonr(b, c).statistic)
    return out


# Significant digits, relative to the data's scale, to which the permutation statistic is rounded.
TIE_DIGITS = 10


def _mean_difference_rounded(scale: float):
    """The difference of means, rounded to TIE_DIGITS digits of the data's scale. Scores such as avg@k lie
    on a grid, so distinct arrangements often give the same difference; summed in another order it can
    differ in the last bits, and scipy's comparison with the observed value (a relative tolerance of about
    1e-14 of a difference that may be near 0) then misses the tie and prints too small a p. Rounding makes
    tied arrangements equal; distinct grid values differ by far more than the rounding."""
    unit = scale * 10.0 ** -TIE_DIGITS if scale > 0 else 1.0

    def statistic(x, y, axis=-1):
        return np.round((np.mean(x, axis=axis) - np.mean(y, axis=axis)) / unit) * unit

    return statistic


def permutation_min_p(n_baseline: int, n_candidate: int, paired: bool = False) -> float:
    """The smallest two-sided p an exact permutation test can return: 2 / (number of arrangements)."""
    arrangements = 2.0**n_baseline if paired else math.comb(n_baseline + n_candidate, n_baseline)
    return min(1.0, 2.0 / arrangements)


def permutation_check(baseline: pd.Series, candidate: pd.Series, paired: bool = False) -> dict:
    """Permutation test of the difference of means: exact when the arrangements are few enough."""
    if paired:
        b, c = paired_values(baseline, candidate)
    else:
        b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    min_p = permutation_min_p(b.size, c.size, paired) if min(b.size, c.size) >= 1 else 1.0
    out = {"p": None, "exact": None, "n_resamples": None, "min_p": json_float(min_p)}
    if min(b.size, c.size) < 2:
        return out
    arrangements = 2**b.size if paired else math.comb(b.size + c.size, b.size)
    exact = arrangements <= PERMUTATION_EXACT_MAX
    scale = float(np.max(np.abs(np.concatenate([b, c]))))
    res = stats.permutation_test(
        (c, b), _mean_difference_rounded(scale), vectorized=True, permutation_type="samples" if paired else "independent",
        n_resamples=np.inf if exact else PERMUTATION_EXACT_MAX, rng=np.random.default_rng(PERMUTATION_SEED))
    out.update(p=json_float(res.pvalue), exact=bool(exact), n_resamples=int(arrangements if exact else PERMUTATION_EXACT_MAX))
    return out


def hedges_g(baseline: pd.Series, candidate: pd.Series) -> float | None:
    """Bias-corrected standardised difference (candidate - baseline) over the pooled SD."""
    b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    if min(b.size, c.size) < 2:
        return None
    with np.errstate(all="ignore"):
        g, _ = effectsize_smd(c.mean(), c.std(ddof=1), c.size, b.mean(), b.std(ddof=1), b.size)
    return json_float(g)


def probability_of_improvement(baseline: pd.Series, candidate: pd.Series) -> float | None:
    """P(a candidate run beats a baseline run) = Mann-Whitney U / (n m); ties count one half."""
    b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    if min(b.size, c.size) < 1:
        return None
    return json_float(stats.mannwhitneyu(c, b, alternative="two-sided").statistic / (b.size * c.size))


def adjust(pvalues: list[float | None], alpha: float, correction: str) -> tuple[list[float | None], list[bool]]:
    """Multiplicity-adjusted p-values and rejections over one family; None p-values stay out of the family."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    adj: list[float | None] = [None] * len(pvalues)
    rej = [False] * len(pvalues)
    if not idx:
        return adj, rej
    ps = np.array([pvalues[i] for i in idx])
    if correction == "none":
        r, pa = ps <= alpha, ps
    else:
        r, pa, _, _ = multipletests(ps, alpha=alpha, method=correction)
    for j, i in enumerate(idx):
        adj[i], rej[i] = json_float(pa[j]), bool(r[j])
    return adj, rej


PRIMARY_TESTS = ("welch", "permutation")


def equivalence_test(baseline: pd.Series, candidate: pd.Series, margin: float, paired: bool = False) -> dict:
    """TOST (two one-sided t tests, statsmodels) of |candidate - baseline| < margin: Welch's unequal-variance
    form, or paired by seed. Its p is the larger one-sided p; equivalence is claimed when it is small."""
    from statsmodels.stats.weightstats import ttost_ind, ttost_paired

    if paired:
        b, c = paired_values(baseline, candidate)
    else:
        b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    out = {"margin": margin, "p": None}
    if min(b.size, c.size) < 2 or (np.std(b) == 0 and np.std(c) == 0):
        return out
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = ttost_paired(c, b, -margin, margin)[0] if paired else ttost_ind(c, b, -margin, margin, usevar="unequal")[0]
    out["p"] = json_float(p)
    return out
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 2024


def _hedges_g_vectorised(c, b, axis=-1):
    """Hedges' g (candidate - baseline) along `axis`, the same estimator as statsmodels' effectsize_smd."""
    n1, n2 = c.shape[axis], b.shape[axis]
    pooled = np.sqrt(((n1 - 1) * c.var(axis=axis, ddof=1) + (n2 - 1) * b.var(axis=axis, ddof=1)) / (n1 + n2 - 2))
    with np.errstate(all="ignore"):
        d = (c.mean(axis=axis) - b.mean(axis=axis)) / pooled
    return d * (1 - 3 / (4 * (n1 + n2 - 2) - 1))


def _prob_improvement_vectorised(c, b, axis=-1):
    """P(a candidate run beats a baseline run), ties one half, along `axis`."""
    c, b = np.moveaxis(c, axis, -1), np.moveaxis(b, axis, -1)
    wins = (c[..., :, None] > b[..., None, :]) + 0.5 * (c[..., :, None] == b[..., None, :])
    return wins.mean(axis=(-2, -1))


def bootstrap_interval(statistic, baseline: pd.Series, candidate: pd.Series, conf: float = 0.95) -> tuple:
    """Percentile interval of `statistic(candidate, baseline)` over runs resampled within each arm: the
    independent (per-arm stratified) bootstrap rliable uses for such estimates, here via scipy; (None, None)
    below 2 runs per arm or when every resample is undefined."""
    b, c = baseline.dropna().to_numpy(float), candidate.dropna().to_numpy(float)
    if min(b.size, c.size) < 2:
        return None, None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples (all equal): NaN, dropped below
        res = stats.bootstrap((c, b), statistic, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES,
                              confidence_level=conf, method="percentile",
                              rng=np.random.default_rng(BOOTSTRAP_SEED))
    dist = res.bootstrap_distribution
    dist = dist[np.isfinite(dist)]
    if not dist.size:
        return None, None
    tail = (1 - conf) / 2
    return json_float(np.quantile(dist, tail)), json_float(np.quantile(dist, 1 - tail))


def compare_cell(baseline: pd.Series, candidate: pd.Series, paired: bool = False, conf: float = 0.95,
                 permutation: bool = True, test: str = "welch") -> dict:
    """Every per-cell figure of the report (the multiplicity adjustment is done over the family later).

    test "permutation": the p that decides is the permutation test's (exact up to PERMUTATION_EXACT_MAX
    arrangements); the difference and its t interval are reported as with Welch."""
    out = {"baseline_arm": arm_summary(baseline, conf), "candidate_arm": arm_summary(candidate, conf),
           **primary_test(baseline, candidate, paired, conf), "paired": paired,
           "hedges_g": hedges_g(baseline, candidate),
           "hedges_g_ci": list(bootstrap_interval(_hedges_g_vectorised, baseline, candidate, conf)),
           "prob_improvement": probability_of_improvement(baseline, candidate),
           "prob_improvement_ci": list(bootstrap_interval(_prob_improvement_vectorised, baseline, candidate, conf))}
    if permutation or test == "permutation":
        out["permutation"] = permutation_check(baseline, candidate, paired)
    if test == "permutation":
        out.update(test="permutation (paired by seed)" if paired else "permutation", p=out["permutation"]["p"],
                   t_p=out["p"])
    return out
