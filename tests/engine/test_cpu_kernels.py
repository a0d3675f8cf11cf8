"""textrl's CPU SwiGLU and attention compute what mlx_lm's do, values and gradients."""

from __future__ import annotations

import contextlib
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm import load
from mlx_lm.models import activations
from mlx_lm.models import base as mlx_lm_base
from mlx_lm.models import qwen3

from textrl.engine import cpu_kernels, sampler


def close(a, b, tol=1e-5):
    a, b = np.array(a.astype(mx.float32)), np.array(b.astype(mx.float32))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


def test_swiglu_forward_is_bit_identical_and_gradients_agree():
    key = mx.random.key(0)
    gate = mx.random.normal((64, 96), key=key) * 6  # well into both saturated ends of the sigmoid
    up = mx.random.normal((64, 96), key=mx.random.key(1))
    assert mx.array_equal(cpu_kernels.swiglu(gate, up), activations.swiglu(gate, up))
    w = mx.random.normal((64, 96), key=mx.random.key(2))
    ours = mx.grad(lambda g, u: (cpu_kernels.swiglu(g, u) * w).sum(), argnums=(0, 1))(gate, up)
    reference = mx.grad(lambda g, u: (nn.silu(g) * u * w).sum(), argnums=(0, 1))(gate, up)
    for a, b in zip(ours, reference):
        close(a, b)


def _qkv(B, H, kv_heads, L, S, D, seed=0):
    keys = [mx.random.key(seed + i) for i in range(3)]
    return (mx.random.normal((B, H, L, D), key=keys[0]), mx.random.normal((B, kv_heads, S, D), key=keys[1]),
            mx.random.normal((B, kv_heads, S, D), key=keys[2]))


def left_padding_mask(B, L, S, pads):
    """mlx_lm's batch-cache mask: row b cannot see its first pads[b] keys; causal over the last L."""
    k = mx.arange(S)[None, None, None, :]
    q = mx.arange(S - L, S)[None, None, :, None]
    return (k >= mx.array(pads)[:, None, None, None]) & (q >= k)


@pytest.mark.parametrize("kv_heads", [4, 2])  # plain and grouped-query attention
@pytest.mark.parametrize("case", ["causal", "causal-decode", "bool-padded", "additive", "none"])
def test_attention_matches_mlx_fast_with_gradients(case, kv_heads):
    B, H, D = 3, 4, 8
    L, S = (1, 9) if case in ("causal-decode", "bool-padded") else (7, 7)
    q, k, v = _qkv(B, H, kv_heads, L, S, D)
    mask = {"causal": "causal", "causal-decode": "causal", "none": None,
            "bool-padded": left_padding_mask(B, L, S, [0, 3, 8]),
            "additive": mx.random.normal((B, 1, L, S), key=mx.random.key(9))}[case]
    scale = D ** -0.5

    def ours(q, k, v):
        return cpu_kernels.scaled_dot_product_attention(q, k, v, None, scale, mask)

    def reference(q, k, v):
        return mlx_lm_base.scaled_dot_product_attention(q, k, v, None, scale, mask)

    close(ours(q, k, v), reference(q, k, v))
    w = mx.random.normal((B, H, L, D), key=mx.random.key(7))
    g_ours = mx.grad(lambda *a: (ours(*a) * w).sum(), argnums=(0, 1, 2))(q, k, v)
    g_ref = mx.grad(lambda *a: (reference(*a) * w).sum(), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(g_ours, g_ref):
        close(a, b)


def test_fully_masked_padding_rows_stay_finite():
    # a left-padding query sees no key: its output must be finite (NaN would poison later layers)
    q, k, v = _qkv(2, 4, 4, 4, 4, 8)
    mask = left_padding_mask(2, 4, 4, [0, 3])
    out = cpu_kernels.scaled_dot_product_attention(q, k, v, None, 0.35, mask)
    assert np.isfinite(np.array(out)).all()


@pytest.mark.parametrize("sizes", [(2, 1, 3), (1, 2, 5)])
def test_softmax_over_a_single_key_before_or_after_longer_rows(sizes):
    # mlx's shapeless compile drops a reduction over an axis of size 1 when it traces one and corrupts
    # the heap when it replays one (ml-explore/mlx#3201): a one-token prompt's prefill crashed textrl
    for S in sizes:
        scores = mx.random.normal((3, 2, 4, S), key=mx.random.key(S)) * 4
        w = mx.random.normal(scores.shape, key=mx.random.key(10 + S))
        close(cpu_kernels.softmax(scores), mx.softmax(scores, axis=-1))
        close(mx.grad(lambda s: (cpu_kernels.softmax(s) * w).sum())(scores),
              mx.grad(lambda s: (mx.softmax(s, axis=-1) * w).sum())(scores))


def test_one_token_prompts_sample_like_mlx_lm(tiny_model_dir):
    model, _ = load(str(tiny_model_dir))

    def rollout():
        return sampler.generate(model, [[5], [6]], 3, temperature=1.0, top_p=1.0, max_tokens=8, eos_ids=set(),
                                key=mx.random.key(1))

    with mlx_lm_functions(model):
        reference = rollout()
        assert cpu_kernels.install(model)
        ours = rollout()
    assert ours.tokens == reference.tokens
    for a, b in zip(ours.logprobs, reference.logprobs):
        np.testing.assert_allclose(a, b, atol=1e-5)


@contextlib.contextmanager
def mlx_lm_functions(model):
    """Inside: the model's module runs mlx_lm's own swiglu and attention; restored (as found) after."""
    module = sys.modules[type(model).__module__]
    saved = (module.swiglu, module.scaled_dot_product_attention)
    module.swiglu, module.scaled_dot_product_attention = activations.swiglu, mlx_lm_base.scaled_dot_product_attention
    try:
        yield module
    finally:
        module.swiglu, module.scaled_dot_product_attention = saved


def _loss_and_grads(model, tokens):
    def loss(m, x):
        return nn.losses.cross_entropy(m(x[:, :-1]), x[:, 1:]).mean()

    return nn.value_and_grad(model, loss)(model, tokens)


def _compare_training(model, tokens, reference):
    ref_logits, (ref_loss, ref_grads) = reference
    close(model(tokens), ref_logits)
    value, grads = _loss_and_grads(model, tokens)
    assert value.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    for (_, a), (_, b) in zip(tree_flatten(grads), tree_flatten(ref_grads)):
        close(a, b, tol=1e-4)


def test_installed_model_gives_mlx_lm_logits_and_gradients(tiny_model_dir):
    model, _ = load(str(tiny_model_dir))
    tokens = mx.array([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]])
    with mlx_lm_functions(model) as module:
        reference = (model(tokens), _loss_and_grads(model, tokens))
        assert cpu_kernels.install(model)
        assert module.swiglu is cpu_kernels.swiglu
        assert module.scaled_dot_product_attention is cpu_kernels.scaled_dot_product_attention
        assert cpu_kernels.install(model)  # idempotent
        _compare_training(model, tokens, reference)


def test_grouped_query_qwen3_samples_and_trains_like_mlx_lm():
    # a hub-style architecture: Qwen3 (q/k norms, 4 query heads sharing 2 key/value heads), sampled in a
    # left-padded batch (prompts of different lengths) and trained
    args = qwen3.ModelArgs(model_type="qwen3", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                           vocab_size=40, max_position_embeddings=256, tie_word_embeddings=True, rope_theta=1e6)
    mx.random.seed(0)
    model = qwen3.Model(args)
    mx.eval(model.parameters())
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11]]
    tokens = mx.array([[1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3, 2, 1]])

    def rollout():
        return sampler.generate(model, prompts, 2, temperature=1.0, top_p=1.0, max_tokens=12, eos_ids=set(),
                                key=mx.random.key(3))

    with mlx_lm_functions(model):
        ref_rollout = rollout()
        reference = (model(tokens), _loss_and_grads(model, tokens))
        assert cpu_kernels.install(model)
        ours = rollout()
        assert ours.tokens == ref_rollout.tokens
        for a, b in zip(ours.logprobs, ref_rollout.logprobs):
            np.testing.assert_allclose(a, b, atol=1e-5)
        _compare_training(model, tokens, reference)


def test_grouped_query_attention_with_a_value_head_size_of_its_own():
    # some architectures (e.g. MiMo-V2-Flash) give values a head size different from queries and keys
    q, k, _ = _qkv(2, 8, 2, 5, 5, 32)
    v = mx.random.normal((2, 2, 5, 16), key=mx.random.key(5))
    for mask in ("causal", None):
        ours = cpu_kernels.scaled_dot_product_attention(q, k, v, None, 0.2, mask)
        assert ours.shape == (2, 8, 5, 16)
        close(ours, mlx_lm_base.scaled_dot_product_attention(q, k, v, None, 0.2, mask))
