"""Advantage plug-ins (textrl.advantages.plugins): registered estimators and a user's `module:function`."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from textrl.advantages import AdvantagePipeline
from textrl.advantages.plugins import EpisodeBatch, reinforce_pp, rloo
from textrl.errors import ConfigError

USER_MODULE = '''
import numpy as np

def loo(batch, scale=1.0):
    """A user's 10-line RLOO: each completion against the mean of the other completions of its prompt."""
    out = []
    for r in batch.rewards:
        others = (r.sum() - r) / max(len(r) - 1, 1)
        out.append(scale * (r - others))
    return out

def short(batch):
    return [r[:-1] for r in batch.rewards]

def nan(batch):
    return [r * np.nan for r in batch.rewards]

def crashes(batch):
    raise KeyError("oops")

class RunningMean:
    """Stateful: baseline = running mean of earlier batches' rewards."""
    def __init__(self, decay=0.5):
        self.decay, self.mean = decay, None
    def __call__(self, batch):
        m = float(np.concatenate(batch.rewards).mean())
        b = m if self.mean is None else self.mean
        self.mean = self.decay * b + (1 - self.decay) * m
        return [r - b for r in batch.rewards]
    def state_dict(self):
        return {"mean": self.mean}
    def load_state_dict(self, state):
        self.mean = state["mean"]

def boost_planning(batch, factor=2.0):
    """A token-level stage: planning tokens' advantages times factor, the others as the built-in stages left them."""
    return [[np.where(m, factor * a, a) for a, m in zip(advs, masks)]
            for advs, masks in zip(batch.advantages, batch.planning_masks)]

def drop_last_token(batch):
    return [[a[:-1] for a in advs] for advs in batch.advantages]

def not_finite(batch):
    return [[a + np.inf for a in advs] for advs in batch.advantages]

class StepCount:
    def __init__(self):
        self.calls = 0
    def __call__(self, batch):
        self.calls += 1
        return batch.advantages
    def state_dict(self):
        return {"calls": self.calls}
    def load_state_dict(self, state):
        self.calls = state["calls"]
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module named uniquely per test in the working directory, as a user's mymod.py would be."""
    name = f"usermod_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    return name


def batch(*groups, step=1):
    rewards = [np.asarray(g, dtype=np.float64) for g in groups]
    return EpisodeBatch(rewards, [r > 0 for r in rewards], step)


def test_rloo_is_the_leave_one_out_baseline():
    # group [1, 0, 0, 1]: the others' mean is 1/3 for a 1 and 2/3 for a 0 -> +2/3, -2/3
    out = rloo(batch([1, 0, 0, 1], [1, 1], [0.5]))
    np.testing.assert_allclose(out[0], [2 / 3, -2 / 3, -2 / 3, 2 / 3])
    np.testing.assert_array_equal(out[1], [0.0, 0.0])  # no signal
    np.testing.assert_array_equal(out[2], [0.0])       # no baseline for a single completion


def test_reinforce_pp_normalises_over_the_whole_batch():
    out = reinforce_pp(batch([1, 0], [1, 1, 1, 0]))
    # centred: [0.5, -0.5] and [0.25, 0.25, 0.25, -0.75]; their std over all 6 values
    centred = np.array([0.5, -0.5, 0.25, 0.25, 0.25, -0.75])
    np.testing.assert_allclose(np.concatenate(out), centred / (centred.std() + 1e-8))


def test_a_users_function_runs_through_the_pipeline_with_its_params(user_module):
    p = AdvantagePipeline.from_config({"episode": f"{user_module}:loo", "episode_params": {"scale": 2.0}})
    advs, _ = p.compute([[1.0, 0.0, 0.0, 1.0]], None, [[[0, 0], [0], [0, 0, 0], [0]]], 1, p.controller(),
                        [[True, False, False, True]])
    np.testing.assert_allclose(advs[0][0], [4 / 3, 4 / 3])  # 2 x (1 - 1/3), spread over both tokens
    np.testing.assert_allclose(advs[0][1], [-4 / 3])
    registered = AdvantagePipeline.from_config({"episode": "rloo"})
    same, _ = registered.compute([[1.0, 0.0, 0.0, 1.0]], None, [[[0, 0], [0], [0, 0, 0], [0]]], 1,
                                 registered.controller(), [[True, False, False, True]])
    np.testing.assert_allclose(np.concatenate(same[0]) * 2, np.concatenate(advs[0]))


@pytest.mark.parametrize("target,params,message", [
    ("no_such_module_xyz:f", {}, "advantage.episode: cannot import module 'no_such_module_xyz'"),
    ("{mod}:missing", {}, "has no function or class 'missing'"),
    ("{mod}:loo", {"temperature": 1}, "does not accept params {'temperature': 1}"),
    ("{mod}:short", {}, "group 0 has 4 completions but 3 advantages"),
    ("{mod}:nan", {}, "advantage[0] = nan is not finite"),
    ("{mod}:crashes", {}, "failed on a synthetic batch: KeyError"),
    ("rlooo", {}, "unknown advantage 'rlooo'; use one of grpo, maxrl, reinforce, dapo_overlong, reinforce_pp, rloo"),
    ("grpo", {"scale": 2}, "advantage.episode_params: only used with a plug-in episode"),
])
def test_a_bad_plugin_is_refused_before_compute(user_module, target, params, message):
    with pytest.raises(ConfigError) as err:
        AdvantagePipeline.from_config({"episode": target.format(mod=user_module), "episode_params": params})
    assert message in str(err.value), str(err.value)


def test_a_campaign_spec_names_the_arm_of_a_bad_plugin(user_module):
    from textrl.campaign import load_spec

    arms = [{"name": "grpo", "advantage": {"preset": "grpo"}},
            {"name": "mine", "advantage": {"episode": f"{user_module}:nan"}}]
    with pytest.raises(ConfigError) as err:
        load_spec({"name": "t", "arms": arms, "seeds": 2, "group_sizes": [4]})
    assert "arm 'mine': arms[1].advantage.episode:" in str(err.value) and "is not finite" in str(err.value)


def test_a_stateful_plugin_resumes_exactly_from_its_checkpointed_state(user_module):
    p = AdvantagePipeline.from_config({"episode": f"{user_module}:RunningMean", "episode_params": {"decay": 0.5}})
    steps = [[[1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]
    lengths = [[[0], [0, 0]], [[0], [0]]]

    def run(controller, which):
        out = []
        for s in which:
            correct = [[r > 0 for r in group] for group in steps[s]]
            advs, _ = p.compute(steps[s], None, lengths, s + 1, controller, correct)
            out.append(np.concatenate([a for row in advs for a in row]))
        return out

    straight = run(p.controller(), range(4))
    first = p.controller()
    run(first, range(2))
    state = json.loads(json.dumps(first.state_dict()))  # what checkpoint/state.json holds
    assert state["plugin"] == {"mean": first.plugin.state_dict()["mean"]}
    resumed = p.controller()
    resumed.load_state_dict(state)
    for a, b in zip(run(resumed, range(2, 4)), straight[2:]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(straight[2], run(p.controller(), [2])[0])  # the state matters


@pytest.mark.slow
def test_a_plugin_arm_trains_and_checkpoints_its_state(tmp_path, tiny_run_config, user_module):
    from textrl.config import load_run_config
    from textrl.io import read_json
    from textrl.trainer import train

    data = {**tiny_run_config, "advantage": {"episode": f"{user_module}:RunningMean"},
            "train": {**tiny_run_config["train"], "steps": 2, "checkpoint_every": 1}}
    rows = train(load_run_config(data), tmp_path / "run", log=lambda *_: None, progress=False)
    assert len(rows) == 2 and all(np.isfinite(r["loss"]) for r in rows)
    assert read_json(tmp_path / "run" / "checkpoint" / "state.json")["controller"]["plugin"]["mean"] is not None
    data["advantage"] = {"preset": "full", "token": f"{user_module}:StepCount"}  # after sepa -> gtpo -> hicra
    rows = train(load_run_config(data), tmp_path / "token", log=lambda *_: None, progress=False)
    assert len(rows) == 2 and all(np.isfinite(r["loss"]) for r in rows)
    assert read_json(tmp_path / "token" / "checkpoint" / "state.json")["controller"]["token_plugin"] == {"calls": 2}


def test_a_token_plugin_reshapes_per_token_advantages_after_the_builtin_stages(user_module):
    pipe = AdvantagePipeline.from_config({"preset": "grpo", "token": f"{user_module}:boost_planning",
                                          "token_params": {"factor": 3.0}})
    assert pipe.needs.planning_mask and pipe.needs.uncertainty == "entropy" and pipe.needs.correct
    rewards = [[1.0, 0.0]]
    unc = [[[0.5, 0.5, 0.5], [0.5, 0.5]]]
    masks = [[[1, 0, 0], [0, 1]]]
    advs, _ = pipe.compute(rewards, unc, masks, 1, pipe.controller(), [[True, False]])
    plain, _ = AdvantagePipeline.preset("grpo").compute(rewards, unc, None, 1, None)
    assert np.allclose(advs[0][0], plain[0][0] * [3, 1, 1]) and np.allclose(advs[0][1], plain[0][1] * [1, 3])
    assert "token" not in AdvantagePipeline.preset("grpo").model_dump()  # unset: old configs unchanged


@pytest.mark.parametrize("fn, message", [
    ("drop_last_token", "group 0 completion 0 has 3 tokens but 2 advantages"),
    ("not_finite", "advantage\\[0\\] = inf is not finite"),
    ("no_such", "has no function or class 'no_such'"),
])
def test_a_bad_token_plugin_is_refused_before_compute(user_module, fn, message):
    with pytest.raises(ConfigError, match=f"advantage.token: .*{message}"):
        AdvantagePipeline.from_config({"preset": "grpo", "token": f"{user_module}:{fn}"})


def test_a_stateful_token_plugin_is_checkpointed_with_the_controller(user_module):
    pipe = AdvantagePipeline.from_config({"preset": "grpo", "token": f"{user_module}:StepCount"})
    ctl = pipe.controller()
    for step in (1, 2):
        pipe.compute([[1.0, 0.0]], [[[0.5], [0.5]]], [[[0], [0]]], step, ctl, [[True, False]])
    state = json.loads(json.dumps(ctl.state_dict()))
    assert state["token_plugin"] == {"calls": 2}
    resumed = pipe.controller()
    resumed.load_state_dict(state)
    assert resumed.token.state_dict() == {"calls": 2}


def test_dapo_overlong_penalises_the_last_cache_tokens_linearly_then_normalises_the_group():
    from textrl.advantages.plugins import REGISTRY

    batch = EpisodeBatch([np.array([1.0, 1.0, 1.0, 0.0])], [np.array([True, True, True, False])], 1,
                         [np.array([6, 8, 10, 3])])
    (a,) = REGISTRY["dapo_overlong"](batch, max_tokens=10, cache=4)
    shaped = np.array([1.0, 0.5, 0.0, 0.0])  # 6 tokens: inside the budget; 8: half the cache; 10: all of it
    assert np.allclose(a, (shaped - shaped.mean()) / shaped.std())
    with pytest.raises(ValueError, match="0 < cache < max_tokens"):
        REGISTRY["dapo_overlong"](batch, max_tokens=10, cache=10)


def test_dapo_overlong_must_use_the_sampling_budget():
    from textrl.config import load_run_config

    advantage = {"preset": "grpo", "episode": "dapo_overlong", "episode_params": {"max_tokens": 8, "cache": 2}}
    assert load_run_config({"advantage": advantage, "sampling": {"max_tokens": 8}}).sampling.max_tokens == 8
    with pytest.raises(ConfigError, match=r"advantage\.episode_params\.max_tokens: dapo_overlong needs the sampling "
                                          r"budget sampling\.max_tokens = 16, got 8"):
        load_run_config({"advantage": advantage, "sampling": {"max_tokens": 16}})
