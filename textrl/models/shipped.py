"""The default tasks' built-in models, shipped as package data so that every machine trains the same ones.

The warm start (textrl.models.warmstart) stops at a sharp phase transition, so a build is bitwise
reproducible on one machine but not across BLAS libraries or CPUs: on one machine, OpenBLAS stopped at
step 425 (held-out avg@4 0.276) and mlx's bundled BLAS at step 625 (avg@4 0.186), and other machines
of the same kind landed elsewhere again (benchmarks/README.md, "Learning figures"). For the
recipes in SHIPPED_RECIPES (the run config's default task, which the README's run and example 06 use,
and the default campaign's), ensure_tiny_model copies these files instead of building; any other recipe is built on
demand as before, and its build.json records the machine that built it.

Regenerate after a change to a recipe (tests/engine/test_shipped_model.py fails until you do); after a
change to the build code, rebuild every one with --rebuild:

    .venv/bin/python -m textrl.models.shipped [--rebuild]
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from textrl.io import read_json
from textrl.models.builtin import TinyRecipe, build_tiny_model

SHIPPED_ROOT = Path(__file__).resolve().parent.parent / "data" / "models"
# The default campaign's (campaigns/ab.yaml): addition that writes "carry" (a planning phrase) before the
# answer, warm-started further, so that the base policy sits where RL sharpens what it already half knows.
DEFAULT_CAMPAIGN_RECIPE = TinyRecipe(task_params={"carry": True}, warmstart={"target_acc": 0.45})
SHIPPED_RECIPES = (TinyRecipe(), DEFAULT_CAMPAIGN_RECIPE)
SUMS = "SHA256SUMS"


def shipped_dir(recipe: TinyRecipe) -> Path | None:
    """The shipped copy of exactly this recipe, or None."""
    path = SHIPPED_ROOT / recipe.default_dir().name
    try:
        return path if read_json(path / "build.json")["key"] == recipe.key() else None
    except (OSError, ValueError, KeyError):
        return None


def file_digests(model_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(model_dir).iterdir()) if p.is_file() and p.name != SUMS}


def read_sums(model_dir: Path) -> dict[str, str]:
    lines = (Path(model_dir) / SUMS).read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines if line)}


def write_shipped(log=print, rebuild: bool = False) -> list[Path]:
    """Build the shipped recipes that have no current copy (every one with `rebuild`) on this machine; a
    copy that is current is kept byte for byte, so the figures measured on it stay true."""
    SHIPPED_ROOT.mkdir(parents=True, exist_ok=True)
    written = []
    for recipe in SHIPPED_RECIPES:
        dst = SHIPPED_ROOT / recipe.default_dir().name
        if not rebuild and shipped_dir(recipe) is not None:
            written.append(dst)
            continue
        with tempfile.TemporaryDirectory(dir=SHIPPED_ROOT, prefix=".build.") as tmp:
            build_tiny_model(recipe, Path(tmp), log=log)
            (Path(tmp) / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in file_digests(Path(tmp)).items()))
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(tmp, dst)
        written.append(dst)
    for stale in set(SHIPPED_ROOT.iterdir()) - set(written):
        if stale.is_dir() and not stale.name.startswith("."):
            shutil.rmtree(stale)
            log(f"removed the stale shipped model {stale.name}")
    return written


if __name__ == "__main__":
    import sys

    for path in write_shipped(rebuild="--rebuild" in sys.argv[1:]):
        print(f"shipped: {path}")
