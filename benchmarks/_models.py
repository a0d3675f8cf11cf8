"""Random-initialised built-in models for the benchmarks (weights do not matter for speed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from textrl import fastblas

fastblas.enable()

from textrl.models.arch import ARCH_20M, TinyArch  # noqa: E402
from textrl.models.tiny import n_params, new_model, save_model_dir, vocab_size  # noqa: E402
from textrl.tasks import get_task  # noqa: E402

ARCHES = {"1m": TinyArch(), "20m": ARCH_20M}


def load_random(arch_name: str, seed: int = 0, eos: bool = False):
    """(model, tokenizer, n_params). EOS is disabled unless asked for, so that every sequence runs to
    max_tokens in every method; with EOS, a random model stops each row after ~15 tokens on average."""
    from mlx_lm import load

    alphabet = get_task("arithmetic").alphabet()
    model, config = new_model(ARCHES[arch_name], vocab_size(alphabet), seed)
    with tempfile.TemporaryDirectory() as tmp:
        save_model_dir(model, config, alphabet, Path(tmp))
        model, tokenizer = load(tmp)
    if not eos:
        tokenizer.eos_token_ids = set()
    return model, tokenizer, n_params(model)
