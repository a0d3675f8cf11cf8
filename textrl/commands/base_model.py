"""textrl base-model --task NAME [--out DIR]: build and warm-start the built-in tiny model (cached).

The model is built once into $TEXTRL_CACHE (keyed by its recipe) and copied to --out, so campaigns
and tests that need the same base share one build.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textrl.config import load_run_config
from textrl.errors import ConfigError
from textrl.io import read_json
from textrl.models import TinyRecipe, ensure_tiny_model
from textrl.models.builtin import copy_model_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="arithmetic", help="task name (default arithmetic)")
    p.add_argument("--params", default="{}", help="task params as JSON, e.g. '{\"digits\": 3}' (default {})")
    p.add_argument("--split-seed", type=int, default=1234, help="train/held-out split seed (default 1234)")
    p.add_argument("--heldout-size", type=int, default=500, help="held-out problems (default 500)")
    p.add_argument("--warm-start-acc", type=float, default=None,
                   help="stop the warm start at this greedy training accuracy (default: the model config's, 0.25)")
    p.add_argument("--out", default=None, help="model directory (default: the cached build, "
                   "$TEXTRL_CACHE/models/tiny-<task>-<hash>)")


def run(args) -> int:
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--params: not valid JSON ({e.msg})") from None
    cfg = load_run_config({"task": {"name": args.task, "params": params, "split_seed": args.split_seed,
                                    "heldout_size": args.heldout_size},
                           "model": {"warm_start_acc": args.warm_start_acc}})
    out = ensure_tiny_model(TinyRecipe.for_run(cfg))
    if args.out:
        out = copy_model_dir(out, Path(args.out))
    base = read_json(out / "base_eval.json")
    print(json.dumps({"model_dir": str(out), "greedy_acc": base["greedy_acc"], "avg_at_k": base["avg_at_k"], "k": base["k"]}))
    return 0
