"""The built-in tiny policy: a small Llama-architecture model over a character vocabulary.

TinyArch's defaults are the prototype that showed RL learning on 2 CPU cores (hidden 128 x 4 layers, MLP
384, tied embeddings, fp32, 0.86M parameters; the benchmarks' "1m" model); the built-in recipe
(textrl.models.builtin) uses 2 of those layers. Weights are saved with mlx_lm's own writers,
so `mlx_lm.load(dir)` loads the result like any hub model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from textrl import fastblas

fastblas.enable()

import mlx.core as mx  # noqa: E402
from mlx.utils import tree_flatten, tree_map  # noqa: E402

from textrl.models.charlevel import EOS_ID, PAD_ID, build_char_tokenizer, vocabulary  # noqa: E402


@dataclass(frozen=True)
class TinyArch:
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 384
    init_std: float = 0.02

    def hf_config(self, vocab_size: int) -> dict:
        return {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "vocab_size": vocab_size,
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "intermediate_size": self.intermediate,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.heads,
            "head_dim": self.hidden // self.heads,
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 2048,
            "rope_theta": 10000.0,
            "tie_word_embeddings": True,
            "eos_token_id": EOS_ID,
            "pad_token_id": PAD_ID,
            "bos_token_id": None,
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
            "torch_dtype": "float32",
        }

    def to_dict(self) -> dict:
        return asdict(self)


# about 20M parameters: the larger shape of benchmarks/grpo_iteration.py
ARCH_20M = TinyArch(hidden=512, layers=6, heads=8, intermediate=1536)


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
