"""The built-in model's shape (TinyArch) and warm-start settings (WarmStart): plain settings, no mlx,
so a recipe can be resolved and hashed without loading mlx (textrl.models.builtin).

TinyArch's defaults are the first model RL was seen to learn with on 2 CPU cores (hidden 128 x 4
layers, MLP 384, tied embeddings, fp32, 0.86M parameters; the benchmarks' "1m" model); the built-in
recipe uses 2 of those layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from textrl.models.charlevel import EOS_ID, PAD_ID


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


@dataclass(frozen=True)
class WarmStart:
    steps: int = 2000  # ceiling; the build normally stops earlier, at target_acc
    target_acc: float | None = 0.25  # stop once the probe's greedy accuracy reaches this; None: run all steps
    check_every: int = 25
    probe_size: int = 500  # training problems the stopping check decodes greedily
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)
