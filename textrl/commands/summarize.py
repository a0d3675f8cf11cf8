"""textrl summarize RUN_DIR: write summary.json (the run's endpoints); its presence marks the run done."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with metrics.jsonl and eval.json")


def run(args) -> int:
    from textrl.summary import summarize_run

    print(json.dumps(summarize_run(args.run_dir)["endpoints"]))
    return 0
