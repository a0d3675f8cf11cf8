"""No true difference: the primary test fires at most about alpha, per family, even with a large seed effect.

The simulation runs scipy's tests vectorised over experiments; a subsample checks that the report's own
functions (primary_test, adjust) make exactly the same decisions, so the rate is the report's rate.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.analyse import analyse
from analysis.compare import adjust, primary_test
from analysis.load import load_campaign
from analysis.synthetic import write_campaign

SIMS, SIZES, SEEDS, ALPHA = 4000, 2, 5, 0.05


def _null_experiments(rng):
    shared = rng.normal(0, 0.05, (SIMS, SIZES, SEEDS))  # a seed effect both arms share: same-seed runs correlate
    b = 0.5 + shared + rng.normal(0, 0.02, shared.shape)
    c = 0.5 + shared + rng.normal(0, 0.02, shared.shape)
    return b, c


@pytest.mark.parametrize("paired", [False, True])
def test_primary_false_positive_rate_per_family_is_at_most_6_percent(paired):
    b, c = _null_experiments(np.random.default_rng(10 + paired))
    p = (stats.ttest_rel(c, b, axis=2) if paired else stats.ttest_ind(c, b, axis=2, equal_var=False)).pvalue
    fires = p.min(axis=1) <= ALPHA / SIZES  # Holm rejects something iff its first step does
    assert fires.mean() <= 0.06, fires.mean()
    for i in range(15):
        ps = [primary_test(pd.Series(b[i, g]), pd.Series(c[i, g]), paired=paired)["p"] for g in range(SIZES)]
        assert ps == pytest.approx(list(p[i]), rel=1e-9)
        assert any(adjust(ps, ALPHA, "holm")[1]) == fires[i]


def test_null_campaign_directory_claims_nothing(tmp_path):
    root = write_campaign(tmp_path / "null", effect=0.0, seeds=tuple(range(5)), seed_sd=0.03, rng=21)
    doc = analyse(load_campaign(root))
    rows = doc["primary"]["comparisons"]
    assert len(rows) == 2 and all(r["p"] is not None for r in rows)
    assert not any(r["significant"] for r in rows)
    assert all("no significant difference" in v and "not evidence that the arms are equal" in v for v in doc["verdicts"])
    assert all(a["fired"] is False for a in doc["sanity"]["aa"])
