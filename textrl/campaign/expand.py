"""Expand a campaign spec into its runs: one RunConfig per arm x group size x seed x lr, plus LR probes.

The expansion is pure and deterministic: the Snakefile, `textrl plan` and `textrl status` all call it
and agree on the run ids. Probe runs (the LR sweep) are expanded the same way, with their own ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textrl.campaign.spec import FROM_SWEEP, CampaignSpec
from textrl.config import TINY_MODEL, load_run_config
from textrl.errors import ConfigError
from textrl.io import atomic_write_json, atomic_write_text, stable_hash


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    arm: str
    seed: int
    group_size: int
    lr: float | str  # a number, or "from_sweep" until the sweep has picked it
    config: dict[str, Any] = field(compare=False)  # RunConfig dict; train.lr is None while lr is from_sweep
    probe: bool = False
    stage: int | None = None  # the seed stage of a sequential design; None in a fixed design

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def as_plan_entry(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "arm": self.arm, "seed": self.seed, "group_size": self.group_size,
                "lr": self.lr, "stage": self.stage, "config_hash": self.config_hash, "config": self.config}


def config_hash(config: dict[str, Any]) -> str:
    return stable_hash(config)


def lr_tag(lr: float) -> str:
    return "lr" + format(lr, "g")


def base_model_dir(results: str | Path, spec: CampaignSpec) -> Path | None:
    """Where the campaign's base model is built, or None when the spec names an existing model."""
    if spec.backend == "mlx" and spec.model.path == TINY_MODEL:
        return Path(results) / spec.name / "base_model"
    return None


def run_config(spec: CampaignSpec, *, run_id: str, arm_index: int, seed: int, group_size: int,
               lr: float | None, steps: int | None = None, model_path: str | None = None,
               extra_tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """The RunConfig dict of one run, in the shape of docs/contracts.md."""
    arm = spec.arms[arm_index]
    t = spec.training
    loss = {"kl_coef": t.kl_coef, **arm.loss}
    wandb = spec.wandb.model_dump(mode="json")
    wandb["tags"] = [*wandb["tags"], f"arm:{arm.name}", f"seed:{seed}", f"G:{group_size}", *extra_tags]
    cfg: dict[str, Any] = {
        "run_id": run_id,
        "campaign": spec.name,
        "arm": arm.name,
        "seed": seed,
        "backend": spec.backend,
        "task": spec.task.model_dump(mode="json"),
        # a campaign's own base-model directory was already warm-started to the spec's warm_start_acc
        "model": {**spec.model.model_dump(mode="json"), **({"path": model_path, "warm_start_acc": None} if model_path else {})},
        "advantage": dict(arm.advantage),
        "loss": loss,
        "train": {
            "steps": steps or t.steps, "prompts_per_step": t.prompts_per_step, "group_size": group_size,
            "lr": lr, "lr_schedule": t.lr_schedule, "warmup_steps": t.warmup_steps,
            "weight_decay": t.weight_decay, "grad_clip": t.grad_clip,
            "lora": t.lora.model_dump(mode="json") if t.lora else None,
            "checkpoint_every": t.checkpoint_every, "log_generations": t.log_generations,
        },
        "sampling": {"temperature": t.temperature, "top_p": t.top_p, "max_tokens": t.max_tokens, "stop": list(t.stop)},
        "eval": spec.evaluation.model_dump(mode="json"),
        "wandb": wandb,
        "tinker": spec.tinker.model_dump(mode="json"),
        "reward_control": {"kind": arm.control} if arm.control else None,
    }
    return cfg


def _resolve(cfg: dict[str, Any], placeholder_lr: float) -> dict[str, Any]:
    """Validate through RunConfig (the trainer's own schema) and return its fully resolved dict."""
    probe = cfg if cfg["train"]["lr"] is not None else {**cfg, "train": {**cfg["train"], "lr": placeholder_lr}}
    try:
        resolved = load_run_config(probe, check=False).to_dict()
    except ConfigError as e:
        raise ConfigError(f"campaign spec: run {cfg['run_id']}: {e}") from None
    resolved["train"]["lr"] = cfg["train"]["lr"]
    return resolved


def expand_runs(spec: CampaignSpec, results: str | Path = "results") -> list[PlannedRun]:
    """The A/B runs, ordered arm, group size, seed, lr. Run ids: <arm>-g<G>-s<seed>[-lr<lr>]."""
    base = base_model_dir(results, spec)
    runs = []
    for i, arm in enumerate(spec.arms):
        many_lrs = isinstance(arm.lr, list)
        for g in spec.group_sizes:
            for seed in spec.seed_list:
                for lr in arm.lrs:
                    run_id = f"{arm.name}-g{g}-s{seed}" + (f"-{lr_tag(lr)}" if many_lrs else "")
                    number = None if lr == FROM_SWEEP else float(lr)
                    cfg = run_config(spec, run_id=run_id, arm_index=i, seed=seed, group_size=g, lr=number,
                                     model_path=str(base) if base else None)
                    placeholder = spec.sweep.lrs[0] if spec.sweep else 1.0
                    runs.append(PlannedRun(run_id, arm.name, seed, g, lr if number is None else number,
                                           _resolve(cfg, placeholder),
                                           stage=spec.stages.stage_of(seed) if spec.stages else None))
    return runs


def expand_probes(spec: CampaignSpec, results: str | Path = "results") -> list[PlannedRun]:
    """LR probe runs of every arm with lr: from_sweep. Ids: <arm>-<lr tag>-s<seed>."""
    if spec.sweep is None:
        return []
    sw = spec.sweep
    g = sw.group_size or max(spec.group_sizes)
    base = base_model_dir(results, spec)
    probes = []
    for i, arm in enumerate(spec.arms):
        if arm.lr != FROM_SWEEP:
            continue
        for lr in sw.lrs:
            for seed in sw.probe_seeds:
                run_id = f"{arm.name}-{lr_tag(lr)}-s{seed}"
                cfg = run_config(spec, run_id=run_id, arm_index=i, seed=seed, group_size=g, lr=float(lr),
                                 steps=sw.probe_steps, model_path=str(base) if base else None,
                                 extra_tags=("lr-probe",))
                cfg["train"]["checkpoint_every"] = min(cfg["train"]["checkpoint_every"], sw.probe_steps)
                cfg["train"]["log_generations"] = False
                probes.append(PlannedRun(run_id, arm.name, seed, g, float(lr), _resolve(cfg, float(lr)), probe=True))
    return probes


def with_lr(config: dict[str, Any], lr: float) -> dict[str, Any]:
    """A swept run's config once its arm's lr is known."""
    return {**config, "train": {**config["train"], "lr": float(lr)}}


def plan_document(spec: CampaignSpec, runs: list[PlannedRun], probes: list[PlannedRun]) -> dict[str, Any]:
    """plan.json (docs/contracts.md "Campaign results"); probes are listed beside the runs."""
    return {
        "campaign": spec.name,
        "spec": spec.resolved(),
        "runs": [r.as_plan_entry() for r in runs],
        "probes": [p.as_plan_entry() for p in probes],
    }


def write_plan(spec: CampaignSpec, results: str | Path = "results") -> Path:
    """Write results/<name>/plan.json and spec.resolved.yaml; return the campaign directory."""
    out = Path(results) / spec.name
    runs, probes = expand_runs(spec, results), expand_probes(spec, results)
    atomic_write_json(out / "plan.json", plan_document(spec, runs, probes))
    atomic_write_text(out / "spec.resolved.yaml", yaml.safe_dump(spec.resolved(), sort_keys=False))
    return out
