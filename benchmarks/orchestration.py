"""Orchestration cost: planning a 1,000-run campaign, and Snakemake's overhead per job on the smoke campaign.

    .venv/bin/python benchmarks/orchestration.py [--seeds 50] [--repeats 3] [--cores 1] [--skip-smoke] [--campaign SPEC]

Prints one JSON object with two parts.

plan_1000_runs: a generated spec of 2 arms x 50 seeds x 10 group sizes = 1,000 training runs (4,004
Snakemake jobs), written to a temporary directory. Timed: the real CLI `snakemake -n campaign_ab`
(`--profile profiles/default --cores 2`, the command a user runs to see the job plan; its DAG includes
building every run's config and the base-model, report and plan jobs) and `textrl plan SPEC` (expansion,
plan.json, compute and power preview). Wall time and CPU time (user + system of the process and its
children) of each repeat, and the medians; the target is the wall time, <= 5 s. On a shared machine the
wall time includes waiting for a core: compare the CPU time, and the load average printed beside it.

smoke_overhead: the smoke campaign (campaigns/smoke.yaml) for real, `snakemake --profile profiles/default
--cores N campaign_ab` (N = 1 by default, so that no job hides the gaps of another), in a fresh results
directory. The base model is built into $TEXTRL_CACHE first, untimed (the campaign's base_model job then
copies it, as in every campaign after the first), so the figure is about orchestration, not a one-time
build. Each job's own run time is the lifetime of the textrl CLI process it starts (`python -m textrl ...`,
and the report rule's W&B step), recorded by a `sitecustomize` hook put on PYTHONPATH for this run only:
from the process's start time in /proc (interpreter start-up included: that is the job's cost) to its
atexit handler (interpreter teardown excluded: counted as overhead, which errs against Snakemake). The
overhead is the Snakemake wall time (from launching `snakemake` to its exit: start-up, DAG, scheduling,
`run:` jobs such as run_config, job spawning, output checks and metadata) during which no CLI process was
running, i.e. wall - |union of job intervals|; with --cores 1 that is wall - sum of job times. Target:
overhead <= 5 % of the wall time.

slurm_probe_s: how long `scontrol show config` takes here (None without SLURM's client tools). The SLURM
executor plugin runs it whenever Snakemake starts, so it is part of every wall time above: about 0.2 s
with a reachable controller, about 9 s (a timeout) when the tools are installed but the controller is down.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
SNAKEMAKE = PYTHON.with_name("snakemake")
PLAN_TARGET_S = 5.0
OVERHEAD_TARGET = 0.05
GROUP_SIZES = [2, 3, 4, 5, 6, 8, 10, 12, 14, 16]

# Imported by every Python process started with this directory on PYTHONPATH: appends one line per
# process (argv, start from /proc, end at exit) to $TEXTRL_BENCH_JOBLOG.
HOOK = r'''
import atexit, json, os, sys, time

_log = os.environ.get("TEXTRL_BENCH_JOBLOG")


def _started() -> float:
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks since boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()


if _log:
    _t0 = _started()

    def _record() -> None:
        with open(_log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv, "start": _t0, "end": time.time()}) + "\n")

    atexit.register(_record)
'''


def timed(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the command and its children, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, cpu, out


def snakemake_cmd(workdir: Path, spec: Path, cores: int, *extra: str) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--profile", str(REPO / "profiles/default"),
            "--cores", str(cores), "campaign_ab", "--config", f"campaign={spec}", f"results={workdir / 'results'}", *extra]


def job_count(stdout: str) -> int:
    m = re.search(r"^total\s+(\d+)$", stdout, re.M)
    return int(m[1]) if m else -1


def plan_benchmark(tmp: Path, seeds: int, repeats: int) -> dict:
    spec = {
        "name": "orchestration",
        "arms": [{"name": "grpo", "advantage": {"preset": "grpo"}, "lr": 3e-5},
                 {"name": "full", "advantage": {"preset": "full"}, "lr": 3e-5}],
        "seeds": seeds,
        "group_sizes": GROUP_SIZES,
    }
    path = tmp / "orchestration.yaml"
    path.write_text(yaml.safe_dump(spec))
    runs = 2 * seeds * len(GROUP_SIZES)
    dry, plan, jobs = [], [], -1
    for _ in range(repeats):
        wall, cpu, out = timed(snakemake_cmd(tmp, path, 2, "-n"), cwd=REPO)
        dry.append((wall, cpu))
        jobs = job_count(out.stdout)
        wall, cpu, _ = timed([str(PYTHON), "-m", "textrl", "plan", str(path), "--out", str(tmp / "plan-results"),
                              "--cores", "2"], cwd=REPO)
        plan.append((wall, cpu))
    med = statistics.median(w for w, _ in dry)
    return {
        "runs": runs, "snakemake_jobs": jobs,
        "snakemake_n_s_median": round(med, 2),
        "snakemake_n_cpu_s_median": round(statistics.median(c for _, c in dry), 2),
        "snakemake_n_s": [round(w, 2) for w, _ in dry], "snakemake_n_cpu_s": [round(c, 2) for _, c in dry],
        "textrl_plan_s_median": round(statistics.median(w for w, _ in plan), 2),
        "textrl_plan_cpu_s_median": round(statistics.median(c for _, c in plan), 2),
        "textrl_plan_s": [round(w, 2) for w, _ in plan],
        "target_s": PLAN_TARGET_S, "within_target": med <= PLAN_TARGET_S,
    }


def command_of(argv: list[str]) -> str | None:
    """The textrl subcommand (or the W&B report step) a recorded process ran; None: not a job's CLI."""
    script = argv[0] if argv else ""
    if script.endswith(os.path.join("textrl", "__main__.py")):
        return argv[1] if len(argv) > 1 else "textrl"
    if script.endswith("wandb_report.py"):
        return "wandb_report"
    return None


def smoke_benchmark(tmp: Path, cores: int, campaign: Path) -> dict:
    from textrl.campaign import load_spec

    spec_path = tmp / campaign.name
    shutil.copy(campaign, spec_path)
    task = load_spec(spec_path).task
    base_s, _, _ = timed([str(PYTHON), "-m", "textrl", "base-model", "--task", task.name, "--params",
                          json.dumps(task.params), "--split-seed", str(task.split_seed),
                          "--heldout-size", str(task.heldout_size)], cwd=REPO)

    hook_dir = tmp / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    joblog = tmp / "jobs.jsonl"
    env = {**os.environ, "TEXTRL_BENCH_JOBLOG": str(joblog),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir), os.environ.get("PYTHONPATH")]))}
    start = time.time()
    wall, cpu, out = timed(snakemake_cmd(tmp, spec_path, cores), cwd=REPO, env=env)
    end = start + wall

    records = [json.loads(line) for line in joblog.read_text().splitlines()]
    jobs = sorted((max(r["start"], start), min(r["end"], end), cmd) for r in records
                  if (cmd := command_of(r["argv"])) is not None and start - 1 <= r["start"] <= end)
    # Disjoint pieces: a process exec'd as the last command of a job's shell starts, per /proc, when that
    # shell did (the report rule's W&B step), so its interval may cover the previous command's.
    by_command: dict[str, dict] = {}
    busy, reach = 0.0, start
    for a, b, cmd in jobs:
        piece = max(0.0, b - max(a, reach))
        reach = max(reach, b)
        busy += piece
        entry = by_command.setdefault(cmd, {"n": 0, "s": 0.0})
        entry["n"] += 1
        entry["s"] += piece
    first, last = (jobs[0][0], max(b for _, b, _ in jobs)) if jobs else (start, start)
    overhead, between = wall - busy, (last - first) - busy
    log = next(iter(sorted((tmp / ".snakemake" / "log").glob("*.snakemake.log"))), None)
    return {
        "campaign": str(campaign.relative_to(REPO) if campaign.is_relative_to(REPO) else campaign),
        "cores": cores, "base_model_prebuild_s": round(base_s, 1),
        "snakemake_wall_s": round(wall, 2), "snakemake_cpu_s": round(cpu, 2),
        "snakemake_jobs": job_count(log.read_text()) if log else -1, "cli_processes": len(jobs),
        "jobs_busy_s": round(busy, 2),
        "overhead_s": round(overhead, 2), "overhead_frac": round(overhead / wall, 4),
        "overhead_parts_s": {"startup": round(first - start, 2), "between_jobs": round(between, 2),
                             "shutdown": round(end - last, 2)},
        "between_jobs_frac": round(between / max(1e-9, last - first), 4),
        "between_jobs_per_process_s": round(between / max(1, len(jobs) - 1), 3),
        "by_command": {k: {"n": v["n"], "s": round(v["s"], 2)} for k, v in sorted(by_command.items())},
        "target_frac": OVERHEAD_TARGET, "within_target": overhead / wall <= OVERHEAD_TARGET,
    }


def slurm_probe_s() -> float | None:
    """Seconds of `scontrol show config`, which snakemake-executor-plugin-slurm runs whenever Snakemake
    starts on a machine with SLURM's client tools (about 10 s when the controller is unreachable)."""
    if shutil.which("scontrol") is None:
        return None
    start = time.perf_counter()
    try:
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        pass
    return round(time.perf_counter() - start, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50, help="seeds per arm and group size of the generated spec (default 50)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the dry run and `textrl plan` (default 3)")
    ap.add_argument("--cores", type=int, default=1, help="--cores of the timed smoke campaign (default 1)")
    ap.add_argument("--skip-smoke", action="store_true", help="only the 1,000-run planning part")
    ap.add_argument("--campaign", type=Path, default=REPO / "campaigns/smoke.yaml",
                    help="spec whose overhead is measured (default campaigns/smoke.yaml; campaigns/ab.yaml: minutes-long jobs)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    result = {"benchmark": "orchestration", "load_avg_1m_before": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
              "slurm_probe_s": slurm_probe_s()}
    with tempfile.TemporaryDirectory(prefix="textrl-orch-") as tmp:
        for part in ("plan", "smoke"):
            (Path(tmp) / part).mkdir()
        result["plan_1000_runs"] = plan_benchmark(Path(tmp) / "plan", args.seeds, args.repeats)
        if not args.skip_smoke:
            result["smoke_overhead"] = smoke_benchmark(Path(tmp) / "smoke", args.cores, args.campaign.resolve())
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
