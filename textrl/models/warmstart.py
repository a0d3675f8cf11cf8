"""Supervised warm start: teacher-forced cross-entropy on (prompt, target + EOS) of the task's train split.

RL needs a policy that already succeeds sometimes: GRPO learns visibly from a base in the 20-30 % band
and barely from 15 %. A fixed step count does not land there reliably, the tiny model sitting near a
sharp phase transition (figures: benchmarks/README.md), so the warm start stops at the first check where greedy accuracy on a
probe slice of the *training* split reaches `target_acc` (the held-out set is never looked at), with
`steps` as the ceiling. Deterministic for a seed: batches come from random.Random(seed), the model init
from mx.random.key(seed), and the probe is greedy.
"""

from __future__ import annotations

import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

from textrl.losses import sequence_logprobs
from textrl.models.arch import WarmStart


def pack(pairs: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded tokens and a mask over next-token targets that are completion tokens."""
    width = max(len(p) + len(c) for p, c in pairs)
    tokens, mask = [], []
    for p, c in pairs:
        pad = width - len(p) - len(c)
        tokens.append(p + c + [pad_id] * pad)
        mask.append([0.0] * (len(p) - 1) + [1.0] * len(c) + [0.0] * pad)
    return mx.array(tokens), mx.array(mask)


def supervised(model, pairs: list[tuple[list[int], list[int]]], spec: WarmStart, pad_id: int, progress=None,
               probe_acc=None) -> list[dict]:
    """Train `model` in place on (prompt ids, completion ids incl. EOS) pairs; returns a loss log.

    `probe_acc()` (greedy accuracy of the current model) is called every `check_every` steps when
    `spec.target_acc` is set; training stops at the first check that reaches the target.
    """
    rng = random.Random(spec.seed)
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, spec.lr, max(spec.warmup_steps, 1)), optim.linear_schedule(spec.lr, spec.lr, 1)],
        [max(spec.warmup_steps, 1)],
    )
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.0)

    def loss_fn(model, tokens, mask):
        logp, _ = sequence_logprobs(model, tokens, entropy=False)
        return -(logp * mask).sum() / mask.sum()

    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(tokens, mask):
        loss, grads = grad_fn(model, tokens, mask)
        grads, _ = optim.clip_grad_norm(grads, spec.grad_clip)
        opt.update(model, grads)
        return loss

    log = []
    start = time.perf_counter()
    for i in range(1, spec.steps + 1):
        tokens, mask = pack(rng.choices(pairs, k=spec.batch_size), pad_id)
        loss = step(tokens, mask)
        mx.eval(loss, state)
        check = spec.target_acc is not None and probe_acc is not None and i % spec.check_every == 0
        if check or i % 50 == 0 or i == spec.steps:
            row = {"step": i, "loss": round(loss.item(), 5), "elapsed_s": round(time.perf_counter() - start, 2)}
            if check:
                row["probe_acc"] = round(probe_acc(), 4)
            log.append(row)
            if check and row["probe_acc"] >= spec.target_acc:
                break
        if progress is not None:
            progress(i, spec.steps)
    return log
