"""The @reward / @verifier registry and the checks applied to every value a reward returns.

A reward is `fn(prompt, completion, example, **kwargs) -> float | {"reward": float, "correct": bool}`;
a verifier is the same signature returning a bool (pass/fail), worth 1.0 / 0.0 alone or as a weighted
term, or used as a gate in `combine` (a failure sets the whole reward to `gate_reward`). `example` is a `textrl.tasks.Example` or a plain dict.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, NamedTuple

from textrl.errors import ConfigError
from textrl.user_code import import_user_module, not_user_code

Parallel = Literal[None, "process", "thread"]


@dataclass(frozen=True)
class RewardSpec:
    name: str
    fn: Callable[..., Any]
    kind: Literal["reward", "verifier"] = "reward"
    # how score_batch runs it: inline; "process" for slow CPU-bound Python; "thread" for rewards
    # that wait on their own child processes (code execution), where a thread per call is enough
    parallel: Parallel = None
    # (lowest, highest) value it can return, None where unbounded or undeclared: lets a campaign refuse,
    # before compute, an advantage that needs non-negative rewards (MaxRL) next to one that can go negative
    bounds: tuple[float | None, float | None] = (None, None)


_REGISTRY: dict[str, RewardSpec] = {}


class RewardError(RuntimeError):
    """A reward raised, or returned something that is not a finite number, while scoring. Not a
    ConfigError: it happens mid-training inside someone's code, and its traceback (the reward's own
    exception is chained) is what finds the bug."""


def _register(fn: Callable, name: str | None, kind: str, parallel: Parallel, bounds=(None, None)) -> Callable:
    if not callable(fn):
        raise ConfigError(f"@{kind}: expected a function, got {fn!r}")
    if parallel not in (None, "process", "thread"):
        raise ConfigError(f"@{kind}(parallel=...): expected None, 'process' or 'thread', got {parallel!r}")
    key = name or fn.__name__
    old = _REGISTRY.get(key)
    # re-running a module or notebook cell redefines the same function: allow that, not a clash
    if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ConfigError(f"reward name {key!r} is already registered by "
                          f"{old.fn.__module__}.{old.fn.__qualname__}")
    _REGISTRY[key] = RewardSpec(key, fn, kind, parallel, tuple(bounds))  # type: ignore[arg-type]
    return fn


def reward(fn: Callable | None = None, *, name: str | None = None, parallel: Parallel = None,
           bounds: tuple[float | None, float | None] = (None, None)):
    """Register a reward function; use bare (`@reward`) or with options (`@reward(name="x", bounds=(0, 1))`).

    The function itself is returned unchanged, so it stays directly callable and picklable.
    """
    if fn is not None:
        return _register(fn, name, "reward", parallel, bounds)
    return lambda f: _register(f, name, "reward", parallel, bounds)


def verifier(fn: Callable | None = None, *, name: str | None = None, parallel: Parallel = None):
    """Register a pass/fail check returning bool; as a reward it is worth 1.0 (pass) or 0.0."""
    if fn is not None:
        return _register(fn, name, "verifier", parallel, (0.0, 1.0))
    return lambda f: _register(f, name, "verifier", parallel, (0.0, 1.0))


def known_rewards() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> RewardSpec:
    """A registered reward, or a user's `module:function` (imported from the working directory or an installed
    package; a function decorated with @reward keeps its declared bounds)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        pass
    if isinstance(name, str) and ":" in name:
        return _user_reward(name)
    raise ConfigError(f"unknown reward {name!r}; known rewards: {', '.join(known_rewards())}, or "
                      "'module:function' for your own")


def _user_reward(target: str) -> RewardSpec:
    module_name, _, attr = target.partition(":")
    if why := not_user_code(module_name):
        raise ConfigError(f"reward {target!r}: {why}")
    try:
        module = import_user_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure while importing the user's module is reported
        raise ConfigError(f"reward {target!r}: cannot import module {module_name!r} ({type(e).__name__}: {e}); put it "
                          "in the directory you run from, or install it") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"reward {target!r}: module {module_name!r} has no function {attr!r}")
    declared = next((spec for spec in _REGISTRY.values() if spec.fn is fn), None)
    bounds = declared.bounds if declared else (None, None)
    parallel = declared.parallel if declared else None
    _REGISTRY[target] = RewardSpec(target, fn, declared.kind if declared else "reward", parallel, bounds)
    return _REGISTRY[target]


@dataclass(frozen=True)
class BoundReward:
    """A registered reward with its keyword parameters fixed (picklable: name + params)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> RewardSpec:
        return get_spec(self.name)

    def __call__(self, prompt: str, completion: str, example: Any = None, **kwargs) -> Any:
        return self.spec.fn(prompt, completion, example, **{**self.params, **kwargs})


def get_reward(name: str, **params) -> BoundReward:
    """The reward registered as `name`, with `params` passed to every call (e.g. keywords=[...])."""
    get_spec(name)  # fail now, naming the known rewards, not at the first call
    return BoundReward(name, dict(params))


resolve_reward = get_reward  # the name the RLVR cookbook uses


class Outcome(NamedTuple):
    value: float
    correct: bool | None  # None: the reward says nothing about correctness


def _short(text: Any, limit: int = 120) -> str:
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def check_value(result: Any, *, reward_name: str, prompt_id: Any, completion: str) -> Outcome:
    """Validate what a reward returned; anything but a finite number (or the dict form) is an error."""
    where = f"reward {reward_name!r} (prompt id {prompt_id}, completion {_short(completion)})"
    correct = None
    value = result
    if isinstance(result, dict):
        if "reward" not in result:
            raise RewardError(f"{where} returned a dict without a 'reward' key: {_short(result)}")
        value = result["reward"]
        correct = result.get("correct")
        if correct is not None and not isinstance(correct, (bool, numbers.Integral)):
            raise RewardError(f"{where} returned 'correct' = {_short(correct)}; expected a bool")
        correct = None if correct is None else bool(correct)
    elif isinstance(result, bool):
        correct = result
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, numbers.Real):
        raise RewardError(f"{where} returned {type(value).__name__} {_short(value)}; expected a finite "
                          f"number or {{'reward': float, 'correct': bool}}")
    value = float(value)
    if not math.isfinite(value):
        raise RewardError(f"{where} returned non-finite value {value}")
    return Outcome(value, correct)


def field_of(example: Any, key: str, default: Any = None) -> Any:
    """`key` of a tasks.Example (attribute) or of a plain dict example."""
    if isinstance(example, Mapping):
        return example.get(key, default)
    return getattr(example, key, default)


def call_checked(name: str, fn: Callable[[str, str, Any], Any], prompt: str, completion: str, example: Any,
                 prompt_id: Any, kind: str = "reward") -> Outcome:
    """Run one reward; an exception inside it becomes a RewardError naming the reward and prompt."""
    try:
        result = fn(prompt, completion, example)
    except RewardError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of user code is reported, never a silent 0
        raise RewardError(f"reward {name!r} raised {type(err).__name__}: {err} "
                          f"(prompt id {prompt_id}, completion {_short(completion)})") from err
    if kind == "verifier" and not isinstance(result, bool):
        raise RewardError(f"verifier {name!r} returned {type(result).__name__} {_short(result)}; expected "
                          f"True or False (prompt id {prompt_id}, completion {_short(completion)})")
    return check_value(result, reward_name=name, prompt_id=prompt_id, completion=completion)
