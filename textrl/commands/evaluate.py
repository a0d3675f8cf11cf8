"""textrl eval RUN_DIR: held-out evaluation of the run's final policy -> RUN_DIR/eval.json."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a finished run directory written by `textrl train`")


def run(args) -> int:
    from textrl import fastblas

    fastblas.enable()  # before anything imports mlx
    from textrl.evaluate import evaluate_run

    result = evaluate_run(args.run_dir)
    brief = {k: result[k] for k in ("task", "size", "k", "avg_at_k", "pass_at_k", "greedy_acc", "base")}
    print(json.dumps(brief))
    return 0
