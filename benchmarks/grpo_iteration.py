"""One GRPO iteration (8 prompts x 8 completions x 64 new tokens) on ~1M and ~20M-parameter tiny models.

Seconds split the way the trainer splits a step:
  generation  engine.sample: 64 completions in one batched decode (log-probs, entropies, text, offsets)
  scoring     task.score + group advantages (textrl.advantages, preset grpo) + datums
  update      forward_backward (log-probs, clipped surrogate, backward) + optim_step (clip, AdamW)
Random weights, EOS disabled: every completion has exactly 64 tokens, as in the TRL reference
(benchmarks/trl_grpo_iteration.py). Median over --steps iterations after one warm-up. Prints JSON.

    python benchmarks/grpo_iteration.py [--arch 1m 20m] [--steps 3] [--lanes 1]

--lanes 1 runs the CPU engine with one lane (textrl.engine.cpu_lanes) for a side-by-side comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import load_random  # noqa: E402  (enables the fast BLAS before mlx loads)

from textrl.advantages import AdvantagePipeline  # noqa: E402
from textrl.engine import cpu_lanes  # noqa: E402
from textrl.engine.base import Datum, SamplingParams  # noqa: E402
from textrl.engine.loss_spec import LossSpec  # noqa: E402
from textrl.engine.mlx_engine import MLXEngine  # noqa: E402
from textrl.tasks import get_task  # noqa: E402

PROMPTS, GROUP, NEW_TOKENS = 8, 8, 64


def iteration(engine, task, examples, pipeline, controller, step):
    t0 = time.perf_counter()
    prompts = [engine.encode_prompt(ex.prompt) for ex in examples]
    groups = engine.sample(prompts, GROUP, SamplingParams(1.0, 1.0, NEW_TOKENS, ()), seed=step)
    t1 = time.perf_counter()
    flat = [c for g in groups for c in g]
    scores = task.score([c.text for c in flat], [ex for ex in examples for _ in range(GROUP)])
    rewards = [[scores[i * GROUP + j]["reward"] for j in range(GROUP)] for i in range(len(examples))]
    advs, _ = pipeline.compute(rewards, [[c.surprisal() for c in g] for g in groups], None, step, controller)
    datums = [Datum(c.prompt_tokens, c.tokens, c.logprobs, list(advs[i][j])) for i, g in enumerate(groups) for j, c in enumerate(g)]
    t2 = time.perf_counter()
    engine.forward_backward(datums, LossSpec(norm_length=NEW_TOKENS))
    engine.optim_step(3e-5)
    t3 = time.perf_counter()
    assert all(len(c.tokens) == NEW_TOKENS for c in flat)
    return {"generation": t1 - t0, "scoring": t2 - t1, "update": t3 - t2, "total": t3 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["1m", "20m"], choices=["1m", "20m"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=cpu_lanes.LANES)
    args = ap.parse_args()
    cpu_lanes.LANES = args.lanes
    task = get_task("arithmetic")
    train, _ = task.split(1234, 500)
    pipeline = AdvantagePipeline.from_config({"preset": "grpo"}).resolved(args.steps + 1)
    out = {"prompts": PROMPTS, "group_size": GROUP, "new_tokens": NEW_TOKENS, "lanes": cpu_lanes.count(), "models": {}}
    for arch in args.arch:
        model, tokenizer, n_params = load_random(arch)
        engine = MLXEngine(model, tokenizer)
        controller = pipeline.controller()
        runs = [iteration(engine, task, train[s * PROMPTS : (s + 1) * PROMPTS], pipeline, controller, s) for s in range(args.steps + 1)]
        runs = runs[1:]  # the first iteration builds graphs and allocates
        out["models"][arch] = {"parameters": n_params,
                               "seconds": {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
