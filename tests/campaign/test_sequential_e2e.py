"""campaigns/sequential.yaml, shortened, for real through the snakemake CLI: a comparison decided at
stage 1 (the baseline against the negative control) gets no stage-2 runs, the open one gets them, and a
campaign killed between the stages finishes, after the documented rerun, exactly as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
STAGE_2 = range(5, 10)


def new_campaign(root: Path) -> Path:
    spec = yaml.safe_load((REPO / "campaigns/sequential.yaml").read_text())
    spec.update(name="seq", seeds={"per_stage": 5, "max_stages": 2},
                training={**spec["training"], "steps": 30, "checkpoint_every": 10}, evaluation={"k": 2})
    root.mkdir(parents=True, exist_ok=True)
    (root / "seq.yaml").write_text(yaml.safe_dump(spec))
    return root


def args(root: Path, *extra: str) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(root), "--profile", str(REPO / "profiles/default"),
            "--cores", "2", "campaign_ab", "--config", f"campaign={root / 'seq.yaml'}", f"results={root / 'results'}",
            *extra]


def outcome(root: Path) -> dict:
    """Everything the statistics rest on: the stage files and every run's endpoints."""
    c = root / "results" / "seq"
    return {"stages": [json.loads(p.read_text()) for p in sorted((c / "sequential").glob("stage_*.json"))],
            "endpoints": {d.name: json.loads((d / "summary.json").read_text())["endpoints"]
                          for d in sorted((c / "runs").iterdir())}}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, textrl_cache) -> tuple[Path, str]:
    root = new_campaign(tmp_path_factory.mktemp("seq"))
    out = subprocess.run(args(root), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return root, out.stdout


def test_a_decided_comparison_gets_no_more_seeds(campaign):
    root, stdout = campaign
    c = root / "results" / "seq"
    first = json.loads((c / "sequential" / "stage_1.json").read_text())
    decisions = {x["candidate"]: x["decision"] for x in first["comparisons"]}
    assert decisions == {"full": "continue", "control": "worse"}, first
    assert first["next_stage_runs"] == [f"{arm}-g4-s{s}" for arm in ("grpo", "full") for s in STAGE_2]
    runs = {d.name for d in (c / "runs").iterdir()}
    assert not {f"control-g4-s{s}" for s in STAGE_2} & runs
    assert all((c / "runs" / r / "summary.json").is_file() for r in first["next_stage_runs"])
    second = json.loads((c / "sequential" / "stage_2.json").read_text())
    assert second["finished"] and second["next_stage_runs"] == []
    doc = json.loads((c / "analysis" / "comparison.json").read_text())
    assert doc["sequential"]["runs_used"] == 25 and doc["sequential"]["runs_max"] == 30
    assert doc["runs"]["by_status"] == {"done": 25, "not_needed": 5}
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("textrl: campaign seq done; report: ")
    assert lines[-1 - len(doc["verdicts"]):-1] == [f"textrl: {v}" for v in doc["verdicts"]]
    assert any("grpo beats the negative control control" in v and "stage 1 of 2" in v for v in doc["verdicts"])
    status = subprocess.run([sys.executable, "-m", "textrl", "status", str(c)], capture_output=True, text=True, timeout=120)
    assert "30 runs: 25 done, 5 not_needed" in status.stdout, status.stdout
    dry = subprocess.run(args(root, "-n"), capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


def test_killed_between_stages_the_rerun_finishes_identically(campaign, tmp_path):
    root = new_campaign(tmp_path)
    stage_1 = root / "results" / "seq" / "sequential" / "stage_1.json"
    with open(root / "first.log", "w") as log:
        proc = subprocess.Popen(args(root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not stage_1.exists():
            assert proc.poll() is None, (root / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "stage 1 never finished"
            time.sleep(0.05)
        time.sleep(2)  # the second stage's first jobs are under way
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert not (root / "results" / "seq" / "sequential" / "stage_2.json").exists()
    unlock = subprocess.run(args(root, "--unlock"), capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    out = subprocess.run(args(root), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert outcome(root) == outcome(campaign[0])
