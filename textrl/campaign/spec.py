"""The campaign spec (campaigns/*.yaml): what to compare, how each run trains, how the result is judged.

`load_spec` validates a YAML file or dict and turns every mistake into one `ConfigError` naming the file
and the field (e.g. `arms[1].lr`), before anything is expanded or run. Sections that a run config already
defines (task, model, evaluation, wandb, tinker) reuse the `textrl.config` models, so a default is written
once. Importing this module does not import mlx.
"""

from __future__ import annotations

import os
import re
import typing
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from textrl.config import (
    MAX_GROUP_SIZE,
    MAX_NEW_TOKENS,
    MAX_PROMPTS_PER_STEP,
    TINY_MODEL,
    EvalConfig,
    LoraConfig,
    LossConfig,
    ModelConfig,
    TaskConfig,
    TinkerConfig,
    WandbConfig,
)
from textrl.endpoints import ENDPOINTS, TRAINING_ENDPOINTS
from textrl.errors import ConfigError
from textrl.validation import config_error, field_error, message

PosInt = typing.Annotated[int, Field(gt=0)]
PosFloat = typing.Annotated[float, Field(gt=0)]
FROM_SWEEP = "from_sweep"
SWEEP_METRICS = TRAINING_ENDPOINTS  # textrl.endpoints says why
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")  # fullmatch: "$" would let a trailing newline through
MAX_SEEDS = 10_000


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _seed_list(value: Any, field: str, first: int = 0) -> Any:
    """A count n means seeds first..first+n-1; a list is taken as given."""
    if isinstance(value, bool):
        raise ValueError(f"expected a positive count or a non-empty list of integer seeds, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"expected a positive count or a non-empty list of integer seeds, got {value!r}")
        if value > MAX_SEEDS:  # before the list is built: 10^9 seeds once took 7 GB to refuse
            raise ValueError(f"expected at most {MAX_SEEDS:,} seeds, got {value:,}")
        return list(range(first, first + value))
    if isinstance(value, list):
        if not value:
            raise ValueError("expected at least one seed, got an empty list")
        if len(value) > MAX_SEEDS:
            raise ValueError(f"expected at most {MAX_SEEDS:,} seeds, got {len(value):,}")
        if any(isinstance(s, bool) or not isinstance(s, int) for s in value):
            raise ValueError(f"expected integer seeds, got {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct, got {value!r}")
        return value
    raise ValueError(f"expected a positive count or a non-empty list of integer seeds, got {value!r}")


class ArmSpec(_Section):
    name: str = Field(description="Arm name: letters, digits, '_' or '.'; the run id prefix and W&B job_type (required).")
    advantage: dict[str, Any] = Field(
        description="Advantage pipeline: {preset: grpo | full | ...} plus overrides of the preset's fields "
        "(`textrl pipelines` lists them) (required)."
    )
    lr: Union[float, list[float], str] = Field(
        3.0e-5,
        description="Learning rate: a number, a list (one run per lr; run ids get -lr<value>), or "
        "'from_sweep' (picked by the sweep phase) (default 3e-5).",
    )
    loss: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the policy loss for this arm: kind, eps_low, eps_high, aggregation, kl_coef, "
        "entropy_coef, epochs, target_kl (default {}: textrl's loss defaults, kl_coef from training).",
    )
    control: Optional[Literal["bernoulli"]] = Field(
        None,
        description="bernoulli: a negative control arm: its rewards are seeded Bernoulli draws at the base model's "
        "held-out success rate (same compute, no signal); reported under 'Did the arms learn?', never a "
        "default candidate (default null).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(f"expected letters, digits, '_' or '.' (it becomes part of run ids), got {v!r}")
        return v

    @field_validator("advantage")
    @classmethod
    def _advantage(cls, v: dict) -> dict:
        if "preset" not in v and "episode" not in v:
            raise ValueError("expected a mapping with a 'preset' or an 'episode' (e.g. {preset: grpo} or "
                             f"{{episode: rloo}}), got {v!r}")
        return v

    @field_validator("lr", mode="before")
    @classmethod
    def _lr(cls, v: Any) -> Any:
        def positive(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < float("inf")

        if v == FROM_SWEEP or positive(v):
            return v
        if isinstance(v, list) and v and all(positive(x) for x in v):
            if len(set(v)) != len(v):
                raise ValueError(f"learning rates must be distinct, got {v!r}")
            return v
        raise ValueError(f"expected a positive number, a non-empty list of positive numbers, or 'from_sweep', got {v!r}")

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: dict) -> dict:
        try:
            LossConfig.model_validate(v)
        except ValidationError as e:
            raise ValueError(message(e.errors()[0], LossConfig)) from None
        return v

    @property
    def lrs(self) -> list[float | str]:
        return self.lr if isinstance(self.lr, list) else [self.lr]


class SeedStages(_Section):
    per_stage: typing.Annotated[int, Field(ge=2)] = Field(
        description="Seeds per arm (and group size) in each stage; stage k trains seeds (k-1)*per_stage .. "
        "k*per_stage-1 (required, >= 2).")
    max_stages: typing.Annotated[int, Field(ge=2, le=20)] = Field(
        description="Stages at most: a comparison still open after the last one is reported undecided (required, 2 to 20).")

    @property
    def seeds(self) -> list[int]:
        return list(range(self.per_stage * self.max_stages))

    def stage_of(self, seed: int) -> int:
        return seed // self.per_stage + 1


class SequentialSpec(_Section):
    method: Literal["adastop"] = Field(
        "adastop", description="adastop: AdaStop's group-sequential permutation test, two-sided, step-down over the "
        "family (docs/statistics.md) (default adastop).")
    spending: Literal["pocock", "linear", "obrien_fleming"] = Field(
        "pocock", description="How alpha is spent over the stages: pocock (Lan-DeMets Pocock type, stops early "
        "most often), linear (AdaStop's own), obrien_fleming (keeps most of alpha for the last stage) (default pocock).")
    futility: float = Field(
        0.0, ge=0, lt=0.5, description="Level spent on stopping a comparison early as futile, when its difference is "
        "closer to zero than this share of the permutation distribution (AdaStop's beta); never affects the error "
        "rate of 'better'/'worse' (default 0: no futility stops).")
    n_permutations: typing.Annotated[int, Field(ge=1000, le=1_000_000)] = Field(
        10_000, description="Permutation paths of the null distribution (default 10000).")
    seed: int = Field(0, ge=0, description="Seed of the permutation paths: every interim is reproducible from the files (default 0).")


class TrainingSpec(_Section):
    steps: PosInt = Field(300, description="RL steps per run (default 300).")
    prompts_per_step: typing.Annotated[int, Field(gt=0, le=MAX_PROMPTS_PER_STEP)] = Field(
        8, description=f"Prompts per step, B (default 8; at most {MAX_PROMPTS_PER_STEP:,}).")
    max_tokens: typing.Annotated[int, Field(gt=0, le=MAX_NEW_TOKENS)] = Field(
        8, description=f"Maximum new tokens per completion (default 8; at most {MAX_NEW_TOKENS:,}).")
    temperature: PosFloat = Field(1.0, description="Sampling temperature of rollouts (default 1.0).")
    top_p: typing.Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="Nucleus mass of rollouts (default 1.0).")
    stop: list[str] = Field(default_factory=list, description="Extra stop strings besides EOS and the task's own (default []).")
    lora: Optional[LoraConfig] = Field(None, description="LoRA {rank, scale, layers}, or null for full fine-tuning (default null).")
    kl_coef: float = Field(0.0, ge=0, description="k3 KL penalty to the starting policy for every arm; an arm's loss.kl_coef overrides it (default 0).")
    checkpoint_every: PosInt = Field(50, description="Resumable checkpoint every N steps and at the end (default 50).")
    lr_schedule: Literal["constant", "warmup"] = Field("constant", description="constant or warmup (default constant).")
    warmup_steps: int = Field(0, ge=0, description="Warm-up steps when lr_schedule is warmup (default 0).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay (default 0).")
    grad_clip: Optional[PosFloat] = Field(1.0, description="Gradient-norm clip, null disables (default 1.0).")
    log_generations: bool = Field(True, description="Write every completion to generations.jsonl.gz (default true).")


class AnalysisSpec(_Section):
    baseline: Optional[str] = Field(None, description="Baseline arm (default null: the first arm).")
    candidates: Optional[Union[str, list[str]]] = Field(
        None, validation_alias=AliasChoices("candidates", "candidate"),
        description="Candidate arms, each compared with the baseline at every group size: an arm name or a list "
        "(`candidate:` is accepted too; default null: every arm except the baseline).",
    )
    comparisons: Literal["baseline", "all_pairs"] = Field(
        "baseline", description="baseline: every candidate against the baseline at each group size; all_pairs: every "
        "pair of the baseline and the candidates (e.g. two new ideas against each other too), all in one corrected "
        "family (default baseline).")
    primary: Literal[ENDPOINTS] = Field("avg_at_k", description="Primary endpoint, one number per run (default avg_at_k).")
    secondary: list[Literal[ENDPOINTS]] = Field(
        default_factory=lambda: ["reward_auc", "final_reward"],
        description="Secondary endpoints, reported without multiplicity claims (default [reward_auc, final_reward]).",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise significance level (default 0.05).")
    equivalence_margin: Optional[PosFloat] = Field(
        None, description="Differences within +/- this margin count as equivalent: each comparison also gets a "
        "TOST test, corrected over the family like the primary tests, and a verdict of 'equivalent' only when it "
        "rejects (default null: no equivalence claims).")
    paired: bool = Field(False, description="Pair runs by seed (paired t) instead of Welch; decide before running (default false).")
    primary_test: Literal["welch", "permutation"] = Field(
        "welch", description="welch: Welch's t (paired t when paired); permutation: the exact permutation test of the "
        "difference of means decides, for skewed or heavy-tailed scores with similar spreads (docs/statistics.md) "
        "(default welch).")
    correction: Literal["holm", "bonferroni", "none"] = Field(
        "holm", description="Multiplicity correction across group sizes (default holm)."
    )
    effect_of_interest: Optional[PosFloat] = Field(
        0.05, description="Smallest difference in the primary endpoint worth detecting, for seeds-needed figures (default 0.05)."
    )
    sequential: Optional[SequentialSpec] = Field(
        None, description="Settings of the sequential test when seeds is {per_stage, max_stages} (default null: "
        "the defaults of each field then).")
    aa_check: bool = Field(True, description="Report an A/A comparison of the baseline's seeds split in halves: the test should not fire (default true).")


class SweepSpec(_Section):
    lrs: list[PosFloat] = Field(description="Learning rates to probe for arms with lr: from_sweep (required, non-empty).")
    probe_steps: PosInt = Field(50, description="Steps of each probe run (default 50).")
    probe_seeds: Union[int, list[int]] = Field(
        1, validate_default=True, description="Probe seeds: a count n (seeds 1000..1000+n-1, disjoint from the A/B seeds) or a list (default 1)."
    )
    metric: Literal[SWEEP_METRICS] = Field(
        "reward_auc", description="Training metric the best lr maximises, averaged over probe seeds (default reward_auc)."
    )
    group_size: Optional[PosInt] = Field(None, description="Group size of probe runs (default null: the largest group size).")

    @field_validator("lrs")
    @classmethod
    def _lrs(cls, v: list) -> list:
        if not v:
            raise ValueError("expected at least one learning rate to probe, got an empty list")
        if len(set(v)) != len(v):
            raise ValueError(f"learning rates must be distinct, got {v!r}")
        return v

    @field_validator("probe_seeds", mode="before")
    @classmethod
    def _probe_seeds(cls, v: Any) -> Any:
        return _seed_list(v, "probe_seeds", first=1000)


class ResourcesSpec(_Section):
    threads: PosInt = Field(1, description="Cores per training job; Snakemake runs up to --cores/threads jobs at once (default 1).")
    mem_mb: PosInt = Field(2000, description="Memory per job in MB (default 2000).")
    runtime: PosInt = Field(60, description="Wall-time limit per job in minutes, used by cluster executors (default 60).")
    gpu: int = Field(0, ge=0, description="GPUs per job, requested from cluster executors (default 0).")
    partition: Optional[str] = Field(None, description="SLURM partition (default null: the cluster's default).")
    account: Optional[str] = Field(None, description="SLURM account (default null).")


class PowerPreviewSpec(_Section):
    prior_sd: PosFloat = Field(
        0.02,
        description="ASSUMED between-seed SD of the primary endpoint, used only by `textrl plan`'s power preview "
        "(default 0.02, about the tiny arithmetic model's avg@k spread).",
    )
    power: float = Field(0.8, gt=0, lt=1, description="Power the minimum detectable effect is computed for (default 0.8).")


class CampaignSpec(_Section):
    name: str = Field(description="Campaign name: results go to results/<name>/, and it is the W&B group (required).")
    task: TaskConfig = Field(default_factory=TaskConfig, description="Task: name, params, heldout_size, split_seed.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="'tiny', a local mlx-lm directory, or a hub id (default tiny).")
    backend: Literal["mlx", "tinker"] = Field("mlx", description="mlx (local) or tinker (remote GPUs) (default mlx).")
    arms: list[ArmSpec] = Field(description="At least two arms (required).")
    seeds: Union[int, list[int], SeedStages] = Field(
        5, validate_default=True, description="A count n (seeds 0..n-1) or a list, shared by all arms; or "
        "{per_stage, max_stages}: a sequential design that adds a stage of seeds only while a comparison is still "
        "open (docs/statistics.md, 'Sequential seeds') (default 5).")
    group_sizes: list[int] = Field(default_factory=lambda: [8], description="Completions per prompt, each >= 2 (default [8]).")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Optimisation and rollout settings shared by all arms.")
    evaluation: EvalConfig = Field(default_factory=EvalConfig, description="Held-out evaluation: k, temperature, top_p, max_tokens, greedy, seed.")
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec, description="The comparison and its statistics.")
    wandb: WandbConfig = Field(default_factory=WandbConfig, description="Weights & Biases: mode, project, tags, entity.")
    sweep: Optional[SweepSpec] = Field(None, description="LR sweep phase for arms with lr: from_sweep (default null: no sweep).")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Per-job resources for Snakemake.")
    power_preview: PowerPreviewSpec = Field(default_factory=PowerPreviewSpec, description="Assumptions of the plan's power preview.")
    tinker: TinkerConfig = Field(default_factory=TinkerConfig, description="backend: tinker settings: base_url, lora_rank.")

    @model_validator(mode="before")
    @classmethod
    def _model_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            data = {**data, "model": {"path": data["model"]}}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(f"expected letters, digits, '_' or '.' (it names results/<name>/), got {v!r}")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, dict):
            try:
                return SeedStages.model_validate(v)
            except ValidationError as e:
                raise ValueError(message(e.errors()[0], SeedStages)) from None
        return v if isinstance(v, SeedStages) else _seed_list(v, "seeds")

    @field_validator("group_sizes")
    @classmethod
    def _group_sizes(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("expected at least one group size, got an empty list")
        bad = [g for g in v if g < 2]
        if bad:
            raise ValueError(f"each group size must be >= 2 (advantages compare completions within a group), got {bad[0]}")
        huge = [g for g in v if g > MAX_GROUP_SIZE]
        if huge:
            raise ValueError(f"each group size must be at most {MAX_GROUP_SIZE:,}, got {huge[0]}")
        if len(set(v)) != len(v):
            raise ValueError(f"group sizes must be distinct, got {v!r}")
        return v

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[ArmSpec]) -> list[ArmSpec]:
        if len(v) < 2:
            raise ValueError(f"expected at least two arms to compare, got {len(v)}")
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be distinct, {dup[0]!r} appears twice")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> "CampaignSpec":
        names = [a.name for a in self.arms]
        given = self.analysis.candidates
        for field, arm in [("baseline", self.analysis.baseline)] + [
                ("candidates", a) for a in ([given] if isinstance(given, str) else given or [])]:
            if arm is not None and arm not in names:
                raise field_error(f"analysis.{field}", f"unknown arm {arm!r}; arms are {', '.join(names)}")
        if self.baseline_arm in self.candidate_arms:
            raise field_error("analysis.candidates", f"must not include the baseline arm {self.baseline_arm!r}")
        controls = {a.name for a in self.arms if a.control}
        if self.baseline_arm in controls:
            raise field_error("analysis.baseline", f"{self.baseline_arm!r} is a control arm; the baseline must learn "
                              "from the task's rewards (name another arm, or put the control later in arms)")
        if not self.candidate_arms and not controls:
            raise field_error("analysis.candidates", "is empty: name at least one arm to compare with the baseline")
        swept = [i for i, a in enumerate(self.arms) if a.lr == FROM_SWEEP]
        if swept and self.sweep is None:
            raise field_error(f"arms[{swept[0]}].lr", "is 'from_sweep' but the spec has no sweep section with lrs")
        if self.sweep is not None and not swept:
            raise field_error("sweep", "is given but no arm has lr: from_sweep")
        if self.backend == "tinker" and self.model.path == TINY_MODEL:
            raise field_error("model", "backend tinker needs a hub id (e.g. Qwen/Qwen3-0.6B), not the local 'tiny' model")
        if self.backend == "mlx" and self.tinker != TinkerConfig():
            raise field_error("tinker", "settings are only used with backend: tinker")
        uses_curve = [f for f, eps in (("primary", [self.analysis.primary]), ("secondary", self.analysis.secondary))
                      if "heldout_auc" in eps]
        if uses_curve and self.evaluation.every is None:
            raise field_error(f"analysis.{uses_curve[0]}", "heldout_auc needs the held-out curve: set evaluation.every")
        if self.stages is None and self.analysis.sequential is not None:
            raise field_error("analysis.sequential", "is given but seeds is a fixed count or list; a sequential "
                              "design needs seeds: {per_stage: n, max_stages: k}")
        if self.stages is not None:
            if self.analysis.comparisons == "all_pairs":
                raise field_error("analysis.comparisons", "all_pairs is not available with sequential seeds; the "
                                  "sequential family is every candidate against the baseline")
            if self.analysis.paired:
                raise field_error("analysis.paired", "the sequential test compares unpaired seeds; set paired: false")
            many = [i for i, a in enumerate(self.arms) if isinstance(a.lr, list)]
            if many:
                raise field_error(f"arms[{many[0]}].lr", "a sequential design needs one lr per arm (a number or "
                                  "from_sweep), not a list")
        if self.training.lr_schedule == "warmup" and self.training.warmup_steps == 0:
            raise field_error("training.warmup_steps", "expected a positive integer when lr_schedule is 'warmup', got 0")
        return self

    @property
    def stages(self) -> SeedStages | None:
        """The sequential seed design, or None for a fixed seed list."""
        return self.seeds if isinstance(self.seeds, SeedStages) else None

    @property
    def seed_list(self) -> list[int]:
        """Every seed a run may get: all of them in a fixed design, the most the stages can use otherwise."""
        return self.seeds.seeds if isinstance(self.seeds, SeedStages) else list(self.seeds)

    @property
    def comparison_pairs(self) -> list[tuple[str, str]]:
        """(baseline role, candidate role) arm pairs of the primary family, in spec order."""
        if self.analysis.comparisons == "all_pairs":
            roles = [self.baseline_arm, *self.candidate_arms]
            return [(a, b) for i, a in enumerate(roles) for b in roles[i + 1:]]
        return [(self.baseline_arm, c) for c in self.candidate_arms]

    @property
    def sequential_test(self) -> SequentialSpec:
        return self.analysis.sequential or SequentialSpec()

    @property
    def sequential_family(self) -> list[str]:
        """The arms the sequential test compares with the baseline: the candidates and the negative controls
        (a control decided early needs no more seeds either)."""
        controls = [a.name for a in self.arms if a.control and a.name not in self.candidate_arms]
        return [*self.candidate_arms, *controls]

    @property
    def baseline_arm(self) -> str:
        return self.analysis.baseline or self.arms[0].name

    @property
    def candidate_arms(self) -> list[str]:
        """The arms compared with the baseline, in spec order: one primary test each per group size (and lr)."""
        given = self.analysis.candidates
        if given is None:  # a negative control is checked against the base model, not a candidate by default
            return [a.name for a in self.arms if a.name != self.baseline_arm and not a.control]
        return list(dict.fromkeys([given] if isinstance(given, str) else given))

    def resolved(self) -> dict[str, Any]:
        """Every field with its value or default; baseline/candidates filled in."""
        data = self.model_dump(mode="json")
        data["analysis"]["baseline"] = self.baseline_arm
        data["analysis"]["candidates"] = self.candidate_arms
        return data


def load_spec(source: str | os.PathLike | dict) -> CampaignSpec:
    """Validate a campaign spec (YAML path or dict); raise ConfigError naming the file and field."""
    where = "campaign spec"
    if isinstance(source, dict):
        data: Any = source
    else:
        from textrl.io import load_config_file

        path = Path(source)
        where = f"campaign spec {path}"
        data = load_config_file(path, "campaign spec")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as e:
        raise config_error(e, CampaignSpec, where=f"{where}: ", first_only=True) from None
    _check_components(spec, where)
    return spec


def _check_components(spec: CampaignSpec, where: str) -> None:
    """Checks that consult other packages: the task registry, advantage presets, the model path."""
    from textrl.config import check_model_path

    try:
        check_model_path(spec.model.path)
    except ConfigError as e:
        raise ConfigError(f"{where}: model: {str(e).removeprefix('run config model.path: ')}") from None
    try:
        from textrl.tasks import get_task

        task = get_task(spec.task.name, **spec.task.params)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"{where}: task.params: {spec.task.name!r} rejected {spec.task.params!r}: {e}") from None
    count = getattr(task, "problem_count", None)  # optional in the Task protocol
    problems = count() if callable(count) else None
    if problems is not None and spec.task.heldout_size >= problems:
        raise ConfigError(f"{where}: task.heldout_size: {spec.task.heldout_size} leaves no training problems; "
                          f"{spec.task.name!r} has at most {problems:,} problems")
    from textrl.advantages import AdvantagePipeline

    for i, arm in enumerate(spec.arms):
        try:
            pipeline = AdvantagePipeline.from_config(dict(arm.advantage), where=f"arms[{i}].advantage")
        except ConfigError as e:
            raise ConfigError(f"{where}: arm {arm.name!r}: {e}") from None
        if pipeline.episode == "maxrl" and (negative := _negative_added_reward(spec)):
            raise ConfigError(
                f"{where}: arm {arm.name!r}: arms[{i}].advantage: MaxRL needs rewards >= 0, but task.rewards "
                f"{negative} can make the reward negative; drop it from task.rewards, or give this arm another "
                "episode advantage (e.g. {preset: full, episode: grpo})")


def _negative_added_reward(spec: CampaignSpec) -> str | None:
    """The first added reward whose declared bounds, times its weight, reach below 0 (the task's own
    rewards are in [0, 1] for every built-in task)."""
    from textrl.rewards.registry import get_spec

    for name, weight in spec.task.rewards.items():
        low, high = get_spec(name).bounds
        worst = high if weight < 0 else low
        if weight and (worst is None or weight * worst < 0):
            if (low, high) == (None, None):
                return f"{name!r} (weight {weight:g}, undeclared bounds: @reward(bounds=(low, high)) declares them)"
            return f"{name!r} (weight {weight:g}, values in [{_bound(low, '-inf')}, {_bound(high, 'inf')}])"
    return None


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"
