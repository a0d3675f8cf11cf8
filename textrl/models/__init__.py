"""Policies: the built-in tiny model (built offline, cached) or any mlx-lm model (local dir or hub id)."""

from __future__ import annotations

from pathlib import Path

from textrl import fastblas
from textrl.config import TINY_MODEL
from textrl.errors import ConfigError
from textrl.models.builtin import TinyRecipe, cache_root, ensure_tiny_model


def resolve_model_dir(cfg, log=print) -> Path | str:
    """A loadable model location for a run: the built-in model's cache dir (built if needed), or model.path."""
    if cfg.model.path == TINY_MODEL:
        return ensure_tiny_model(TinyRecipe.for_run(cfg), log=log)
    local = Path(cfg.model.path).expanduser()
    return local if local.is_dir() else cfg.model.path


def load_engine(cfg, model_dir, role: str = "base"):
    """An MLXEngine on the model for one role:
    base: the untrained model; policy: shaped like the run's policy (LoRA applied) to load its checkpoint
    into; train: the policy plus optimizer settings and, when the loss has a KL term, a frozen reference."""
    fastblas.enable()
    from mlx_lm import load

    from textrl.engine.mlx_engine import MLXEngine

    if role not in ("base", "policy", "train"):
        raise ValueError(f"load_engine: unknown role {role!r}")
    model, tokenizer = _load(load, model_dir)
    if role == "base":
        return MLXEngine(model, tokenizer, chat_template=cfg.model.chat_template)
    reference = _load(load, model_dir)[0] if role == "train" and cfg.loss.kl_coef > 0 else None
    return MLXEngine(
        model,
        tokenizer,
        chat_template=cfg.model.chat_template,
        lora=cfg.train.lora.model_dump() if cfg.train.lora else None,
        seed=cfg.seed,
        weight_decay=cfg.train.weight_decay,
        grad_clip=cfg.train.grad_clip,
        reference=reference,
    )


def _load(load, model_dir):
    """mlx_lm.load, with a hub id that cannot be fetched (no network, a typo, a gated model) said in one line."""
    try:
        return load(str(model_dir))
    except OSError as e:  # huggingface_hub's not-found and offline errors are OSErrors
        if Path(str(model_dir)).expanduser().is_dir():
            raise
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise ConfigError(
            f"run config model.path: cannot fetch {str(model_dir)!r} from the Hugging Face hub ({type(e).__name__}: "
            f"{first[:200]}). Check the id and the network; on a machine without one, download it elsewhere "
            "(`huggingface-cli download <id>`) and set model.path to that directory") from None


__all__ = ["TinyRecipe", "cache_root", "ensure_tiny_model", "load_engine", "resolve_model_dir"]
