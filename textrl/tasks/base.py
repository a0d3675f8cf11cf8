"""The Task protocol every task implements, and the Example record it is given (scores: textrl.scores)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from textrl.errors import ConfigError
from textrl.scores import Score


@dataclass(frozen=True)
class Example:
    id: str  # stable across runs, e.g. "arithmetic/train/00123"
    prompt: str  # raw prompt text (before any chat template)
    answer: Any  # JSON-serialisable reference (number, label, tests...)
    meta: dict = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """See docs/contracts.md. Built-in tasks also offer alphabet() -> str, the sorted characters of
    their prompts and targets, from which the built-in character-level model's tokenizer is made."""

    name: str
    planning_grams: tuple[str, ...]
    stop: tuple[str, ...]
    default_max_tokens: int

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]: ...

    def target(self, example: Example) -> str: ...

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]: ...


def shuffled_split(items: Sequence[Any], seed: int, heldout_size: int, what: str) -> tuple[list, list]:
    """(train, heldout) from one seeded shuffle: disjoint by construction, same seed -> same split.

    The shuffle uses its own Random(seed) so callers' global RNG state never changes the split.
    """
    if not isinstance(heldout_size, int) or isinstance(heldout_size, bool) or heldout_size < 0:
        raise ConfigError(f"task.heldout_size: expected a non-negative integer, got {heldout_size!r}")
    if heldout_size >= len(items):
        raise ConfigError(
            f"task.heldout_size: {heldout_size} leaves no training problems; {what} has only "
            f"{len(items)} problems")
    order = list(items)
    random.Random(seed).shuffle(order)
    return order[heldout_size:], order[:heldout_size]


def check_batch(completions: list[str], examples: list[Example]) -> None:
    if len(completions) != len(examples):
        raise ValueError(f"score(): {len(completions)} completions for {len(examples)} examples")
