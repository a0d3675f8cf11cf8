"""The per-run config file that the Snakefile's train rule reads.

Snakemake reruns the run_config job only when the config's content changes (params rerun trigger), so
a changed comment in the spec retrains nothing, while a changed setting retrains exactly the runs it
touches. When it does change, the run's old checkpoint belongs to another config and is moved aside:
resuming from it would silently mix two configurations.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from textrl.campaign.expand import with_lr
from textrl.io import atomic_write_json, read_json


def write_run_config(config: dict, out: str | Path, run_dir: str | Path, best_lr_json: str | Path | None = None) -> dict:
    if best_lr_json is not None:
        config = with_lr(config, read_json(best_lr_json)["lr"])
    retire_stale_state(Path(run_dir), config)
    atomic_write_json(out, config)
    return config


def _previous_config(run_dir: Path) -> dict | None:
    try:
        return read_json(run_dir / "config.json")["run"]
    except (FileNotFoundError, KeyError, TypeError, json.JSONDecodeError):
        return None


def retire_stale_state(run_dir: Path, config: dict) -> Path | None:
    """Move run_dir aside (to run_dir.stale-<time>) when its config.json records a different config."""
    if not run_dir.exists():
        return None
    previous = _previous_config(run_dir)
    if previous is None or previous == config:
        return None
    aside = run_dir.with_name(f"{run_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.move(str(run_dir), str(aside))
    return aside

