"""What the policy loss needs besides the datums; engine-neutral (no mlx), built from the run config.
The loss kinds, aggregations and defaults are defined here once; the run config's `loss` section
(textrl.config.LossConfig) validates against them."""

from __future__ import annotations

from dataclasses import dataclass

LOSS_KINDS = ("grpo", "gspo", "reinforce", "ppo", "cispo")
AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


@dataclass(frozen=True)
class LossSpec:
    kind: str = "grpo"  # one of LOSS_KINDS
    eps_low: float = 0.2
    eps_high: float = 0.28
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    # the training forward pass divides logits by the sampling temperature, so that the scored policy is
    # the one that was sampled (importance ratio 1 before the first update)
    temperature: float = 1.0
    # seq-mean-token-sum-norm (Dr. GRPO) divides token sums by this constant: sampling.max_tokens
    norm_length: int = 1

    @classmethod
    def from_run_config(cls, cfg) -> "LossSpec":
        loss = cfg.loss
        return cls(
            kind=loss.kind,
            eps_low=loss.eps_low,
            eps_high=loss.eps_high,
            aggregation=loss.aggregation,
            kl_coef=loss.kl_coef,
            entropy_coef=loss.entropy_coef,
            temperature=cfg.sampling.temperature,
            norm_length=cfg.sampling.max_tokens,
        )


def token_weights(lengths: list[int], aggregation: str, norm_length: int) -> list[float]:
    """Per-sequence weight of each of its tokens, such that loss = sum over all tokens of w * l(t).

    Expressing every aggregation as token weights lets the engine split a batch into micro-batches and
    still get exactly the full-batch loss and gradient.
    """
    n_seq = len(lengths)
    if aggregation == "token-mean":
        total = sum(lengths)
        return [1.0 / total if total else 0.0] * n_seq
    if aggregation == "seq-mean-token-mean":
        return [1.0 / (n_seq * n) if n else 0.0 for n in lengths]
    if aggregation == "seq-mean-token-sum-norm":
        return [1.0 / (n_seq * norm_length)] * n_seq
    raise ValueError(f"unknown loss aggregation {aggregation!r}; expected one of {', '.join(AGGREGATIONS)}")
