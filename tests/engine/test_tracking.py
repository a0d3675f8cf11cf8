"""W&B: disabled needs no wandb; offline works without a network and a resumed run keeps its W&B id."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from textrl.config import load_run_config
from textrl.io import read_json
from textrl.trainer import train


def test_disabled_mode_never_imports_wandb(tmp_path, tiny_run_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # any `import wandb` would now fail
    data = dict(tiny_run_config, train={**tiny_run_config["train"], "steps": 1})
    train(load_run_config(data), tmp_path, log=lambda *_: None, progress=False)
    assert read_json(tmp_path / "checkpoint" / "state.json")["wandb_run_id"] is None


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb not installed")
def test_offline_run_resumes_with_its_stored_id(tmp_path, tiny_run_config, monkeypatch, crash_after_checkpoint):
    monkeypatch.setenv("WANDB_SILENT", "true")
    data = dict(tiny_run_config, wandb={"mode": "offline", "project": "textrl-tests"},
                train={**tiny_run_config["train"], "steps": 2, "checkpoint_every": 1})
    cfg = load_run_config(data)
    crash_after_checkpoint(1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path, log=lambda *_: None, progress=False)
    first_id = read_json(tmp_path / "checkpoint" / "state.json")["wandb_run_id"]
    monkeypatch.undo()
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(cfg, tmp_path, log=lambda *_: None, progress=False)
    assert first_id and read_json(tmp_path / "checkpoint" / "state.json")["wandb_run_id"] == first_id
    assert any((tmp_path / "wandb").glob(f"offline-run-*-{first_id}"))
