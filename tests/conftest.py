"""Shared fixtures: an isolated $TEXTRL_CACHE and a tiny warm-started model built once per session.

The model is the built-in tiny Llama, warm-started briefly on one-digit addition ("3+4=" -> "7"), so
that it already succeeds sometimes and GRPO groups carry signal. Building it takes a few seconds.
Point a run config at it with `tiny_run_config` (a dict for textrl.config.load_run_config).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from textrl import fastblas

fastblas.enable()  # before any test imports mlx, so tests get the same (fast) BLAS as `textrl`

TINY_TASK = {"name": "arithmetic", "params": {"digits": 1}, "heldout_size": 20, "split_seed": 1234}
TINY_WARMSTART = {"steps": 60, "batch_size": 64, "warmup_steps": 10, "seed": 0}


@pytest.fixture(scope="session", autouse=True)
def textrl_cache(tmp_path_factory) -> Path:
    """Every test session gets its own model cache; nothing is read from or written to ~/.cache."""
    path = tmp_path_factory.mktemp("textrl-cache")
    old = os.environ.get("TEXTRL_CACHE")
    os.environ["TEXTRL_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TEXTRL_CACHE", None)
    else:
        os.environ["TEXTRL_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_recipe():
    """The recipe of the session's tiny model: a few seconds to build."""
    from textrl.models.builtin import TinyRecipe

    return TinyRecipe(
        task=TINY_TASK["name"], task_params=TINY_TASK["params"], split_seed=TINY_TASK["split_seed"],
        heldout_size=TINY_TASK["heldout_size"], warmstart=TINY_WARMSTART,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(textrl_cache, tiny_recipe) -> Path:
    """An mlx-lm model directory (weights, config.json, tokenizer, base_eval.json, build.json)."""
    from textrl.models import ensure_tiny_model

    return ensure_tiny_model(tiny_recipe, textrl_cache / "tiny-test-model", log=lambda *_: None)


@pytest.fixture
def tiny_run_config(tiny_model_dir) -> dict:
    """A small complete run: 4 steps of 4 prompts x 4 completions on the session's tiny model."""
    return copy.deepcopy({
        "run_id": "tiny-s0",
        "campaign": "tests",
        "arm": "grpo",
        "seed": 0,
        "task": TINY_TASK,
        "model": {"path": str(tiny_model_dir)},
        "advantage": {"preset": "grpo"},
        "train": {"steps": 4, "prompts_per_step": 4, "group_size": 4, "lr": 1e-4, "checkpoint_every": 2},
        "sampling": {"temperature": 1.0, "max_tokens": 4},
        "eval": {"k": 2},
    })


@pytest.fixture
def crash_after_checkpoint(monkeypatch):
    """crash_after_checkpoint(step): the next training raises KeyboardInterrupt right after saving `step`."""
    from textrl.checkpoint import Checkpoints

    save = Checkpoints.save

    def arm(step: int) -> None:
        def save_then_crash(self, state, write_files):
            save(self, state, write_files)
            if state["step"] == step:
                raise KeyboardInterrupt

        monkeypatch.setattr(Checkpoints, "save", save_then_crash)

    return arm


@pytest.fixture
def clean_reward_registry():
    """Rewards a test registers are forgotten after it."""
    from textrl.rewards.registry import _REGISTRY

    before = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)
