"""Batched sampling: the sampled sequence is exactly the scored sequence (ratio 1), and batching is exact."""

from __future__ import annotations

import math

import pytest

from textrl.engine.base import Datum, SamplingParams


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from mlx_lm import load

    from textrl.engine.mlx_engine import MLXEngine

    return MLXEngine(*load(str(tiny_model_dir)))


def prompts_of(engine, texts):
    return [engine.encode_prompt(t) for t in texts]


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.9)])
def test_importance_ratio_is_one_before_any_update(engine, temperature, top_p):
    prompts = prompts_of(engine, ["3+4=", "9+9=", "0+1=", "5+7="])
    groups = engine.sample(prompts, 8, SamplingParams(temperature, top_p, 6, ()), seed=11)
    datums = [Datum(c.prompt_tokens, c.tokens, c.logprobs, [0.0] * len(c.tokens)) for g in groups for c in g]
    scored = engine.token_logprobs(datums, temperature)
    worst = max(abs(a - b) for d, row in zip(datums, scored) for a, b in zip(d.behaviour_logprobs, row))
    assert worst < 1e-5
    assert sum(len(d.tokens) for d in datums) > 64  # the check covered real completions


def test_groups_eos_text_and_offsets(engine):
    prompts = prompts_of(engine, ["1+2=", "8+8=", "4+0="])
    groups = engine.sample(prompts, 5, SamplingParams(1.0, 1.0, 6, ()), seed=3)
    assert [len(g) for g in groups] == [5, 5, 5]
    eos = set(engine.tokenizer.eos_token_ids)
    for prompt, group in zip(prompts, groups):
        for c in group:
            assert c.prompt_tokens == prompt
            assert len(c.tokens) == len(c.logprobs) == len(c.entropies) == len(c.offsets)
            assert all(lp <= 0 for lp in c.logprobs)
            assert all(0 <= h <= math.log(len(engine.tokenizer.get_vocab())) + 1e-5 for h in c.entropies)
            if c.truncated:
                assert len(c.tokens) == 6 and not eos & set(c.tokens)
            else:
                assert c.tokens[-1] in eos and not eos & set(c.tokens[:-1])
                assert c.offsets[-1] == (len(c.text), len(c.text))  # EOS: empty span at the end
            assert "".join(c.text[a:b] for a, b in c.offsets) == c.text
            assert c.text == engine.tokenizer.decode([t for t in c.tokens if t not in eos])


def test_entropies_match_a_teacher_forced_pass(engine):
    import mlx.core as mx

    from textrl.losses import sequence_logprobs

    c = engine.sample(prompts_of(engine, ["6+3="]), 1, SamplingParams(0.8, 1.0, 5, ()), seed=5)[0][0]
    _, ent = sequence_logprobs(engine.model, mx.array([c.prompt_tokens + c.tokens]), temperature=0.8)
    start = len(c.prompt_tokens) - 1
    forced = ent[0, start : start + len(c.tokens)].tolist()
    assert max(abs(a - b) for a, b in zip(forced, c.entropies)) < 1e-5


def test_same_seed_same_samples_other_seed_differs(engine):
    prompts = prompts_of(engine, ["2+2=", "7+1="])
    params = SamplingParams(1.0, 1.0, 5, ())
    a = engine.sample(prompts, 8, params, seed=1)
    b = engine.sample(prompts, 8, params, seed=1)
    c = engine.sample(prompts, 8, params, seed=2)
    tokens = lambda groups: [x.tokens for g in groups for x in g]  # noqa: E731
    assert tokens(a) == tokens(b)
    assert tokens(a) != tokens(c)


def test_batched_greedy_equals_one_prompt_at_a_time(engine):
    # prompts of different lengths exercise the left padding and per-row positions of the batch cache
    texts = ["3+4=", "12+3=", "5=", "1+1+1=", "9+9="]
    params = SamplingParams(0.0, 1.0, 5, ())
    together = [g[0].tokens for g in engine.sample(prompts_of(engine, texts), 1, params)]
    alone = [engine.sample(prompts_of(engine, [t]), 1, params)[0][0].tokens for t in texts]
    assert together == alone


def test_stop_strings_end_completion_and_are_cut_from_text(engine):
    # stop at any digit: a completion ends with its first digit (or EOS), which the text leaves out
    eos = set(engine.tokenizer.eos_token_ids)
    params = SamplingParams(1.0, 1.0, 6, tuple("0123456789"))
    ends = []
    for group in engine.sample(prompts_of(engine, ["3+4=", "8+9="]), 6, params, seed=0):
        for c in group:
            assert not any(ch.isdigit() for ch in c.text)
            assert all(b <= len(c.text) for _, b in c.offsets)
            if not c.truncated:
                last = c.tokens[-1]
                ends.append("eos" if last in eos else engine.tokenizer.decode([last]))
    assert any(e.isdigit() for e in ends)


def test_fast_decode_gives_exactly_the_streaming_detokenizers_text_and_spans(engine):
    import random

    rng = random.Random(0)
    vocab = engine.tokenizer.vocab_size if hasattr(engine.tokenizer, "vocab_size") else 15
    eos = set(engine.tokenizer.eos_token_ids)
    fast = 0
    for _ in range(300):
        tokens = [rng.randrange(vocab) for _ in range(rng.randrange(1, 12))]
        got = engine._decode_batched(tokens, eos)
        fast += got is not None
        assert got is None or got == engine._decode_streaming(tokens, eos)
    assert fast > 250  # the character tokenizer takes the fast path
