"""Interim files of a sequential campaign on synthetic runs with a known truth: who gets the next stage,
the report's sequential verdicts, a closed stage never re-decided, equivalence said only when shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.interim import scheduled, sequential_plan, stage_path, write_interim
from analysis.load import load_campaign
from analysis.report import build_report, verdict_lines
from analysis.synthetic import write_campaign
from textrl.errors import ConfigError

PER_STAGE, MAX_STAGES = 5, 3


def sequential_campaign(root: Path, effect: dict, seed_sd: float = 0.01, analysis: dict | None = None) -> Path:
    write_campaign(root, arms=("grpo", "full", "control"), controls=("control",), group_sizes=(4,),
                   seeds=tuple(range(PER_STAGE * MAX_STAGES)), effect=effect, seed_sd=seed_sd, problems=400,
                   base=0.45, analysis=analysis)
    plan = json.loads((root / "plan.json").read_text())
    plan["spec"]["seeds"] = {"per_stage": PER_STAGE, "max_stages": MAX_STAGES}
    plan["spec"]["analysis"]["candidates"] = ["full"]
    (root / "plan.json").write_text(json.dumps(plan))
    return root


def run_stages(root: Path) -> list[dict]:
    """Every interim in order, as the Snakefile's checkpoint would; then drop the runs no stage asked for."""
    docs = []
    for k in range(1, MAX_STAGES + 1):
        docs.append(json.loads(write_interim(root, k).read_text()))
        if docs[-1]["finished"]:
            break
    c = load_campaign(root)
    wanted = {r for ids in scheduled(root, c, sequential_plan(c.spec)).values() for r in ids}
    for d in (root / "runs").iterdir():
        if d.name not in wanted:
            shutil.rmtree(d)
    return docs


def test_a_decided_control_gets_no_more_seeds_and_the_open_comparison_does(tmp_path):
    root = sequential_campaign(tmp_path, {"full": 0.0, "control": -0.3})
    docs = run_stages(root)
    first = {c["candidate"]: c for c in docs[0]["comparisons"]}
    assert first["control"]["decision"] == "worse" and first["full"]["decision"] == "continue"
    assert docs[0]["next_stage_runs"] == [f"{arm}-g4-s{s}" for arm in ("grpo", "full") for s in range(5, 10)]
    assert len(docs) == MAX_STAGES and docs[-1]["finished"]
    doc = build_report(root)
    seq = doc["sequential"]
    assert seq["seeds_used"] == {"grpo G=4": 15, "full G=4": 15, "control G=4": 5}
    assert seq["runs_used"] == 35 and seq["runs_max"] == 45
    assert doc["runs"]["by_status"] == {"done": 35, "not_needed": 10}
    lines = verdict_lines(root)
    assert any("grpo beats the negative control control" in v and "decided at stage 1 of 3" in v for v in lines)
    assert any(v.startswith("G=4: full vs grpo: no significant difference") for v in lines)
    control = next(r for r in seq["comparisons"] if r["candidate"] == "control")
    assert control["ci_high"] < 0 and control["ci_low"] < control["difference"] < control["ci_high"]
    md = (root / "analysis" / "report.md").read_text()
    assert "## Sequential stages" in md and "figures/sequential.png" in md and "35 of at most 45" in md


def test_a_better_candidate_is_decided_early(tmp_path):
    docs = run_stages(sequential_campaign(tmp_path, {"full": 0.1, "control": -0.3}))
    assert len(docs) == 1 and {c["candidate"]: c["decision"] for c in docs[0]["comparisons"]} == \
        {"full": "better", "control": "worse"}
    assert docs[0]["next_stage_runs"] == []


def test_a_closed_stage_is_never_redecided(tmp_path):
    root = sequential_campaign(tmp_path, {"full": 0.0, "control": -0.3})
    write_interim(root, 1)
    write_interim(root, 2)
    summary = root / "runs" / "control-g4-s0" / "summary.json"
    s = json.loads(summary.read_text())
    s["endpoints"]["avg_at_k"] = 0.95  # the control's stage-1 runs no longer all lose
    summary.write_text(json.dumps(s))
    with pytest.raises(ConfigError, match=r"stage_1\.json: stage 1 decided 'control vs grpo G=4' as 'worse'"):
        write_interim(root, 2)


def test_an_interim_waits_for_every_run_of_its_stage(tmp_path):
    root = sequential_campaign(tmp_path, {"full": 0.0})
    (root / "runs" / "full-g4-s3" / "summary.json").unlink()
    with pytest.raises(ConfigError, match="stage 1: run full-g4-s3 is not_finished"):
        write_interim(root, 1)
    assert not stage_path(root, 1).exists()
    with pytest.raises(ConfigError, match="stage 2: no runs are scheduled"):
        write_interim(root, 2)


def test_equivalence_is_said_only_when_tost_shows_it(tmp_path):
    same = sequential_campaign(tmp_path / "same", {"full": 0.0, "control": -0.3}, seed_sd=0.005,
                               analysis={"equivalence_margin": 0.03})
    run_stages(same)
    assert any("equivalent within +/- 0.03 on held-out avg@4" in v for v in build_report(same)["verdicts"])
    noisy = sequential_campaign(tmp_path / "noisy", {"full": 0.0, "control": -0.3}, seed_sd=0.08,
                                analysis={"equivalence_margin": 0.03})
    run_stages(noisy)
    verdicts = build_report(noisy)["verdicts"]
    assert not any("equivalent within +/- 0.03 on" in v for v in verdicts)
    assert any("Not shown equivalent within +/- 0.03" in v for v in verdicts)


def test_a_corrupt_stage_file_is_a_file_problem_in_the_report_and_an_error_for_the_interim(tmp_path):
    root = sequential_campaign(tmp_path, {"full": 0.0, "control": -0.3})
    write_interim(root, 1)
    stage_path(root, 1).write_text('{"stage": 1, "comparisons": [')
    doc = build_report(root)
    assert any("stage_1.json" in f["path"] and "unreadable stage file" in f["problem"] for f in doc["file_problems"])
    with pytest.raises(ConfigError, match=r"stage_1\.json: unreadable stage file .* delete it"):
        write_interim(root, 2)


def test_mid_campaign_the_report_tells_waiting_runs_from_runs_not_needed(tmp_path):
    root = sequential_campaign(tmp_path, {"full": 0.0, "control": -0.3})
    for arm in ("grpo", "full", "control"):  # stage 2 onwards not trained yet
        for s in range(PER_STAGE, PER_STAGE * MAX_STAGES):
            shutil.rmtree(root / "runs" / f"{arm}-g4-s{s}")
    assert set(load_campaign(root).runs["status"]) == {"done", "waiting"}  # the loader and status classify alike
    from analysis.analyse import analyse

    c = load_campaign(root)
    analyse(c)
    assert set(c.runs.loc[c.runs["seed"] >= PER_STAGE, "status"]) == {"waiting"}
    write_interim(root, 1)
    c = load_campaign(root)
    analyse(c)
    by = c.runs.set_index("run_id")["status"]
    assert by["control-g4-s5"] == "not_needed" and by["full-g4-s5"] == "pending" and by["full-g4-s10"] == "waiting"
