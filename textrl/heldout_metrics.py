"""A policy's held-out scores: K samples (and one greedy decode) per problem -> avg@k, pass@k, greedy
accuracy. Pure given an engine (anything with encode_prompt/sample); textrl.evaluate runs it on a run."""

from __future__ import annotations

from math import comb

from textrl.engine.base import SamplingParams


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def settings_of(cfg) -> dict:
    """The decoding settings of a run's evaluation (what must match for runs to be comparable)."""
    return {
        "k": cfg.eval.k,
        "temperature": cfg.eval.temperature,
        "top_p": cfg.eval.top_p,
        "max_tokens": cfg.eval_max_tokens,
        "eval_seed": cfg.eval.seed,
        "greedy": cfg.eval.greedy,
        "stop": list(cfg.sampling.stop),
    }


def identity_of(cfg) -> dict:
    return {"task": cfg.task.name, "task_params": dict(cfg.task.params), "split": "heldout",
            "split_seed": cfg.task.split_seed, "size": cfg.task.heldout_size}


def evaluate_policy(engine, task, heldout, settings: dict) -> dict:
    """avg@k, pass@1, pass@k, greedy accuracy and per-problem counts for `engine`'s current policy."""
    k = settings["k"]
    stop = tuple(settings.get("stop") or ()) + tuple(s for s in task.stop if s)
    prompts = [engine.encode_prompt(ex.prompt) for ex in heldout]
    sampled = engine.sample(
        prompts, k, SamplingParams(settings["temperature"], settings["top_p"], settings["max_tokens"], stop),
        seed=settings["eval_seed"],
    )
    flat_examples = [ex for ex in heldout for _ in range(k)]
    scores = iter(task.score([c.text for group in sampled for c in group], flat_examples))
    counts = [sum(bool(next(scores)["correct"]) for _ in group) for group in sampled]
    greedy = [None] * len(heldout)
    if settings["greedy"]:
        decoded = engine.sample(prompts, 1, SamplingParams(0.0, 1.0, settings["max_tokens"], stop), seed=settings["eval_seed"])
        greedy = [bool(s["correct"]) for s in task.score([g[0].text for g in decoded], heldout)]
    n = len(heldout)
    ks = sorted({1, k} | {2**i for i in range(1, k.bit_length()) if 2**i <= k})
    return {
        **{key: settings[key] for key in ("k", "temperature", "top_p", "max_tokens", "eval_seed")},
        "avg_at_k": sum(counts) / (n * k) if n else 0.0,
        "pass_at_1": sum(pass_at_k(k, c, 1) for c in counts) / n if n else 0.0,
        "pass_at_k": {str(j): (sum(pass_at_k(k, c, j) for c in counts) / n if n else 0.0) for j in ks},
        "greedy_acc": (sum(greedy) / n if n else 0.0) if settings["greedy"] else None,
        "per_problem": [
            {"id": ex.id, "correct": c, "n": k, "greedy_correct": g} for ex, c, g in zip(heldout, counts, greedy)
        ],
    }
