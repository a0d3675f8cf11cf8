"""Episode-level advantages: one number per completion from the rewards of its prompt group.

Formulas: docs/advantages.md. A group whose rewards are all equal carries no signal; every
function here returns exact zeros for it (not "almost zero" from float round-off), so that such groups
contribute nothing to the update whatever the token-level stages do afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALES = ("none", "group", "batch")


def as_rewards(rewards: Sequence[float], who: str) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"{who}: expected one group of rewards (1-D), got shape {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise ValueError(f"{who}: reward[{bad[0]}] = {r[bad[0]]} is not a finite number")
    return r


def has_signal(r: np.ndarray) -> bool:
    """False for a group whose rewards are all equal (including groups of 0 or 1 completions)."""
    return r.size > 1 and bool(r.max() > r.min())


def grpo(rewards: Sequence[float], scale: str = "none", *, batch_std: float | None = None) -> np.ndarray:
    """A_i = r_i - mean(r), optionally divided by the group's or the batch's reward std.

    Standard deviations are population stds (ddof=0). `scale="batch"` needs the std of all rewards in
    the batch, which one group cannot know: pass `batch_std`, or use `grpo_batch`.
    """
    if scale not in SCALES:
        raise ValueError(f"grpo: scale must be one of {', '.join(SCALES)}, got {scale!r}")
    r = as_rewards(rewards, "grpo")
    if not has_signal(r):
        return np.zeros_like(r)
    a = r - r.mean()
    if scale == "group":
        std = r.std()
        if std == 0.0:  # differences so small that the std underflows: no usable signal
            return np.zeros_like(r)
        a /= std
    elif scale == "batch":
        if batch_std is None:
            raise ValueError("grpo: scale='batch' needs batch_std (the std of every reward in the batch); "
                             "use grpo_batch(groups, 'batch') to compute it")
        if not batch_std > 0:
            raise ValueError(f"grpo: batch_std must be > 0 for a group with signal, got {batch_std}")
        a /= batch_std
    return a


def grpo_batch(groups: Sequence[Sequence[float]], scale: str = "none") -> list[np.ndarray]:
    """`grpo` over a batch of groups; `scale="batch"` divides by the std of all rewards in the batch."""
    groups = [as_rewards(g, "grpo") for g in groups]
    batch_std = None
    if scale == "batch" and groups:
        batch_std = float(np.concatenate(groups).std())
    return [grpo(g, scale, batch_std=batch_std) for g in groups]


def maxrl(rewards: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    """MaxRL (Tajwar et al. 2026, eq. 10): A_i = (r_i - m) / (m + eps), m = mean(r); 0 if m <= eps.

    Rewards must be >= 0 (use the task's binary correctness channel when a reward can be negative).
    """
    r = as_rewards(rewards, "maxrl")
    neg = np.flatnonzero(r < 0)
    if neg.size:
        i = int(neg[0])
        raise ValueError(
            f"maxrl: reward[{i}] = {r[i]} is negative; MaxRL needs rewards >= 0 "
            "(use the task's binary correctness channel as the reward)"
        )
    if not has_signal(r):
        return np.zeros_like(r)
    m = r.mean()
    if m <= eps:
        return np.zeros_like(r)
    return (r - m) / (m + eps)


class EmaBaseline:
    """REINFORCE's moving-average baseline over batch mean rewards.

    The baseline used for a batch is the one *before* that batch is folded in, so a completion's own
    reward never enters its baseline. The first batch initialises it to that batch's mean (a zero start
    would make every early advantage positive for [0, 1] rewards).
    """

    def __init__(self, decay: float = 0.9, value: float | None = None):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EmaBaseline: decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value = value

    def advantages(self, groups: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Advantages r - b for every group, then fold this batch's mean reward into b."""
        flat = np.concatenate(groups) if groups else np.zeros(0)
        if flat.size == 0:
            return [np.zeros(0) for _ in groups]
        batch_mean = float(flat.mean())
        b = batch_mean if self.value is None else self.value
        out = [g - b for g in groups]
        self.value = self.decay * b + (1.0 - self.decay) * batch_mean
        return out

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = None if state.get("value") is None else float(state["value"])


def reinforce_batch(
    groups: Sequence[Sequence[float]],
    baseline: str = "group",
    normalize: bool = False,
    ema: EmaBaseline | None = None,
) -> list[np.ndarray]:
    """REINFORCE with a group-mean or moving-average baseline.

    `normalize` divides by the std of all advantages in the batch, without re-centring them: the
    baseline already centres them, and subtracting the batch mean again would flip the sign of
    completions that beat their baseline by less than the batch average.
    """
    groups = [as_rewards(g, "reinforce") for g in groups]
    if baseline == "group":
        advs = [grpo(g) for g in groups]
    elif baseline == "ema":
        if ema is None:
            raise ValueError("reinforce: baseline='ema' needs an EmaBaseline (the pipeline controller holds it)")
        advs = ema.advantages(groups)
    else:
        raise ValueError(f"reinforce: baseline must be 'group' or 'ema', got {baseline!r}")
    if normalize and advs:
        std = float(np.concatenate(advs).std())
        if std > 0:
            advs = [a / std for a in advs]
    return advs
