"""`textrl status results/<campaign>`: each run's state (done, running, failed, not_finished, pending;
stale, malformed; sequential campaigns: waiting, not_needed; see analysis.run_state), last step,
reward, ETA."""

from __future__ import annotations

import argparse
import os
from collections import Counter

from analysis.run_state import FAILED, MALFORMED, STALE, STATES
from textrl.campaign.estimate import format_duration
from textrl.campaign.status import campaign_eta, campaign_status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_dir", help="campaign results directory, e.g. results/ab")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="jobs running at once, for the campaign ETA (default: this machine's cores)")


def run(args: argparse.Namespace) -> int:
    statuses = campaign_status(args.campaign_dir)
    print(f"{'run':<28} {'state':<12} {'step':>11} {'reward':>7} {'eta':>8}")
    for s in statuses:
        reward = "" if s.reward is None else f"{s.reward:.3f}"
        eta = format_duration(s.eta_s) if s.eta_s is not None else ""
        print(f"{s.run_id:<28} {s.state:<12} {f'{s.last_step}/{s.steps}':>11} {reward:>7} {eta:>8}")
    counts = Counter(s.state for s in statuses)
    summary = ", ".join(f"{counts[k]} {k}" for k in STATES if counts[k])
    eta = campaign_eta(statuses, args.cores)
    print(f"\n{len(statuses)} runs: {summary}" + (f"; about {format_duration(eta)} of training left" if eta else ""))
    for s in statuses:
        if s.state == FAILED:
            print(f"\n{s.run_id} failed; last log lines of " + "\n  ".join(s.log_tail))
        elif s.state in (MALFORMED, STALE):
            print(f"\n{s.run_id} {s.state}: {s.detail}")
    return 1 if counts[FAILED] or counts[MALFORMED] else 0
