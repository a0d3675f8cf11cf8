"""Policies: the built-in tiny model (built offline, cached) or any mlx-lm model (local dir or hub id)."""

from __future__ import annotations

import shutil
from pathlib import Path

from textrl.config import TINY_MODEL
from textrl.models.builtin import TinyRecipe, build_lock, build_tiny_model, is_built, written_atomically
from textrl.models.shipped import shipped_dir


def resolve_model_dir(cfg, log=print) -> Path | str:
    """A loadable model location for a run: the built-in model's cache dir (built if needed), or model.path."""
    if cfg.model.path == TINY_MODEL:
        return ensure_tiny_model(TinyRecipe.for_run(cfg), log=log)
    local = Path(cfg.model.path).expanduser()
    return local if local.is_dir() else cfg.model.path


def ensure_tiny_model(recipe: TinyRecipe, out: Path | None = None, log=print) -> Path:
    """The built model's directory: reused when present, else copied from the package's shipped weights
    (textrl.models.shipped) when the recipe is one of theirs, else built (about a minute on 2 cores)."""
    out = Path(out) if out else recipe.default_dir()
    if is_built(out, recipe):
        return out
    with build_lock(out.with_name(out.name + ".lock")):
        if is_built(out, recipe):
            return out
        shipped = shipped_dir(recipe)
        with written_atomically(out) as tmp:
            if shipped is not None:
                shutil.copytree(shipped, tmp, dirs_exist_ok=True)
            else:
                build_tiny_model(recipe, tmp, log=log)
        log(f"tiny model {'copied from the shipped weights' if shipped else 'saved'} to {out}")
    return out


__all__ = ["TinyRecipe", "ensure_tiny_model", "resolve_model_dir"]
