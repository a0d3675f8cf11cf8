import math
import subprocess
import sys
import textwrap

import pytest

from textrl.errors import ConfigError
from textrl.rewards import (RewardError, combine, get_reward, known_rewards, resolve_reward, reward,
                            score_batch, verifier)


pytestmark = pytest.mark.usefixtures("clean_reward_registry")


def test_decorator_bare_and_named_keeps_function_callable():
    @reward
    def shout(prompt, completion, example, **kwargs):
        return float(completion.isupper())

    @reward(name="polite")
    def _polite(prompt, completion, example, **kwargs):
        return {"reward": 1.0 if "please" in completion else 0.0, "correct": True}

    assert {"shout", "polite"} <= set(known_rewards())
    assert shout("", "HI", {}) == 1.0
    scores = score_batch({"shout": 1.0, "polite": 2.0}, ["HI", "please"], [{"id": "a"}, {"id": "b"}])
    assert [s["reward"] for s in scores] == [1.0, 2.0]
    assert scores[1]["components"] == {"shout": 0.0, "polite": 1.0}


def test_name_clash_with_another_function_is_refused():
    with pytest.raises(ConfigError, match="already registered"):
        @reward(name="exact_match")
        def mine(prompt, completion, example, **kwargs):
            return 0.0


def test_unknown_reward_lists_known_names():
    with pytest.raises(ConfigError, match="unknown reward 'exact'.*exact_match.*math_correctness"):
        get_reward("exact")
    with pytest.raises(ConfigError, match="unknown reward"):
        combine({"exact_match": 1.0, "nope": 1.0})


@pytest.mark.parametrize("value, expected", [
    ("0.5", "returned str '0.5'"), (math.nan, "non-finite"), (math.inf, "non-finite"), (None, "returned NoneType"),
    ({"score": 1.0}, "without a 'reward' key"), ({"reward": 1.0, "correct": "yes"}, "'correct'"),
])
def test_bad_return_values_name_reward_prompt_and_completion(value, expected):
    @reward(name="bad")
    def bad(prompt, completion, example, **kwargs):
        return value

    with pytest.raises(RewardError, match=expected) as err:
        score_batch("bad", ["ok", "the completion"], [{"id": "p1"}, {"id": "p2"}])
    assert "'bad'" in str(err.value) and "prompt id p1" in str(err.value) and "'ok'" in str(err.value)
    assert not isinstance(err.value, ConfigError)  # a failure mid-training, not a config error: keeps its traceback


def test_raising_reward_is_an_error_not_a_zero():
    @reward
    def boom(prompt, completion, example, **kwargs):
        raise KeyError("answer")

    with pytest.raises(RewardError, match=r"reward 'boom' raised KeyError.*prompt id q7, completion 'x'") as err:
        score_batch("boom", ["x"], [{"id": "q7"}])
    assert isinstance(err.value.__cause__, KeyError)  # the crash's own traceback comes with it


def test_a_crash_inside_a_reward_reaches_the_user_with_its_traceback(tmp_path, monkeypatch):
    """Not flattened into one "error:" line like a config mistake: the frame that raised is shown."""
    (tmp_path / "crashing_reward.py").write_text(
        "from textrl.rewards import reward\n@reward\ndef crashing(prompt, completion, example, **kw):\n"
        "    return {}['missing']\n")
    code = ("import sys; sys.path.insert(0, %r)\nimport crashing_reward\nfrom textrl.rewards import score_batch\n"
            "score_batch('crashing', ['x'], [{'id': 1}])\n" % str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "crashing_reward.py\", line 4, in crashing" in out.stderr and "KeyError: 'missing'" in out.stderr


def test_verifier_gates_and_correctness():
    @verifier
    def has_digits(prompt, completion, example, **kwargs):
        return any(c.isdigit() for c in completion)

    @verifier
    def sloppy(prompt, completion, example, **kwargs):
        return 1.0

    with pytest.raises(RewardError, match="verifier 'sloppy' returned float 1.0; expected True or False"):
        score_batch("sloppy", ["x"], [{}])
    scores = score_batch("has_digits", ["a1", "ab"], [{}, {}])
    assert [(s["reward"], s["correct"]) for s in scores] == [(1.0, True), (0.0, False)]
    gated = combine({"keyword_contains": 1.0}, params={"keyword_contains": {"keywords": ["a"]}},
                    gates=["has_digits"], gate_reward=-1.0)
    scores = score_batch(gated, ["a1", "ab"], [{}, {}])
    assert [s["reward"] for s in scores] == [1.0, -1.0]
    assert scores[1]["correct"] is False and scores[1]["components"]["has_digits"] == 0.0


def test_combine_weights_and_correct_channel():
    combo = combine({"exact_match": 1.0, "length_penalty": 0.5},
                    params={"length_penalty": {"target_length": 1, "penalty_scale": 0.1}})
    ex = {"id": "e", "prompt": "2+2=", "answer": "4"}
    right, wrong = score_batch(combo, ["4", "five six"], [ex, ex])
    assert right == {"reward": 1.0, "correct": True, "components": {"exact_match": 1.0, "length_penalty": -0.0}}
    assert wrong["correct"] is False and wrong["reward"] == pytest.approx(-0.05)
    assert combo("2+2=", "4", ex)["reward"] == 1.0
    with pytest.raises(ConfigError, match="weight of reward 'exact_match'"):
        combine({"exact_match": "1"})
    with pytest.raises(ConfigError, match="neither weighted nor gates"):
        combine({"exact_match": 1.0}, params={"length_penalty": {}})


def test_builtins_follow_the_cookbook_signatures():
    assert resolve_reward("keyword_contains", keywords=["solution", "answer"])("", "The Answer is", {}) == 0.5
    assert get_reward("keyword_contains", keywords=["x", "y"], mode="any")("", "x", {}) == 1.0
    assert get_reward("length_penalty", target_length=3, penalty_scale=0.5)("", "a b c d e", {}) == -1.0
    assert get_reward("length_penalty", target_length=3, unit="chars")("", "abc", {}) == 0.0
    fmt = get_reward("format_compliance", patterns=[r"^\d+\.", r"Step \d+:"])
    assert fmt("", "1. go\nStep 2: stop", {}) == 1.0 and fmt("", "go", {}) == 0.0
    assert get_reward("exact_match")("", " Paris\n", {"answer": "Paris"})["correct"] is True
    assert get_reward("exact_match", case_sensitive=False)("", "paris", {"meta": {"expected_answer": "Paris"}})["correct"]
    with pytest.raises(ConfigError, match="invalid regex"):
        get_reward("format_compliance", patterns=["("])("", "x", {})
    with pytest.raises(RewardError, match="keyword_contains.*keywords"):
        score_batch("keyword_contains", ["x"], [{}])
    with pytest.raises(RewardError, match="no reference answer"):
        score_batch("exact_match", ["x"], [{"id": 3}])


def test_slow_reward_runs_in_a_bounded_process_pool(tmp_path, monkeypatch):
    (tmp_path / "slow_rewards.py").write_text(textwrap.dedent("""
        import os
        from textrl.rewards import reward

        @reward(parallel="process")
        def worker_pid(prompt, completion, example, **kwargs):
            return {"reward": float(os.getpid()), "correct": True}

        @reward(parallel="process")
        def worker_fails(prompt, completion, example, **kwargs):
            if completion == "bad":
                raise ValueError("cannot score")
            return 1.0
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_rewards  # noqa: F401

    pids = {s["reward"] for s in score_batch("worker_pid", ["a"] * 6, [{}] * 6, max_workers=2)}
    import os
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    with pytest.raises(RewardError, match="'worker_fails' raised ValueError: cannot score.*prompt id 2"):
        score_batch("worker_fails", ["a", "b", "bad"], [{}, {}, {}], max_workers=2)
    sys.modules.pop("slow_rewards", None)


def test_plain_function_and_batch_shape_errors():
    def words(prompt, completion, example, **kwargs):
        return float(len(completion.split()))

    assert [s["reward"] for s in score_batch(words, ["a b", ""], None)] == [2.0, 0.0]
    with pytest.raises(ConfigError, match="2 completions but 1 examples"):
        score_batch(words, ["a", "b"], [{}])
    with pytest.raises(ConfigError, match="completions must be strings"):
        score_batch(words, [3], [{}])


def test_rewards_and_tasks_import_without_mlx():
    code = "import sys, textrl.rewards, textrl.tasks; print('mlx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
