"""The default task's built-in model, shipped as package data so that every machine trains the same one.

The warm start (textrl.models.warmstart) stops at a sharp phase transition, so a build is bitwise
reproducible on one machine but not across BLAS libraries or CPUs: on one machine, OpenBLAS stopped at
step 425 (held-out avg@4 0.276) and mlx's bundled BLAS at step 625 (avg@4 0.186), and other machines
of the same kind landed elsewhere again (benchmarks/README.md, "Learning figures"). For the
recipes in SHIPPED_RECIPES (the default task: every shipped campaign, the README's run and example 06
use it), ensure_tiny_model copies these files instead of building; any other recipe is built on
demand as before, and its build.json records the machine that built it.

Regenerate after a change to the recipe or the build code (tests/engine/test_shipped_model.py fails
until you do):

    .venv/bin/python -m textrl.models.shipped
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from textrl.io import read_json
from textrl.models.builtin import TinyRecipe, build_tiny_model

SHIPPED_ROOT = Path(__file__).resolve().parent.parent / "data" / "models"
SHIPPED_RECIPES = (TinyRecipe(),)
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


def write_shipped(log=print) -> list[Path]:
    """Build every shipped recipe from scratch on this machine and replace the package's copies."""
    SHIPPED_ROOT.mkdir(parents=True, exist_ok=True)
    written = []
    for recipe in SHIPPED_RECIPES:
        dst = SHIPPED_ROOT / recipe.default_dir().name
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
    for path in write_shipped():
        print(f"shipped: {path}")
