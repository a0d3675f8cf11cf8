"""The permutation p counts tied arrangements exactly: grid-valued scores (avg@k = count / (n k)) against
exact enumeration in rational arithmetic."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import stats

from analysis.compare import permutation_check

GRID = 2000  # 500 problems x k = 4


def exact_p(base: list[int], cand: list[int], paired: bool) -> float:
    """scipy's two-sided p, 2 * min(P(T >= t), P(T <= t)) capped at 1, by enumerating every arrangement of
    the integer counts with exact fractions."""
    def diff(b, c):
        return Fraction(sum(c), len(c)) - Fraction(sum(b), len(b))

    observed = diff(base, cand)
    if paired:
        null = [diff(*zip(*[(c, b) if flip else (b, c) for b, c, flip in zip(base, cand, flips)]))
                for flips in itertools.product((False, True), repeat=len(base))]
    else:
        pooled = base + cand
        null = []
        for chosen in itertools.combinations(range(len(pooled)), len(cand)):
            c = [pooled[i] for i in chosen]
            b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
            null.append(diff(b, c))
    greater = sum(t >= observed for t in null) / len(null)
    less = sum(t <= observed for t in null) / len(null)
    return min(1.0, 2 * min(greater, less))


def test_grid_valued_scores_get_the_exact_permutation_p():
    rng = np.random.default_rng(0)
    naive_misses = 0
    for trial in range(300):
        paired = trial % 3 == 0
        n_b, n_c = (5, 5) if paired else (int(rng.integers(3, 6)), int(rng.integers(3, 6)))
        # few distinct grid values, so that tied arrangements are common
        base = [int(v) for v in rng.choice([780, 790, 800, 806, 810], n_b)]
        cand = [int(v) for v in rng.choice([790, 800, 806, 810, 820], n_c)]
        b, c = pd.Series(np.array(base) / GRID), pd.Series(np.array(cand) / GRID)
        want = exact_p(base, cand, paired)
        got = permutation_check(b, c, paired=paired)
        assert got["exact"] and math.isclose(got["p"], want, rel_tol=0, abs_tol=1e-12), (trial, base, cand, got, want)
        plain = stats.permutation_test((c.to_numpy(), b.to_numpy()), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                                       vectorized=True, n_resamples=np.inf,
                                       permutation_type="samples" if paired else "independent").pvalue
        naive_misses += not math.isclose(plain, want, abs_tol=1e-12)
    # the unrounded statistic gets some of these wrong: the test would catch a regression
    assert naive_misses > 0
