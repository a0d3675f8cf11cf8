"""One RL step as named stages: sample -> score -> advantages -> datums -> update -> record.

Each stage is a plain function of its inputs that returns its result and the metrics it adds to the step's
row; textrl.trainer runs them in order. A step's batch is a list of Groups (one prompt with its completions
and everything later stages attach to them), so which completion belongs to which prompt is carried by the
data, never re-derived from flat indices. Nothing here imports mlx: the MLX and the Tinker engine both run it.

Randomness comes in from the caller as seeds (sampling, reward-control draws), so a stage's result is a
function of its arguments, which is what makes a resumed run repeat an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from textrl.advantages import planning_mask
from textrl.engine.base import Completion, Datum, SamplingParams
from textrl.errors import ConfigError

if TYPE_CHECKING:
    from textrl.advantages import AdvantagePipeline, PipelineController
    from textrl.engine.base import Engine
    from textrl.scores import Score
    from textrl.tasks.base import Example, Task

CHANGED_FRACS = ("changed_frac_sepa", "changed_frac_gtpo", "changed_frac_hicra")
TIMING_FIELDS = ("gen_s", "score_s", "train_s", "step_s")
# a metrics.jsonl row, in this order (docs/contracts.md): readers and the resume tests compare whole rows
ROW_FIELDS = (
    "step", "reward_mean", "reward_std", "correct_rate", "loss", "grad_norm", "entropy_mean", "clip_frac", "kl",
    "adv_abs_mean", "frac_zero_std_groups", "completion_len_mean", "max_token_hit_rate", "sepa_lambda",
    "planning_token_frac", *CHANGED_FRACS, "epochs_run", "lr", "tokens_generated", *TIMING_FIELDS,
)


@dataclass(frozen=True)
class Group:
    """One prompt and its completions; each stage returns the groups with its part filled in."""

    example: Example
    completions: list[Completion]
    scores: list[Score] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    # what the advantages read: the task's judgement, or a negative control's draws
    correct: list[bool] = field(default_factory=list)
    # always the task's judgement, so a control arm still reports how often it is right
    task_correct: list[bool] = field(default_factory=list)
    advantages: list[Any] = field(default_factory=list)  # per completion, one float per token


def completions_of(groups: Sequence[Group]) -> list[Completion]:
    return [c for g in groups for c in g.completions]


def sample(engine: Engine, examples: Sequence[Example], group_size: int, params: SamplingParams, seed: int,
           encoded: dict[str, list[int]] | None = None) -> tuple[list[Group], dict]:
    """`group_size` completions of each example. `encoded` caches prompt tokens by example id across steps:
    every epoch over the training set asks for the same prompts again."""
    encoded = {} if encoded is None else encoded
    for ex in examples:
        if ex.id not in encoded:
            encoded[ex.id] = engine.encode_prompt(ex.prompt)
    sampled = engine.sample([encoded[ex.id] for ex in examples], group_size, params, seed=seed)
    if len(sampled) != len(examples):
        raise RuntimeError(f"engine.sample: {len(sampled)} groups of completions for {len(examples)} prompts")
    groups = [Group(ex, list(completions)) for ex, completions in zip(examples, sampled)]
    flat = completions_of(groups)
    n_tokens = [len(c.tokens) for c in flat]
    entropies = [e for c in flat for e in (c.entropies or [])]
    return groups, {
        "tokens": sum(n_tokens),
        "entropy_mean": float(np.mean(entropies)) if entropies else None,
        "completion_len_mean": float(np.mean(n_tokens)),
        "max_token_hit_rate": float(np.mean([c.truncated for c in flat])),
    }


def score(task: Task, groups: Sequence[Group], *, step: int, task_name: str, control_rate: float | None = None,
          control_seed: int | None = None) -> tuple[list[Group], dict]:
    """The task's scores of every completion, in one call. With `control_rate` (a negative control arm) the
    training rewards are Bernoulli(control_rate) draws seeded by `control_seed` instead of the task's."""
    flat = completions_of(groups)
    examples = [g.example for g in groups for _ in g.completions]
    try:
        scores = task.score([c.text for c in flat], examples)
        if len(scores) != len(flat):
            raise ValueError(f"returned {len(scores)} scores for {len(flat)} completions")
    except ConfigError:
        raise
    except Exception as e:
        # a user's task or reward failing mid-run: say where, keep the original traceback
        ids = sorted({g.example.id for g in groups})
        raise RuntimeError(f"step {step}: task {task_name!r} failed to score prompts {ids}: {e}") from e
    it = iter(scores)
    per_group = [[next(it) for _ in g.completions] for g in groups]
    draws = None
    if control_rate is not None:
        size = len(groups[0].completions) if groups else 0
        draws = np.random.default_rng(control_seed).random((len(groups), size)) < control_rate
    out = []
    for i, (g, group_scores) in enumerate(zip(groups, per_group)):
        task_correct = [bool(s["correct"]) for s in group_scores]
        if draws is None:
            rewards, correct = [float(s["reward"]) for s in group_scores], task_correct
        else:
            rewards, correct = draws[i].astype(float).tolist(), draws[i].tolist()
        out.append(replace(g, scores=group_scores, rewards=rewards, correct=correct, task_correct=task_correct))
    rewards = [r for g in out for r in g.rewards]
    return out, {
        "reward_mean": float(np.mean(rewards)),
        "reward_std": float(np.std(rewards)),
        "correct_rate": float(np.mean([c for g in out for c in g.task_correct])),
    }


def has_signal(group: Group) -> bool:
    return len(set(group.rewards)) > 1


def keep_varied(groups: list[Group], refill, *, rounds: int) -> tuple[list[Group], dict]:
    """DAPO's dynamic sampling: keep the groups whose rewards differ and ask `refill(round, n)` (sample and
    score n fresh prompts) for replacements, at most `rounds` times, until the batch is full again. A
    step where no group has a signal keeps its batch (every advantage is 0 then). Metrics: the extra
    rounds run, the groups trained on, and the tokens the extra rounds generated (they are compute too)."""
    size = len(groups)
    kept = [g for g in groups if has_signal(g)]
    ran, tokens = 0, 0
    while len(kept) < size and ran < rounds:
        fresh, sampled = refill(ran, size - len(kept))
        kept += [g for g in fresh if has_signal(g)]
        tokens += sampled["tokens"]
        ran += 1
    kept = kept[:size] or list(groups)
    return kept, {"dynamic_sampling_rounds": ran, "groups_trained": len(kept), "refill_tokens": tokens}


def advantages(pipeline: AdvantagePipeline, groups: Sequence[Group], *, step: int, controller: PipelineController,
               grams: Sequence[str]) -> tuple[list[Group], dict]:
    """Per-token advantages of every completion; only the inputs the pipeline reads are computed."""
    needs = pipeline.needs
    if needs.uncertainty == "entropy":
        uncertainties = [[c.entropies for c in g.completions] for g in groups]
    else:  # also when no stage weights by uncertainty: compute() then reads only the lengths
        uncertainties = [[c.surprisal() for c in g.completions] for g in groups]
    masks = ([[planning_mask(c.text, c.offsets, grams) for c in g.completions] for g in groups]
             if needs.planning_mask else None)
    advs, metrics = pipeline.compute([g.rewards for g in groups], uncertainties, masks, step, controller,
                                     [g.correct for g in groups] if needs.correct else None)
    return [replace(g, advantages=list(a)) for g, a in zip(groups, advs)], metrics


def datums(groups: Sequence[Group]) -> list[Datum]:
    """What the engine trains on: each completion with its behaviour log-probs and advantages."""
    return [Datum(c.prompt_tokens, c.tokens, c.logprobs, [float(x) for x in adv])
            for g in groups for c, adv in zip(g.completions, g.advantages, strict=True)]


def update(engine: Engine, batch: list[Datum], loss: Any, *, lr: float, epochs: int,
           target_kl: float | None) -> dict:
    """Up to `epochs` optimizer steps on the batch. An epoch after the first whose policy has drifted past
    target_kl from the sampling policy is abandoned before its step (PPO's early stop)."""
    first, norms, clips = None, [], []
    for epoch in range(epochs):
        fb = engine.forward_backward(batch, loss)
        if epoch > 0 and target_kl is not None and fb["approx_kl"] > target_kl:
            break
        first = first or fb
        clips.append(fb["clip_frac"])
        norms.append(engine.optim_step(lr)["grad_norm"])
    return {"loss": first["loss"], "grad_norm": float(np.mean(norms)), "clip_frac": float(np.mean(clips)),
            "kl": first["kl"], "epochs_run": len(norms), "lr": lr}


def record(step: int, *, sampled: dict, scored: dict, shaped: dict, updated: dict, tokens_generated: int,
           seconds: dict[str, float]) -> dict:
    """The step's metrics.jsonl row from the stages' metrics: exactly ROW_FIELDS, in that order."""
    values = {"step": step, **sampled, **scored, **shaped, **updated, "tokens_generated": tokens_generated,
              **{k: round(v, 4) for k, v in seconds.items()}}
    return {k: values[k] for k in ROW_FIELDS}


def generations(step: int, groups: Sequence[Group]) -> list[dict]:
    """The step's generations.jsonl.gz rows: the task's own scores, also for a control arm."""
    return [
        {"step": step, "prompt_id": g.example.id, "prompt": g.example.prompt, "completion": c.text,
         "reward": s["reward"], "correct": bool(s["correct"]), "components": s.get("components", {}),
         "n_tokens": len(c.tokens), "truncated": c.truncated}
        for g in groups for c, s in zip(g.completions, g.scores, strict=True)
    ]


class Clock:
    """A step's wall time split into consecutive phases (gen_s, score_s, train_s), plus its total (step_s)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def seconds(self) -> dict[str, float]:
        return {**self.laps, "step_s": time.perf_counter() - self.start}
