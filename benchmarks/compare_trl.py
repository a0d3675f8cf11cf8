"""textrl vs TRL on one GRPO iteration, measured back to back: prints textrl/TRL time ratios as JSON.

Runs benchmarks/grpo_iteration.py with the project venv and benchmarks/trl_grpo_iteration.py with the
benchmark-only TRL venv (see benchmarks/README.md), alternating the two --rounds times so that a change of
machine load hits both sides alike, and divides the medians. Standard library only.

    .venv/bin/python benchmarks/compare_trl.py [--arch 1m 20m] [--steps 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.8  # issue 2: textrl's iteration must take at most 0.8x TRL's
PARTS = ("generation", "scoring", "update", "total")


def run_side(python: str, script: str, arch: list[str], steps: int, env: dict | None = None) -> dict:
    cmd = [python, str(ROOT / "benchmarks" / script), "--arch", *arch, "--steps", str(steps)]
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    out["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def median_seconds(runs: list[dict], arch: str) -> dict:
    return {k: statistics.median(r["models"][arch]["seconds"][k] for r in runs) for k in PARTS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["1m", "20m"], choices=["1m", "20m"])
    ap.add_argument("--steps", type=int, default=3, help="timed iterations per side and round (after warm-up)")
    ap.add_argument("--rounds", type=int, default=1, help="textrl, TRL, textrl, TRL, ... this many times each")
    ap.add_argument("--textrl-python", default=os.environ.get("TEXTRL_PYTHON", str(ROOT / ".venv/bin/python")))
    ap.add_argument("--trl-python", default=os.environ.get("TRL_PYTHON", str(ROOT / ".venv-trl/bin/python")))
    args = ap.parse_args()
    for name, python in (("--textrl-python", args.textrl_python), ("--trl-python", args.trl_python)):
        if not Path(python).exists():
            sys.exit(f"{name}: no interpreter at {python} (benchmarks/README.md says how to make it)")

    # the checkout's textrl, whether or not it is pip-installed in that venv
    textrl_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    textrl_runs, trl_runs = [], []
    for _ in range(args.rounds):
        textrl_runs.append(run_side(args.textrl_python, "grpo_iteration.py", args.arch, args.steps, textrl_env))
        trl_runs.append(run_side(args.trl_python, "trl_grpo_iteration.py", args.arch, args.steps))

    report = {"rounds": args.rounds, "steps": args.steps, "cpu_count": os.cpu_count(),
              "trl_versions": trl_runs[0]["versions"],
              "load_avg_1m": {"textrl": [r["load_avg_1m"] for r in textrl_runs],
                              "trl": [r["load_avg_1m"] for r in trl_runs]},
              "models": {}}
    for arch in args.arch:
        mine, theirs = median_seconds(textrl_runs, arch), median_seconds(trl_runs, arch)
        ratio = {k: round(mine[k] / theirs[k], 3) for k in PARTS}
        report["models"][arch] = {
            "parameters": {"textrl": textrl_runs[0]["models"][arch]["parameters"],
                           "trl": trl_runs[0]["models"][arch]["parameters"]},
            "textrl_s": {k: round(v, 4) for k, v in mine.items()},
            "trl_s": {k: round(v, 4) for k, v in theirs.items()},
            "total_s_per_round": {"textrl": [r["models"][arch]["seconds"]["total"] for r in textrl_runs],
                                  "trl": [r["models"][arch]["seconds"]["total"] for r in trl_runs]},
            "ratio_textrl_over_trl": ratio,
            "meets_target": ratio["total"] <= TARGET,
        }
    report["target_total_ratio"] = TARGET
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
