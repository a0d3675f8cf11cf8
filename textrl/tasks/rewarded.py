"""Rewards added to a task by name from the run config: task.rewards / task.reward_params.

    task: {name: arithmetic, rewards: {length_penalty: 0.1},
           reward_params: {length_penalty: {target_length: 3, unit: chars}}}

The task keeps its own reward and its own correctness; each added reward (anything registered with
@reward / @verifier, see textrl.rewards.known_rewards()) contributes weight * value to the total.
Score components hold the task's own components plus each added reward's raw (unweighted) value
under its name, so the generation log shows every term. A name that is already one of the task's
components is logged as "<name> (added)".

The names and parameters are checked when the run config or campaign spec is loaded, before any
model: `check_added_rewards` is called by TaskConfig's validator.
"""
from __future__ import annotations

import importlib
import inspect
import math
import numbers
from typing import Any, Mapping

from textrl.errors import ConfigError
from textrl.scores import Score, make_score
from textrl.tasks.base import Example, check_batch
from textrl.tasks.registry import get_task

POSITIONAL = ("prompt", "completion", "example")


def _known_parameters(fn) -> tuple[str, ...] | None:
    """The keyword parameters a built-in reward reads; None when it takes any (**kwargs only)."""
    if not getattr(fn, "__module__", "").startswith("textrl.rewards."):
        return None  # a user's reward may read anything from **kwargs
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    named = tuple(p.name for p in params if p.name not in POSITIONAL
                  and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    return named or None


def check_added_rewards(rewards: Mapping[str, Any], params: Mapping[str, Any], task_name: str = "") -> None:
    """ConfigError (message starting with the field, e.g. "rewards: unknown reward 'x'; known
    rewards: ...") unless every added reward is registered, weighted by a finite number, and given
    only parameters it has. A custom task's module is imported first: it may register rewards."""
    from textrl.rewards.registry import get_spec, known_rewards

    if (rewards or params) and ":" in task_name and any(n not in known_rewards() for n in rewards):
        try:
            importlib.import_module(task_name.partition(":")[0])
        except ImportError:
            pass  # the task check reports this one
    for name, weight in rewards.items():
        try:
            get_spec(name)
        except ConfigError as err:
            raise ConfigError(f"rewards: {err}") from None
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight):
            raise ConfigError(f"rewards.{name}: expected a finite number (the weight), got {weight!r}")
    for name, kwargs in params.items():
        if name not in rewards:
            added = ", ".join(rewards) or "none"
            raise ConfigError(f"reward_params.{name}: not one of the added rewards in task.rewards (added: {added})")
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"reward_params.{name}: expected a mapping of parameters, got {kwargs!r}")
        known = _known_parameters(get_spec(name).fn)
        unknown = [k for k in kwargs if known is not None and k not in known]
        if unknown:
            raise ConfigError(f"reward_params.{name}.{unknown[0]}: unknown parameter of reward {name!r} "
                              f"(known: {', '.join(known)})")


class RewardedTask:
    """`task` with weighted registered rewards added to its score; everything else is the task's."""

    def __init__(self, task, rewards: Mapping[str, float], params: Mapping[str, Mapping[str, Any]] | None = None):
        from textrl.rewards import combine

        params = {k: dict(v) for k, v in (params or {}).items()}
        check_added_rewards(rewards, params, getattr(task, "name", ""))
        self.task = task
        self.added = combine(dict(rewards), params=params)

    def __getattr__(self, name: str) -> Any:  # name, planning_grams, stop, split, target, alphabet, ...
        if name == "task":
            raise AttributeError(name)
        return getattr(self.task, name)

    def __repr__(self) -> str:
        return f"RewardedTask({self.task!r}, {self.added.weights})"

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        from textrl.rewards import score_batch

        check_batch(completions, examples)
        own = self.task.score(completions, examples)
        added = score_batch(self.added, completions, examples)
        scores = []
        for base, extra in zip(own, added):
            components = dict(base.get("components", {}))
            for name, value in extra["components"].items():
                components[f"{name} (added)" if name in components else name] = value
            scores.append(make_score(base["reward"] + extra["reward"], base["correct"], components))
        return scores


def with_rewards(task, rewards: Mapping[str, float] | None, params: Mapping[str, Mapping[str, Any]] | None = None):
    """`task` itself when nothing is added, else a RewardedTask."""
    if not rewards:
        if params:
            check_added_rewards({}, params)
        return task
    return RewardedTask(task, rewards, params)


def build_task(task_config) -> Any:
    """The task a run trains on, from a TaskConfig: get_task(name, **params) plus its added rewards."""
    task = get_task(task_config.name, **task_config.params)
    return with_rewards(task, getattr(task_config, "rewards", None), getattr(task_config, "reward_params", None))
