"""Episode-level advantage plug-ins: registered names, or any `package.module:function` of a user's.

The protocol (docs/extending.md): a plug-in is called once per training step with an EpisodeBatch and
returns one advantage per completion, per group (the token-level stages, if any, spread it over the
completion's tokens as for the built-ins). It is pure Python/numpy: the MLX and the Tinker backends
call the same code on the same numbers. Either

- a function `fn(batch, **params) -> list of per-group sequences`, or
- a class: `cls(**params)` once per run, then `instance(batch)` each step; a stateful one (a schedule,
  a running mean) also defines `state_dict() -> dict` (JSON-serialisable) and `load_state_dict(dict)`,
  and the trainer checkpoints that state so that a resumed run continues exactly.

A `module:function` is imported with the current directory on sys.path, so `mymod.py` beside the place
where `snakemake` or `textrl` runs is found without PYTHONPATH.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from textrl.user_code import import_user_module, not_user_code

REGISTRY: dict[str, Callable] = {}


@dataclass(frozen=True)
class EpisodeBatch:
    """One step's rewards: rewards[g][i] and correct[g][i] for completion i of prompt group g, and
    lengths[g][i], its number of generated tokens (None where the caller has no completions)."""

    rewards: list[np.ndarray]
    correct: list[np.ndarray]
    step: int
    lengths: list[np.ndarray] | None = None


def register_advantage(name: str):
    """Decorator: make a plug-in available as `advantage: {episode: NAME}`."""
    def wrap(fn):
        REGISTRY[name] = fn
        return fn
    return wrap


def resolve(target: str) -> Callable:
    """The plug-in for a registered name or `package.module:attribute`; ValueError says what is wrong."""
    if target in REGISTRY:
        return REGISTRY[target]
    if ":" not in target:
        known = ", ".join(["grpo", "maxrl", "reinforce", *sorted(REGISTRY)])
        raise ValueError(f"unknown advantage {target!r}; use one of {known}, or 'package.module:function'")
    module_name, _, attr = target.partition(":")
    if why := not_user_code(module_name):
        raise ValueError(f"{target!r}: {why}")
    try:
        module = import_user_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure while importing the user's module is reported
        raise ValueError(f"cannot import module {module_name!r} for {target!r} ({type(e).__name__}: {e}); "
                         "put it in the directory you run from, or install it") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{target!r}: module {module_name!r} has no function or class {attr!r}")
    return fn


class EpisodePlugin:
    """One run's instance of a plug-in: bound params, its state, and the output checks."""

    def __init__(self, target: str, params: dict):
        self.target = target
        fn = resolve(target)
        try:
            if inspect.isclass(fn):
                self._call = fn(**params)
            else:
                inspect.signature(fn).bind(None, **params)
                self._call = lambda batch: fn(batch, **params)
        except TypeError as e:
            raise ValueError(f"{target!r} does not accept params {params!r}: {e}") from None
        self.stateful = callable(getattr(self._call, "state_dict", None))

    def __call__(self, batch: EpisodeBatch) -> list[np.ndarray]:
        out = self._call(batch)
        if not isinstance(out, (Sequence, np.ndarray)) or len(out) != len(batch.rewards):
            raise ValueError(f"{self.target!r} returned {type(out).__name__} of length "
                             f"{len(out) if hasattr(out, '__len__') else '?'}; expected one sequence per group "
                             f"({len(batch.rewards)} groups)")
        return [self._checked(a, r, f"group {g}", "completions") for g, (a, r) in enumerate(zip(out, batch.rewards))]

    def _checked(self, values, like: np.ndarray, where: str, unit: str) -> np.ndarray:
        """values as float64, shaped like `like` and finite, or ValueError naming the plug-in and the place."""
        a = np.asarray(values, dtype=np.float64)
        if a.shape != like.shape:
            raise ValueError(f"{self.target!r}: {where} has {like.size} {unit} but {a.size} advantages")
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise ValueError(f"{self.target!r}: {where} advantage[{bad[0]}] = {a[bad[0]]} is not finite")
        return a

    def state_dict(self) -> dict | None:
        return self._call.state_dict() if self.stateful else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.stateful:
            self._call.load_state_dict(state)


# A batch the plan-time check calls every plug-in with: groups of different sizes, ties, all-equal groups.
SYNTHETIC = EpisodeBatch(
    rewards=[np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.0, 0.5, 1.0])],
    correct=[np.array([False, True, False, True]), np.array([True] * 4), np.array([False, False, True])],
    step=1,
    lengths=[np.array([1, 7, 30, 64]), np.array([2, 2, 2, 2]), np.array([64, 5, 40])],
)


def check_plugin(target: str, params: dict, kind: type[EpisodePlugin] = EpisodePlugin, batch=None) -> None:
    """Import and call the plug-in once on a synthetic batch (a fresh instance): ValueError before any compute."""
    plugin = kind(target, params)
    try:
        plugin(SYNTHETIC if batch is None else batch)
    except ValueError:
        raise  # already names the plug-in and what is wrong
    except Exception as e:  # noqa: BLE001 - a crash in user code is reported with its type, at plan time
        raise ValueError(f"{target!r} failed on a synthetic batch: {type(e).__name__}: {e}") from None
    if plugin.stateful:
        try:
            json.dumps(plugin.state_dict())
        except TypeError as e:
            raise ValueError(f"{target!r}: state_dict() must return JSON-serialisable values ({e})") from None


@dataclass(frozen=True)
class TokenBatch:
    """One step at token level, for a plug-in that shapes per-token advantages (`advantage.token`). [g][i] is
    completion i of prompt group g; every per-token array has one value per generated token."""

    advantages: list[list[np.ndarray]]      # after the episode stage and sepa -> gtpo -> hicra
    rewards: list[np.ndarray]
    correct: list[np.ndarray]
    uncertainties: list[list[np.ndarray]]   # per-token entropy (or surprisal: advantage.uncertainty)
    planning_masks: list[list[np.ndarray]]  # per-token bool: inside a planning phrase
    step: int


class TokenPlugin(EpisodePlugin):
    """A token-level plug-in: the same loading, params and state as an episode plug-in; other output checks."""

    def __call__(self, batch: TokenBatch) -> list[list[np.ndarray]]:
        out = self._call(batch)
        if not isinstance(out, (Sequence, np.ndarray)) or len(out) != len(batch.advantages):
            raise ValueError(f"{self.target!r} returned {type(out).__name__} of length "
                             f"{len(out) if hasattr(out, '__len__') else '?'}; expected one list per group "
                             f"({len(batch.advantages)} groups)")
        advs = []
        for g, (group, given) in enumerate(zip(out, batch.advantages)):
            if not isinstance(group, (Sequence, np.ndarray)) or len(group) != len(given):
                raise ValueError(f"{self.target!r}: group {g} has {len(given)} completions but "
                                 f"{len(group) if hasattr(group, '__len__') else '?'} advantage arrays")
            advs.append([self._checked(a, ref, f"group {g} completion {i}", "tokens")
                         for i, (a, ref) in enumerate(zip(group, given))])
        return advs


def _synthetic_tokens() -> TokenBatch:
    lengths = [[3, 1, 4, 2], [2, 2, 2, 2], [5, 1, 3]]
    rng = np.random.default_rng(0)
    episode = [np.array([-1.0, 1.0, -1.0, 1.0]), np.zeros(4), np.array([-1.0, 0.0, 1.0])]
    return TokenBatch(
        advantages=[[np.full(n, a) for n, a in zip(ls, e)] for ls, e in zip(lengths, episode)],
        rewards=list(SYNTHETIC.rewards), correct=list(SYNTHETIC.correct),
        uncertainties=[[rng.uniform(0.1, 2.0, n) for n in ls] for ls in lengths],
        planning_masks=[[np.arange(n) < 1 for n in ls] for ls in lengths], step=1)


def check_token_plugin(target: str, params: dict) -> None:
    """check_plugin for a token-level plug-in: completions of 1 to 5 tokens, one all-equal group."""
    check_plugin(target, params, TokenPlugin, _synthetic_tokens())


# --- widely compared estimators, written exactly as a user would write theirs ------------------------


@register_advantage("rloo")
def rloo(batch: EpisodeBatch) -> list[np.ndarray]:
    """RLOO (Ahmadian et al. 2024): A_i = r_i - mean of the other G-1 rewards of the group = G/(G-1) (r_i - mean).
    A group of one completion has no baseline: advantage 0."""
    out = []
    for r in batch.rewards:
        g = r.size
        out.append(np.zeros_like(r) if g < 2 else (r - r.mean()) * g / (g - 1))
    return out


@register_advantage("reinforce_pp")
def reinforce_pp(batch: EpisodeBatch, eps: float = 1e-8) -> list[np.ndarray]:
    """REINFORCE++ with a group baseline (Hu et al. 2025): A_i = r_i - mean(group), then divided by the
    std of those differences over the whole batch (global normalisation, not per group)."""
    centred = [r - r.mean() for r in batch.rewards]
    flat = np.concatenate(centred) if centred else np.zeros(0)
    std = float(flat.std()) if flat.size else 0.0
    return [c / (std + eps) if std > 0 else np.zeros_like(c) for c in centred]


@register_advantage("dapo_overlong")
def dapo_overlong(batch: EpisodeBatch, max_tokens: int, cache: int, penalty: float = 1.0) -> list[np.ndarray]:
    """DAPO's overlong reward shaping (Yu et al. 2025), then GRPO's group centring and scaling: a
    completion of L tokens keeps its reward up to max_tokens - cache tokens, then loses penalty * (L -
    (max_tokens - cache)) / cache, the whole penalty at max_tokens (where sampling cut it off). max_tokens
    must be the run's sampling.max_tokens (the run config checks it)."""
    if not (isinstance(max_tokens, int) and isinstance(cache, int) and 0 < cache < max_tokens):
        raise ValueError(f"dapo_overlong: expected integers 0 < cache < max_tokens, got cache={cache!r}, "
                         f"max_tokens={max_tokens!r}")
    if batch.lengths is None:
        raise ValueError("dapo_overlong: needs the completions' lengths (EpisodeBatch.lengths)")
    out = []
    for r, n in zip(batch.rewards, batch.lengths):
        over = np.clip(np.asarray(n, dtype=np.float64) - (max_tokens - cache), 0.0, cache)
        shaped = r - penalty * over / cache
        std = shaped.std()
        out.append((shaped - shaped.mean()) / std if std > 0 else np.zeros_like(shaped))
    return out


__all__ = ["REGISTRY", "EpisodeBatch", "EpisodePlugin", "check_plugin", "register_advantage", "resolve"]
