"""Several rewards as one objective: a weighted sum that keeps every component's raw value."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from textrl.errors import ConfigError
from textrl.rewards.registry import BoundReward, Outcome, call_checked, field_of, get_reward, get_spec
from textrl.scores import Score, make_score


@dataclass(frozen=True)
class Combined:
    """total = sum(weight * value); a failed gate sets total to `gate_reward` and correct to False.

    `correct` is the AND of the components that report correctness (dict results, verifiers);
    when none does, a completion is correct when its total is positive.
    """

    weights: dict[str, float]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    gates: tuple[str, ...] = ()
    gate_reward: float = 0.0

    def components(self) -> dict[str, BoundReward]:
        names = list(self.weights) + [g for g in self.gates if g not in self.weights]
        return {n: get_reward(n, **self.params.get(n, {})) for n in names}

    def total(self, outcomes: Mapping[str, Outcome]) -> Score:
        components = {n: o.value for n, o in outcomes.items()}
        if any(outcomes[g].value <= 0 for g in self.gates):
            return make_score(self.gate_reward, False, components)
        value = sum(w * outcomes[n].value for n, w in self.weights.items())
        flags = [o.correct for o in outcomes.values() if o.correct is not None]
        correct = all(flags) if flags else value > 0
        return make_score(value, correct, components)

    def __call__(self, prompt: str, completion: str, example: Any = None) -> Score:
        pid = field_of(example, "id")
        return self.total({n: call_checked(n, b, prompt, completion, example, pid, b.spec.kind)
                           for n, b in self.components().items()})


def combine(weights: Mapping[str, float], *, params: Mapping[str, Mapping[str, Any]] | None = None,
            gates: Iterable[str] = (), gate_reward: float = 0.0) -> Combined:
    """Combine registered rewards, e.g. combine({"math_correctness": 1.0, "length_penalty": 0.1},
    params={"length_penalty": {"target_length": 200}}, gates=["format_compliance"])."""
    if not isinstance(weights, Mapping) or not weights:
        raise ConfigError(f"combine(): expected a non-empty mapping {{reward name: weight}}, got {weights!r}")
    clean = {}
    for name, w in weights.items():
        get_spec(name)
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
            raise ConfigError(f"combine(): weight of reward {name!r} must be a finite number, got {w!r}")
        clean[name] = float(w)
    params = {k: dict(v) for k, v in (params or {}).items()}
    gates = tuple(gates)
    for name in list(params) + list(gates):
        get_spec(name)
    stray = set(params) - set(clean) - set(gates)
    if stray:
        raise ConfigError(f"combine(): params given for {sorted(stray)}, which are neither weighted nor gates")
    return Combined(clean, params, gates, float(gate_reward))


RewardLike = str | BoundReward | Combined | Mapping | Callable


def as_combined(reward: RewardLike) -> Combined | tuple[str, Callable]:
    """Normalise what users pass to score_batch: a name, a bound reward, a weight mapping, a Combined,
    or a plain (unregistered) function, which is returned as (label, function)."""
    if isinstance(reward, Combined):
        return reward
    if isinstance(reward, str):
        return combine({reward: 1.0})
    if isinstance(reward, BoundReward):
        return combine({reward.name: 1.0}, params={reward.name: reward.params})
    if isinstance(reward, Mapping):
        return combine(reward)
    if callable(reward):
        name = getattr(reward, "__name__", type(reward).__name__)
        try:
            if get_spec(name).fn is reward:
                return combine({name: 1.0})
        except ConfigError:
            pass
        return (name, reward)
    raise ConfigError(f"expected a reward name, get_reward(...), combine(...) or a function, got {reward!r}")
