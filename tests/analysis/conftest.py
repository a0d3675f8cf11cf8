"""Synthetic campaigns with a known truth, written once per test session (building one takes seconds)."""

import pytest

from analysis.report import build_report
from analysis.synthetic import write_campaign


@pytest.fixture(scope="session")
def effect_campaign(tmp_path_factory):
    """A planted effect large enough to detect at G=8 and none at G=4, plus one failed and one missing run."""
    root = write_campaign(tmp_path_factory.mktemp("effect") / "effect", effect={("full", 8): 0.12, ("full", 4): 0.0},
                          seeds=tuple(range(6)), seed_sd=0.02, failed=("full-g4-s1",), missing=("grpo-g8-s5",), rng=3)
    return root, build_report(root)


@pytest.fixture(scope="session")
def paired_campaign(tmp_path_factory):
    """Same-seed runs share a large seed effect, so pairing by seed pays."""
    root = write_campaign(tmp_path_factory.mktemp("paired") / "paired", effect=0.03, seeds=tuple(range(6)),
                          seed_sd=0.01, shared_seed_sd=0.05, analysis={"paired": True}, rng=5)
    return root, build_report(root)
