"""Loss formulas on hand-checkable arrays, and micro-batching that reproduces the full-batch gradient."""

from __future__ import annotations

import math

import pytest

from textrl import fastblas

fastblas.enable()

import mlx.core as mx  # noqa: E402

from textrl.engine.loss_spec import LossSpec, token_weights  # noqa: E402
from textrl.losses import k3, logprobs_and_entropy, policy_loss  # noqa: E402


def test_token_weights_express_each_aggregation():
    lengths = [1, 3]
    assert token_weights(lengths, "token-mean", 8) == [0.25, 0.25]
    assert token_weights(lengths, "seq-mean-token-mean", 8) == [0.5, pytest.approx(1 / 6)]
    assert token_weights(lengths, "seq-mean-token-sum-norm", 8) == [1 / 16, 1 / 16]
    with pytest.raises(ValueError, match="aggregation"):
        token_weights(lengths, "mean", 8)


def test_logprobs_and_entropy_from_one_log_softmax():
    logits = mx.array([[[0.0, math.log(3.0)]]])
    lp, ent = logprobs_and_entropy(logits, mx.array([[1]]))
    assert lp.item() == pytest.approx(math.log(0.75), abs=1e-6)
    assert ent.item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), abs=1e-6)
    # temperature 2 halves the logits
    lp2, _ = logprobs_and_entropy(logits, mx.array([[1]]), temperature=2.0)
    assert lp2.item() == pytest.approx(math.log(math.sqrt(3) / (1 + math.sqrt(3))), abs=1e-6)


def arrays(logp, old, adv, lengths, aggregation="token-mean"):
    mask = [[1.0] * n + [0.0] * (len(logp[0]) - n) for n in lengths]
    w = token_weights(lengths, aggregation, 4)
    weights = [[wi * m for m in row] for wi, row in zip(w, mask)]
    return [mx.array(x) for x in (logp, old, adv, weights, mask)]


def test_clipped_surrogate_clips_only_the_side_that_gains():
    spec = LossSpec(eps_low=0.2, eps_high=0.28)
    r = [1.5, 0.5, 1.5, 0.5]
    logp = [[math.log(x) for x in r]]
    logp_, old, adv, w, mask = arrays(logp, [[0.0] * 4], [[1.0, 1.0, -1.0, -1.0]], [4])
    loss, stats = policy_loss(logp_, old, adv, w, mask, spec)
    # A>0, r=1.5 -> clipped to 1.28; A>0, r=0.5 -> 0.5 (no clip); A<0, r=1.5 -> -1.5; A<0, r=0.5 -> -0.8
    expected = -(1.28 + 0.5 - 1.5 - 0.8) / 4
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["clip_frac"].item() == 2


def test_gspo_uses_the_real_sequence_length():
    spec = LossSpec(kind="gspo", eps_low=10.0 - 9.5, eps_high=10.0)
    # row 0 has 2 real tokens and 2 padding positions whose values must not matter
    logp = [[math.log(2.0), 0.0, 5.0, 5.0]]
    logp_, old, adv, w, mask = arrays(logp, [[0.0, 0.0, 9.0, -9.0]], [[1.0, 1.0, 0.0, 0.0]], [2], "seq-mean-token-mean")
    loss, _ = policy_loss(logp_, old, adv, w, mask, spec)
    assert loss.item() == pytest.approx(-math.sqrt(2.0), abs=1e-5)  # s = exp(mean(log 2, 0)) = sqrt(2)


def test_cispo_weights_the_logprob_gradient_by_the_clipped_ratio_without_dropping_tokens():
    spec = LossSpec(kind="cispo", eps_low=0.2, eps_high=0.28)
    r = [1.5, 0.5, 1.1]
    old = [[0.0, 0.0, 0.0]]
    _, old_, adv, w, mask = arrays([[0.0] * 3], old, [[1.0, 1.0, -2.0]], [3])

    def f(lp):
        return policy_loss(lp, old_, adv, w, mask, spec)[0]

    logp = mx.array([[math.log(x) for x in r]])
    loss, stats = policy_loss(logp, old_, adv, w, mask, spec)
    # weights sg(clip(r)) = 1.28, 0.8, 1.1; every token keeps a gradient (PPO's clip would zero the first)
    assert mx.grad(f)(logp).tolist() == [[pytest.approx(-1.28 / 3), pytest.approx(-0.8 / 3), pytest.approx(2.2 / 3)]]
    assert loss.item() == pytest.approx(-(1.28 * math.log(1.5) + 0.8 * math.log(0.5) - 2.2 * math.log(1.1)) / 3, abs=1e-6)
    assert stats["clip_frac"].item() == 2


def test_k3_kl_is_zero_at_the_reference_and_positive_elsewhere():
    x = mx.array([-1.0, -2.0])
    assert mx.abs(k3(x, x)).max().item() == 0
    assert (k3(x, mx.array([-1.5, -1.0])) > 0).all().item()


def test_reinforce_gradient_is_advantage_weighted_logprob():
    spec = LossSpec(kind="reinforce")
    _, old, adv, w, mask = arrays([[0.0, 0.0]], [[0.0, 0.0]], [[2.0, -1.0]], [2])

    def f(lp):
        return policy_loss(lp, old, adv, w, mask, spec)[0]

    g = mx.grad(f)(mx.array([[-0.3, -0.7]]))
    assert g.tolist() == [[pytest.approx(-1.0), pytest.approx(0.5)]]


def test_microbatches_reproduce_the_full_batch_gradient(tiny_model_dir, monkeypatch):
    from mlx.utils import tree_flatten
    from mlx_lm import load

    from textrl.engine import mlx_engine
    from textrl.engine.base import Datum, SamplingParams

    spec = LossSpec(aggregation="seq-mean-token-mean", kl_coef=0.1, entropy_coef=0.01)
    engine = mlx_engine.MLXEngine(*load(str(tiny_model_dir)), reference=load(str(tiny_model_dir))[0])
    groups = engine.sample([engine.encode_prompt(p) for p in ["1+2=", "3+3=", "7+2="]], 4, SamplingParams(1.0, 1.0, 4), seed=0)
    datums = [Datum(c.prompt_tokens, c.tokens, [x - 0.1 for x in c.logprobs], [0.5 - i % 2] * len(c.tokens))
              for g in groups for i, c in enumerate(g)]
    full = engine.forward_backward(datums, spec)
    full_grads = dict(tree_flatten(engine._grads))
    monkeypatch.setattr(mlx_engine, "MAX_LOGITS_PER_MICROBATCH", 1)  # one row per micro-batch
    parts = engine.forward_backward(datums, spec)
    for name, g in tree_flatten(engine._grads):
        assert mx.allclose(g, full_grads[name], atol=1e-6, rtol=1e-4).item(), name
    for key in ("loss", "clip_frac", "kl", "approx_kl"):
        assert parts[key] == pytest.approx(full[key], abs=1e-6)
    assert full["kl"] == pytest.approx(0.0, abs=1e-6)  # the reference is the starting policy
