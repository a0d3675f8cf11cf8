"""One table of every run of every campaign under a results directory (`textrl runs results/`), for a
user's own analysis: the columns of each campaign's analysis/runs.csv plus the campaign and its task."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.load import load_campaign
from textrl.errors import ConfigError


def campaign_dirs(results: Path) -> list[Path]:
    return sorted(p.parent for p in results.glob("*/plan.json"))


def runs_table(results: str | Path) -> pd.DataFrame:
    results = Path(results)
    dirs = campaign_dirs(results)
    if not dirs:
        raise ConfigError(f"{results}: no campaign here (no <campaign>/plan.json); expected a results directory "
                          "such as results/")
    frames = []
    for d in dirs:
        c = load_campaign(d)
        runs = c.runs.copy()
        task = (c.spec.get("task") or {}).get("name")
        runs.insert(0, "campaign", c.name)
        runs.insert(1, "task", runs["eval_task"].fillna(task) if "eval_task" in runs else task)
        frames.append(runs)
    return pd.concat(frames, ignore_index=True)


def write_runs_table(results: str | Path, out: str | Path | None = None) -> tuple[Path, pd.DataFrame]:
    table = runs_table(results)
    path = Path(out) if out else Path(results) / "runs.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        raise ConfigError(f"--out {path}: expected a .csv or .parquet file name")
    return path, table
