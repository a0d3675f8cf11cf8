"""Policy losses on padded [sequences, positions] arrays (mlx).

Every loss is sum over tokens of weight(t) * l(t), where the weights carry the aggregation
(textrl.engine.loss_spec.token_weights) and are 0 on prompt and padding positions. Per-token terms:

  grpo / ppo   -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A),   r = exp(logp - logp_behaviour)
  gspo         the same with the sequence ratio s = exp(mean over the sequence's real tokens of
               (logp - logp_behaviour)), in its per-token form sg(s) * exp(logp - sg(logp)) so that
               token-level advantages are allowed (GSPO-token; equal to GSPO for constant advantages)
  reinforce    -A logp
  cispo        -sg(clip(r, 1 - eps_low, 1 + eps_high)) A logp: the importance weight is clipped and carries no
               gradient, so every token keeps a gradient (CISPO, MiniMax-M1, arXiv 2506.13585; the paper bounds
               only the high side: set eps_low near 1 for that)
  all kinds    + kl_coef * k3(ref || policy) - entropy_coef * H(t)
"""

from __future__ import annotations

import mlx.core as mx

from textrl.engine.loss_spec import LossSpec


def logprobs_and_entropy(logits: mx.array, targets: mx.array, temperature: float = 1.0, entropy: bool = True):
    """Log-prob of each target and the full-vocabulary entropy, from one log-softmax of logits/T."""
    logits = logits.astype(mx.float32)
    if temperature != 1.0:
        logits = logits * (1.0 / temperature)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    if not entropy:
        return tok, None
    p = mx.exp(logp)
    return tok, -mx.sum(mx.where(p > 0, p * logp, 0.0), axis=-1)


def sequence_logprobs(model, tokens: mx.array, temperature: float = 1.0, entropy: bool = True):
    """Teacher-forced log-probs (and entropies) of tokens[:, 1:] given the prefix; shape [N, L-1]."""
    return logprobs_and_entropy(model(tokens[:, :-1]), tokens[:, 1:], temperature, entropy)


def k3(logp: mx.array, ref_logp: mx.array) -> mx.array:
    """Schulman's k3 estimator of KL(policy || ref) per sampled token: exp(d) - d - 1, d = ref - logp."""
    d = ref_logp - logp
    return mx.exp(d) - d - 1.0


def policy_loss(
    logp: mx.array,
    behaviour_logp: mx.array,
    advantages: mx.array,
    weights: mx.array,
    mask: mx.array,
    spec: LossSpec,
    entropy: mx.array | None = None,
    ref_logp: mx.array | None = None,
):
    """(loss, stats) where stats holds token sums (divide by the token count for means)."""
    log_ratio = logp - behaviour_logp
    if spec.kind == "gspo":
        lengths = mx.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        seq_log_ratio = mx.stop_gradient((log_ratio * mask).sum(axis=1, keepdims=True) / lengths)
        log_ratio = seq_log_ratio + logp - mx.stop_gradient(logp)
    ratio = mx.exp(log_ratio)
    if spec.kind == "reinforce":
        per_token = -advantages * logp
        clipped = mx.zeros_like(logp)
    elif spec.kind == "cispo":
        low, high = 1.0 - spec.eps_low, 1.0 + spec.eps_high
        per_token = -mx.stop_gradient(mx.clip(ratio, low, high)) * advantages * logp
        clipped = ((ratio < low) | (ratio > high)).astype(mx.float32)
    else:
        low, high = 1.0 - spec.eps_low, 1.0 + spec.eps_high
        unclipped = ratio * advantages
        clipped_obj = mx.clip(ratio, low, high) * advantages
        per_token = -mx.minimum(unclipped, clipped_obj)
        clipped = (clipped_obj < unclipped).astype(mx.float32)
    stats = {
        "clip_frac": (clipped * mask).sum(),
        # KL(behaviour || policy) by k3, for target-KL early stopping of PPO epochs
        "approx_kl": (k3(logp, behaviour_logp) * mask).sum(),
    }
    if ref_logp is not None:
        kl = k3(logp, ref_logp)
        stats["kl"] = (kl * mask).sum()
        if spec.kl_coef > 0:
            per_token = per_token + spec.kl_coef * kl
    if entropy is not None:
        stats["entropy"] = (entropy * mask).sum()
        if spec.entropy_coef > 0:
            per_token = per_token - spec.entropy_coef * entropy
    return (per_token * weights).sum(), stats
