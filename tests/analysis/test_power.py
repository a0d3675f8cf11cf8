"""analysis.power: Colas et al.'s Welch approximation, the published figures of Colas et al., and simulation."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from analysis import power as pw
from analysis.compare import adjust, primary_test


def test_sd_upper_bound_matches_the_chi_square_range_quoted_for_4_degrees_of_freedom():
    assert pw.sd_upper_bound(1.0, 5) == pytest.approx(2.87, abs=0.01)
    assert pw.sd_upper_bound(2.0, 5) == pytest.approx(2 * 2.87, abs=0.02)
    assert pw.sd_upper_bound(1.0, 1) == math.inf


def test_minimum_detectable_effect_at_8_seeds_is_about_1_5_sd_and_about_1_2_when_paired_and_correlated():
    assert pw.minimum_detectable_effect(1.0, 1.0, 8) == pytest.approx(1.506, abs=0.005)
    assert pw.minimum_detectable_effect(1.0, 1.0, 8, paired=True, rho=0.5) == pytest.approx(1.2, abs=0.06)
    # More tests under Holm/Bonferroni plan at alpha / n_tests; "none" does not.
    assert pw.minimum_detectable_effect(1, 1, 8, n_tests=3) > pw.minimum_detectable_effect(1, 1, 8, n_tests=3, correction="none")
    assert pw.minimum_detectable_effect(1, 1, 1) == math.inf


def test_mde_is_the_effect_whose_miss_rate_is_one_minus_power():
    for sd_b, sd_c, n in [(1.0, 1.0, 8), (0.02, 0.05, 5), (0.3, 0.1, 20)]:
        e = pw.minimum_detectable_effect(sd_b, sd_c, n, n_tests=2)
        assert pw.miss_rate(e, sd_b, sd_c, n, n_tests=2) == pytest.approx(0.2, abs=1e-9)


def test_seeds_needed_is_the_smallest_n_below_the_target_miss_rate():
    for e, sd_b, sd_c in [(0.05, 0.02, 0.02), (0.03, 0.02, 0.04), (1.0, 1.0, 1.0), (0.01, 0.05, 0.05)]:
        n = pw.seeds_needed(e, sd_b, sd_c, alpha=0.05, n_tests=2, correction="holm")
        assert pw.miss_rate(e, sd_b, sd_c, n, n_tests=2) < 0.2
        assert n == 2 or pw.miss_rate(e, sd_b, sd_c, n - 1, n_tests=2) >= 0.2
    assert pw.seeds_needed(0.001, 1.0, 1.0, max_seeds=50) is None
    with pytest.raises(ValueError):
        pw.seeds_needed(0.0, 1.0, 1.0)


def test_seeds_needed_agrees_with_statsmodels_noncentral_t_within_one_seed_at_equal_sds():
    for d in (0.5, 1.0, 1.5, 2.0):
        exact = TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8)
        assert abs(pw.seeds_needed(d, 1.0, 1.0) - math.ceil(exact)) <= 1


def test_planted_effect_is_detected_at_about_the_predicted_power():
    """2000 simulated experiments at the MDE for 8 seeds per arm: Welch rejects about 80 % of the time."""
    rng = np.random.default_rng(1)
    sd_b, sd_c, n = 0.02, 0.03, 8
    e = pw.minimum_detectable_effect(sd_b, sd_c, n)
    hits = 0
    sims = 2000
    b = rng.normal(0.5, sd_b, (sims, n))
    c = rng.normal(0.5 + e, sd_c, (sims, n))
    p = stats.ttest_ind(c, b, axis=1, equal_var=False).pvalue  # vectorised check of the same test
    hits = np.mean(p <= 0.05)
    assert hits == pytest.approx(0.8, abs=0.04)
    # The report's own test function gives the same decisions on a subsample.
    for i in range(50):
        assert (primary_test(pd.Series(b[i]), pd.Series(c[i]))["p"] <= 0.05) == (p[i] <= 0.05)


def test_under_holm_power_per_test_is_at_least_the_planned_power():
    rng = np.random.default_rng(2)
    n, sims = 6, 1500
    e = pw.minimum_detectable_effect(1.0, 1.0, n, n_tests=2, correction="holm")
    p = stats.ttest_ind(rng.normal(e, 1, (2, sims, n)), rng.normal(0, 1, (2, sims, n)), axis=2, equal_var=False).pvalue
    # Holm rejects test 0 iff it passes alpha/2, or test 1 passes alpha/2 and test 0 passes alpha.
    first = (p[0] <= 0.025) | ((p[1] <= 0.025) & (p[0] <= 0.05))
    assert 0.78 <= first.mean() <= 0.9
    for i in range(10):
        assert adjust([p[0, i], p[1, i]], 0.05, "holm")[1][0] == first[i]
