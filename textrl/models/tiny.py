"""The built-in tiny policy: a small Llama-architecture model (textrl.models.arch) over a character
vocabulary. Weights are saved with mlx_lm's own writers, so `mlx_lm.load(dir)` loads the result like
any hub model. Imports mlx: call textrl.fastblas.enable() before importing this module."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

from textrl.models.arch import TinyArch
from textrl.models.charlevel import build_char_tokenizer, vocabulary


def new_model(arch: TinyArch, vocab_size: int, seed: int):
    """Fresh model; every matrix ~ N(0, init_std) (mlx's Embedding default of N(0, 1) is far too large)."""
    from mlx_lm.utils import _get_classes

    config = arch.hf_config(vocab_size)
    model_cls, args_cls = _get_classes(config)
    model = model_cls(args_cls.from_dict(config))
    keys = iter(mx.random.split(mx.random.key(seed), len(tree_flatten(model.parameters()))))
    model.update(
        tree_map(lambda p: mx.random.normal(p.shape, key=next(keys)) * arch.init_std if p.ndim == 2 else p, model.parameters())
    )
    mx.eval(model.parameters())
    return model, config


def n_params(model) -> int:
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def save_model_dir(model, config: dict, alphabet: str, out: Path) -> None:
    """Weights, config.json and a character tokenizer: a directory mlx_lm.load reads."""
    from mlx_lm.utils import save_config, save_model

    out.mkdir(parents=True, exist_ok=True)
    build_char_tokenizer(alphabet, out)
    save_model(out, model)
    save_config(dict(config), out / "config.json")


def vocab_size(alphabet: str) -> int:
    return len(vocabulary(alphabet))
