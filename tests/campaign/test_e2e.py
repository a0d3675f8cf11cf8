"""The smoke campaign for real, through the snakemake CLI: end to end, and resumed after a crash.

One uninterrupted campaign (module fixture) is shared by both tests. The resume test starts the same
command again in a fresh directory, SIGKILLs the whole Snakemake process group once one run is done
and another is mid-training with a checkpoint, reruns the command, and checks that the finished run was
left alone and the interrupted one continued from its checkpoint to exactly the metrics, generations and
evaluation of the uninterrupted campaign (same seed, same machine => same numbers).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from textrl.trainer import strip_timing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)
SNAKEMAKE = PYTHON.with_name("snakemake")
RUN_FILES = ("config.json", "metrics.jsonl", "generations.jsonl.gz", "eval.json", "summary.json")


def snakemake_args(root: Path, *extra: str) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(root), "--profile", str(REPO / "profiles/default"),
            "--cores", "2", "campaign_ab", "--config", f"campaign={root / 'smoke.yaml'}", f"results={root / 'results'}",
            *extra]


def new_campaign_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "campaigns/smoke.yaml", root / "smoke.yaml")
    return root


@dataclass
class Campaign:
    root: Path
    stdout: str
    stderr: str

    @property
    def dir(self) -> Path:
        return self.root / "results" / "smoke"

    @property
    def plan(self) -> dict:
        return json.loads((self.dir / "plan.json").read_text())

    def run_dir(self, run_id: str) -> Path:
        return self.dir / "runs" / run_id


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def generations(run_dir: Path) -> list[dict]:
    with gzip.open(run_dir / "generations.jsonl.gz", "rt") as f:  # reads every appended gzip member
        return [json.loads(line) for line in f]


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the checkpoint a resume would load (textrl.checkpoint.Checkpoints.latest_state, read-only)."""
    for name in ("checkpoint", ".checkpoint.old"):  # .old: killed between the two renames of a save
        try:
            return json.loads((run_dir / name / "state.json").read_text())["step"]
        except (OSError, ValueError, KeyError):
            continue
    return None


def assert_run_complete(run_dir: Path, entry: dict) -> None:
    train = entry["config"]["train"]
    steps, rows_per_step = train["steps"], train["prompts_per_step"] * train["group_size"]
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    assert not missing, f"{run_dir}: missing {missing}"
    assert [row["step"] for row in metrics(run_dir)] == list(range(1, steps + 1)), f"{run_dir}/metrics.jsonl"
    gen_steps = [g["step"] for g in generations(run_dir)]
    assert gen_steps == [s for s in range(1, steps + 1) for _ in range(rows_per_step)], f"{run_dir}/generations"
    assert json.loads((run_dir / "config.json").read_text())["run"]["run_id"] == entry["run_id"]
    assert json.loads((run_dir / "eval.json").read_text())["checkpoint_step"] == steps
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == steps and summary["run_id"] == entry["run_id"]


def textrl_status(campaign_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), "-m", "textrl", "status", str(campaign_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, textrl_cache) -> Campaign:
    """The smoke campaign, uninterrupted, base model included."""
    root = new_campaign_dir(tmp_path_factory.mktemp("e2e"))
    out = subprocess.run(snakemake_args(root), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return Campaign(root, out.stdout, out.stderr)


def test_smoke_campaign_end_to_end(campaign):
    plan = campaign.plan
    assert len(plan["runs"]) == 4
    for entry in plan["runs"]:
        assert_run_complete(campaign.run_dir(entry["run_id"]), entry)
    analysis = campaign.dir / "analysis"
    for name in ("report.md", "report.html", "comparison.json", "runs.csv"):
        assert (analysis / name).is_file(), name
    comparison = json.loads((analysis / "comparison.json").read_text())
    assert comparison  # a parsed, non-empty document
    # the held-out curve: the same untrained policy at step 0 in every run, plotted against the base
    curves = [[json.loads(line) for line in (campaign.run_dir(e["run_id"]) / "eval_curve.jsonl").read_text().splitlines()]
              for e in plan["runs"]]
    assert all([r["step"] for r in c] == [0, 8, 16, 24] for c in curves)
    assert len({c[0]["avg_at_k"] for c in curves}) == 1
    assert "figures/heldout_curves.png" in [f["file"] for f in comparison["figures"]]
    # the Snakefile's onsuccess handler is the last thing on stdout: where the report is
    lines = campaign.stdout.strip().splitlines()
    assert lines[-1] == f"textrl: campaign smoke done; report: {analysis}/report.html (and report.md)"
    # the verdicts come just before it, one per comparison, as in the report
    verdicts = [f"textrl: {v}" for v in comparison["verdicts"]]
    assert verdicts and lines[-1 - len(verdicts):-1] == verdicts

    status = textrl_status(campaign.dir)
    assert status.returncode == 0, status.stdout + status.stderr
    for entry in plan["runs"]:
        steps = entry["config"]["train"]["steps"]
        assert re.search(rf"^{re.escape(entry['run_id'])}\s+done\s+{steps}/{steps}\b", status.stdout, re.M), status.stdout
    assert "4 runs: 4 done" in status.stdout


def test_resume_after_crash(campaign, tmp_path):
    root = new_campaign_dir(tmp_path)
    c = Campaign(root, "", "")
    run_ids = [e["run_id"] for e in campaign.plan["runs"]]
    steps = campaign.plan["runs"][0]["config"]["train"]["steps"]

    def done_runs() -> set[str]:
        return {r for r in run_ids if (c.run_dir(r) / "summary.json").exists()}

    def mid_training() -> dict[str, int]:
        """Runs whose training is under way and has written a checkpoint: run id -> checkpoint step."""
        out = {}
        for r in run_ids:
            step = checkpoint_step(c.run_dir(r))
            if step is not None and step < steps and not (c.run_dir(r) / "train.done").exists():
                out[r] = step
        return out

    # 1. start the campaign; crash it once one run is done and another is mid-training
    with open(root / "first.log", "w") as log:
        proc = subprocess.Popen(snakemake_args(root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not (done_runs() and mid_training()):
            assert proc.poll() is None, "the campaign finished before it could be interrupted:\n" + (root / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no run was done while another was mid-training"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started: a crash
        proc.wait(timeout=60)
    time.sleep(0.5)
    done, interrupted = done_runs(), mid_training()  # what the crash left on disk
    assert done and interrupted, (done, interrupted)
    assert not done & set(interrupted)
    # the base_model rule copied the uninterrupted campaign's build from $TEXTRL_CACHE, not rebuilt it:
    # the same base weights are what makes "same metrics" below a fair demand
    base_log = (c.dir / "logs" / "base_model.log").read_text()
    assert "building tiny model" not in base_log, base_log
    before = {
        r: {name: ((c.run_dir(r) / name).read_bytes(), (c.run_dir(r) / name).stat().st_mtime_ns)
            for name in ("summary.json", "eval.json", "metrics.jsonl")}
        | {"train.log": ((c.dir / "logs/train" / f"{r}.log").read_bytes(),
                         (c.dir / "logs/train" / f"{r}.log").stat().st_mtime_ns)}
        for r in done
    }
    # files alone tell the story after a crash: finished runs are done, none is reported failed
    status = textrl_status(c.dir)
    assert status.returncode == 0, status.stdout + status.stderr
    for r in done:
        assert re.search(rf"^{re.escape(r)}\s+done\s", status.stdout, re.M), status.stdout

    # 2. the same command again, to completion. A SIGKILLed Snakemake cannot remove its lock on the
    # working directory; `--unlock` (what Snakemake's own error message asks for) does.
    unlock = subprocess.run(snakemake_args(root, "--unlock"), capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    out = subprocess.run(snakemake_args(root), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert out.stdout.strip().splitlines()[-1].startswith("textrl: campaign smoke done; report: ")

    # every run complete, no step missing or logged twice
    for entry in c.plan["runs"]:
        assert_run_complete(c.run_dir(entry["run_id"]), entry)
    assert (c.dir / "analysis" / "report.html").is_file()

    # finished runs were not re-run: their files and train logs are untouched
    for r, files in before.items():
        for name, (content, mtime) in files.items():
            path = c.dir / "logs/train" / f"{r}.log" if name == "train.log" else c.run_dir(r) / name
            assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime, f"{r}: {name} was rewritten"

    # interrupted runs continued from their checkpoints...
    for r, step in interrupted.items():
        train_log = (c.dir / "logs/train" / f"{r}.log").read_text()
        assert f"resuming from the checkpoint of step {step}" in train_log, train_log[-2000:]
        assert step > 0

    # ...to exactly what the uninterrupted campaign computed, like every other run
    for r in run_ids:
        resumed, uninterrupted = c.run_dir(r), campaign.run_dir(r)
        assert [strip_timing(m) for m in metrics(resumed)] == [strip_timing(m) for m in metrics(uninterrupted)], r
        assert generations(resumed) == generations(uninterrupted), r
        assert json.loads((resumed / "eval.json").read_text()) == json.loads((uninterrupted / "eval.json").read_text()), r
