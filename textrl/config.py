"""The fully resolved configuration of one training run (docs/contracts.md, "Run configuration").

`load_run_config` validates a YAML/JSON file or a dict and turns every mistake a user can make into one
`ConfigError` that names the file and the field, before any model is loaded. Importing this module
does not import mlx.
"""

from __future__ import annotations

import os
import re
import typing
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from textrl.advantages import AdvantagePipeline
from textrl.engine.loss_spec import AGGREGATIONS, LOSS_KINDS, LossSpec
from textrl.errors import ConfigError, shown
from textrl.tasks import get_task
from textrl.validation import config_error

PosInt = typing.Annotated[int, Field(gt=0)]
NonNegInt = typing.Annotated[int, Field(ge=0)]
NonNegFloat = typing.Annotated[float, Field(ge=0)]
PosFloat = typing.Annotated[float, Field(gt=0)]

TINY_MODEL = "tiny"
# Far above any real run, far below what exhausts a machine before the first step: a typo such as 1e12
# must fail at plan time, not after minutes of allocation.
MAX_PROMPTS_PER_STEP = 65_536
MAX_GROUP_SIZE = 4_096
MAX_NEW_TOKENS = 1_048_576
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class _Section(BaseModel):
    # inf and nan pass float fields otherwise: lr: .inf trained to NaN and exited 0
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskConfig(_Section):
    name: str = Field("arithmetic", description="Task name for textrl.tasks.get_task (default arithmetic).")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the task (default {}).")
    heldout_size: PosInt = Field(500, description="Held-out problems never used in training (default 500).")
    split_seed: int = Field(1234, description="Seed of the train/held-out split, shared by all runs (default 1234).")
    rewards: dict[str, float] = Field(
        default_factory=dict,
        description="Registered rewards added to the task's own, {name: weight}, e.g. {length_penalty: 0.1}: "
        "reward = task reward + sum(weight * value); correctness stays the task's; each value is logged in "
        "generations.jsonl.gz components (default {}).",
    )
    reward_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Keyword arguments of the added rewards, {name: {param: value}}, e.g. "
        "{length_penalty: {target_length: 3, unit: chars}} (default {}).",
    )

    @model_validator(mode="after")
    def _added_rewards(self) -> "TaskConfig":
        if self.rewards or self.reward_params:
            from textrl.tasks.rewarded import check_added_rewards

            try:
                check_added_rewards(self.rewards, self.reward_params, self.name)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return self

    @model_serializer(mode="wrap")
    def _omit_no_added_rewards(self, handler) -> dict[str, Any]:
        # left out when empty, so configs (and campaign config hashes) from before these fields are unchanged
        data = handler(self)
        for key in ("rewards", "reward_params"):
            if not data.get(key):
                data.pop(key, None)
        return data


class ModelConfig(_Section):
    path: str = Field(
        TINY_MODEL,
        description="'tiny' (built-in model for the task, cached under $TEXTRL_CACHE, default ~/.cache/textrl), "
        "a local mlx-lm directory, or a hub id org/name (default 'tiny').",
    )
    chat_template: Literal["auto", "none"] = Field(
        "auto", description="auto: apply the tokenizer's chat template when it has one; none: raw prompt (default auto)."
    )
    warm_start_acc: Optional[typing.Annotated[float, Field(gt=0, lt=1)]] = Field(
        None, description="path 'tiny' only: the built-in model's supervised warm start stops once its greedy "
        "accuracy on training problems reaches this, which sets how competent the base policy is (default null: 0.25)."
    )

    @model_validator(mode="after")
    def _warm_start_for_tiny(self) -> "ModelConfig":
        if self.warm_start_acc is not None and self.path != TINY_MODEL:
            raise ValueError(f"warm_start_acc: only the built-in model (path: {TINY_MODEL}) is warm-started, "
                             f"not {self.path!r}")
        return self


class LossConfig(_Section):
    kind: Literal[LOSS_KINDS] = Field(
        LossSpec.kind,
        description="grpo: token-level clipped surrogate; gspo: sequence-level ratio; reinforce: "
        "advantage-weighted log-prob; ppo: clipped surrogate over several epochs; cispo: clipped, stop-gradient "
        "importance weight times the advantage-weighted log-prob (MiniMax-M1) (default grpo).",
    )
    eps_low: typing.Annotated[float, Field(ge=0, lt=1)] = Field(
        LossSpec.eps_low, description="Lower clip bound: ratio >= 1 - eps_low (default 0.2).")
    eps_high: NonNegFloat = Field(LossSpec.eps_high, description="Upper clip bound: ratio <= 1 + eps_high (default 0.28).")
    aggregation: Literal[AGGREGATIONS] = Field(
        LossSpec.aggregation,
        description="token-mean (DAPO), seq-mean-token-mean (original GRPO), seq-mean-token-sum-norm "
        "(Dr. GRPO: token sums / sampling.max_tokens) (default token-mean).",
    )
    kl_coef: NonNegFloat = Field(0.0, description="k3 KL penalty to the frozen starting policy; 0 disables (default 0).")
    entropy_coef: NonNegFloat = Field(0.0, description="Entropy bonus coefficient (default 0).")
    epochs: PosInt = Field(1, description="Optimizer passes over each rollout batch (default 1; ppo uses more).")
    target_kl: Optional[PosFloat] = Field(
        None, description="Stop the epochs of a step early once the approximate KL to the behaviour policy exceeds it (default null: never)."
    )

    @model_validator(mode="after")
    def _reinforce_is_on_policy(self) -> "LossConfig":
        if self.kind == "reinforce" and self.epochs > 1:
            # -A * logp has no importance ratio: a second pass over the batch would be an uncorrected
            # off-policy update
            raise ValueError(f"epochs: reinforce is on-policy and takes exactly 1 epoch, got {self.epochs}; "
                             "use kind ppo (or grpo) for several epochs per batch")
        return self


class LoraConfig(_Section):
    rank: PosInt = Field(8, description="LoRA rank (default 8).")
    scale: PosFloat = Field(20.0, description="LoRA scale (default 20.0).")
    layers: int = Field(-1, description="-1 for all transformer layers, or N for the last N (default -1).")

    @model_validator(mode="after")
    def _layers(self) -> "LoraConfig":
        if self.layers == 0 or self.layers < -1:
            raise ValueError("layers: expected -1 (all) or a positive number of last layers")
        return self


class TrainConfig(_Section):
    steps: PosInt = Field(1000, description="RL steps (default 1000).")
    prompts_per_step: typing.Annotated[int, Field(gt=0, le=MAX_PROMPTS_PER_STEP)] = Field(
        8, description=f"Prompts per step, B (default 8; at most {MAX_PROMPTS_PER_STEP:,}).")
    group_size: typing.Annotated[int, Field(ge=2, le=MAX_GROUP_SIZE)] = Field(
        8, description=f"Completions per prompt, G: at least 2, since advantages compare completions within a group "
        f"(default 8; at most {MAX_GROUP_SIZE:,}).")
    lr: PosFloat = Field(3.0e-5, description="Peak AdamW learning rate (default 3e-5).")
    lr_schedule: Literal["constant", "warmup"] = Field(
        "constant", description="constant, or warmup: linear from 0 over warmup_steps then constant (default constant)."
    )
    warmup_steps: NonNegInt = Field(0, description="Warm-up steps for lr_schedule warmup (default 0).")
    weight_decay: NonNegFloat = Field(0.0, description="AdamW weight decay (default 0).")
    grad_clip: Optional[PosFloat] = Field(1.0, description="Global gradient-norm clip; null disables (default 1.0).")
    lora: Optional[LoraConfig] = Field(None, description="LoRA adapters, or null for full fine-tuning (default null).")
    checkpoint_every: PosInt = Field(50, description="Save a resumable checkpoint every N steps and at the end (default 50).")
    log_generations: bool = Field(True, description="Write every completion to generations.jsonl.gz (default true).")

    @model_validator(mode="after")
    def _warmup(self) -> "TrainConfig":
        if self.lr_schedule == "warmup" and self.warmup_steps == 0:
            raise ValueError("warmup_steps: expected a positive integer when lr_schedule is 'warmup', got 0")
        return self


class SamplingConfig(_Section):
    temperature: PosFloat = Field(1.0, description="Sampling temperature; the trained policy is softmax(logits/T) (default 1.0).")
    top_p: typing.Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="Nucleus sampling mass in (0, 1] (default 1.0).")
    max_tokens: typing.Annotated[int, Field(gt=0, le=MAX_NEW_TOKENS)] = Field(
        8, description=f"Maximum new tokens per completion (default 8; at most {MAX_NEW_TOKENS:,}).")
    stop: list[str] = Field(default_factory=list, description="Extra stop strings besides EOS; [] also adds the task's own (default []).")


class EvalConfig(_Section):
    k: PosInt = Field(4, description="Samples per held-out problem for avg@k and pass@k (default 4).")
    temperature: PosFloat = Field(1.0, description="Sampling temperature for the K samples (default 1.0).")
    top_p: typing.Annotated[float, Field(gt=0, le=1)] = Field(1.0, description="Nucleus mass for the K samples (default 1.0).")
    max_tokens: Optional[PosInt] = Field(None, description="Maximum new tokens; null = those of the rollouts (default null).")
    greedy: bool = Field(True, description="Also decode greedily once per problem for greedy accuracy (default true).")
    seed: int = Field(0, description="Evaluation sampling seed, shared by all runs so they are paired (default 0).")
    every: Optional[PosInt] = Field(
        None, description="During training, evaluate avg@k on the first curve_size held-out problems every N steps "
        "and at the last step, into eval_curve.jsonl; null: only the final evaluation (default null).")
    curve_size: PosInt = Field(100, description="Held-out problems of the during-training curve, the first of the "
                                                "held-out split (default 100).")


class WandbConfig(_Section):
    mode: Literal["disabled", "offline", "online"] = Field("disabled", description="W&B logging mode (default disabled).")
    project: str = Field("textrl", description="W&B project (default textrl).")
    tags: list[str] = Field(default_factory=list, description="W&B tags (default []).")
    entity: Optional[str] = Field(None, description="W&B entity (default null: the user's default).")


class TinkerConfig(_Section):
    base_url: Optional[str] = Field(None, description="Tinker service URL (default null: the client's default).")
    lora_rank: Optional[PosInt] = Field(None, description="LoRA rank on the Tinker service (default null: the run's LoRA rank, else 32).")


class RewardControl(_Section):
    kind: Literal["bernoulli"] = Field(
        description="bernoulli: every completion's reward is replaced by an independent seeded draw, 1 with "
        "probability rate else 0, so the policy trains on pure noise at the same compute (required: no default)."
    )
    rate: Optional[typing.Annotated[float, Field(ge=0, le=1)]] = Field(
        None, description="Success probability of the draws; null = the base model's held-out avg@k under the "
        "run's eval settings (default null)."
    )


class RunConfig(_Section):
    run_id: str = Field("run", description="Run identifier, also the W&B run name (default 'run').")
    campaign: str = Field("default", description="Campaign name, the W&B group (default 'default').")
    arm: str = Field("default", description="Arm name, the W&B job_type (default 'default').")
    seed: int = Field(0, description="Fixes LoRA init, prompt order and sampling RNG (default 0).")
    backend: Literal["mlx", "tinker"] = Field("mlx", description="mlx (local) or tinker (remote) (default mlx).")
    task: TaskConfig = Field(default_factory=TaskConfig, description="Task and held-out split.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model.")
    advantage: dict[str, Any] = Field(
        default_factory=lambda: {"preset": "grpo"},
        description="textrl.advantages AdvantagePipeline config (default {preset: grpo}).",
    )
    loss: LossConfig = Field(default_factory=LossConfig, description="Policy loss.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Optimisation.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Rollout decoding.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Held-out evaluation.")
    wandb: WandbConfig = Field(default_factory=WandbConfig, description="Weights & Biases logging.")
    tinker: TinkerConfig = Field(default_factory=TinkerConfig, description="Remote backend settings.")
    reward_control: Optional[RewardControl] = Field(
        None, description="A negative control: rewards replaced by noise (default null: the task's rewards)."
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def eval_max_tokens(self) -> int:
        return self.eval.max_tokens or self.sampling.max_tokens


# --------------------------------------------------------------------------- checks beyond types


def _prefixed(section: str, err: Exception) -> str:
    msg = str(err)
    return f"run config {msg}" if msg.startswith(section) else f"run config {section}: {msg}"


def _check_task(cfg: RunConfig) -> None:
    try:
        get_task(cfg.task.name, **cfg.task.params)
    except ConfigError as e:
        raise ConfigError(_prefixed("task", e)) from None
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"run config task: {cfg.task.name!r} with params {cfg.task.params}: {e}") from None


def _check_advantage(cfg: RunConfig) -> None:
    try:
        pipeline = AdvantagePipeline.from_config(dict(cfg.advantage))
    except ConfigError as e:
        raise ConfigError(_prefixed("advantage", e)) from None
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"run config advantage: {e}") from None
    budget = (pipeline.episode_params or {}).get("max_tokens")
    if pipeline.episode == "dapo_overlong" and budget != cfg.sampling.max_tokens:
        # the shaping's length budget is the sampler's: any other value penalises the wrong lengths
        raise ConfigError(f"run config advantage.episode_params.max_tokens: dapo_overlong needs the sampling "
                          f"budget sampling.max_tokens = {cfg.sampling.max_tokens}, got {budget!r}")


def check_model_path(path: str) -> None:
    """'tiny', an existing mlx-lm directory (with config.json), or something shaped like a hub id."""
    if path == TINY_MODEL:
        return
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ConfigError(f"run config model.path: {path!r} is a directory without config.json, not an mlx-lm model")
        return
    if path.startswith(("/", ".", "~")) or p.exists() or not _HUB_ID.match(path):
        raise ConfigError(
            f"run config model.path: {path!r} is not 'tiny', an existing mlx-lm directory, or a hub id like org/name"
        )


def check_run_config(cfg: RunConfig) -> None:
    """Checks that need other modules (task registry, advantage presets) or the file system."""
    check_model_path(cfg.model.path)
    _check_task(cfg)
    _check_advantage(cfg)


def changed_settings(a: dict, b: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every setting where two config dicts differ, in key order."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += changed_settings(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append((prefix + k, va, vb))
    return out


def load_run_config(source: str | os.PathLike | dict, *, check: bool = True) -> RunConfig:
    """Validate a run config file (YAML/JSON) or dict. Raises ConfigError naming the file and field.

    A config.json written by `textrl train` (with "run" beside "versions") is accepted too.
    `check=False` skips the checks that consult the task registry and the file system.
    """
    where = ""
    if isinstance(source, dict):
        data: Any = source
    else:
        from textrl.io import load_config_file

        path = Path(source)
        where = f"{path}: "
        data = load_config_file(path, "run config")
        if isinstance(data, dict) and "run" in data and "versions" in data:
            data = data["run"]
    if data is None:
        raise ConfigError(f"{where}run config: the file holds no fields (only comments?); expected a mapping of fields")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}run config: expected a mapping of fields, got {type(data).__name__}")
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as e:
        raise config_error(e, RunConfig, where=f"{where}run config ", first_only=True) from None
    if check:
        try:
            check_run_config(cfg)
        except ConfigError as e:
            raise ConfigError(where + str(e)) from None
    return cfg


# Settings every run has its own value of: not what makes one arm differ from another.
PER_RUN_SETTINGS = ("run_id", "arm", "seed", "wandb.tags")


def arm_difference(baseline: dict, arm: dict) -> list[str]:
    """What one arm's run config changes from the baseline's (same group size and seed), as 'key: a -> b'."""
    def show(key: str, v: Any) -> str:
        return "chosen by the sweep" if v is None and key == "train.lr" else shown(v, 60)

    return [f"{k}: {show(k, va)} -> {show(k, vb)}" for k, va, vb in changed_settings(baseline, arm)
            if k not in PER_RUN_SETTINGS]
