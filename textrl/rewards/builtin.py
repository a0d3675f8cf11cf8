"""Text rewards from the RLVR cookbook: exact_match, keyword_contains, length_penalty, format_compliance."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Sequence

from textrl.errors import ConfigError
from textrl.rewards.registry import field_of, reward


def example_value(example: Any, key: str) -> Any:
    """`key` of the example (tasks.Example attribute or dict key), else of its `meta`; None if absent."""
    value = field_of(example, key)
    return value if value is not None else (field_of(example, "meta") or {}).get(key)


def reference(example: Any, key: str = "answer") -> Any:
    """The reference answer: `answer`, or the RLVR cookbook's `expected_answer`, also under `meta`."""
    for k in (key, "expected_answer"):
        value = example_value(example, k)
        if value is not None:
            return value
    raise ConfigError(f"no reference answer: the example has no {key!r} field (got {example!r}); "
                      f"pass answer=... or score examples that carry one")


@reward(bounds=(0.0, 1.0))
def exact_match(prompt: str, completion: str, example: Any = None, *, answer: Any = None,
                case_sensitive: bool = True, **_) -> dict:
    """1.0 when the completion, stripped of surrounding whitespace, equals the reference."""
    ref = str(answer if answer is not None else reference(example)).strip()
    got = completion.strip()
    ok = got == ref if case_sensitive else got.casefold() == ref.casefold()
    return {"reward": float(ok), "correct": ok}


@reward(bounds=(0.0, 1.0))
def keyword_contains(prompt: str, completion: str, example: Any = None, *,
                     keywords: Sequence[str] | None = None, mode: str = "fraction",
                     case_sensitive: bool = False, **_) -> float:
    """Fraction of `keywords` present (mode "fraction"), or 1.0/0.0 for mode "any" / "all"."""
    keywords = keywords if keywords is not None else example_value(example, "keywords")
    if not keywords or isinstance(keywords, str):
        raise ConfigError(f"keyword_contains: expected keywords=[...] (a non-empty list), got {keywords!r}")
    text = completion if case_sensitive else completion.casefold()
    found = [(k if case_sensitive else k.casefold()) in text for k in keywords]
    if mode == "fraction":
        return sum(found) / len(found)
    if mode in ("any", "all"):
        return float(any(found) if mode == "any" else all(found))
    raise ConfigError(f"keyword_contains: mode must be 'fraction', 'any' or 'all', got {mode!r}")


@reward(bounds=(None, 0.0))
def length_penalty(prompt: str, completion: str, example: Any = None, *, target_length: int = 100,
                   penalty_scale: float = 0.01, unit: str = "words", **_) -> float:
    """-penalty_scale * |length - target_length| (0 at the target; never positive)."""
    if unit == "words":
        length = len(completion.split())
    elif unit == "chars":
        length = len(completion)
    else:
        raise ConfigError(f"length_penalty: unit must be 'words' or 'chars', got {unit!r}")
    return -float(penalty_scale) * abs(length - int(target_length))


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as err:
        raise ConfigError(f"format_compliance: invalid regex {pattern!r}: {err}") from None


@reward
def format_compliance(prompt: str, completion: str, example: Any = None, *,
                      patterns: Sequence[str] | None = None, mode: str = "fraction", **_) -> float:
    """Fraction of regex `patterns` found in the completion (multiline), or all/any as 1.0/0.0."""
    if not patterns or isinstance(patterns, str):
        raise ConfigError(f"format_compliance: expected patterns=[regex, ...] (a non-empty list), got {patterns!r}")
    hits = [_compile(p).search(completion) is not None for p in patterns]
    if mode == "fraction":
        return sum(hits) / len(hits)
    if mode in ("any", "all"):
        return float(any(hits) if mode == "any" else all(hits))
    raise ConfigError(f"format_compliance: mode must be 'fraction', 'any' or 'all', got {mode!r}")
