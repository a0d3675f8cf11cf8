"""Rewards added to a task by name from the run config (task.rewards / task.reward_params)."""
import gzip
import json
import sys
import textwrap

import pytest

from textrl.config import TaskConfig, load_run_config
from textrl.errors import ConfigError
from textrl.tasks import Example, Task, build_task, get_task, with_rewards


pytestmark = pytest.mark.usefixtures("clean_reward_registry")


def examples(n=2):
    return [Example(id=f"arithmetic/train/{i:05d}", prompt=f"0{i}+01=", answer=i + 1) for i in range(n)]


def test_added_reward_is_weighted_into_the_total_and_logged_raw():
    task = build_task(TaskConfig(name="arithmetic", rewards={"length_penalty": 0.5},
                                 reward_params={"length_penalty": {"target_length": 1, "unit": "chars",
                                                                   "penalty_scale": 1.0}}))
    assert isinstance(task, Task) and task.name == "arithmetic" and task.alphabet() == get_task("arithmetic").alphabet()
    train, heldout = task.split(1234, 10)
    assert (train, heldout) == get_task("arithmetic").split(1234, 10)
    right, wrong = task.score(["1", "999"], examples())
    assert right == {"reward": 1.0 + 0.5 * 0.0, "correct": True, "components": {"exact_match": 1.0, "length_penalty": 0.0}}
    assert wrong == {"reward": 0.0 + 0.5 * -2.0, "correct": False, "components": {"exact_match": 0.0, "length_penalty": -2.0}}


def test_correctness_stays_the_tasks_own():
    """An added reward that says 'correct' (exact_match against another answer) does not change it."""
    task = with_rewards(get_task("arithmetic"), {"keyword_contains": 1.0}, {"keyword_contains": {"keywords": ["9"]}})
    scores = task.score(["1", "9"], examples())
    assert [s["correct"] for s in scores] == [True, False]
    assert [s["reward"] for s in scores] == [1.0, 1.0]


def test_no_added_rewards_is_the_task_itself():
    task = get_task("arithmetic")
    assert with_rewards(task, {}) is task
    assert type(build_task(TaskConfig())).__name__ == "ArithmeticTask"


def test_a_name_the_task_already_logs_is_kept_apart():
    task = with_rewards(get_task("arithmetic"), {"exact_match": 2.0})
    (score,) = task.score(["1"], examples(1))
    assert score["components"] == {"exact_match": 1.0, "exact_match (added)": 1.0} and score["reward"] == 3.0


@pytest.mark.parametrize("task, message", [
    ({"rewards": {"length_penaltyy": 0.1}},
     "run config task.rewards: unknown reward 'length_penaltyy'; known rewards: code_execution, exact_match, "
     "format_compliance, keyword_contains, length_penalty, math_correctness"),
    ({"rewards": {"length_penalty": float("inf")}}, "run config task.rewards.length_penalty: expected a finite number"),
    ({"rewards": {"length_penalty": "x"}}, "run config task.rewards.length_penalty: "),
    ({"reward_params": {"length_penalty": {"unit": "chars"}}},
     "run config task.reward_params.length_penalty: not one of the added rewards in task.rewards (added: none)"),
    ({"rewards": {"length_penalty": 0.1}, "reward_params": {"length_penalty": {"target_len": 3}}},
     "run config task.reward_params.length_penalty.target_len: unknown parameter of reward 'length_penalty' "
     "(known: target_length, penalty_scale, unit)"),
])
def test_bad_added_rewards_stop_at_config_load(task, message):
    with pytest.raises(ConfigError) as err:
        load_run_config({"task": task})
    assert str(err.value).startswith(message)


def test_campaign_spec_takes_added_rewards_into_every_run():
    from textrl.campaign import expand_runs, load_spec

    spec = {"name": "t", "seeds": 1, "group_sizes": [4],
            "arms": [{"name": "grpo", "advantage": {"preset": "grpo"}, "lr": 3e-5},
                     # a negative added reward: MaxRL (the full preset's episode) is refused with it
                     {"name": "full", "advantage": {"preset": "full", "episode": "grpo"}, "lr": 3e-5}],
            "task": {"name": "arithmetic", "rewards": {"length_penalty": 0.1},
                     "reward_params": {"length_penalty": {"target_length": 2, "unit": "chars"}}}}
    runs = expand_runs(load_spec(spec))
    assert {json.dumps(r.config["task"], sort_keys=True) for r in runs} == {json.dumps(spec["task"] | {
        "params": {}, "heldout_size": 500, "split_seed": 1234}, sort_keys=True)}
    with pytest.raises(ConfigError, match=r"task\.rewards: unknown reward 'nope'; known rewards: "):
        load_spec({**spec, "task": {"rewards": {"nope": 1.0}}})


def test_empty_added_rewards_leave_configs_as_before():
    assert load_run_config({}).to_dict()["task"] == {"name": "arithmetic", "params": {}, "heldout_size": 500,
                                                    "split_seed": 1234}


def test_a_custom_task_module_may_register_the_rewards_it_adds(tmp_path, monkeypatch):
    (tmp_path / "my_rewards_task.py").write_text(textwrap.dedent("""
        from textrl.rewards import reward
        from textrl.tasks import get_task

        @reward
        def shortness(prompt, completion, example, **kwargs):
            return -len(completion)

        def build(**params):
            return get_task("arithmetic", **params)
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_rewards_task", raising=False)
    cfg = load_run_config({"task": {"name": "my_rewards_task:build", "rewards": {"shortness": 0.25}}})
    (score,) = build_task(cfg.task).score(["1234"], examples(1))
    assert score["components"] == {"exact_match": 0.0, "shortness": -4.0} and score["reward"] == -1.0


def test_added_reward_components_reach_the_generation_log(tmp_path, tiny_run_config):
    from textrl.trainer import train

    data = dict(tiny_run_config)
    data["task"] = {**data["task"], "rewards": {"length_penalty": 0.25},
                    "reward_params": {"length_penalty": {"target_length": 1, "unit": "chars", "penalty_scale": 1.0}}}
    data["train"] = {**data["train"], "steps": 1, "checkpoint_every": 1}
    train(load_run_config(data), tmp_path, log=lambda *_: None, progress=False)
    with gzip.open(tmp_path / "generations.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == data["train"]["prompts_per_step"] * data["train"]["group_size"]
    for row in rows:
        a, b = row["prompt"].rstrip("=").split("+")  # the tiny task: "3+4="
        own = float(row["completion"].strip() == str(int(a) + int(b)))
        penalty = -abs(len(row["completion"]) - 1)
        assert row["components"] == {"exact_match": own, "length_penalty": penalty}
        assert row["reward"] == pytest.approx(own + 0.25 * penalty) and row["correct"] is bool(own)
    assert json.loads((tmp_path / "config.json").read_text())["run"]["task"]["rewards"] == {"length_penalty": 0.25}


def test_a_users_reward_function_joins_a_builtin_task_from_the_spec(tmp_path, monkeypatch):
    (tmp_path / "my_shaping.py").write_text(textwrap.dedent("""
        from textrl.rewards import reward

        @reward(bounds=(-1.0, 0.0))
        def brevity(prompt, completion, example, **kwargs):
            return -min(1.0, len(completion) / 10)
        """))
    monkeypatch.chdir(tmp_path)  # a module beside the spec, run from its directory: no PYTHONPATH needed
    monkeypatch.delitem(sys.modules, "my_shaping", raising=False)
    cfg = load_run_config({"task": {"name": "arithmetic", "rewards": {"my_shaping:brevity": 0.5}}})
    (score,) = build_task(cfg.task).score(["12345"], examples(1))
    assert score["components"] == {"exact_match": 0.0, "my_shaping:brevity": -0.5} and score["reward"] == -0.25
    from textrl.campaign import load_spec

    arms = [{"name": "grpo", "advantage": {"preset": "grpo"}}, {"name": "full", "advantage": {"preset": "full"}}]
    with pytest.raises(ConfigError, match=r"MaxRL needs rewards >= 0, but task.rewards 'my_shaping:brevity'"):
        load_spec({"name": "t", "arms": arms, "task": {"name": "arithmetic", "rewards": {"my_shaping:brevity": 0.5}}})
    with pytest.raises(ConfigError, match=r"reward 'no_such_mod:f': cannot import module 'no_such_mod' \(ModuleNotFound"):
        load_run_config({"task": {"rewards": {"no_such_mod:f": 1.0}}})
    with pytest.raises(ConfigError, match=r"reward 'os:system': 'os' is a Python standard-library module"):
        load_run_config({"task": {"rewards": {"os:system": 1.0}}})
