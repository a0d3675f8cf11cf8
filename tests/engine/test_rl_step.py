"""The RL step's stages one by one, on a fake engine and a fake task: no model, no mlx."""

from __future__ import annotations

import numpy as np
import pytest

from textrl import rl_step
from textrl.advantages import AdvantagePipeline
from textrl.engine.base import Completion, SamplingParams
from textrl.errors import ConfigError
from textrl.tasks import Example
from textrl.trainer import derived_seed

# a metrics.jsonl row as the trainer has always written it (docs/contracts.md)
ROW_KEYS = [
    "step", "reward_mean", "reward_std", "correct_rate", "loss", "grad_norm", "entropy_mean", "clip_frac", "kl",
    "adv_abs_mean", "frac_zero_std_groups", "completion_len_mean", "max_token_hit_rate", "sepa_lambda",
    "planning_token_frac", "changed_frac_sepa", "changed_frac_gtpo", "changed_frac_hicra", "epochs_run", "lr",
    "tokens_generated", "gen_s", "score_s", "train_s", "step_s",
]
PARAMS = SamplingParams(1.0, 1.0, 8, ())


class FakeEngine:
    """Completion j of a prompt is the prompt's text, '#', then j; its length is j + 1 tokens."""

    def __init__(self, approx_kl=(0.0, 0.0, 0.0)):
        self.encoded, self.sample_calls, self.fb_calls, self.optim_lrs = [], [], 0, []
        self.approx_kl = list(approx_kl)

    def encode_prompt(self, prompt):
        self.encoded.append(prompt)
        return [ord(ch) for ch in prompt]

    def sample(self, prompts, n, params, seed=0):
        self.sample_calls.append((len(prompts), n, params, seed))
        out = []
        for prompt in prompts:
            text = "".join(map(chr, prompt))
            group = []
            for j in range(n):
                completion = f"#{j}"
                k = j + 1
                group.append(Completion(
                    prompt_tokens=list(prompt), tokens=list(range(k)), logprobs=[-0.5] * k, text=text + completion,
                    offsets=[(0, 0)] * k, entropies=[float(j)] * k, truncated=j == n - 1,
                ))
            out.append(group)
        return out

    def forward_backward(self, datums, loss):
        kl = self.approx_kl[self.fb_calls]
        self.fb_calls += 1
        return {"loss": 10.0 + self.fb_calls, "kl": 0.01 * self.fb_calls, "approx_kl": kl, "clip_frac": 0.1 * self.fb_calls}

    def optim_step(self, lr):
        self.optim_lrs.append(lr)
        return {"grad_norm": float(len(self.optim_lrs))}


class FakeTask:
    """Reward j / 10 for completion '#j' of the example whose prompt it continues; correct when j is even."""

    name = "fake"
    planning_grams = ()
    stop = ()

    def __init__(self, fail=None):
        self.fail = fail

    def score(self, completions, examples):
        if self.fail is not None:
            raise self.fail
        out = []
        for text, ex in zip(completions, examples):
            prompt, j = text.split("#")
            assert prompt == ex.prompt  # each completion is scored against its own example
            out.append({"reward": int(j) / 10, "correct": int(j) % 2 == 0, "components": {"ex": ex.id}})
        return out


def examples(n=3):
    return [Example(id=f"p{i}", prompt=f"q{i}", answer=i) for i in range(n)]


def sampled(n=3, group_size=4, engine=None):
    return rl_step.sample(engine or FakeEngine(), examples(n), group_size, PARAMS, seed=5)


def scored(n=3, group_size=4, **kw):
    groups, _ = sampled(n, group_size)
    return rl_step.score(FakeTask(), groups, step=1, task_name="fake", **kw)


def test_sample_keeps_each_prompts_completions_in_its_group_and_encodes_a_prompt_once():
    engine, cache = FakeEngine(), {}
    groups, metrics = rl_step.sample(engine, examples(3), 4, PARAMS, seed=11, encoded=cache)
    assert [g.example.id for g in groups] == ["p0", "p1", "p2"]
    assert all(c.text.startswith(g.example.prompt + "#") for g in groups for c in g.completions)
    assert [len(g.completions) for g in groups] == [4, 4, 4]
    assert engine.sample_calls == [(3, 4, PARAMS, 11)]
    rl_step.sample(engine, examples(3), 4, PARAMS, seed=12, encoded=cache)
    assert engine.encoded == ["q0", "q1", "q2"]  # the second step found them in the cache
    assert metrics == {
        "tokens": 3 * (1 + 2 + 3 + 4),
        "entropy_mean": float(np.mean([0.0] + [1.0] * 2 + [2.0] * 3 + [3.0] * 4)),
        "completion_len_mean": 2.5,
        "max_token_hit_rate": 0.25,
    }


def test_score_puts_the_score_of_completion_j_of_prompt_i_in_group_i():
    groups, metrics = scored(3, 4)
    for g in groups:
        assert [s["components"]["ex"] for s in g.scores] == [g.example.id] * 4
        assert g.rewards == [0.0, 0.1, 0.2, 0.3]
        assert g.correct == g.task_correct == [True, False, True, False]
    assert metrics == {"reward_mean": float(np.mean([0.0, 0.1, 0.2, 0.3] * 3)),
                       "reward_std": float(np.std([0.0, 0.1, 0.2, 0.3] * 3)), "correct_rate": 0.5}


def test_reward_control_draws_replace_the_rewards_but_not_the_tasks_judgement():
    seed = derived_seed(0, 3, "reward-control")
    groups, metrics = scored(3, 4, control_rate=0.3, control_seed=seed)
    draws = np.random.default_rng(seed).random((3, 4)) < 0.3
    assert [g.rewards for g in groups] == draws.astype(float).tolist()
    assert [g.correct for g in groups] == draws.tolist()
    assert all(g.task_correct == [True, False, True, False] for g in groups)
    assert all([s["reward"] for s in g.scores] == [0.0, 0.1, 0.2, 0.3] for g in groups)  # what generations log
    assert metrics["reward_mean"] == float(draws.mean()) and metrics["correct_rate"] == 0.5


def test_a_task_that_fails_is_named_with_the_step_and_prompts_and_a_config_error_passes_through():
    groups, _ = sampled(2, 2)
    boom = ValueError("boom")
    with pytest.raises(RuntimeError, match=r"^step 7: task 'fake' failed to score prompts \['p0', 'p1'\]: boom$") as e:
        rl_step.score(FakeTask(fail=boom), groups, step=7, task_name="fake")
    assert e.value.__cause__ is boom
    bad_config = ConfigError("task.params: nope")
    with pytest.raises(ConfigError) as e:
        rl_step.score(FakeTask(fail=bad_config), groups, step=7, task_name="fake")
    assert e.value is bad_config


def test_a_task_returning_too_few_scores_is_an_error_not_a_misaligned_batch():
    class Short(FakeTask):
        def score(self, completions, examples):
            return super().score(completions, examples)[:-1]

    groups, _ = sampled(2, 2)
    with pytest.raises(RuntimeError, match="step 1: .* returned 3 scores for 4 completions"):
        rl_step.score(Short(), groups, step=1, task_name="fake")


def test_advantages_are_per_group_and_per_token():
    groups, _ = scored(2, 4)
    pipeline = AdvantagePipeline.preset("grpo").resolved(4)
    groups, metrics = rl_step.advantages(pipeline, groups, step=1, controller=pipeline.controller(), grams=())
    for g in groups:  # GRPO: r - mean(r), mean 0.15, spread over each completion's tokens
        expected = [np.full(len(c.tokens), r - 0.15) for c, r in zip(g.completions, g.rewards)]
        for got, want in zip(g.advantages, expected):
            np.testing.assert_allclose(got, want, rtol=1e-12)
    assert metrics["frac_zero_std_groups"] == 0.0 and metrics["sepa_lambda"] is None
    assert metrics["planning_token_frac"] is None  # grpo reads no planning masks


def test_advantages_feed_planning_masks_and_correct_flags_when_the_pipeline_reads_them():
    groups, _ = scored(2, 4)
    pipeline = AdvantagePipeline.preset("full").resolved(4)
    groups, metrics = rl_step.advantages(pipeline, groups, step=1, controller=pipeline.controller(), grams=("q",))
    assert [[len(a) for a in g.advantages] for g in groups] == [[1, 2, 3, 4]] * 2
    assert metrics["planning_token_frac"] == 0.0  # the fake's tokens cover no characters
    assert metrics["sepa_lambda"] is not None


def test_datums_pair_each_completion_with_its_own_advantages():
    groups, _ = scored(2, 4)
    pipeline = AdvantagePipeline.preset("grpo").resolved(4)
    groups, _ = rl_step.advantages(pipeline, groups, step=1, controller=pipeline.controller(), grams=())
    data = rl_step.datums(groups)
    assert len(data) == 8
    flat = [(c, a) for g in groups for c, a in zip(g.completions, g.advantages)]
    for d, (c, a) in zip(data, flat):
        assert (d.prompt_tokens, d.tokens, d.behaviour_logprobs) == (c.prompt_tokens, c.tokens, c.logprobs)
        assert d.advantages == [float(x) for x in a] and all(type(x) is float for x in d.advantages)
    with pytest.raises(ValueError):  # groups that never went through advantages()
        rl_step.datums(scored(1, 2)[0])


def test_update_runs_every_epoch_without_target_kl():
    engine = FakeEngine(approx_kl=(0.0, 5.0, 5.0))
    metrics = rl_step.update(engine, [], "spec", lr=0.5, epochs=3, target_kl=None)
    assert engine.optim_lrs == [0.5, 0.5, 0.5]
    assert metrics == {"loss": 11.0, "grad_norm": 2.0, "clip_frac": pytest.approx(0.2), "kl": 0.01,
                       "epochs_run": 3, "lr": 0.5}


def test_target_kl_stops_the_epochs_after_the_first():
    engine = FakeEngine(approx_kl=(9.0, 5.0, 0.0))  # the first epoch's KL never stops it
    metrics = rl_step.update(engine, [], "spec", lr=0.5, epochs=3, target_kl=1.0)
    assert engine.fb_calls == 2 and engine.optim_lrs == [0.5]
    assert metrics == {"loss": 11.0, "grad_norm": 1.0, "clip_frac": 0.1, "kl": 0.01, "epochs_run": 1, "lr": 0.5}


def test_record_row_has_todays_fields_in_todays_order():
    groups, sample_metrics = sampled(2, 4)
    groups, score_metrics = rl_step.score(FakeTask(), groups, step=2, task_name="fake")
    pipeline = AdvantagePipeline.preset("full").resolved(4)
    groups, adv_metrics = rl_step.advantages(pipeline, groups, step=2, controller=pipeline.controller(), grams=())
    update_metrics = rl_step.update(FakeEngine(), rl_step.datums(groups), "spec", lr=0.1, epochs=1, target_kl=None)
    row = rl_step.record(2, sampled=sample_metrics, scored=score_metrics, shaped=adv_metrics, updated=update_metrics,
                         tokens_generated=123,
                         seconds={"gen_s": 1.234567, "score_s": 0.5, "train_s": 2.0, "step_s": 3.99999})
    assert list(row) == ROW_KEYS
    assert (row["step"], row["tokens_generated"], row["gen_s"], row["step_s"]) == (2, 123, 1.2346, 4.0)
    assert row["reward_mean"] == score_metrics["reward_mean"] and row["loss"] == update_metrics["loss"]
    assert "tokens" not in row


def test_generations_log_the_tasks_scores_group_by_group():
    groups, _ = scored(2, 2)
    rows = rl_step.generations(4, groups)
    assert [(r["prompt_id"], r["completion"], r["reward"]) for r in rows] == [
        ("p0", "q0#0", 0.0), ("p0", "q0#1", 0.1), ("p1", "q1#0", 0.0), ("p1", "q1#1", 0.1)]
    assert set(rows[0]) == {"step", "prompt_id", "prompt", "completion", "reward", "correct", "components",
                            "n_tokens", "truncated"}


def test_clock_splits_a_step_into_consecutive_phases():
    clock = rl_step.Clock()
    for name in ("gen_s", "score_s", "train_s"):
        clock.lap(name)
    seconds = clock.seconds()
    assert list(seconds) == ["gen_s", "score_s", "train_s", "step_s"]
    assert seconds["step_s"] >= seconds["gen_s"] + seconds["score_s"] + seconds["train_s"] >= 0


def test_dynamic_sampling_keeps_varied_groups_and_refills_the_batch():
    def group(i, rewards):
        return rl_step.Group(Example(f"p{i}", "q", None), [], rewards=rewards)

    batch = [group(0, [1.0, 1.0]), group(1, [0.0, 1.0]), group(2, [0.0, 0.0])]
    asked = []

    def refill(round_, n):
        asked.append((round_, n))
        fresh = [group(10 + round_, [1.0, 1.0])] if round_ == 0 else [group(20, [0.0, 1.0]), group(21, [1.0, 0.0])]
        return fresh[:n], {"tokens": 5 * n}

    kept, metrics = rl_step.keep_varied(batch, refill, rounds=3)
    assert [g.example.id for g in kept] == ["p1", "p20", "p21"]
    assert asked == [(0, 2), (1, 2)]  # round 0 brought nothing with a signal; round 1 filled the batch
    assert metrics == {"dynamic_sampling_rounds": 2, "groups_trained": 3, "refill_tokens": 20}
    flat = [group(0, [1.0, 1.0]), group(1, [0.0, 0.0])]
    kept, metrics = rl_step.keep_varied(flat, lambda r, n: ([group(9, [1.0, 1.0])] * n, {"tokens": n}), rounds=2)
    assert kept == flat and metrics["dynamic_sampling_rounds"] == 2  # no signal anywhere: the batch as sampled
