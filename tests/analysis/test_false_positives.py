"""No true difference: the primary test fires at most about alpha, per family, even with a large seed effect."""

import numpy as np
import pandas as pd

from analysis.analyse import analyse
from analysis.compare import adjust, primary_test
from analysis.load import load_campaign
from analysis.synthetic import write_campaign

SIMS = 1500


def _family_fires(rng, paired: bool, n_seeds: int, sizes: int) -> bool:
    ps = []
    for _ in range(sizes):
        shared = rng.normal(0, 0.05, n_seeds)  # a seed effect both arms share: same-seed runs correlate
        b = pd.Series(0.5 + shared + rng.normal(0, 0.02, n_seeds))
        c = pd.Series(0.5 + shared + rng.normal(0, 0.02, n_seeds))
        ps.append(primary_test(b, c, paired=paired)["p"])
    return any(adjust(ps, 0.05, "holm")[1])


def test_welch_false_positive_rate_per_family_is_at_most_6_percent():
    rng = np.random.default_rng(10)
    rate = np.mean([_family_fires(rng, False, 5, 2) for _ in range(SIMS)])
    assert rate <= 0.06, rate


def test_paired_false_positive_rate_per_family_is_at_most_6_percent():
    rng = np.random.default_rng(11)
    rate = np.mean([_family_fires(rng, True, 5, 2) for _ in range(SIMS)])
    assert rate <= 0.06, rate


def test_null_campaign_directory_claims_nothing(tmp_path):
    root = write_campaign(tmp_path / "null", effect=0.0, seeds=tuple(range(5)), seed_sd=0.03, rng=21)
    doc = analyse(load_campaign(root))
    rows = doc["primary"]["comparisons"]
    assert len(rows) == 2 and all(r["p"] is not None for r in rows)
    assert not any(r["significant"] for r in rows)
    assert all("no significant difference" in v and "not evidence that the arms are equal" in v for v in doc["verdicts"])
    assert all(a["fired"] is False for a in doc["sanity"]["aa"])
