"""The one place engines are made, for training, evaluation and the model builder alike.

The fast CPU path (textrl.fastblas: OpenBLAS loaded before mlx, and the JIT wrapper) is set up here,
right before the first import of mlx: the mlx-backed modules are imported inside these functions,
never at module level, so that importing textrl changes nothing and `textrl plan` / `textrl report`
never load mlx.
"""

from __future__ import annotations

from pathlib import Path

from textrl import fastblas
from textrl.errors import ConfigError
from textrl.models import resolve_model_dir


def mlx_engine_class():
    fastblas.enable()
    from textrl.engine.mlx_engine import MLXEngine

    return MLXEngine


def engine_class(cfg):
    """The engine class of the run's backend (imported, with the fast CPU path set up first for mlx)."""
    if cfg.backend == "tinker":
        from textrl.engine.tinker_engine import TinkerEngine  # the tinker SDK is an optional extra

        return TinkerEngine
    return mlx_engine_class()


def make_engine(cfg, role: str = "train", log=print):
    """(engine, model location) for the run's backend. role: train | policy (to load a checkpoint into)
    | base (the untrained model)."""
    if cfg.backend == "tinker":
        return engine_class(cfg).from_run_config(cfg), cfg.model.path
    model_dir = resolve_model_dir(cfg, log=log)
    return load_engine(cfg, model_dir, role), model_dir


def load_engine(cfg, model_dir, role: str = "base"):
    """An MLXEngine on the model for one role:
    base: the untrained model; policy: shaped like the run's policy (LoRA applied) to load its checkpoint
    into; train: the policy plus optimizer settings and, when the loss has a KL term, a frozen reference."""
    if role not in ("base", "policy", "train"):
        raise ValueError(f"load_engine: unknown role {role!r}")
    engine = mlx_engine_class()
    from mlx_lm import load

    model, tokenizer = load_model(load, model_dir)
    if role == "base":
        return engine(model, tokenizer, chat_template=cfg.model.chat_template)
    reference = load_model(load, model_dir)[0] if role == "train" and cfg.loss.kl_coef > 0 else None
    return engine(
        model,
        tokenizer,
        chat_template=cfg.model.chat_template,
        lora=cfg.train.lora.model_dump() if cfg.train.lora else None,
        seed=cfg.seed,
        weight_decay=cfg.train.weight_decay,
        grad_clip=cfg.train.grad_clip,
        reference=reference,
    )


def load_model(load, model_dir):
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
