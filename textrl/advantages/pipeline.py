"""AdvantagePipeline: the typed, serialisable definition of an arm's advantages, and its batch computation.

    pipeline = AdvantagePipeline.from_config(run_config["advantage"]).resolved(total_steps)
    controller = pipeline.controller()                 # goes into the checkpoint via state_dict()
    advs, metrics = pipeline.compute(rewards, uncertainties, planning_masks, step, controller, correct)

The same code runs for every backend: inputs are plain per-token sequences (lists, numpy or mlx arrays
all work), outputs are float64 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_serializer,
                      model_validator)

from textrl.advantages import episode as ep
from textrl.advantages import shaping
from textrl.advantages.plugins import EpisodeBatch, EpisodePlugin, TokenBatch, TokenPlugin, check_plugin, check_token_plugin
from textrl.advantages.sepa import SepaSchedule
from textrl.errors import ConfigError
from textrl.validation import config_error, field_error


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SepaConfig(Stage):
    """SEPA pooling of execution-token uncertainty; parameters of its lambda schedule (SepaSchedule)."""

    steps: int | None = Field(None, ge=0, description="ramp length; null = the run's total steps")
    delay: int = Field(0, ge=0, description="steps before the ramp starts")
    schedule: Literal["linear", "auto"] = "linear"
    gate: float = Field(0.0, ge=0.0, le=1.0, description="correct rate that opens SEPA (0 = always open)")
    ema_decay: float = Field(0.99, ge=0.0, lt=1.0, description="auto: decay of the variance EMA")
    warmup: int = Field(50, ge=0, description="auto: updates before var_0 is latched")
    threshold: float = Field(0.2, gt=0.0, description="auto: variance ratio at which lambda_auto starts rising")
    max_lambda: float = Field(1.0, ge=0.0, le=1.0, description="lambda the schedule ramps to")


class GtpoConfig(Stage):
    beta: float = Field(0.1, ge=0.0, description="strength of uncertainty weighting (0 = uniform)")


class HicraConfig(Stage):
    alpha: float = Field(0.2, ge=0.0, le=1.0, description="extra credit on planning tokens (<= 1 keeps signs)")


class DynamicSamplingConfig(Stage):
    rounds: int = Field(3, ge=1, le=16, description="extra sampling rounds per step at most (default 3)")


class ReinforceConfig(Stage):
    baseline: Literal["group", "ema"] = "ema"
    decay: float = Field(0.9, ge=0.0, lt=1.0, description="ema baseline: decay per step")
    normalize: bool = Field(False, description="divide advantages by their batch std")


# full = MaxRL -> SEPA -> GTPO -> HICRA (docs/advantages.md); sepa.steps defaults to the run length.
BUILTIN_EPISODES = ("grpo", "maxrl", "reinforce")  # typed stages; every other name is a plug-in

PRESETS: dict[str, dict[str, Any]] = {
    "grpo": {"episode": "grpo", "scale": "none"},
    "full": {
        "episode": "maxrl",
        "sepa": {"schedule": "linear", "delay": 0, "gate": 0.0},
        "gtpo": {"beta": 0.1},
        "hicra": {"alpha": 0.2},
    },
}


def merge(base: dict, overrides: dict) -> dict:
    """Overrides win; a dict override merges into a dict stage of the preset, anything else replaces it."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class PipelineNeeds:
    """What compute() reads, so the trainer can skip work an arm does not use.

    uncertainty: "entropy" / "surprisal" when a stage weights by per-token uncertainty; None when only
        the number of tokens matters (pass any per-token sequence, or the planning masks, for lengths).
    planning_mask: whether planning masks are read (SEPA, HICRA); otherwise pass None.
    correct: whether per-completion correct flags are read (the SEPA gate, plug-ins); otherwise pass None.
    """

    uncertainty: str | None
    planning_mask: bool
    correct: bool


class PipelineController:
    """The stateful part of a pipeline: SEPA schedule and REINFORCE's moving-average baseline."""

    def __init__(self, sepa: SepaSchedule | None = None, baseline: ep.EmaBaseline | None = None,
                 plugin: EpisodePlugin | None = None, token: TokenPlugin | None = None):
        self.sepa = sepa
        self.baseline = baseline
        self.plugin = plugin
        self.token = token

    def state_dict(self) -> dict:
        state = {
            "sepa": self.sepa.state_dict() if self.sepa else None,
            "ema_baseline": self.baseline.state_dict() if self.baseline else None,
        }
        if self.plugin is not None and self.plugin.stateful:
            state["plugin"] = self.plugin.state_dict()
        if self.token is not None and self.token.stateful:
            state["token_plugin"] = self.token.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        stateful_plugin = self.plugin if self.plugin is not None and self.plugin.stateful else None
        stateful_token = self.token if self.token is not None and self.token.stateful else None
        for key, part in (("sepa", self.sepa), ("ema_baseline", self.baseline), ("plugin", stateful_plugin),
                          ("token_plugin", stateful_token)):
            if (state.get(key) is None) != (part is None):
                raise ValueError(f"controller state: {key!r} does not match this pipeline (resuming a different arm?)")
            if part is not None:
                part.load_state_dict(state[key])


class AdvantagePipeline(BaseModel):
    """One arm's advantage definition. Stages run in the order sepa -> gtpo -> hicra; null = off.

    Accepts {"preset": "grpo" | "full", ...overrides}: the preset's fields with the overrides merged
    in (a stage given as a mapping merges into the preset's stage; null or false switches it off).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)

    episode: str = Field("grpo", description="grpo, maxrl, reinforce, a registered plug-in (rloo, reinforce_pp) "
                         "or 'package.module:function' (docs/extending.md)")
    episode_params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of a plug-in episode")
    scale: Literal["none", "group", "batch"] = Field("none", description="grpo: divide by the group/batch std")
    reinforce: ReinforceConfig | None = Field(None, description="episode reinforce: baseline options")
    uncertainty: Literal["entropy", "surprisal"] = "entropy"
    sepa: SepaConfig | None = None
    gtpo: GtpoConfig | None = None
    hicra: HicraConfig | None = None
    grams: tuple[str, ...] = Field((), description="planning phrases added to the task's built-in list")
    token: str | None = Field(None, description="'package.module:function' reshaping the per-token advantages "
                              "after sepa -> gtpo -> hicra (docs/extending.md, 'Token-level plug-ins')")
    token_params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the token plug-in")
    dynamic_sampling: DynamicSamplingConfig | None = Field(
        None, description="DAPO's dynamic sampling: prompt groups whose rewards are all equal are dropped and "
        "replaced by fresh prompts, up to `rounds` extra rounds per step (docs/extending.md)")

    @model_validator(mode="before")
    @classmethod
    def expand_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "preset" not in data:
            return data
        overrides = dict(data)
        name = overrides.pop("preset")
        if name not in PRESETS:
            raise field_error("preset", f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        return merge(PRESETS[name], overrides)

    @model_serializer(mode="wrap")
    def _omit_no_token_plugin(self, handler) -> dict[str, Any]:
        # left out when unset, so resolved pipelines (and run configs) from before these fields are unchanged
        data = handler(self)
        if data.get("token") is None and not data.get("token_params"):
            data.pop("token", None)
            data.pop("token_params", None)
        if data.get("dynamic_sampling") is None:
            data.pop("dynamic_sampling", None)
        return data

    @field_validator("reinforce", "sepa", "gtpo", "hicra", "dynamic_sampling", mode="before")
    @classmethod
    def stage_switch(cls, value: Any) -> Any:
        # YAML-friendly: `hicra: true` = defaults, `hicra: false` = off.
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @field_validator("episode_params")
    @classmethod
    def params_for_plugins(cls, value: dict, info: ValidationInfo) -> dict:
        episode = info.data.get("episode")
        if episode in BUILTIN_EPISODES and value:
            raise ValueError(f"only used with a plug-in episode, got episode {episode!r} (its options are fields)")
        return value

    @model_validator(mode="after")
    def plugin_runs(self) -> "AdvantagePipeline":
        if self.token_params and self.token is None:
            raise field_error("token_params", "is given but no token plug-in is named in token")
        if self.token is not None:
            try:
                check_token_plugin(self.token, self.token_params)
            except ValueError as e:
                raise field_error("token", str(e)) from None
        if self.episode not in BUILTIN_EPISODES:
            try:
                # imported (unknown name, cannot import, no such function) and called once on a synthetic batch
                check_plugin(self.episode, self.episode_params)
            except ValueError as e:
                raise field_error("episode", str(e)) from None
        return self

    @field_validator("scale")
    @classmethod
    def scale_only_for_grpo(cls, value: str, info: ValidationInfo) -> str:
        episode = info.data.get("episode")
        if value != "none" and episode not in (None, "grpo"):
            hint = " (use reinforce.normalize)" if episode == "reinforce" else ""
            raise ValueError(f"applies to episode 'grpo' only, got {value!r} with episode {episode!r}{hint}")
        return value

    @field_validator("reinforce")
    @classmethod
    def reinforce_options(cls, value: ReinforceConfig | None, info: ValidationInfo) -> ReinforceConfig | None:
        episode = info.data.get("episode")
        if episode == "reinforce":
            return value or ReinforceConfig()
        if value is not None and episode is not None:
            raise ValueError(f"only used with episode 'reinforce', got episode {episode!r}")
        return value

    @field_validator("gtpo")
    @classmethod
    def sepa_needs_gtpo(cls, value: GtpoConfig | None, info: ValidationInfo) -> GtpoConfig | None:
        if value is None and info.data.get("sepa") is not None:
            raise ValueError("must be on when sepa is on: SEPA pools the uncertainty that GTPO weights by, "
                             "and alone changes nothing; to ablate GTPO switch both off (gtpo: null, sepa: null)")
        return value

    @field_validator("grams")
    @classmethod
    def grams_not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not g.strip() for g in value):
            raise ValueError("planning phrases must not be empty")
        return value

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict | AdvantagePipeline | None, where: str = "advantage") -> AdvantagePipeline:
        """Validate a run config's `advantage` mapping; errors become one ConfigError naming the field."""
        if isinstance(config, AdvantagePipeline):
            return config
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ConfigError(f"{where}: expected a mapping such as {{preset: grpo}}, got {config!r}")
        try:
            return cls.model_validate(config)
        except ValidationError as e:
            raise config_error(e, cls, prefix=where) from None

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> AdvantagePipeline:
        return cls.from_config({"preset": name, **overrides})

    def resolved(self, total_steps: int | None) -> AdvantagePipeline:
        """A copy with every default filled: sepa.steps = total_steps when the spec left it unset."""
        data = self.model_dump()
        if data["sepa"] is not None and data["sepa"]["steps"] is None:
            if total_steps is None or total_steps < 0:
                raise ConfigError(f"advantage.sepa.steps: not set, and the run length is {total_steps!r}; "
                                  "give sepa.steps or train.steps >= 0")
            data["sepa"]["steps"] = int(total_steps)
        return type(self).from_config(data)

    @property
    def needs(self) -> PipelineNeeds:
        token = self.token is not None  # a token plug-in gets everything
        return PipelineNeeds(
            uncertainty=self.uncertainty if self.gtpo is not None or token else None,
            planning_mask=self.sepa is not None or self.hicra is not None or token,
            correct=(self.sepa is not None and self.sepa.gate > 0.0) or self.episode not in BUILTIN_EPISODES or token,
        )

    def require_uncertainty(self, available: Iterable[str], backend: str) -> None:
        """ConfigError before any compute when the backend cannot provide the uncertainty this arm uses."""
        available = frozenset(available)
        kind = self.needs.uncertainty
        if kind is not None and kind not in available:
            offers = ", ".join(sorted(available)) or "none"
            raise ConfigError(f"advantage.uncertainty: {kind!r} is not available from backend {backend!r} "
                              f"(it offers: {offers})")

    def controller(self) -> PipelineController:
        sepa = None
        if self.sepa is not None:
            if self.sepa.steps is None:
                raise ValueError("AdvantagePipeline.controller: sepa.steps is unset; call resolved(total_steps) first")
            sepa = SepaSchedule(**self.sepa.model_dump())
        baseline = None
        if self.reinforce is not None and self.reinforce.baseline == "ema":
            baseline = ep.EmaBaseline(self.reinforce.decay)
        plugin = EpisodePlugin(self.episode, self.episode_params) if self.episode not in BUILTIN_EPISODES else None
        token = TokenPlugin(self.token, self.token_params) if self.token is not None else None
        return PipelineController(sepa, baseline, plugin, token)

    # --- computation ----------------------------------------------------------------------------------

    def episode_advantages(
        self, rewards: Sequence[Sequence[float]], controller: PipelineController | None,
        correct: Sequence[Sequence[bool]] | None = None, step: int = 0,
        lengths: Sequence[Sequence[int]] | None = None,
    ) -> list[np.ndarray]:
        if self.episode not in BUILTIN_EPISODES:
            groups = [ep.as_rewards(g, self.episode) for g in rewards]
            sizes = None if lengths is None else [np.asarray(n, dtype=np.int64) for n in lengths]
            return controller.plugin(EpisodeBatch(groups, [np.asarray(c, dtype=bool) for c in correct], step, sizes))
        if self.episode == "grpo":
            return ep.grpo_batch(rewards, self.scale)
        if self.episode == "maxrl":
            out = []
            for g, group in enumerate(rewards):
                try:
                    out.append(ep.maxrl(group))
                except ValueError as e:
                    raise ValueError(f"group {g}: {e}") from None
            return out
        return ep.reinforce_batch(rewards, self.reinforce.baseline, self.reinforce.normalize, controller.baseline)

    def compute(
        self,
        rewards: Sequence[Sequence[float]],
        uncertainties: Sequence[Sequence[Sequence[float]]] | None,
        planning_masks: Sequence[Sequence[Sequence[int]]] | None,
        step: int,
        controller: PipelineController,
        correct: Sequence[Sequence[bool]] | None = None,
    ) -> tuple[list[list[np.ndarray]], dict[str, float | None]]:
        """Token-level advantages for a batch of prompt groups, and this step's stage metrics.

        Order within a step (documented because it decides what a resumed run reproduces):
          1. episode advantages per group (an EMA baseline is used, then updated with this batch);
          2. the SEPA gate observes this batch's correct rate, so the batch that first reaches the gate
             is already pooled;
          3. lambda = schedule.lam(step), from the variance EMA of the batches *before* this one;
          4. per completion: SEPA pools H -> H', GTPO weights A_i by H', HICRA boosts planning tokens;
          5. schedule.update(raw H of every execution token in this batch) informs later steps only.

        Returns advs[g][i] (float64, one per token of completion i of group g) and metrics
        {sepa_lambda (None without SEPA), frac_zero_std_groups, adv_abs_mean (over tokens),
        planning_token_frac (None when no planning masks were passed), changed_frac_sepa / _gtpo / _hicra
        (share of tokens whose advantage that stage changed; None when the stage is off)}.
        """
        needs = self.needs
        if needs.uncertainty is not None and uncertainties is None:
            raise ValueError(f"compute: this pipeline weights tokens by {needs.uncertainty}; uncertainties is None")
        if needs.planning_mask and planning_masks is None:
            raise ValueError("compute: this pipeline needs planning masks (sepa/hicra); planning_masks is None")
        if needs.correct and correct is None:
            raise ValueError("compute: the SEPA gate needs the correct flags; correct is None")
        lengths_from = uncertainties if uncertainties is not None else planning_masks
        if lengths_from is None:
            raise ValueError("compute: pass uncertainties or planning masks so advantages can be laid out per token")
        check_batch_shape(rewards, lengths_from, "uncertainties" if uncertainties is not None else "planning_masks")
        if planning_masks is not None and uncertainties is not None:
            check_batch_shape(rewards, planning_masks, "planning_masks")
        if controller is None and (self.sepa is not None or (self.reinforce and self.reinforce.baseline == "ema")
                                   or self.episode not in BUILTIN_EPISODES or self.token is not None):
            raise ValueError("compute: this pipeline is stateful; pass pipeline.controller()")

        # Read and check every completion before any controller state changes, so that a bad input
        # leaves the controller as it was.
        tokens = []  # per completion: (n, planning mask or None, uncertainty or None)
        for g, group in enumerate(lengths_from):
            for i, values in enumerate(group):
                where = f"compute: group {g} completion {i}"
                n = len(values)
                mask = None if planning_masks is None else shaping.as_mask(planning_masks[g][i], n, where)
                h = (shaping.as_uncertainty(uncertainties[g][i], where)
                     if self.gtpo is not None or self.token is not None else None)
                tokens.append((n, mask, h))
        counts = iter(n for n, _, _ in tokens)
        lengths = [[next(counts) for _ in group] for group in lengths_from]
        episode_advs = self.episode_advantages(rewards, controller, correct, step, lengths)

        lam = None
        if self.sepa is not None:
            flags = [bool(c) for group in (correct or ()) for c in group]
            if flags:
                controller.sepa.observe_correct_rate(sum(flags) / len(flags))
            lam = controller.sepa.lam(step)

        advs: list[list[np.ndarray]] = []
        execution_h: list[np.ndarray] = []
        # tokens whose advantage each token-level stage changed (SEPA's change is measured through GTPO:
        # the advantage with pooled uncertainty against the one with raw uncertainty)
        changed = {"sepa": 0, "gtpo": 0, "hicra": 0}
        completions = iter(tokens)
        for group in episode_advs:
            row = []
            for a_i in group:
                n, mask, h = next(completions)
                uniform = np.full(n, a_i, dtype=np.float64)
                if self.gtpo is not None:
                    a = shaping.gtpo(a_i, h, self.gtpo.beta)
                    changed["gtpo"] += _n_changed(uniform, a)
                    if self.sepa is not None:
                        execution_h.append(h[~mask])
                        pooled = shaping.gtpo(a_i, shaping.sepa_pool(h, mask, lam), self.gtpo.beta)
                        changed["sepa"] += _n_changed(a, pooled)
                        a = pooled
                else:
                    a = uniform
                if self.hicra is not None:
                    boosted = shaping.hicra(a, mask, self.hicra.alpha)
                    changed["hicra"] += _n_changed(a, boosted)
                    a = boosted
                row.append(a)
            advs.append(row)

        if self.sepa is not None:
            controller.sepa.update(np.concatenate(execution_h) if execution_h else [])
        if self.token is not None:  # the user's stage sees the built-in stages' result and every token signal
            layout = iter(tokens)
            per_completion = [[next(layout) for _ in group] for group in advs]
            advs = controller.token(TokenBatch(
                advantages=advs, rewards=[np.asarray(r, dtype=np.float64) for r in rewards],
                correct=[np.asarray(c, dtype=bool) for c in correct], step=step,
                uncertainties=[[h for _, _, h in group] for group in per_completion],
                planning_masks=[[m.astype(bool) for _, m, _ in group] for group in per_completion]))

        n_tokens = sum(n for n, _, _ in tokens)
        metrics = {
            "sepa_lambda": lam,
            "frac_zero_std_groups": (
                sum(not ep.has_signal(np.asarray(r, dtype=np.float64)) for r in rewards) / len(rewards)
                if len(rewards) else 0.0
            ),
            "adv_abs_mean": sum(float(np.abs(a).sum()) for row in advs for a in row) / n_tokens if n_tokens else 0.0,
            "planning_token_frac": (
                (sum(int(m.sum()) for _, m, _ in tokens) / n_tokens if n_tokens else 0.0)
                if planning_masks is not None else None
            ),
            **{f"changed_frac_{stage}": (count / n_tokens if n_tokens else 0.0) if getattr(self, stage) is not None
               else None for stage, count in changed.items()},
        }
        return advs, metrics


def _n_changed(before: np.ndarray, after: np.ndarray) -> int:
    return int((~np.isclose(before, after, rtol=1e-9, atol=1e-12)).sum())


def check_batch_shape(rewards: Sequence[Sequence[float]], per_token: Sequence, name: str) -> None:
    if len(per_token) != len(rewards):
        raise ValueError(f"compute: {len(rewards)} reward groups but {len(per_token)} groups of {name}")
    for g, (r, t) in enumerate(zip(rewards, per_token)):
        if len(t) != len(r):
            raise ValueError(f"compute: group {g} has {len(r)} rewards but {len(t)} completions in {name}")
