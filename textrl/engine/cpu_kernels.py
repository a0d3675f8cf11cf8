"""SwiGLU and attention for mlx on CPU, built from ops that mlx's compiler fuses.

On the CPU device two parts of mlx_lm's transformer blocks fall outside the fused, vectorised kernels
(textrl.fastjit) and were the largest costs of a step after the matmuls:

- SwiGLU's gradient: autodiff of `silu(gate) * up` shares the forward's sigmoid node with the backward,
  so the compiler cannot fuse it into either side and runs mlx's scalar sigmoid, at ~14 ns an element.
  `swiglu` below has the same forward (same ops, same order: bit-identical) and a hand-written backward
  whose sigmoid is its own node, in one fused kernel with both gradients.
- Attention's softmax: `mx.fast.scaled_dot_product_attention` on CPU runs mlx's softmax primitive,
  whose exp is scalar. `scaled_dot_product_attention` below computes the same attention with the softmax
  written as max / exp / sum, which fuse; its backward is the softmax's closed form.

`install(model)` swaps these in for the model's mlx_lm module (llama, qwen2, qwen3 and most other
architectures import both by name) when the default device is the CPU; on Metal and CUDA mlx's own
kernels are the fast ones and nothing changes. Results agree with mlx_lm's to float round-off
(tests/engine/test_cpu_kernels.py: values and gradients, a grouped-query Qwen3 sampled in a padded
batch); the ratio test holds because sampling and training both use them. The cases these do not
cover (quantised KV caches, attention sinks) fall through to mlx_lm's functions. Installing is
process-wide and permanent (every instance of the architecture, mlx_lm's own generators too): the
functions compute the same thing, faster, so nothing is restored.
"""

from __future__ import annotations

import sys
from functools import partial

import mlx.core as mx
from mlx_lm.models import activations
from mlx_lm.models import base as mlx_lm_base


@partial(mx.compile, shapeless=True)  # elementwise: one trace serves every shape
def _swiglu_forward(gate: mx.array, up: mx.array) -> mx.array:
    return gate * mx.sigmoid(gate) * up  # nn.silu(gate) * up, op for op


@partial(mx.compile, shapeless=True)
def _swiglu_backward(gate: mx.array, up: mx.array, cotangent: mx.array):
    # `gate * 1.0` (exact) keeps this sigmoid a node of its own: merged with the forward's, it could be
    # fused into neither kernel. With c the cotangent, d_gate = c u s (1 + g (1 - s)), written as
    # u (c s + d_up (1 - s)) so that d_up feeds d_gate and both come out of one fused kernel.
    s = mx.sigmoid(gate * 1.0)
    d_up = cotangent * s * gate
    return up * (cotangent * s + d_up * (1 - s)), d_up


@mx.custom_function
def swiglu(gate: mx.array, up: mx.array) -> mx.array:
    return _swiglu_forward(gate, up)


@swiglu.vjp
def _swiglu_vjp(primals, cotangent, output):
    return _swiglu_backward(*primals, cotangent)


def _softmax_ops(scores: mx.array) -> mx.array:
    e = mx.exp(scores - mx.max(scores, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward_ops(p: mx.array, cotangent: mx.array) -> mx.array:
    return p * (cotangent - (cotangent * p).sum(axis=-1, keepdims=True))


_softmax_forward = mx.compile(_softmax_ops, shapeless=True)
_softmax_backward = mx.compile(_softmax_backward_ops, shapeless=True)


# mlx (0.32.4 and earlier) mishandles a shapeless-compiled reduction over an axis of size 1: traced at
# size 1 it is dropped from the graph (stale results at other sizes, ml-explore/mlx#3201), replayed at
# size 1 it corrupts the heap. Attention over a single key (a one-token prompt's prefill) is that case,
# so it runs the same ops uncompiled, and the compiled functions never see it.
@mx.custom_function
def softmax(scores: mx.array) -> mx.array:
    return (_softmax_forward if scores.shape[-1] > 1 else _softmax_ops)(scores)


@softmax.vjp
def _softmax_vjp(primals, cotangent, output):
    return (_softmax_backward if output.shape[-1] > 1 else _softmax_backward_ops)(output, cotangent)


def _masked(scores: mx.array, visible: mx.array) -> mx.array:
    # The lowest finite value, as mx.fast's own CPU fallback: a fully masked row (a left-padding query)
    # then gets finite weights, not NaNs that would poison its keys and values in later layers.
    return mx.where(visible, scores, mx.array(mx.finfo(scores.dtype).min, scores.dtype))


def _causal(scores: mx.array) -> mx.array:
    # Query i (of the last L positions) sees keys 0 .. S - L + i, as mx.fast's mask="causal".
    L, S = scores.shape[-2:]
    return _masked(scores, mx.arange(S - L, S)[:, None] >= mx.arange(S)[None, :])


def scaled_dot_product_attention(queries, keys, values, cache, scale: float, mask, sinks=None):
    """mlx_lm.models.base.scaled_dot_product_attention, with a softmax that fuses on CPU."""
    if hasattr(cache, "bits") or sinks is not None:
        return mlx_lm_base.scaled_dot_product_attention(queries, keys, values, cache, scale, mask, sinks)
    B, H, L, D = queries.shape
    kv_heads = keys.shape[1]
    q = queries * scale
    if kv_heads != H:  # grouped-query attention: each key/value head serves H / kv_heads query heads
        q = q.reshape(B, kv_heads, H // kv_heads, L, D)
        keys, values = keys[:, :, None], values[:, :, None]
        if isinstance(mask, mx.array) and mask.ndim >= 3:
            mask = mx.expand_dims(mask, -3) if mask.shape[-3] == 1 else mx.unflatten(mask, -3, (kv_heads, H // kv_heads))
    scores = q @ keys.swapaxes(-1, -2)
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"unsupported attention mask {mask!r}")
        scores = _causal(scores)
    elif mask is not None:
        if mask.dtype == mx.bool_:
            scores = _masked(scores, mask)
        else:
            scores = scores + mask
    out = softmax(scores.astype(mx.float32)).astype(values.dtype) @ values
    return out.reshape(B, H, L, -1) if kv_heads != H else out  # values may have their own head size


def install(model) -> bool:
    """Use these functions in `model`'s mlx_lm module when running on the CPU; True if installed."""
    if mx.default_device() != mx.cpu:
        return False
    module = sys.modules.get(type(model).__module__)
    if module is None or not type(model).__module__.startswith("mlx_lm.models."):
        return False
    if getattr(module, "swiglu", None) is activations.swiglu:
        module.swiglu = swiglu
    if getattr(module, "scaled_dot_product_attention", None) is mlx_lm_base.scaled_dot_product_attention:
        module.scaled_dot_product_attention = scaled_dot_product_attention
    return getattr(module, "swiglu", None) is swiglu or (
        getattr(module, "scaled_dot_product_attention", None) is scaled_dot_product_attention
    )
