import json
import random
import re
import sys
import textwrap

import pytest

from textrl.errors import ConfigError
from textrl.tasks import Example, Task, get_task
from textrl.tasks.arithmetic import evaluate
from textrl.tasks.countdown import check_equation


def test_arithmetic_default_is_the_prototype_task():
    task = get_task("arithmetic")
    train, heldout = task.split(seed=1234, heldout_size=500)
    assert len(train) == 9500 and len(heldout) == 500
    assert all(re.fullmatch(r"\d\d\+\d\d=", ex.prompt) for ex in train + heldout)
    ex = heldout[0]
    a, b = ex.meta["operands"]
    assert ex.answer == a + b and task.target(ex) == str(a + b)
    # same permutation as the prototype's random.Random(1234).shuffle of all (a, b) pairs
    pairs = [(a, b) for a in range(100) for b in range(100)]
    random.Random(1234).shuffle(pairs)
    assert [e.prompt for e in heldout] == [f"{a:02d}+{b:02d}=" for a, b in pairs[:500]]
    assert task.alphabet() == "+0123456789="
    assert task.default_max_tokens == 4 and task.stop == ()
    assert isinstance(task, Task)


def test_arithmetic_split_is_deterministic_and_disjoint():
    task = get_task("arithmetic")
    train, heldout = task.split(7, 300)
    again_train, again_heldout = task.split(7, 300)
    assert train == again_train and heldout == again_heldout
    assert not {e.prompt for e in train} & {e.prompt for e in heldout}
    assert [e.prompt for e in task.split(8, 300)[1]] != [e.prompt for e in heldout]
    assert len({e.id for e in train + heldout}) == len(train) + len(heldout)


def test_arithmetic_score_ignores_surrounding_whitespace_only():
    task = get_task("arithmetic")
    ex = Example(id="x", prompt="07+45=", answer=52, meta={})
    scores = task.score(["52", " 52\n", "5 2", "520", "", "052"], [ex] * 6)
    assert [s["reward"] for s in scores] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert [s["correct"] for s in scores] == [True, True, False, False, False, False]
    assert scores[0]["components"] == {"exact_match": 1.0}


def test_arithmetic_operations_and_sampled_universe():
    task = get_task("arithmetic", ops="+-*", operands=3, digits=2, train_size=1000)
    train, heldout = task.split(3, 200)
    assert len(train) == 1000 and len(heldout) == 200
    assert not {e.prompt for e in train} & {e.prompt for e in heldout}
    for ex in train[:200]:
        assert ex.answer == evaluate(tuple(ex.meta["operands"]), tuple(ex.meta["ops"]))
    assert set(task.alphabet()) == set("0123456789+-*=")
    assert task.default_max_tokens == len("970299") + 1 + 1  # 99*99*99, sign, EOS
    assert evaluate((2, 3, 4), ("+", "*")) == 14 and evaluate((10, 3, 2), ("-", "-")) == 5


def test_arithmetic_carry_writes_the_planning_phrase_and_scores_the_last_word():
    from textrl.advantages.planning import match_spans

    task = get_task("arithmetic", carry=True)
    carried = Example(id="c", prompt="07+45=", answer=52, meta={"operands": [7, 45], "ops": ["+"]})
    plain = Example(id="p", prompt="12+34=", answer=46, meta={"operands": [12, 34], "ops": ["+"]})
    assert task.target(carried) == "carry 52" and task.target(plain) == "46"
    assert match_spans(task.target(carried), task.planning_grams) == [(0, 5)]
    scores = task.score(["carry 52", "52", "carry 25", "carry", ""], [carried] * 5)
    assert [s["correct"] for s in scores] == [True, True, False, False, False]
    assert set("carry ") <= set(task.alphabet()) and task.default_max_tokens == len("carry 198") + 1
    train, _ = task.split(0, 100)
    share = sum(task.target(ex).startswith("carry") for ex in train) / len(train)
    assert 0.4 < share < 0.5  # units digits summing to 10 or more: 45 of 100 pairs


def test_arithmetic_carry_needs_two_operand_addition():
    with pytest.raises(ConfigError, match="carry: true needs ops"):
        get_task("arithmetic", carry=True, ops="+-")


@pytest.mark.parametrize("params, field", [({"ops": "/"}, "ops"), ({"opz": "+"}, "opz"), ({"operands": 9}, "operands")])
def test_arithmetic_bad_params_name_the_field(params, field):
    with pytest.raises(ConfigError, match=f"task.params.{field}"):
        get_task("arithmetic", **params)


def test_heldout_larger_than_task_is_an_error():
    with pytest.raises(ConfigError, match="heldout_size"):
        get_task("arithmetic", digits=1).split(0, 100)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown task 'arithmetc'.*arithmetic, countdown, sentiment"):
        get_task("arithmetc")


def test_countdown_solutions_score_one_and_shaping():
    task = get_task("countdown", size=500)
    train, heldout = task.split(1, 100)
    keys = lambda xs: {(tuple(sorted(e.meta["numbers"])), e.answer) for e in xs}
    assert not keys(train) & keys(heldout)
    assert all(s["correct"] for s in task.score([task.target(e) for e in train], train))
    ex = Example("c", "", 24, {"numbers": [3, 8, 4, 4]})
    cases = {
        "<answer>3 * 8</answer>": 1.0,
        "so: <answer>(4 + 4) * 3 = 24</answer>": 1.0,
        "<answer>3 * 8 * 4 / 4</answer>": 1.0,
        "<answer>3 + 8</answer>": 0.1,            # valid, wrong value
        "<answer>3 * 8 * 1</answer>": 0.0,        # 1 was not given
        "<answer>3 * 3 * 8 / 3</answer>": 0.0,    # 3 used twice
        "<answer>__import__('os').system('true')</answer>": 0.0,
        "<answer>8 / (4 - 4)</answer>": 0.0,      # division by zero
        "<answer>3 ** 8</answer>": 0.0,
        "3 * 8 = 24": 0.0,                        # no answer tag
        "<answer>2.5 * 8</answer>": 0.0,
    }
    scores = task.score(list(cases), [ex] * len(cases))
    assert [s["reward"] for s in scores] == list(cases.values())
    assert check_equation("<answer>3*8", [3, 8], 24) == "correct"  # stop sequence cut the closing tag


def test_sentiment_generated_and_from_file(tmp_path):
    task = get_task("sentiment")
    train, heldout = task.split(0, 200)
    assert {e.answer for e in heldout} == {"positive", "negative"}
    assert not {e.prompt for e in train} & {e.prompt for e in heldout}
    ex = heldout[0]
    other = "negative" if ex.answer == "positive" else "positive"
    got = task.score([task.target(ex), f" {ex.answer.title()}.", other, ""], [ex] * 4)
    assert [s["reward"] for s in got] == [1.0, 1.0, 0.0, 0.0]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": l}) for t, l in
                              [("great", "Positive"), ("awful", "negative"), ("meh", "neutral")]))
    custom = get_task("sentiment", path=str(path))
    assert custom.labels == ("negative", "neutral", "positive")


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_boxed_math_from_jsonl_and_parquet(tmp_path):
    rows = [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(10)]
    rows[0]["answer"] = "\\frac{1}{2}"
    task = get_task("boxed_math", path=_write_jsonl(tmp_path / "m.jsonl", rows))
    train, heldout = task.split(0, 3)
    assert len(train) == 7 and len(heldout) == 3
    half = next(e for e in train + heldout if e.answer == "\\frac{1}{2}")
    got = task.score(["so \\boxed{0.5}", "The answer is 1/2.", "\\boxed{2}"], [half] * 3)
    assert [s["correct"] for s in got] == [True, True, False]
    assert task.score([task.target(half)], [half])[0]["reward"] == 1.0
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame(rows).to_parquet(tmp_path / "m.parquet")
    pq = get_task("boxed_math", path=str(tmp_path / "m.parquet"))
    assert [e.prompt for e in pq.split(0, 3)[1]] == [e.prompt for e in heldout]


def test_dataset_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        get_task("boxed_math", path=str(tmp_path / "missing.jsonl"))
    path = _write_jsonl(tmp_path / "m.jsonl", [{"problem": "1+1", "answer": 2}, {"problem": "2+2"}])
    with pytest.raises(ConfigError, match=r"row 2: no 'answer' field"):
        get_task("boxed_math", path=path)
    with pytest.raises(ConfigError, match="answer_field|row 1"):
        get_task("boxed_math", path=path, answer_field="solution")
    with pytest.raises(ConfigError, match="task.params.path: required"):
        get_task("boxed_math")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": 1}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        get_task("boxed_math", path=str(bad))


def test_code_task_scored_in_sandbox(tmp_path):
    rows = [{"prompt": "Write inc(x).", "tests": ["assert inc(1) == 2", "assert inc(-1) == 0"],
             "solution": "def inc(x):\n    return x + 1"},
            {"prompt": "Write dec(x).", "tests": "assert dec(1) == 0", "solution": "def dec(x):\n    return x - 1"}]
    task = get_task("code", path=_write_jsonl(tmp_path / "c.jsonl", rows), timeout_s=2)
    train, heldout = task.split(0, 1)
    ex = next(e for e in train + heldout if "inc" in e.prompt)
    got = task.score([task.target(ex), "def inc(x):\n    return 2", "no code"], [ex] * 3)
    assert [s["reward"] for s in got] == [1.0, 0.5, 0.0]
    with pytest.raises(ConfigError, match="'tests' must be a non-empty list"):
        get_task("code", path=_write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "tests": []}]))


def test_custom_task_from_module(tmp_path, monkeypatch):
    (tmp_path / "my_tasks.py").write_text(textwrap.dedent("""
        from textrl.tasks.arithmetic import ArithmeticTask
        def small(digits=1):
            return ArithmeticTask(digits=digits)
        def broken():
            return object()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    task = get_task("my_tasks:small", digits=1)
    assert len(task.split(0, 10)[0]) == 90
    with pytest.raises(ConfigError, match="lacks name"):
        get_task("my_tasks:broken")
    with pytest.raises(ConfigError, match="has no callable 'nope'"):
        get_task("my_tasks:nope")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_mod'"):
        get_task("no_such_mod:f")
    with pytest.raises(ConfigError, match="rejected its params"):
        get_task("my_tasks:small", wrong=1)
    sys.modules.pop("my_tasks", None)
