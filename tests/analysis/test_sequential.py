"""The sequential test itself (analysis.sequential): decisions, who gets the next stage, reproducibility,
intervals. Its error rates over thousands of campaigns are measured by benchmarks/sequential.py."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.sequential import (BETTER, FUTILE, OPEN, UNDECIDED, WORSE, Comparison, Design, SequentialTest,
                                 repeated_ci, run_interims, spent)

PAIR = [Comparison("cand vs base", "base", "cand")]
TRIO = [Comparison("cand vs base", "base", "cand"), Comparison("control vs base", "base", "control")]


def design(**kw) -> Design:
    return Design(**{"per_stage": 5, "max_stages": 4, "n_permutations": 4000, **kw})


def stage(rng, means: dict, n: int = 5, sd: float = 0.02) -> dict:
    return {a: rng.normal(m, sd, n) for a, m in means.items()}


@pytest.mark.parametrize("kind", ["linear", "pocock", "obrien_fleming"])
def test_spending_reaches_alpha_at_the_end_and_grows(kind):
    levels = [spent(0.05, t, kind) for t in (0.25, 0.5, 0.75, 1.0)]
    assert levels == sorted(levels) and levels[-1] == pytest.approx(0.05)
    assert spent(0.05, 0.25, "obrien_fleming") < spent(0.05, 0.25, "linear") < spent(0.05, 0.25, "pocock")


def test_a_separated_control_closes_at_stage_one_and_only_the_open_comparison_gets_more_seeds():
    rng = np.random.default_rng(0)
    first = run_interims(design(), TRIO, [stage(rng, {"base": 0.5, "cand": 0.5, "control": 0.2})])[0]
    assert first.decisions == {"cand vs base": OPEN, "control vs base": WORSE}
    assert first.next_agents == ["base", "cand"]  # the control's next seeds are not needed


def test_two_sided_and_mirror_symmetric():
    rng = np.random.default_rng(1)
    stages = [stage(rng, {"base": 0.5, "cand": 0.53}) for _ in range(4)]
    mirrored = [{a: 1.0 - v for a, v in s.items()} for s in stages]
    up = run_interims(design(), PAIR, stages, ignore_after_finish=True)[-1]
    down = run_interims(design(), PAIR, mirrored, ignore_after_finish=True)[-1]
    assert up.decisions["cand vs base"] == BETTER and down.decisions["cand vs base"] == WORSE
    assert up.stage == down.stage


def test_no_difference_ends_undecided_never_equal():
    rng = np.random.default_rng(2)
    results = run_interims(design(), PAIR, [stage(rng, {"base": 0.5, "cand": 0.5}) for _ in range(4)])
    assert [r.decisions["cand vs base"] for r in results] == [OPEN, OPEN, OPEN, UNDECIDED]
    assert results[-1].finished and results[-1].next_agents == []
    assert all(r.alpha_spent <= spent(0.05, r.stage / 4, "pocock") + 1e-12 for r in results)


def test_futility_stops_a_difference_near_zero_early():
    values = {"base": np.array([0.1, 0.3, 0.5, 0.7, 0.9]), "cand": np.array([0.2, 0.4, 0.45, 0.6, 0.85])}
    r = run_interims(design(futility=0.2), PAIR, [values])[0]
    assert r.decisions["cand vs base"] == FUTILE and r.futility_boundary["cand vs base"] > 0


def test_recomputation_is_exact_and_ties_on_a_grid_do_not_reject():
    rng = np.random.default_rng(3)
    stages = [stage(rng, {"base": 0.5, "cand": 0.52, "control": 0.5}) for _ in range(3)]
    a, b = run_interims(design(), TRIO, stages), run_interims(design(), TRIO, stages)
    assert [(r.decisions, r.statistic, r.boundary, r.alpha_spent) for r in a] == \
        [(r.decisions, r.statistic, r.boundary, r.alpha_spent) for r in b]
    # 4 seeds per stage: the most separated stage-1 arrangement has two-sided p 2/70 > the stage's share of
    # alpha, so it must not reject, however its mean difference rounds
    grid = {"base": np.array([0.1, 0.2, 0.3, 0.35]), "cand": np.array([0.4, 0.45, 0.6, 0.7])}
    r = run_interims(Design(4, 5, n_permutations=4000), PAIR, [grid])[0]
    assert r.decisions["cand vs base"] == OPEN and r.alpha_spent == 0.0


def test_errors_name_the_stage_and_comparison():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="stage 1: comparison 'cand vs base' is open but 'cand' has no finite"):
        run_interims(design(), PAIR, [{"base": rng.normal(size=5)}])
    test = SequentialTest(design(max_stages=2), PAIR)
    for _ in range(2):
        test.step(stage(rng, {"base": 0.5, "cand": 0.5}))
    with pytest.raises(ValueError, match="at most 2"):
        test.step(stage(rng, {"base": 0.5, "cand": 0.5}))


def test_sequential_interval_covers_the_true_shift():
    d = Design(4, 3, n_permutations=1000)
    covered = []
    for s in range(40):
        rng = np.random.default_rng(100 + s)
        base = [rng.normal(0.0, 1.0, 4) for _ in range(3)]
        cand = [rng.normal(1.0, 1.0, 4) for _ in range(3)]
        lo, hi = repeated_ci(d, base, cand, 0.05)
        assert lo < np.concatenate(cand).mean() - np.concatenate(base).mean() < hi
        covered.append(lo <= 1.0 <= hi)
    assert np.mean(covered) >= 0.9
