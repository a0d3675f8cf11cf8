"""`textrl runs results/`: one table of every run of every campaign, as CSV or Parquet."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.runs_table import write_runs_table
from analysis.synthetic import write_campaign
from textrl.cli import main
from textrl.errors import ConfigError


def test_every_run_of_every_campaign_in_one_table(tmp_path, capsys):
    write_campaign(tmp_path / "a", name="a", group_sizes=(4,), seeds=(0, 1))
    write_campaign(tmp_path / "b", name="b", arms=("grpo", "rloo"), group_sizes=(8,), seeds=(0, 1, 2), missing=("rloo-g8-s2",))
    assert main(["runs", str(tmp_path)]) == 0
    assert "10 runs of 2 campaign(s)" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "runs.csv")
    assert table.groupby("campaign").size().to_dict() == {"a": 4, "b": 6}
    assert {"campaign", "task", "run_id", "arm", "seed", "group_size", "status", "avg_at_k", "config_hash"} <= set(table)
    assert table.loc[table["run_id"] == "rloo-g8-s2", "status"].tolist() == ["pending"]
    path, _ = write_runs_table(tmp_path, tmp_path / "all.parquet")
    assert pd.read_parquet(path).shape[0] == 10
    with pytest.raises(ConfigError, match="no campaign here"):
        write_runs_table(tmp_path / "a" / "runs")
    with pytest.raises(ConfigError, match="expected a .csv or .parquet"):
        write_runs_table(tmp_path, tmp_path / "all.xlsx")
