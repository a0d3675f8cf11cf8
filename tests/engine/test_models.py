"""The built-in tiny model: an mlx-lm directory, cached by recipe, warm-started deterministically."""

from __future__ import annotations

import pytest

from textrl.io import read_json
from textrl.models import TinyRecipe, ensure_tiny_model


def test_built_model_loads_with_mlx_lm(tiny_model_dir):
    from mlx_lm import load

    model, tok = load(str(tiny_model_dir))
    assert tok.encode("3+4=") == [tok.convert_tokens_to_ids(c) for c in "3+4="]
    assert tok.decode(tok.encode("12+7=19")) == "12+7=19"
    assert tok.eos_token_ids == {1}
    build = read_json(tiny_model_dir / "build.json")
    assert build["parameters"] == 428_544  # hidden 128, 2 layers, MLP 384, tied embeddings, 15 tokens
    assert build["recipe"]["arch"]["layers"] == 2
    base = read_json(tiny_model_dir / "base_eval.json")
    assert {"avg_at_k", "greedy_acc", "per_problem", "task", "split_seed", "size"} <= set(base)
    assert base["size"] == 20 and base["k"] == 4


def test_warm_start_is_deterministic_and_cached(tmp_path):
    import mlx.core as mx

    recipe = TinyRecipe(task_params={"digits": 1}, heldout_size=10, arch={"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64},
                        warmstart={"steps": 3, "batch_size": 8, "warmup_steps": 1})
    a = ensure_tiny_model(recipe, tmp_path / "a", log=lambda *_: None)
    b = ensure_tiny_model(recipe, tmp_path / "b", log=lambda *_: None)
    wa, wb = mx.load(str(a / "model.safetensors")), mx.load(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(mx.array_equal(wa[k], wb[k]).item() for k in wa)
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(recipe, tmp_path / "a") == a  # reused, not rebuilt
    assert (a / "model.safetensors").stat().st_mtime_ns == stamp


def test_cache_key_covers_what_determines_the_weights(textrl_cache):
    base = TinyRecipe()
    assert base.key() == TinyRecipe().key()
    for other in (TinyRecipe(split_seed=1), TinyRecipe(task_params={"digits": 1}), TinyRecipe(warmstart={"seed": 1}),
                  TinyRecipe(arch={"layers": 3}), TinyRecipe(warmstart={"target_acc": 0.3}), TinyRecipe(heldout_size=100)):
        assert other.key() != base.key()
    assert base.default_dir().parent == textrl_cache / "models"


@pytest.mark.parametrize("n,c,k,expected", [(4, 0, 1, 0.0), (4, 4, 2, 1.0), (4, 1, 1, 0.25), (4, 1, 2, 0.5), (5, 2, 3, 0.9)])
def test_unbiased_pass_at_k(n, c, k, expected):
    from textrl.heldout_metrics import pass_at_k

    assert pass_at_k(n, c, k) == pytest.approx(expected)
