"""`textrl compare`: runs pooled across campaigns only where configs are identical."""

from __future__ import annotations

import json

from analysis.pooled import compare_campaigns
from analysis.synthetic import write_campaign
from textrl.cli import main


def test_two_campaigns_sharing_a_baseline_pool_it_and_compare_each_candidate(tmp_path, capsys):
    a = write_campaign(tmp_path / "a", name="a", arms=("grpo", "full"), group_sizes=(4,), seeds=(0, 1, 2))
    b = write_campaign(tmp_path / "b", name="b", arms=("grpo", "rloo"), group_sizes=(4,), seeds=(3, 4, 5),
                       effect={"rloo": 0.2})
    doc = compare_campaigns([a, b])
    groups = {g["name"]: g for g in doc["groups"]}
    assert groups["grpo"]["campaigns"] == ["a", "b"] and groups["grpo"]["seeds"] == [0, 1, 2, 3, 4, 5]
    assert groups["rloo"]["tokens_generated_mean"] > 0 and groups["rloo"]["wall_s_mean"] is not None
    assert "pooled: grpo on synthetic at G=4 from a, b (6 seeds, identical configs)" in doc["notes"]
    by = {c["candidate"]: c for c in doc["comparisons"]}
    assert set(by) == {"full", "rloo"} and by["rloo"]["n_baseline"] == 6 and by["rloo"]["n_tests"] == 2
    assert by["rloo"]["significant"] and by["rloo"]["difference"] > 0.1
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    assert "rloo is better than grpo" in (tmp_path / "out" / "compare.md").read_text()
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["baseline"] == "grpo"


def test_runs_of_other_configs_are_not_pooled_and_the_report_says_why(tmp_path):
    a = write_campaign(tmp_path / "a", name="a", arms=("grpo", "full"), group_sizes=(4,), seeds=(0, 1, 2))
    b = write_campaign(tmp_path / "b", name="b", arms=("grpo", "full"), group_sizes=(4,), seeds=(3, 4, 5), steps=30)
    doc = compare_campaigns([a, b])
    names = sorted(g["name"] for g in doc["groups"])
    assert names == ["full@a", "full@b", "grpo@a", "grpo@b"]
    assert any(n.startswith("not pooled: grpo on synthetic at G=4 in a and in b ran other configs (train.steps 20 vs 30")
               for n in doc["notes"])
    # two baseline groups at one cell: nothing is compared rather than something pooled wrongly
    assert doc["comparisons"] == [] and any("2 baseline groups of 'grpo'" in n for n in doc["notes"])


def test_the_same_run_in_two_campaigns_counts_once(tmp_path):
    a = write_campaign(tmp_path / "a", name="a", arms=("grpo", "full"), group_sizes=(4,), seeds=(0, 1, 2))
    b = write_campaign(tmp_path / "b", name="b", arms=("grpo", "full"), group_sizes=(4,), seeds=(2, 3))
    doc = compare_campaigns([a, b])
    assert {g["name"]: g["seeds"] for g in doc["groups"]} == {"grpo": [0, 1, 2, 3], "full": [0, 1, 2, 3]}
    assert any("b/grpo-g4-s2: the same config and seed as a/grpo-g4-s2: counted once" in n for n in doc["notes"])
