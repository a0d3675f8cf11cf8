"""'Did the arms learn?': gains over the base model, the negative control, and the verdict's caution."""

import re

from analysis.report import build_report
from analysis.synthetic import write_campaign

LEARNED = {"grpo": 0.45, "full": 0.46, "control": 0.30}


def test_control_is_checked_against_base_and_baseline_not_a_candidate(tmp_path):
    root = write_campaign(tmp_path / "c", arms=("grpo", "full", "control"), controls=("control",), base=0.30,
                          accuracy=lambda arm, g, seed: LEARNED[arm] + 0.01 * ((seed % 3) - 1), rng=1)
    doc = build_report(root)
    lrn = doc["learning"]
    by = {(r["arm"], r["group_size"]): r for r in lrn["arms"]}
    for g in (4, 8):
        assert by[("grpo", g)]["beat_base"] and by[("grpo", g)]["gain"] > 0.1
        assert by[("control", g)]["control"] and not by[("control", g)]["beat_base"]
    assert lrn["did_not_learn"] == [] and lrn["controls_that_beat_base"] == []
    assert [(t["baseline"], t["control"], t["group_size"]) for t in lrn["controls"]] == [
        ("grpo", "control", 4), ("grpo", "control", 8)]
    assert all(t["baseline_beats_control"] and t["difference"] > 0.1 for t in lrn["controls"])
    # the control is never a default candidate: only full vs grpo is in the primary family
    assert {r["candidate"] for r in doc["primary"]["comparisons"]} == {"full"}
    md = (root / "analysis" / "report.md").read_text()
    assert "## Did the arms learn?" in md and "control (negative control)" in md
    assert "Caution: the baseline" not in md
    # the stage table: synthetic runs of preset "full" log a planning-token fraction of 0.2, grpo none
    assert doc["stage_activity"]["full"]["planning_token_frac"] == 0.2
    assert doc["stage_activity"]["grpo"]["planning_token_frac"] is None and "**Which stages acted**" in md


def test_a_baseline_that_did_not_learn_is_flagged_in_the_verdict(tmp_path):
    root = write_campaign(tmp_path / "c", base=0.50, accuracy=lambda arm, g, seed: 0.50 + 0.02 * ((seed % 3) - 1),
                          rng=2)
    doc = build_report(root)
    assert set(doc["learning"]["did_not_learn"]) == {"grpo G=4", "grpo G=8", "full G=4", "full G=8"}
    assert all("Caution: the baseline grpo did not beat the untrained base model" in v for v in doc["verdicts"])
    md = (root / "analysis" / "report.md").read_text()
    assert "**Did not beat the base model:**" in md and "**NO**" in md


def test_a_control_that_beats_the_base_raises_a_warning(tmp_path):
    root = write_campaign(tmp_path / "c", arms=("grpo", "control"), controls=("control",), base=0.30,
                          accuracy=lambda arm, g, seed: 0.45 + 0.01 * ((seed % 3) - 1), rng=4)
    doc = build_report(root)
    assert doc["learning"]["controls_that_beat_base"] == ["control G=4", "control G=8"]
    assert doc["primary"]["comparisons"] == []
    md = (root / "analysis" / "report.md").read_text()
    assert "WARNING: a negative control beat the base model" in md
    # with no candidate arm the verdict is the baseline against its control, never "no comparison"
    verdict = md.split("## Did the arms learn?")[0]
    assert md.startswith("# Campaign `synthetic`: grpo vs control (negative control)") and "no comparison" not in verdict
    assert verdict.count("- Negative control: G=") == 2 and "does not significantly beat control" in verdict
    assert re.search(r"The control's gain over the base model is \+0\.1\d+ and beats it", verdict) and "treat every gain" in verdict
