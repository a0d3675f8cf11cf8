"""`textrl compare results/a results/b ...`: several campaigns read together, runs pooled across them only
where arm, task, group size and resolved config are identical (analysis.pooled) -> compare.md/.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.pooled import write_comparison
from textrl.endpoints import ENDPOINTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_dirs", nargs="+", help="campaign results directories, e.g. results/ab results/ab2")
    parser.add_argument("--baseline", default=None, help="the baseline arm (default: the first campaign's)")
    parser.add_argument("--endpoint", default="avg_at_k", choices=ENDPOINTS, help="the endpoint compared (default avg_at_k)")
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise alpha (default 0.05)")
    parser.add_argument("--out", default=None, help="output directory (default: compare/ beside the first campaign)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.campaign_dirs[0]).resolve().parent / "compare"
    doc = write_comparison(args.campaign_dirs, out, baseline=args.baseline, endpoint=args.endpoint, alpha=args.alpha)
    for note in doc["notes"]:
        print(note)
    for c in doc["comparisons"]:
        print(c["verdict"])
    print(f"wrote {out / 'compare.md'} and {out / 'compare.json'}")
    return 0
