"""Expansion, plan.json, `textrl plan`, and agreement with the real `snakemake -n`."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textrl.campaign import expand_probes, expand_runs, load_spec, write_plan
from textrl.cli import main
from textrl.config import load_run_config

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

ARMS = [
    {"name": "grpo", "advantage": {"preset": "grpo"}, "lr": 3e-5},
    {"name": "full", "advantage": {"preset": "full"}, "lr": 3e-5},
    {"name": "full_b", "advantage": {"preset": "full", "gtpo": {"beta": 0.2}}, "lr": 1e-5},
]


def spec_dict(**over) -> dict:
    return {"name": "t", "arms": ARMS[:2], "seeds": 3, "group_sizes": [4, 8], **over}


def dry_run_counts(spec: dict, tmp_path: Path) -> dict[str, int]:
    """Job counts per rule from the real snakemake CLI's dry run."""
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(
        [str(SNAKEMAKE), "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "campaign_ab",
         "--config", f"campaign={path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    table = out.stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize(
    "over",
    [
        {"arms": [*ARMS[::2], {**ARMS[1], "lr": [1e-5, 3e-5]}], "seeds": [0, 5], "group_sizes": [2, 4, 16]},
        {"arms": [ARMS[0], {**ARMS[1], "lr": "from_sweep"}], "seeds": 4, "group_sizes": [4, 8],
         "sweep": {"lrs": [1e-5, 3e-5, 1e-4], "probe_seeds": 2, "probe_steps": 5}},
    ],
    ids=["3-arms-lr-grid", "sweep"],
)
def test_plan_and_snakemake_dry_run_agree(over, tmp_path):
    raw = spec_dict(**over)
    spec = load_spec(raw)
    runs, probes = expand_runs(spec), expand_probes(spec)
    lrs = sum(len(a.lrs) for a in spec.arms)
    assert len(runs) == lrs * len(spec.seeds) * len(spec.group_sizes)
    counts = dry_run_counts(raw, tmp_path)
    assert counts["train"] == len(runs)
    assert counts.get("probe", 0) == len(probes)
    assert counts["evaluate"] == counts["summarize"] == counts["run_config"] == len(runs)
    assert counts["base_model"] == counts["report"] == 1
    if spec.sweep:
        assert len(probes) == 3 * 2  # one swept arm x 3 lrs x 2 probe seeds
        assert counts["select_lr"] == 1


def test_run_ids_and_configs_are_valid_run_configs():
    spec = load_spec(spec_dict(arms=[ARMS[0], {**ARMS[1], "lr": [1e-5, 3e-5]}], seeds=[0, 7]))
    runs = expand_runs(spec)
    ids = [r.run_id for r in runs]
    assert ids[:2] == ["grpo-g4-s0", "grpo-g4-s7"]
    assert "full-g8-s7-lr3e-05" in ids and "full-g4-s0-lr1e-05" in ids
    assert len(set(ids)) == len(ids)
    for r in runs:
        cfg = load_run_config(r.config, check=False)  # the base model dir is built later
        assert (cfg.run_id, cfg.arm, cfg.seed, cfg.train.group_size, cfg.train.lr) == (
            r.run_id, r.arm, r.seed, r.group_size, r.lr)
        assert cfg.campaign == "t" and cfg.model.path == "results/t/base_model"
        assert {f"arm:{r.arm}", f"seed:{r.seed}", f"G:{r.group_size}"} <= set(cfg.wandb.tags)
    # same settings, different seed -> different hash; same run -> same hash on re-expansion
    assert runs[0].config_hash != runs[1].config_hash
    assert [r.config_hash for r in expand_runs(spec)] == [r.config_hash for r in runs]


def test_arm_loss_overrides_and_training_kl():
    spec = load_spec(spec_dict(training={"kl_coef": 0.01, "steps": 40},
                               arms=[ARMS[0], {**ARMS[1], "loss": {"kind": "gspo", "kl_coef": 0.0}}]))
    by_arm = {r.arm: r.config for r in expand_runs(spec)}
    assert by_arm["grpo"]["loss"]["kl_coef"] == 0.01 and by_arm["grpo"]["loss"]["kind"] == "grpo"
    assert by_arm["full"]["loss"] == {**by_arm["grpo"]["loss"], "kind": "gspo", "kl_coef": 0.0}
    assert by_arm["full"]["train"]["steps"] == 40


def test_write_plan_contents(tmp_path):
    raw = spec_dict(arms=[ARMS[0], {**ARMS[1], "lr": "from_sweep"}], sweep={"lrs": [1e-5, 1e-4]})
    spec = load_spec(raw)
    out = write_plan(spec, tmp_path)
    plan = json.loads((out / "plan.json").read_text())
    assert plan["campaign"] == "t" and len(plan["runs"]) == 12 and len(plan["probes"]) == 2
    entry = next(r for r in plan["runs"] if r["run_id"] == "full-g8-s2")
    assert set(entry) == {"run_id", "arm", "seed", "group_size", "lr", "stage", "config_hash", "config"}
    assert entry["stage"] is None  # a fixed seed design
    assert entry["lr"] == "from_sweep" and entry["config"]["train"]["lr"] is None
    assert plan["spec"]["analysis"]["baseline"] == "grpo" and plan["spec"]["analysis"]["candidates"] == ["full"]
    assert plan["spec"]["seeds"] == [0, 1, 2]
    assert [p["run_id"] for p in plan["probes"]] == ["full-lr1e-05-s1000", "full-lr0.0001-s1000"]
    # the resolved spec is a complete spec: loading it gives the same campaign
    resolved = yaml.safe_load((out / "spec.resolved.yaml").read_text())
    assert resolved["training"]["steps"] == 300 and resolved["evaluation"]["k"] == 4
    assert load_spec(resolved).resolved() == spec.resolved()


def test_plan_command_prints_counts_compute_and_power(tmp_path, capsys):
    assert main(["plan", str(REPO / "campaigns/ab.yaml"), "--out", str(tmp_path), "--cores", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 arms x 2 group sizes x 5 seeds = 20 training runs" in text
    assert "training completions 144,000" in text  # 20 runs x 150 steps x 8 prompts x (4 or 8)/2 avg 6
    assert "estimated wall time" in text and "ASSUMPTION: between-seed SD 0.02" in text
    assert re.search(r"minimum detectable effect 0\.0\d+", text)
    assert (tmp_path / "ab" / "plan.json").exists()


def test_a_third_arm_is_a_second_candidate_in_the_plan_and_its_power_preview(tmp_path, capsys):
    from textrl.campaign.preview import power_preview

    spec = load_spec(spec_dict(arms=ARMS))
    assert spec.candidate_arms == ["full", "full_b"] and spec.resolved()["analysis"]["candidates"] == ["full", "full_b"]
    assert power_preview(spec).n_tests == 4  # 2 candidates x 2 group sizes, one Holm family
    assert load_spec(spec_dict(arms=ARMS, analysis={"candidate": "full_b"})).candidate_arms == ["full_b"]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(spec_dict(arms=ARMS)))
    assert main(["plan", str(path), "--no-write", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "comparisons: full, full_b vs baseline grpo, at each group size (4, 8): 2 candidate(s)" in text
    # per arm, exactly what differs from the baseline's run config
    assert "  full: advantage.preset: 'grpo' -> 'full'\n" in text
    assert "  full_b: advantage.gtpo: None -> {'beta': 0.2}; advantage.preset: 'grpo' -> 'full'; train.lr: 3e-05 -> 1e-05" in text
    assert "4 test(s) (holm)" in text


def test_plan_lists_sweep_runs_as_such(capsys, tmp_path):
    assert main(["plan", str(REPO / "campaigns/sweep.yaml"), "--no-write", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "plus 12 LR probe runs" in text
    assert re.search(r"grpo\s+8\s+from sweep\s+300\s+5", text)
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("name", ["smoke", "ab", "sweep", "tinker"])
def test_shipped_campaigns_are_valid(name):
    spec = load_spec(REPO / "campaigns" / f"{name}.yaml")
    assert spec.name == name
    assert len(expand_runs(spec)) >= 4
    if name == "ab":
        assert len(spec.seeds) >= 5 and len(spec.group_sizes) == 2
        assert {a.advantage["preset"] for a in spec.arms} == {"grpo", "full"}
    if name == "tinker":
        assert spec.backend == "tinker" and "/" in spec.model.path


def test_a_sequential_plan_lists_every_stage_and_previews_the_seeds_it_expects(tmp_path, capsys):
    raw = spec_dict(arms=[*ARMS[:2], {"name": "ctl", "advantage": {"preset": "grpo"}, "control": "bernoulli"}],
                    seeds={"per_stage": 3, "max_stages": 3}, group_sizes=[4])
    spec = load_spec(raw)
    assert spec.seed_list == list(range(9)) and spec.sequential_family == ["full", "ctl"]
    runs = expand_runs(spec, tmp_path)
    assert [r.stage for r in runs if r.arm == "grpo"] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    path = tmp_path / "seq.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["plan", str(path), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "comparisons: full, ctl vs baseline grpo, at each group size (4): one sequential family" in text
    assert "at most 27 training runs" in text and "minimum detectable effect" not in text
    assert re.search(r"no effect: +\d+\.\d runs, \d\.\d\d stages", text)
    assert re.search(r"candidates \+0\.05: +\d+\.\d runs, \d\.\d\d stages; power \d\.\d\d", text)
    assert json.loads((tmp_path / "t" / "plan.json").read_text())["spec"]["seeds"] == {"per_stage": 3, "max_stages": 3}
    # snakemake -n knows stage 1 and its interim; later stages appear as the interims decide
    out = subprocess.run([str(SNAKEMAKE), "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "campaign_ab",
                          "--config", f"campaign={path}", f"results={tmp_path / 'results'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout, re.M))
    assert counts["train"] == "9" and counts["interim"] == "1", out.stdout[-2000:]


def test_all_pairs_counts_every_pair_in_the_plan_and_its_power_preview(tmp_path, capsys):
    from textrl.campaign.preview import power_preview

    raw = spec_dict(arms=ARMS, analysis={"comparisons": "all_pairs"})
    spec = load_spec(raw)
    assert spec.comparison_pairs == [("grpo", "full"), ("grpo", "full_b"), ("full", "full_b")]
    assert power_preview(spec).n_tests == 6  # 3 pairs x 2 group sizes
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["plan", str(path), "--no-write", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert ("comparisons: all pairs (full vs grpo, full_b vs grpo, full_b vs full), at each group size (4, 8): "
            "3 pair(s), one primary family, holm across all of its tests") in text
    assert "6 test(s) (holm)" in text


def test_replanning_says_which_finished_runs_an_edited_spec_would_retrain(tmp_path, capsys):
    spec = yaml.safe_load((REPO / "campaigns/smoke.yaml").read_text())
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["plan", str(path), "--out", str(tmp_path)]) == 0
    plan = json.loads((tmp_path / "smoke" / "plan.json").read_text())
    finished, unfinished = plan["runs"][0], plan["runs"][1]
    for entry, done in ((finished, True), (unfinished, False)):
        run_dir = tmp_path / "smoke" / "runs" / entry["run_id"]
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps({"run": entry["config"], "versions": {}}))
        if done:
            (run_dir / "summary.json").write_text("{}")
    capsys.readouterr()
    assert main(["plan", str(path), "--no-write", "--out", str(tmp_path)]) == 0
    assert "note:" not in capsys.readouterr().out  # the same spec: nothing changes meaning
    spec["training"]["steps"] = 12
    path.write_text(yaml.safe_dump(spec))
    assert main(["plan", str(path), "--no-write", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"note: 1 finished run(s) were trained with other settings than this plan's: {finished['run_id']} " \
           "(train.steps 24 -> 12)" in out and "moves each aside" in out
