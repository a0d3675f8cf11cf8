"""textrl train CONFIG --out RUN_DIR: one training run (resumes from RUN_DIR/checkpoint)."""

from __future__ import annotations

import argparse

from textrl.config import load_run_config
from textrl.lifetime import die_with_parent
from textrl.trainer import train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="run config (YAML or JSON; see docs/contracts.md 'Run configuration')")
    p.add_argument("--out", required=True, help="run directory (created; an existing one is resumed)")
    p.add_argument("--fresh", action="store_true", help="discard an existing checkpoint and logs in --out first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--die-with-parent", action="store_true",
                   help="end (SIGTERM) when the process that started this one ends (Linux; the Snakefile uses it)")


def run(args) -> int:
    if args.die_with_parent:
        die_with_parent()
    cfg = load_run_config(args.config)  # every config error surfaces here, before any model loads
    train(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    return 0
