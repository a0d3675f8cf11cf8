"""TRL reference for benchmarks/grpo_iteration.py: one GRPO iteration with TRL's GRPOTrainer on torch CPU.

Benchmark-only: TRL is not a textrl dependency. Run it from its own virtualenv (see benchmarks/README.md):

    .venv-trl/bin/python benchmarks/trl_grpo_iteration.py

Same shapes as textrl's benchmark: 8 prompts x 8 completions (num_generations=8) x exactly 64 new tokens
(min_new_tokens = max_new_tokens = 64, so no early EOS), randomly initialised Llama models of ~1M and
~20M parameters with a local character-level tokenizer, float32, 2 torch threads, everything offline.

Seconds per iteration are split with TRL's own profiling hooks (trl.extras.profiling):
  generation  GRPOTrainer.transformers.generate (batched sampling of all 64 completions)
  scoring     the rest of GRPOTrainer._prepare_inputs (tokenising, reward function, group advantages)
  update      the rest of the optimizer step (log-prob forward, loss, backward, grad clip, AdamW)
Each figure is the median over --steps iterations after --warmup iterations. Prints one JSON object whose
"models" entry has the layout of grpo_iteration.py's; benchmarks/compare_trl.py runs both and divides.
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict

# Fixed before torch starts its thread pools.
THREADS = int(os.environ.get("TRL_BENCH_THREADS", "2"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.extras import profiling  # noqa: E402

PROMPTS, GROUP, NEW_TOKENS = 8, 8, 64

# The vocabulary textrl's char tokenizer builds for the default arithmetic task (15 tokens).
SPECIALS = ["<pad>", "<eos>", "<unk>"]
VOCAB = SPECIALS + sorted("0123456789+=")
PAD, EOS = 0, 1

# textrl.models.tiny: TinyArch() and ARCH_20M (Llama, tied embeddings, head_dim = hidden / heads).
SIZES = {
    "1m": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=384),
    "20m": dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=1536),
}


def char_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(vocab={s: i for i, s in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                  bos_token=None, unk_token="<unk>")


def tiny_llama(shape: dict, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(VOCAB), num_key_value_heads=shape["num_attention_heads"],
                      max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                      tie_word_embeddings=True, pad_token_id=PAD, eos_token_id=EOS, bos_token_id=None,
                      hidden_act="silu", attention_bias=False, mlp_bias=False, **shape)
    return LlamaForCausalLM(cfg).float()


def parity_reward(completions, **_):
    # Trivial but not constant, so that group advantages are non-zero and the update is not a no-op.
    return [float(zlib.crc32(c.encode()) % 2) for c in completions]


class StepClock(TrainerCallback):
    """Wall time of each optimizer step (generation and scoring happen inside it, in _prepare_inputs)."""

    def __init__(self):
        self.totals, self._t0 = [], None

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.totals.append(time.perf_counter() - self._t0)


def record_profiling() -> dict:
    """Capture the durations TRL measures with its profiling hooks (normally sent only to W&B/MLflow)."""
    spans = defaultdict(list)
    original = profiling.ProfilingContext._log_metrics

    def log_metrics(self, duration):
        spans[self.name.split(".", 1)[1]].append(duration)
        original(self, duration)

    profiling.ProfilingContext._log_metrics = log_metrics
    return spans


def bench_size(shape: dict, warmup: int, steps: int, seed: int, spans: dict) -> dict:
    spans.clear()
    tokenizer = char_tokenizer()
    model = tiny_llama(shape, seed)
    n_params = sum(p.numel() for p in model.parameters())  # tied embeddings counted once
    prompts = [f"{a:02d}+{b:02d}=" for a, b in zip(range(3, 99, 7), range(93, 0, -5))]
    n_iter = warmup + steps
    data = Dataset.from_dict({"prompt": (prompts * n_iter)[: PROMPTS * n_iter]})
    clock = StepClock()
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, use_cpu=True, seed=seed, max_steps=n_iter,
            per_device_train_batch_size=PROMPTS * GROUP, gradient_accumulation_steps=1,
            num_generations=GROUP, max_completion_length=NEW_TOKENS,
            generation_kwargs={"min_new_tokens": NEW_TOKENS},
            temperature=1.0, learning_rate=1e-5, beta=0.0, num_iterations=1,
            # fp32 and no activation recomputation, as textrl's engine (GRPOConfig defaults to bf16 + checkpointing).
            bf16=False, fp16=False, activation_checkpointing=False,
            report_to="none", logging_strategy="no", save_strategy="no", disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=parity_reward, args=args, train_dataset=data,
                              processing_class=tokenizer, callbacks=[clock])
        with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its final metrics; stdout is for our JSON
            trainer.train()

    gen = spans["transformers.generate"]
    prep = spans["_prepare_inputs"]
    total = clock.totals
    if not (len(gen) == len(prep) == len(total) == n_iter):
        raise RuntimeError(f"expected {n_iter} timed iterations, got generate={len(gen)} "
                           f"prepare={len(prep)} steps={len(total)}")
    runs = {"generation": gen, "scoring": [p - g for p, g in zip(prep, gen)],
            "update": [t - p for t, p in zip(total, prep)], "total": total}
    # The first iterations build caches and allocate; keep the rest. Same layout as grpo_iteration.py.
    return {"parameters": n_params, "shape": shape,
            "seconds": {k: round(statistics.median(v[warmup:]), 4) for k, v in runs.items()},
            "total_each": [round(t, 4) for t in total[warmup:]]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(THREADS)
    spans = record_profiling()
    results = {name: bench_size(SIZES[name], a.warmup, a.steps, a.seed, spans) for name in a.arch}
    print(json.dumps({
        "benchmark": "trl_grpo_iteration",
        "prompts": PROMPTS, "group_size": GROUP, "new_tokens": NEW_TOKENS,
        "warmup": a.warmup, "steps": a.steps, "torch_threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl.__version__, "python": sys.version.split()[0]},
        "load_avg_1m_at_end": os.getloadavg()[0],
        "models": results,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
