"""The default task's base model is shipped (textrl.models.shipped): the same weights on every machine.

A build of the same recipe is bitwise reproducible on one machine (test_models.py) but not across
BLAS libraries or CPUs, which is why these weights are package data and not rebuilt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textrl.io import read_json
from textrl.models import TinyRecipe, ensure_tiny_model
from textrl.models.shipped import SHIPPED_RECIPES, SHIPPED_ROOT, file_digests, read_sums, shipped_dir

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate with `.venv/bin/python -m textrl.models.shipped` and commit textrl/data/models/"


def test_the_default_recipe_is_shipped_for_the_current_build_code():
    assert TinyRecipe() in SHIPPED_RECIPES
    for recipe in SHIPPED_RECIPES:
        assert shipped_dir(recipe) is not None, (
            f"no shipped model for recipe key {recipe.key()} (the recipe or BUILD_VERSION changed?): {REGENERATE}")
    stale = {p.name for p in SHIPPED_ROOT.iterdir() if p.is_dir()} - {r.default_dir().name for r in SHIPPED_RECIPES}
    assert not stale, f"shipped models no recipe uses: {sorted(stale)}; {REGENERATE}"


@pytest.mark.parametrize("recipe", SHIPPED_RECIPES, ids=lambda r: r.default_dir().name)
def test_shipped_files_are_intact(recipe):
    path = shipped_dir(recipe)
    assert file_digests(path) == read_sums(path), f"{path}: files differ from its SHA256SUMS; {REGENERATE}"


def test_a_fresh_cache_gets_the_shipped_weights_without_building(tmp_path):
    logged = []
    out = ensure_tiny_model(TinyRecipe(), tmp_path / "model", log=logged.append)
    assert file_digests(out) == file_digests(shipped_dir(TinyRecipe()))
    assert logged == [f"tiny model copied from the shipped weights to {out}"]


@pytest.mark.parametrize("recipe", SHIPPED_RECIPES, ids=lambda r: r.default_dir().name)
def test_the_shipped_base_evaluation_is_what_this_machine_measures(recipe):
    """Evaluating fixed weights is machine-independent (unlike building them): base_eval.json holds."""
    from mlx_lm import load

    from textrl.config import load_run_config
    from textrl.engine.mlx_engine import MLXEngine
    from textrl.heldout_metrics import evaluate_policy, settings_of
    from textrl.tasks import get_task

    task = get_task(recipe.task, **recipe.task_params)
    acc = recipe.warmstart.get("target_acc")
    cfg = load_run_config({"task": {"name": recipe.task, "params": recipe.task_params},
                           "sampling": {"max_tokens": max(8, task.default_max_tokens)},
                           "model": {"warm_start_acc": acc}})
    path = shipped_dir(TinyRecipe.for_run(cfg))
    shipped = read_json(path / "base_eval.json")
    _, heldout = task.split(cfg.task.split_seed, cfg.task.heldout_size)
    here = evaluate_policy(MLXEngine(*load(str(path))), task, heldout, settings_of(cfg))
    # Identical here; another CPU's BLAS sums in another order (~1e-7), which can flip a sample whose
    # draw lies that close to a boundary: at most a couple of the 2,000 samples and 500 greedy decodes.
    assert abs(here["avg_at_k"] - shipped["avg_at_k"]) <= 2 / 2000, (here["avg_at_k"], shipped["avg_at_k"])
    assert abs(here["greedy_acc"] - shipped["greedy_acc"]) <= 1 / 500, (here["greedy_acc"], shipped["greedy_acc"])
    differ = sum(a != b for a, b in zip(here["per_problem"], shipped["per_problem"]))
    assert differ <= 2, f"{differ} of {len(heldout)} problems evaluate differently from the shipped base_eval.json"


def test_the_readme_quotes_the_shipped_base_models():
    readme = (REPO / "README.md").read_text()
    quoted = re.findall(r"base\s+model\s+scores\s+held-out\s+avg@4\s+(\d\.\d+)\s+and\s+greedy\s+accuracy\s+(\d\.\d+)", readme)
    assert len(quoted) == len(SHIPPED_RECIPES), f"README.md quotes {len(quoted)} base models' held-out figures"
    for recipe, figures in zip(SHIPPED_RECIPES, quoted):
        base = read_json(shipped_dir(recipe) / "base_eval.json")
        assert figures == (f"{base['avg_at_k']:.3f}", f"{base['greedy_acc']:.3f}"), (
            f"README.md quotes {figures} for {recipe.default_dir().name}; its shipped base_eval.json says "
            f"avg@4 {base['avg_at_k']:.3f}, greedy {base['greedy_acc']:.3f}")
