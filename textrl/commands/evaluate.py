"""textrl eval RUN_DIR: held-out evaluation of the run's final policy -> RUN_DIR/eval.json."""

from __future__ import annotations

import argparse
import json

from textrl.evaluate import evaluate_run
from textrl.lifetime import die_with_parent


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a finished run directory written by `textrl train`")
    p.add_argument("--die-with-parent", action="store_true",
                   help="end (SIGTERM) when the process that started this one ends (Linux; the Snakefile uses it)")


def run(args) -> int:
    if args.die_with_parent:
        die_with_parent()
    result = evaluate_run(args.run_dir)
    brief = {k: result[k] for k in ("task", "size", "k", "avg_at_k", "pass_at_k", "greedy_acc", "base")}
    print(json.dumps(brief))
    return 0
