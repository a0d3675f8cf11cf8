"""Score a batch of completions; slow rewards run in a bounded pool, fast ones inline."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from textrl.errors import ConfigError
from textrl.rewards.combine import Combined, RewardLike, as_combined
from textrl.rewards.registry import BoundReward, Outcome, call_checked, check_value, RewardError, _short
from textrl.tasks.base import Score, make_score

DEFAULT_WORKERS = 4


def _field(example: Any, key: str, default: Any = None) -> Any:
    if isinstance(example, Mapping):
        return example.get(key, default)
    return getattr(example, key, default)


def _run_bound(fn: Callable, name: str, params: dict, prompt: str, completion: str, example: Any,
               prompt_id: Any) -> Outcome:
    # ships the function itself (pickled by reference), so rewards registered in the parent's
    # __main__ work in a worker whose registry never saw them
    bound = _Direct(fn, name, params)
    return call_checked(bound, prompt, completion, example, prompt_id)  # type: ignore[arg-type]


class _Direct:
    def __init__(self, fn: Callable, name: str, params: dict):
        self.fn, self.name, self.params = fn, name, params

    def __call__(self, prompt: str, completion: str, example: Any) -> Any:
        return self.fn(prompt, completion, example, **self.params)


def _executor(kind: str, workers: int) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    # forkserver: forking a process that holds mlx / BLAS threads can deadlock the child
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _score_component(fn: Callable, name: str, params: dict, parallel: str | None, rows: list[tuple],
                     max_workers: int) -> list[Outcome]:
    workers = max(1, min(max_workers, len(rows)))
    if parallel is None or workers == 1:
        return [_run_bound(fn, name, params, *row) for row in rows]
    with _executor(parallel, workers) as pool:
        futures = [pool.submit(_run_bound, fn, name, params, *row) for row in rows]
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
        prompt = prompts[i] if prompts is not None else _field(ex, "prompt", "")
        rows.append((prompt, completion, ex, _field(ex, "id", i)))

    scorer = as_combined(reward)
    if not isinstance(scorer, Combined):
        label, fn = scorer
        outcomes = _score_component(fn, label, {}, None, rows, workers)
        return [make_score(o.value, o.correct if o.correct is not None else o.value > 0, {label: o.value})
                for o in outcomes]

    per_component: dict[str, list[Outcome]] = {}
    for name, bound in scorer.components().items():
        spec = bound.spec
        per_component[name] = _score_component(spec.fn, name, bound.params, spec.parallel, rows, workers)
    return [scorer.total({name: per_component[name][i] for name in per_component}) for i in range(n)]


__all__ = ["score_batch", "check_value", "RewardError", "BoundReward"]
