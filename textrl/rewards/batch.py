"""Score a batch of completions; slow rewards run in a bounded pool, fast ones inline."""
from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable, Sequence

from textrl.errors import ConfigError
from textrl.rewards.combine import Combined, RewardLike, as_combined
from textrl.rewards.registry import Outcome, _short, call_checked, field_of
from textrl.scores import Score, make_score

DEFAULT_WORKERS = 4


def _executor(kind: str, workers: int) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    # forkserver: forking a process that holds mlx / BLAS threads can deadlock the child
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _score_component(name: str, fn: Callable, parallel: str | None, rows: list[tuple],
                     max_workers: int, kind: str = "reward") -> list[Outcome]:
    # `fn` is the function itself (a partial pickles it by reference), so a reward registered in
    # the parent's __main__ still works in a worker whose registry never saw it
    workers = max(1, min(max_workers, len(rows)))
    if parallel is None or workers == 1:
        return [call_checked(name, fn, *row, kind) for row in rows]
    with _executor(parallel, workers) as pool:
        futures = [pool.submit(call_checked, name, fn, *row, kind) for row in rows]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def score_batch(reward: RewardLike, completions: Sequence[str], examples: Sequence[Any] | None = None, *,
                prompts: Sequence[str] | None = None, max_workers: int | None = None) -> list[Score]:
    """Score `completions[i]` against `examples[i]` (a tasks.Example or a dict with prompt/id/...).

    `reward` is a registered name, `get_reward(name, **params)`, `combine({...})`, a mapping of
    weights, or any function with the reward signature. Rewards declared parallel="process" run
    in at most `max_workers` worker processes ("thread": at most that many threads).
    Returns one Score per completion, with every component's raw value.
    """
    n = len(completions)
    examples = list(examples) if examples is not None else [{} for _ in range(n)]
    if len(examples) != n:
        raise ConfigError(f"score_batch(): {n} completions but {len(examples)} examples")
    if prompts is not None and len(prompts) != n:
        raise ConfigError(f"score_batch(): {n} completions but {len(prompts)} prompts")
    for c in completions:
        if not isinstance(c, str):
            raise ConfigError(f"score_batch(): completions must be strings, got {type(c).__name__} {_short(c)}")
    workers = max_workers or min(DEFAULT_WORKERS, os.cpu_count() or 1)
    rows = []
    for i, (completion, ex) in enumerate(zip(completions, examples)):
        prompt = prompts[i] if prompts is not None else field_of(ex, "prompt", "")
        rows.append((prompt, completion, ex, field_of(ex, "id", i)))

    scorer = as_combined(reward)
    if not isinstance(scorer, Combined):
        label, fn = scorer
        outcomes = _score_component(label, fn, None, rows, workers)
        return [make_score(o.value, o.correct if o.correct is not None else o.value > 0, {label: o.value})
                for o in outcomes]

    per_component: dict[str, list[Outcome]] = {}
    for name, bound in scorer.components().items():
        spec = bound.spec
        fn = functools.partial(spec.fn, **bound.params)
        per_component[name] = _score_component(name, fn, spec.parallel, rows, workers, spec.kind)
    return [scorer.total({name: per_component[name][i] for name in per_component}) for i in range(n)]

