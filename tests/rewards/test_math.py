import math

import pytest

from textrl.rewards import extract_answer, get_reward
from textrl.rewards.math_answer import answers_match, to_number
from textrl.rewards.safe_eval import UnsafeExpression, evaluate


@pytest.mark.parametrize("text, expected", [
    ("so the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("\\boxed{1} then \\boxed{\\{a, b\\}}", "\\{a, b\\}"),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
    ("The final answer is 1,000.", "1,000"),
    ("Answer: -3/4", "-3/4"),
    ("work...\n#### 42", "42"),
    ("I got 3 apples and then 7", "7"),
    ("no numbers here", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("predicted, reference", [
    ("\\frac{1}{2}", "0.5"), ("\\dfrac{3}{4}", 0.75), ("1,000", 1000), ("-\\frac12", "-0.5"),
    ("2\\sqrt{3}", math.sqrt(12)), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"), ("50\\%", "50"),
    ("10^{3}", 1000), ("\\pi", math.pi), ("3.0", "3"), ("\\left(1,2\\right)", "(1, 2)"),
    ("\\text{(A)}", "(A)"), ("$12$", "12"),
])
def test_equivalent_forms_match(predicted, reference):
    assert answers_match(predicted, reference)


@pytest.mark.parametrize("predicted, reference", [("3", "4"), ("\\frac{1}{3}", "0.33"), ("(1,3)", "(1,2)"), ("", "0")])
def test_different_answers_do_not_match(predicted, reference):
    assert not answers_match(predicted, reference)


def test_math_correctness_reward_and_strict_mode():
    ex = {"id": "m1", "answer": "\\frac{3}{4}"}
    assert get_reward("math_correctness")("", "It is 0.75", ex) == {"reward": 1.0, "correct": True}
    assert get_reward("math_correctness", strict=True)("", "It is 0.75", ex)["correct"] is False
    assert get_reward("math_correctness", strict=True)("", "\\boxed{0.75}", ex)["correct"] is True


@pytest.mark.parametrize("expr", ["__import__('os')", "(1).real", "[1, 2]", "9**9**9", "x", "1 if 1 else 2",
                                  "lambda: 1", "2**1000", "1/0"])
def test_safe_eval_rejects_everything_but_arithmetic(expr):
    with pytest.raises(UnsafeExpression):
        evaluate(expr)
    assert to_number(expr) is None


def test_safe_eval_is_exact():
    assert evaluate("(1/3) * 3") == 1 and evaluate("2^10") == 1024 and evaluate("-(4 - 6) / 4") == 0.5
