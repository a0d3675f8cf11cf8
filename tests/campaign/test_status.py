"""`textrl status` and the report read a damaged campaign without crashing and without calling it done."""

from __future__ import annotations

import json
import shutil

from analysis.load import load_campaign
from analysis.synthetic import write_campaign
from textrl.campaign.status import campaign_status


def states(root) -> dict[str, str]:
    return {s.run_id: s.state for s in campaign_status(root, now=1e12)}


def test_a_truncated_summary_or_a_deleted_eval_is_not_done(tmp_path):
    root = write_campaign(tmp_path, group_sizes=(4,), seeds=(0, 1))
    (root / "runs" / "grpo-g4-s0" / "summary.json").write_text('{"run_id": "grpo-g4-s0", "endp')
    (root / "runs" / "full-g4-s1" / "eval.json").unlink()
    got = states(root)
    assert got == {"grpo-g4-s0": "malformed", "grpo-g4-s1": "done", "full-g4-s0": "done", "full-g4-s1": "not_finished"}
    malformed = next(s for s in campaign_status(root, now=1e12) if s.state == "malformed")
    assert "summary.json unreadable" in malformed.detail
    runs = load_campaign(root).runs.set_index("run_id")
    assert runs.loc["grpo-g4-s0", "status"] == "malformed"
    assert runs.loc["full-g4-s1", "status"] == "not_finished" and "eval.json is missing" in runs.loc["full-g4-s1", "detail"]


def test_a_sequential_campaign_shows_runs_waiting_for_an_interim_and_runs_not_needed(tmp_path):
    from analysis.interim import write_interim

    root = write_campaign(tmp_path, arms=("grpo", "full", "control"), controls=("control",), group_sizes=(4,),
                          seeds=tuple(range(10)), effect={"control": -0.3}, seed_sd=0.01, problems=400)
    plan = json.loads((root / "plan.json").read_text())
    plan["spec"]["seeds"] = {"per_stage": 5, "max_stages": 2}
    for r in plan["runs"]:
        r["stage"] = r["seed"] // 5 + 1
    (root / "plan.json").write_text(json.dumps(plan))
    for arm in ("grpo", "full", "control"):  # stage 2 not trained yet
        for s in range(5, 10):
            shutil.rmtree(root / "runs" / f"{arm}-g4-s{s}")
    assert {v for k, v in states(root).items() if k.endswith(("s5", "s6", "s7", "s8", "s9"))} == {"waiting"}
    write_interim(root, 1)
    got = states(root)
    assert {got[f"control-g4-s{s}"] for s in range(5, 10)} == {"not_needed"}
    assert {got[f"full-g4-s{s}"] for s in range(5, 10)} == {"pending"}


def test_runs_trained_under_an_earlier_spec_are_stale_not_analysed_under_the_new_labels(tmp_path):
    root = write_campaign(tmp_path, group_sizes=(4,), seeds=(0, 1, 2))
    plan = json.loads((root / "plan.json").read_text())
    for r in plan["runs"]:  # the spec was edited to 150 steps and re-planned; the runs trained 20
        r["config"]["train"]["steps"] = 150
    (root / "plan.json").write_text(json.dumps(plan))
    runs = load_campaign(root).runs
    assert set(runs["status"]) == {"stale"}
    assert "changed: train.steps" in runs["detail"].iloc[0]
