"""The built-in model for a task: built offline, warm-started, cached under $TEXTRL_CACHE.

The cache key is a hash of everything that determines the weights: the task (name, params, split),
its alphabet, the architecture, the warm-start recipe and seed, and BUILD_VERSION (bump it when the
code that builds the model changes meaning). The directory also holds the build record (build.json:
recipe, loss log, timings) and the base policy's held-out evaluation (base_eval.json).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from textrl import fastblas, fastjit
from textrl.config import RunConfig, SamplingConfig, TaskConfig
from textrl.engine.base import SamplingParams
from textrl.heldout_metrics import evaluate_policy, identity_of, settings_of
from textrl.io import atomic_write_json, read_json, stable_hash
from textrl.models.arch import TinyArch, WarmStart
from textrl.models.charlevel import EOS_ID, PAD_ID
from textrl.paths import cache_root
from textrl.tasks import get_task

# 2 layers, not TinyArch's default 4: it warm-starts to the target in half the steps and gains as much
# under GRPO (benchmarks/README.md).
BUILTIN_ARCH = {"layers": 2}
BUILD_VERSION = 2  # 2: warm start stops at a target accuracy on a training probe


@dataclass(frozen=True)
class TinyRecipe:
    """Everything that determines a built-in model. Defaults: the recipe RL was first seen to learn with."""

    task: str = "arithmetic"
    task_params: dict = field(default_factory=dict)
    split_seed: int = 1234
    heldout_size: int = 500
    arch: dict = field(default_factory=dict)  # TinyArch fields over BUILTIN_ARCH
    warmstart: dict = field(default_factory=dict)  # WarmStart fields; {} = defaults

    @classmethod
    def for_run(cls, cfg) -> "TinyRecipe":
        acc = cfg.model.warm_start_acc
        return cls(task=cfg.task.name, task_params=dict(cfg.task.params), split_seed=cfg.task.split_seed,
                   heldout_size=cfg.task.heldout_size, warmstart={"target_acc": acc} if acc is not None else {})

    def resolved(self) -> dict:
        return {
            "build_version": BUILD_VERSION,
            "task": self.task,
            "task_params": self.task_params,
            "split_seed": self.split_seed,
            "heldout_size": self.heldout_size,
            "arch": TinyArch(**{**BUILTIN_ARCH, **self.arch}).to_dict(),
            "warmstart": WarmStart(**self.warmstart).to_dict(),
        }

    def key(self) -> str:
        return stable_hash(self.resolved(), 16)

    def default_dir(self) -> Path:
        return cache_root() / "models" / f"tiny-{self.task.replace(':', '_').replace('/', '_')}-{self.key()}"


def task_alphabet(task, examples) -> str:
    if hasattr(task, "alphabet"):
        return task.alphabet() if callable(task.alphabet) else str(task.alphabet)
    chars = set()
    for ex in examples:
        chars |= set(ex.prompt) | set(task.target(ex))
    return "".join(sorted(chars))


@contextmanager
def build_lock(path: Path):
    """Concurrent builders (parallel Snakemake jobs) wait for the first instead of racing it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_built(out: Path, recipe: TinyRecipe) -> bool:
    """A complete build of exactly this recipe (a directory built from another recipe is rebuilt)."""
    try:
        return (out / "config.json").is_file() and read_json(out / "build.json")["key"] == recipe.key()
    except (OSError, ValueError, KeyError):
        return False


@contextmanager
def written_atomically(dst: Path):
    """A fresh directory beside `dst`, renamed onto it when the block succeeds: a half-written model
    directory never appears under `dst`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        yield tmp
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_model_dir(src: Path, dst: Path) -> Path:
    """Copy a built model directory to `dst` atomically."""
    dst = Path(dst)
    with written_atomically(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return dst


def build_machine() -> dict:
    """What a build's floating point depends on besides the recipe: the same recipe gives other weights
    under another BLAS or CPU (textrl.models.shipped)."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "mlx": version("mlx"),
            "blas": fastblas.status().get("library") or "mlx's bundled BLAS", "jit": fastjit.status().get("reason"),
            # a different split of a reduction over threads can change the last bits of a sum
            "threads": {"openblas": fastblas.threads(),
                        **{v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}}}


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def build_tiny_model(recipe: TinyRecipe, out: Path, log=print) -> dict:
    """Build, warm-start, save and evaluate the built-in model into `out`; returns build.json."""
    # an engine is made here: the fast CPU path first, then mlx (which stays out of module level)
    fastblas.enable()
    from mlx_lm import load

    from textrl.engine.mlx_engine import MLXEngine
    from textrl.models.tiny import n_params, new_model, save_model_dir, vocab_size
    from textrl.models.warmstart import supervised

    resolved = recipe.resolved()
    task = get_task(recipe.task, **recipe.task_params)
    train, heldout = task.split(recipe.split_seed, recipe.heldout_size)
    alphabet = task_alphabet(task, train + heldout)
    arch, ws = TinyArch(**resolved["arch"]), WarmStart(**recipe.warmstart)
    model, config = new_model(arch, vocab_size(alphabet), ws.seed)
    save_model_dir(model, config, alphabet, out)  # writes the tokenizer the warm start encodes with
    _, tokenizer = load(str(out))
    pairs = [(tokenizer.encode(ex.prompt), tokenizer.encode(task.target(ex)) + [EOS_ID]) for ex in train]
    goal = f"until greedy accuracy {ws.target_acc:g} on {ws.probe_size} training problems, " if ws.target_acc else ""
    log(f"building tiny model for task {recipe.task}: {n_params(model):,} parameters, {len(alphabet)} characters; "
        f"warm start {goal}at most {ws.steps} steps, on {len(train)} training problems")
    probe = train[: ws.probe_size]
    probe_engine = MLXEngine(model, tokenizer)

    def probe_acc() -> float:
        prompts = [probe_engine.encode_prompt(ex.prompt) for ex in probe]
        decoded = probe_engine.sample(prompts, 1, SamplingParams(0.0, 1.0, task.default_max_tokens, tuple(task.stop)), seed=0)
        return sum(bool(s["correct"]) for s in task.score([g[0].text for g in decoded], probe)) / len(probe)

    start = time.perf_counter()
    sft_log = supervised(model, pairs, ws, PAD_ID, probe_acc=probe_acc)
    sft_s = time.perf_counter() - start
    save_model_dir(model, config, alphabet, out)
    record = {"recipe": resolved, "key": recipe.key(), "parameters": n_params(model), "alphabet": alphabet,
              "warmstart_steps_run": sft_log[-1]["step"] if sft_log else 0,
              "warmstart_s": round(sft_s, 1), "warmstart_log": sft_log, "built_on": build_machine()}
    # evaluated under the default run's eval settings, so that eval.json can copy it in as the baseline
    # a task whose answers need more tokens than the default sampling budget is evaluated with enough of them
    run = RunConfig(task=TaskConfig(name=recipe.task, params=recipe.task_params, split_seed=recipe.split_seed,
                                    heldout_size=recipe.heldout_size),
                    sampling=SamplingConfig(max_tokens=max(SamplingConfig().max_tokens, task.default_max_tokens)))
    base = {**identity_of(run), **evaluate_policy(MLXEngine(*load(str(out))), task, heldout, settings_of(run))}
    atomic_write_json(out / "base_eval.json", base)
    atomic_write_json(out / "build.json", record)
    log(f"tiny model built: held-out greedy {base['greedy_acc']:.3f}, avg@{base['k']} {base['avg_at_k']:.3f} "
        f"(warm start {record['warmstart_steps_run']} steps, {sft_s:.0f} s)")
    return record
