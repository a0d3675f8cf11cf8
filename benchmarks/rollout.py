"""Rollout throughput: textrl's batched sampler vs mlx_lm.batch_generate vs sequential stream_generate.

Same model (the built-in tiny Llama, randomly initialised), same prompts (8 arithmetic prompts x 8
samples = 64 sequences), same max_tokens, temperature 1; one process, the batched methods interleaved,
median of --repeats. By default EOS is disabled so that every method generates exactly the same number of
tokens; --eos keeps it (rows then finish unevenly, as in RL) and tokens/s counts what each produced. textrl's
figure includes what a training step needs beyond tokens: log-probs, entropies, text and offsets.
Creating the engine installs textrl's CPU SwiGLU and attention in the model's mlx_lm module
(textrl/engine/cpu_kernels.py), so by default mlx_lm's generators run them too: the same model, kernels
and all, for the three methods. --baseline-kernels mlx_lm runs mlx_lm's generators with mlx_lm's own
functions instead, i.e. mlx_lm as shipped.

    python benchmarks/rollout.py [--arch 1m|20m] [--max-tokens 64] [--repeats 8] [--baseline-kernels mlx_lm]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import load_random  # noqa: E402  (enables the fast BLAS before mlx loads)

import mlx.core as mx  # noqa: E402
from mlx_lm import batch_generate, stream_generate  # noqa: E402
from mlx_lm.models import activations  # noqa: E402
from mlx_lm.models import base as mlx_lm_base  # noqa: E402
from mlx_lm.sample_utils import make_sampler  # noqa: E402

from textrl.engine.base import SamplingParams  # noqa: E402
from textrl.engine.mlx_engine import MLXEngine  # noqa: E402
from textrl.tasks import get_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="1m", choices=["1m", "20m"])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=8, help="rounds of the batched methods (sequential: at most 3)")
    ap.add_argument("--eos", action="store_true", help="keep EOS: rows stop at random lengths")
    ap.add_argument("--baseline-kernels", choices=["textrl", "mlx_lm"], default="textrl",
                    help="the SwiGLU/attention mlx_lm's generators run (default: the same as textrl's)")
    args = ap.parse_args()

    model, tokenizer, n_params = load_random(args.arch, eos=args.eos)
    engine = MLXEngine(model, tokenizer)
    train, _ = get_task("arithmetic").split(1234, 500)
    prompts = [engine.encode_prompt(ex.prompt) for ex in train[: args.prompts]]
    rows = [p for p in prompts for _ in range(args.group)]
    n_seq = len(rows)
    params = SamplingParams(1.0, 1.0, args.max_tokens, ())

    def textrl_sampler(seed):
        groups = engine.sample(prompts, args.group, params, seed=seed)
        return sum(len(c.tokens) for g in groups for c in g)

    module = sys.modules[type(model).__module__]
    ours = (module.swiglu, module.scaled_dot_product_attention)
    shipped = (activations.swiglu, mlx_lm_base.scaled_dot_product_attention)

    @contextlib.contextmanager
    def baseline_kernels():
        if args.baseline_kernels == "mlx_lm":
            module.swiglu, module.scaled_dot_product_attention = shipped
        try:
            yield
        finally:
            module.swiglu, module.scaled_dot_product_attention = ours

    def mlx_batch_generate(seed):
        mx.random.seed(seed)
        with baseline_kernels():
            out = batch_generate(model, tokenizer, rows, max_tokens=args.max_tokens, sampler=make_sampler(temp=1.0),
                                 completion_batch_size=n_seq, prefill_batch_size=n_seq, return_token_ids=True)
        return sum(len(t) for t in out.token_ids)

    def mlx_sequential(seed):
        mx.random.seed(seed)
        sampler = make_sampler(temp=1.0)
        with baseline_kernels():
            return sum(sum(1 for _ in stream_generate(model, tokenizer, p, max_tokens=args.max_tokens, sampler=sampler))
                       for p in rows)

    batched = {"textrl": textrl_sampler, "batch_generate": mlx_batch_generate}
    methods = {**batched, "sequential_stream_generate": mlx_sequential}
    for fn in methods.values():  # warm-up: graph building, allocation
        fn(0)
    times = {name: [] for name in methods}
    tokens = {}

    def timed(name, seed):
        t0 = time.perf_counter()
        tokens[name] = methods[name](seed)
        times[name].append(time.perf_counter() - t0)

    # The two batched methods alternate in ABBA order, so that neither always runs first. The sequential
    # baseline runs afterwards: its one-row matmuls leave OpenBLAS's threads idle long enough to fall
    # asleep, and the method run next would pay for waking them.
    for rep in range(args.repeats):
        for name in (batched if rep % 2 == 0 else reversed(list(batched))):
            timed(name, rep + 1)
    for rep in range(min(args.repeats, 3)):
        timed("sequential_stream_generate", rep + 1)
    tps = {name: tokens[name] / statistics.median(t) for name, t in times.items()}
    print(json.dumps({
        "arch": args.arch, "eos": args.eos, "cpu_kernels": engine.cpu_kernels, "baseline_kernels": args.baseline_kernels, "parameters": n_params, "sequences": n_seq, "max_tokens": args.max_tokens,
        "tokens_per_run": tokens,
        "seconds_median": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "speedup_vs_batch_generate": round(tps["textrl"] / tps["batch_generate"], 2),
        "speedup_vs_sequential": round(tps["textrl"] / tps["sequential_stream_generate"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
