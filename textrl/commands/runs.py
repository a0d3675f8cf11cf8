"""`textrl runs results/ [--out FILE]`: one table (CSV or Parquet) of every run of every campaign."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results directory holding campaigns, e.g. results")
    parser.add_argument("--out", help="a .csv or .parquet file (default RESULTS/runs.csv)")


def run(args: argparse.Namespace) -> int:
    from analysis.runs_table import write_runs_table

    path, table = write_runs_table(args.results, args.out)
    by = table.groupby("campaign")["status"].value_counts().unstack(fill_value=0)
    print(f"{len(table)} runs of {table['campaign'].nunique()} campaign(s):")
    for name, row in by.iterrows():
        print(f"  {name}: " + ", ".join(f"{int(n)} {state}" for state, n in row.items() if n))
    print(f"wrote {path}")
    return 0
