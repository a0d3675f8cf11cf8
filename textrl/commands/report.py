"""`textrl report results/<campaign>`: rebuild the statistical comparison and report (no mlx needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from textrl.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_dir", help="campaign results directory, e.g. results/ab")


def run(args: argparse.Namespace) -> int:
    from analysis.report import build_report

    root = Path(args.campaign_dir)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; expected a campaign results directory such as results/ab")
    doc = build_report(root)
    out = root / "analysis"
    print(f"{doc['runs']['done']} of {doc['runs']['planned']} planned runs finished")
    for line in doc["verdicts"]:
        print(f"  {line}")
    if doc["file_problems"]:
        print(f"  {len(doc['file_problems'])} file(s) could not be read fully; see the report's Runs section")
    print(f"wrote {out / 'report.md'}, {out / 'report.html'}, {out / 'comparison.json'}, {out / 'runs.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry for `python -m analysis`: same arguments and error handling as `textrl report`."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except ConfigError as e:
        print(f"analysis: error: {e}", file=sys.stderr)
        return 2
