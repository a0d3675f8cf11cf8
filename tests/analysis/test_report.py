"""The report: sections, verdicts, honest handling of broken runs, offline HTML, no mlx."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.analyse import analyse
from analysis.load import load_campaign
from analysis.report import build_report
from analysis.synthetic import write_campaign
from textrl.commands import report as report_cmd
from textrl.errors import ConfigError

SECTIONS = ["Verdict", "Design", "Runs", "Primary endpoint", "Power", "Arm x group size interaction",
            "Secondary endpoints", "Learning curves", "SEPA schedule", "Resolved advantage pipeline per arm",
            "Sanity checks", "Generation-level tests", "Reproducibility appendix"]
REPO = Path(__file__).resolve().parents[2]


def test_report_has_every_section_and_figure(effect_campaign):
    root, doc = effect_campaign
    md = (root / "analysis" / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    for s in SECTIONS:
        assert any(h.startswith(s) for h in headings), s
    names = {f["file"] for f in doc["figures"]}
    assert names == {"figures/dots.png", "figures/forest.png", "figures/curves_steps.png",
                     "figures/curves_tokens.png", "figures/sepa.png"}
    for name in names:
        assert (root / "analysis" / name).stat().st_size > 5_000
        assert f"]({name})" in md
    for text in ("A/A check", "Evaluation noise", "0123abc", "```yaml", '"advantage_pipeline"', "Not primary evidence"):
        assert text in md


def test_verdicts_follow_the_planted_truth(effect_campaign):
    _, doc = effect_campaign
    g4, g8 = doc["primary"]["comparisons"]
    assert (g4["group_size"], g8["group_size"]) == (4, 8)
    assert g8["significant"] and g8["difference"] > 0.05
    assert "full is better than grpo" in g8["verdict"]
    assert not g4["significant"] and "no significant difference" in g4["verdict"]
    assert g8["power"]["mde"] > 0 and g8["power"]["seeds_needed"] >= 2
    assert g8["power"]["seeds_needed_at_sd_upper"] >= g8["power"]["seeds_needed"]


def test_failed_and_missing_runs_are_listed_not_dropped(effect_campaign):
    root, doc = effect_campaign
    not_done = {r["run_id"]: r for r in doc["runs"]["not_done"]}
    assert not_done["full-g4-s1"]["status"] == "failed" and "synthetic failure" in not_done["full-g4-s1"]["detail"]
    assert not_done["grpo-g8-s5"]["status"] == "pending"
    md = (root / "analysis" / "report.md").read_text()
    assert "`full-g4-s1`: failed" in md and "Traceback (most recent call last):" in md and "`grpo-g8-s5`: pending" in md
    assert doc["runs"] == {**doc["runs"], "planned": 24, "done": 22}


def test_html_is_self_contained(effect_campaign):
    root, doc = effect_campaign
    html = (root / "analysis" / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(doc["figures"])
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for s in SECTIONS:
        assert re.search(rf"<h2>{re.escape(s)}", html), s


def test_pseudo_replication_trap_is_not_claimed_as_significant(tmp_path):
    """Pooled completions make a seed-level noise difference look overwhelming; the verdict must not follow."""
    seed_acc = {"grpo": [0.42, 0.58, 0.47, 0.61, 0.50], "full": [0.55, 0.46, 0.63, 0.49, 0.60]}
    root = write_campaign(tmp_path / "trap", group_sizes=(8,), problems=500, k=4, problem_sd=0.5,
                          accuracy=lambda arm, g, seed: seed_acc[arm][seed], rng=7)
    doc = build_report(root)
    (row,) = doc["primary"]["comparisons"]
    (gen,) = doc["generation_level"]
    assert gen["fisher_p"] < 0.001 and gen["bootstrap_ci_low"] > 0  # the trap: pooled looks decisive
    assert row["p"] > 0.2 and not row["significant"]                 # the run-level answer
    assert "no significant difference" in row["verdict"]
    md = (root / "analysis" / "report.md").read_text()
    verdict = md.split("## Design")[0]
    assert "better than" not in verdict and "worse than" not in verdict
    assert "pseudo-replication" in md.split("## Generation-level tests")[1]


def test_too_few_seeds_says_so_instead_of_no_difference(tmp_path):
    root = write_campaign(tmp_path / "few", seeds=(0, 1, 2), group_sizes=(4,), effect=0.0, rng=1)
    (row,) = analyse(load_campaign(root))["primary"]["comparisons"]
    assert row["cannot_reach_significance"] and row["permutation"]["min_p"] == pytest.approx(0.1)
    assert "inconclusive by design" in row["verdict"] and "not evidence of no difference" in row["verdict"]
    assert "no significant difference" not in row["verdict"]


def test_holm_step_down_can_reach_what_its_first_step_cannot(tmp_path):
    # 4 vs 4 seeds: the exact permutation floor 2/70 = 0.029 is above Holm's first step over two tests
    # (0.025) but not above its last (0.05): reachable, once the other test is rejected
    root = write_campaign(tmp_path / "four", seeds=(0, 1, 2, 3), group_sizes=(4, 8), effect=0.0, rng=3)
    rows = analyse(load_campaign(root))["primary"]["comparisons"]
    for row in rows:
        assert row["permutation"]["min_p"] == pytest.approx(2 / 70)
        assert not row["cannot_reach_significance"] and row["needs_others_rejected"]
        assert "inconclusive by design" not in row["verdict"]
        if not row["significant"]:
            assert "can only be significant once other tests of the family are" in row["verdict"]


def test_broken_files_are_reported_with_their_path(tmp_path):
    root = write_campaign(tmp_path / "broken", seeds=tuple(range(4)), group_sizes=(4,), rng=2)
    runs = root / "runs"
    (runs / "grpo-g4-s0" / "summary.json").write_text('{"run_id": "grpo-g4-s0", "endp')
    metrics = runs / "grpo-g4-s1" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 21, "reward_me')
    (runs / "full-g4-s0" / "eval.json").write_text("[1, 2")
    shutil.rmtree(runs / "full-g4-s2")
    (runs / "full-g4-s2").mkdir()
    (runs / "full-g4-s2" / "train.log").write_text("<script>alert(1)</script>\nstep 1/20\nstep 2/20 reward 0.3\n")
    doc = build_report(root)
    problems = {Path(p["path"]).relative_to(root).as_posix(): p["problem"] for p in doc["file_problems"]}
    assert "unreadable JSON" in problems["runs/grpo-g4-s0/summary.json"]
    assert "malformed line" in problems["runs/grpo-g4-s1/metrics.jsonl"]
    assert "unreadable JSON" in problems["runs/full-g4-s0/eval.json"]
    status = {r["run_id"]: r for r in doc["runs"]["not_done"]}
    assert status["grpo-g4-s0"]["status"] == "malformed"
    assert status["full-g4-s2"]["status"] == "not_finished" and "step 2/20 reward 0.3" in status["full-g4-s2"]["detail"]
    md = (root / "analysis" / "report.md").read_text()
    assert str(runs / "grpo-g4-s1" / "metrics.jsonl") in md
    assert doc["primary"]["comparisons"][0]["n_baseline"] == 3
    html = (root / "analysis" / "report.html").read_text()
    assert "step 2/20 reward 0.3" in html and "<script>" not in html  # log text is shown, never run


def test_missing_plan_falls_back_to_the_run_directories(tmp_path):
    root = write_campaign(tmp_path / "noplan", seeds=tuple(range(4)), group_sizes=(4,), rng=4)
    (root / "plan.json").unlink()
    doc = analyse(load_campaign(root))
    assert doc["runs"]["done"] == 8 and doc["primary"]["comparisons"][0]["n_candidate"] == 4
    assert any("plan.json unavailable" in n for n in doc["notes"])


def test_degenerate_data_is_reported(tmp_path):
    root = write_campaign(tmp_path / "flat", seeds=tuple(range(4)), group_sizes=(4,), rng=4)
    for seed in range(4):
        p = root / "runs" / f"grpo-g4-s{seed}" / "summary.json"
        s = json.loads(p.read_text())
        s["endpoints"]["avg_at_k"] = 0.5
        s["endpoints"]["reward_auc"] = None
        p.write_text(json.dumps(s))
    doc = analyse(load_campaign(root))
    found = " ".join(doc["sanity"]["degenerate"])
    assert "zero between-seed variance" in found and "reward_auc is missing or NaN in 4" in found


def test_settings_defaults_and_bad_values(tmp_path):
    from analysis.settings import settings_from_spec
    from textrl.errors import ConfigError

    s = settings_from_spec({})
    assert (s.primary, s.alpha, s.paired, s.correction, s.effect_of_interest, s.aa_check) == \
        ("avg_at_k", 0.05, False, "holm", 0.05, True)
    with pytest.raises(ConfigError, match="spec.analysis.primary"):
        settings_from_spec({"analysis": {"primary": "accuracy"}})
    with pytest.raises(ConfigError, match="spec.analysis.alpha"):
        settings_from_spec({"analysis": {"alpha": 5}})


def test_every_other_arm_against_the_baseline(tmp_path):
    root = write_campaign(tmp_path / "three", arms=("grpo", "full", "maxrl"), group_sizes=(4, 8), seeds=tuple(range(4)),
                          rng=6)
    doc = analyse(load_campaign(root))
    pairs = [(r["candidate"], r["group_size"]) for r in doc["primary"]["comparisons"]]
    assert pairs == [("full", 4), ("full", 8), ("maxrl", 4), ("maxrl", 8)]
    assert doc["design"]["n_primary_tests"] == 4 and doc["primary"]["comparisons"][0]["power"]["n_tests"] == 4


def test_cli_and_module_entry_never_import_mlx(effect_campaign, tmp_path):
    root, _ = effect_campaign
    code = ("import sys, runpy; sys.argv = ['analysis', sys.argv[1]]\n"
            "try:\n    runpy.run_module('analysis', run_name='__main__')\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "bad = [m for m in sys.modules if m == 'mlx' or m.startswith(('mlx.', 'mlx_lm'))]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code, str(root)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "G=8: full vs grpo" in res.stdout
    assert report_cmd.main([str(tmp_path / "nowhere")]) == 2


def test_a_campaign_with_no_finished_run_still_gets_a_report(tmp_path):
    root = write_campaign(tmp_path / "early", seeds=(0, 1), group_sizes=(4,), rng=8)
    shutil.rmtree(root / "runs")
    doc = build_report(root)
    assert doc["runs"]["done"] == 0 and {r["status"] for r in doc["runs"]["not_done"]} == {"pending"}
    assert "cannot compare" in doc["verdicts"][0]
    assert (root / "analysis" / "report.html").exists()


def test_primary_test_permutation_decides_on_the_exact_permutation_p(tmp_path):
    root = write_campaign(tmp_path / "perm", seeds=tuple(range(6)), effect=0.05, rng=5,
                          analysis={"primary_test": "permutation"})
    doc = analyse(load_campaign(root))
    assert doc["design"]["primary_test"] == "exact permutation test of the difference of means"
    for row in doc["primary"]["comparisons"]:
        assert row["test"] == "permutation" and row["p"] == row["permutation"]["p"] and row["t_p"] is not None
        assert row["permutation"]["exact"]
    welch = analyse(load_campaign(write_campaign(tmp_path / "welch", seeds=tuple(range(6)), effect=0.05, rng=5)))
    assert [r["p"] for r in welch["primary"]["comparisons"]] == [r["t_p"] for r in doc["primary"]["comparisons"]]
    with pytest.raises(ConfigError, match="spec.analysis.primary_test: expected one of welch, permutation"):
        analyse(load_campaign(write_campaign(tmp_path / "bad", analysis={"primary_test": "wilcoxon"})))


@pytest.mark.parametrize("case, seeds, effect, seed_sd, want", [
    ("equivalent truth", tuple(range(10)), 0.0, 0.01, "equivalent"),
    ("different truth", tuple(range(10)), 0.1, 0.01, "different"),
    ("underpowered", (0, 1, 2, 3), 0.0, 0.06, "neither"),
])
def test_tost_says_equivalent_only_when_the_data_show_it(tmp_path, case, seeds, effect, seed_sd, want):
    root = write_campaign(tmp_path / "eq", seeds=seeds, effect=effect, seed_sd=seed_sd, rng=8,
                          analysis={"equivalence_margin": 0.03})
    doc = analyse(load_campaign(root))
    for row in doc["primary"]["comparisons"]:
        eq, v = row["equivalence"], row["verdict"]
        assert eq["margin"] == 0.03 and eq["p_adjusted"] is not None
        if want == "equivalent":
            assert eq["equivalent"] and not row["significant"] and "equivalent within +/- 0.03" in v
            assert "no significant difference" not in v
        elif want == "different":
            assert row["significant"] and not eq["equivalent"] and "better than" in v
        else:
            assert not eq["equivalent"] and not row["significant"]
            assert "Nor are they shown equivalent within +/- 0.03" in v and "equivalent within +/- 0.03 on" not in v
    build_report(root)
    assert "| equivalent within +/- 0.03 (TOST) |" in (root / "analysis" / "report.md").read_text()


def test_the_report_says_what_each_arm_changes_from_the_baseline(tmp_path):
    import json

    from analysis.report import build_report
    from analysis.synthetic import write_campaign

    root = write_campaign(tmp_path, arms=("grpo", "full", "mine"), group_sizes=(4,), seeds=(0, 1, 2))
    for s in range(3):  # the lr a sweep chose is only in the runs' own config.json
        path = root / "runs" / f"mine-g4-s{s}" / "config.json"
        cfg = json.loads(path.read_text())
        cfg["run"]["train"]["lr"] = 1e-4
        path.write_text(json.dumps(cfg))
    plan = json.loads((root / "plan.json").read_text())
    for r in plan["runs"]:
        if r["arm"] == "mine":
            r["lr"], r["config"]["train"]["lr"] = "from_sweep", None
    (root / "plan.json").write_text(json.dumps(plan))
    doc = build_report(root)
    assert doc["arm_differences"] == {"full": ["advantage.preset: 'grpo' -> 'full'"],
                                      "mine": ["advantage.preset: 'grpo' -> 'mine'", "train.lr: 3e-05 -> 0.0001"]}
    md = (root / "analysis" / "report.md").read_text()
    assert "| mine | advantage.preset: 'grpo' -> 'mine'; train.lr: 3e-05 -> 0.0001 |" in md


def test_all_pairs_is_one_family_of_every_pair_at_every_group_size(tmp_path):
    from analysis.report import build_report
    from analysis.synthetic import write_campaign

    root = write_campaign(tmp_path, arms=("grpo", "full", "mine"), group_sizes=(4, 8), seeds=(0, 1, 2, 3),
                          effect={"mine": 0.1}, seed_sd=0.01, analysis={"comparisons": "all_pairs"})
    doc = build_report(root)
    rows = doc["primary"]["comparisons"]
    assert [(r["baseline"], r["candidate"], r["group_size"]) for r in rows] == [
        ("grpo", "full", 4), ("grpo", "full", 8), ("grpo", "mine", 4), ("grpo", "mine", 8),
        ("full", "mine", 4), ("full", "mine", 8)]
    assert {r["n_tests"] for r in rows} == {6} and doc["design"]["n_primary_tests"] == 6
    assert len(doc["verdicts"]) == 6
    assert sum("mine is better than full" in v for v in doc["verdicts"]) == 2
    md = (root / "analysis" / "report.md").read_text()  # six comparisons: a summary table opens the verdict
    assert "| G | comparison | difference [95% CI] | p adjusted | result |" in md
    assert md.count("| **better** |") == 4  # mine against grpo and against full, at both group sizes
