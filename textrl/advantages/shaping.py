"""Token-level shaping of one completion: SEPA pooling, GTPO weighting, HICRA planning credit.

Each function takes one completion's per-token values (a list or a 1-D array of any float dtype) and
returns a new float64 array; nothing is modified in place. Formulas: docs/advantages.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# -logprob of a near-certain token can come back as -1e-8 from float round-off; anything more
# negative than this is a caller bug (e.g. log-probs passed where surprisal was meant).
UNCERTAINTY_ROUNDOFF = 1e-6
# mean(H') at or below this means "no uncertainty to weight by": GTPO falls back to uniform weights.
GTPO_MIN_MEAN = 1e-12


def as_uncertainty(values: Sequence[float], who: str) -> np.ndarray:
    h = np.asarray(values, dtype=np.float64)
    if h.ndim != 1:
        raise ValueError(f"{who}: uncertainty must be 1-D (one value per token), got shape {h.shape}")
    bad = np.flatnonzero(~np.isfinite(h) | (h < -UNCERTAINTY_ROUNDOFF))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{who}: uncertainty[{i}] = {h[i]}; expected a finite value >= 0 (entropy or surprisal)")
    return np.maximum(h, 0.0)


def as_mask(mask: Sequence[int], n: int, who: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 1 or m.shape[0] != n:
        raise ValueError(f"{who}: planning mask has shape {m.shape} but the completion has {n} tokens")
    if m.size and not np.isin(m, (0, 1)).all():
        raise ValueError(f"{who}: planning mask must hold only 0 and 1")
    return m.astype(bool)


def sepa_pool(uncertainty: Sequence[float], planning_mask: Sequence[int], lam: float) -> np.ndarray:
    """Pull execution tokens' uncertainty towards their completion mean by `lam`; planning tokens keep theirs.

    H'(t) = lam * mean(H over execution tokens) + (1 - lam) * H(t) where m(t) = 0.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"sepa_pool: lam must be in [0, 1], got {lam}")
    h = as_uncertainty(uncertainty, "sepa_pool")
    execution = ~as_mask(planning_mask, h.size, "sepa_pool")
    if lam == 0.0 or not execution.any():
        return h
    out = h.copy()
    out[execution] = lam * h[execution].mean() + (1.0 - lam) * h[execution]
    return out


def gtpo_weights(uncertainty: Sequence[float], beta: float) -> np.ndarray:
    """w(t) = max(0, 1 + beta * (H(t) / mean(H) - 1)); before the clamp the weights average to 1."""
    if not beta >= 0.0:
        raise ValueError(f"gtpo: beta must be >= 0, got {beta}")
    h = as_uncertainty(uncertainty, "gtpo")
    mean = h.mean() if h.size else 0.0
    if beta == 0.0 or mean <= GTPO_MIN_MEAN:
        return np.ones_like(h)
    return np.maximum(0.0, 1.0 + beta * (h / mean - 1.0))


def gtpo(advantage: float | Sequence[float], uncertainty: Sequence[float], beta: float) -> np.ndarray:
    """A(t) = A * w(t): a completion's advantage spread over its tokens by uncertainty, sign kept.

    `advantage` is the completion's scalar advantage, or one value per token.
    """
    w = gtpo_weights(uncertainty, beta)
    a = np.asarray(advantage, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] != w.shape[0]:
        raise ValueError(f"gtpo: {a.shape[0]} advantages for {w.shape[0]} tokens")
    if a.ndim > 1:
        raise ValueError(f"gtpo: advantage must be a scalar or 1-D, got shape {a.shape}")
    return a * w


def hicra(token_advantages: Sequence[float], planning_mask: Sequence[int], alpha: float) -> np.ndarray:
    """A(t) + alpha * |A(t)| * m(t): planning tokens get more credit and less blame; signs never flip.

    alpha must be in [0, 1]: above 1 a negative advantage on a planning token would turn positive.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"hicra: alpha must be in [0, 1], got {alpha}")
    a = np.asarray(token_advantages, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"hicra: token advantages must be 1-D, got shape {a.shape}")
    m = as_mask(planning_mask, a.size, "hicra")
    return a + alpha * np.abs(a) * m
