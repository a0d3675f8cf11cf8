"""`textrl interim results/<campaign> --stage K`: the interim analysis of a sequential campaign's stage K.

Writes results/<campaign>/sequential/stage_<K>.json: each comparison's decision after stage K and the runs
of stage K+1 (none once every comparison is decided). No mlx needed.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_dir", help="campaign results directory, e.g. results/sequential")
    parser.add_argument("--stage", type=int, required=True, help="the stage just finished (1-based)")


def run(args: argparse.Namespace) -> int:
    from analysis.interim import write_interim

    path = write_interim(args.campaign_dir, args.stage)
    doc = json.loads(path.read_text())
    print(f"stage {doc['stage']} of {doc['max_stages']}: alpha spent {doc['alpha_spent']:.4f} of {doc['alpha_allowed']:.4f} allowed")
    for c in doc["comparisons"]:
        at = f" (stage {c['decided_at_stage']})" if c["decided_at_stage"] else ""
        print(f"  {c['key']}: {c['decision']}{at}, difference {c['difference']:+.4f} over "
              f"{c['n_candidate']} vs {c['n_baseline']} seeds")
    print(f"next stage: {len(doc['next_stage_runs'])} runs" if doc["next_stage"] else "every comparison is decided")
    print(f"wrote {path}")
    return 0
