"""Power for comparing two arms across seeds: Colas et al.'s Welch approximation.

For N seeds per arm and between-seed SDs s1, s2 (Colas, Sigaud & Oudeyer 2018):

    nu  = (s1^2 + s2^2)^2 (N - 1) / (s1^4 + s2^4)
    t_e = e / sqrt((s1^2 + s2^2) / N)
    beta = T_nu(t_(1 - alpha'/2) - t_e)          (miss rate; power = 1 - beta)

Paired by seed with correlation rho, the difference has SD sqrt(s1^2 + s2^2 - 2 rho s1 s2) and N - 1
degrees of freedom. alpha' is the per-test level a correction can guarantee: with Holm or Bonferroni over
n_tests tests that is alpha / n_tests (Holm's first, strictest step), so the figures are a lower bound
on power under Holm. `textrl plan` calls these same functions for its preview with an assumed SD.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CORRECTIONS = ("holm", "bonferroni", "none")


def per_test_alpha(alpha: float, n_tests: int = 1, correction: str = "holm") -> float:
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if n_tests < 1:
        raise ValueError(f"n_tests must be >= 1, got {n_tests}")
    return alpha if correction == "none" else alpha / n_tests


def loosest_alpha(alpha: float, n_tests: int = 1, correction: str = "holm") -> float:
    """The largest per-test level any test of the family can be judged at: Holm's step-down ends at alpha
    itself (for the last test, once the others are rejected); Bonferroni is alpha / n_tests throughout."""
    return alpha if correction in ("holm", "none") else per_test_alpha(alpha, n_tests, correction)


def _spread(sd_baseline: float, sd_candidate: float, n_per_arm, paired: bool, rho: float):
    """(standard error of the difference, degrees of freedom) for n_per_arm seeds (scalar or array)."""
    n = np.asarray(n_per_arm, dtype=float)
    v1, v2 = float(sd_baseline) ** 2, float(sd_candidate) ** 2
    if paired:
        var_d = max(v1 + v2 - 2.0 * rho * float(sd_baseline) * float(sd_candidate), 0.0)
        return np.sqrt(var_d / n), n - 1.0
    nu = (v1 + v2) ** 2 * (n - 1.0) / (v1**2 + v2**2) if (v1 + v2) > 0 else n - 1.0
    return np.sqrt((v1 + v2) / n), nu


def miss_rate(effect: float, sd_baseline: float, sd_candidate: float, n_per_arm: int, alpha: float = 0.05,
              n_tests: int = 1, correction: str = "holm", paired: bool = False, rho: float = 0.0) -> float:
    """beta: the probability of missing a true absolute difference `effect` with n_per_arm seeds per arm."""
    if n_per_arm < 2:
        return 1.0
    se, df = _spread(sd_baseline, sd_candidate, n_per_arm, paired, rho)
    if se == 0:
        return 0.0 if effect != 0 else 1.0
    t_crit = stats.t.ppf(1 - per_test_alpha(alpha, n_tests, correction) / 2, df)
    return float(stats.t.cdf(t_crit - abs(effect) / se, df))


def minimum_detectable_effect(sd_baseline: float, sd_candidate: float, n_per_arm: int, alpha: float = 0.05,
                              n_tests: int = 1, correction: str = "holm", power: float = 0.8,
                              paired: bool = False, rho: float = 0.0) -> float:
    """Smallest absolute difference detected with probability `power` at n_per_arm seeds per arm.

    Closed form of beta = 1 - power: t_e = t_(1-alpha'/2) + t_power, both quantiles of T_nu.
    Returns inf with fewer than 2 seeds per arm.
    """
    if n_per_arm < 2:
        return math.inf
    se, df = _spread(sd_baseline, sd_candidate, n_per_arm, paired, rho)
    t_crit = stats.t.ppf(1 - per_test_alpha(alpha, n_tests, correction) / 2, df)
    return float((t_crit + stats.t.ppf(power, df)) * se)


def seeds_needed(effect: float, sd_baseline: float, sd_candidate: float, alpha: float = 0.05,
                 n_tests: int = 1, correction: str = "holm", power: float = 0.8, paired: bool = False,
                 rho: float = 0.0, max_seeds: int = 100_000) -> int | None:
    """Smallest number of seeds per arm (>= 2) whose miss rate is below 1 - power; None beyond max_seeds."""
    if not effect or effect != effect:
        raise ValueError(f"effect must be a non-zero number, got {effect!r}")
    def beta(n):
        se, df = _spread(sd_baseline, sd_candidate, n, paired, rho)
        if not np.any(se):
            return np.zeros_like(np.asarray(n, dtype=float))
        t_crit = stats.t.ppf(1 - per_test_alpha(alpha, n_tests, correction) / 2, df)
        return stats.t.cdf(t_crit - abs(effect) / se, df)

    # The miss rate falls with n: double until it is low enough, then scan that last stretch.
    hi = 2
    while beta(hi) >= 1 - power:
        if hi >= max_seeds:
            return None
        hi = min(2 * hi, max_seeds)
    n = np.arange(max(2, hi // 2), hi + 1)
    return int(n[np.flatnonzero(beta(n) < 1 - power)[0]])


def sd_lower_bound(sd: float, n: int, conf: float = 0.95) -> float:
    """Lower end of the two-sided `conf` chi-square interval for an SD estimated from n values (0 when n < 2)."""
    if n < 2:
        return 0.0
    df = n - 1
    return float(sd * math.sqrt(df / stats.chi2.ppf(1 - (1 - conf) / 2, df)))


def sd_upper_bound(sd: float, n: int, conf: float = 0.95) -> float:
    """Upper end of the two-sided `conf` chi-square interval for an SD estimated from n values.

    With 4 degrees of freedom the 95 % interval is 0.60 to 2.87 times the estimate; planning with the
    upper end guards against a pilot that happened to look quiet. inf when n < 2.
    """
    if n < 2:
        return math.inf
    df = n - 1
    return float(sd * math.sqrt(df / stats.chi2.ppf((1 - conf) / 2, df)))
