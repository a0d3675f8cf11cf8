import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --------------------------------------------------------------------------- degenerate model output

DEGENERATE = [
    "the answer is " + "9" * 400,  # float() of a 400-digit integer overflows
    "\\boxed{999999999999^{64}}",  # an allowed power whose value is too large for a float
    "\\boxed{999999999999^{64} \\cdot \\pi}",  # the same, mixed with a float
    "\\boxed{\\frac{1}{999999999999^{64}}} + \\boxed{\\frac{999999999999^{64}}{3}}",
    "\\boxed{10^{10^{10}}}", "\\boxed{9^{9^{9^{9}}}}", "\\boxed{2^{-999999}}", "\\boxed{0^{-1}}",
    "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",  # deeply nested braces
    "\\boxed{" + "(" * 400 + "1" + ")" * 400 + "}", "\\boxed{" + "-" * 400 + "1}",
    "\\boxed{" + "\\sqrt{" * 300 + "2" + "}" * 300 + "}", "\\boxed{" + "\\frac{1}{" * 200 + "2" + "}" * 200 + "}",
    "\\boxed{" * 20_000,  # unclosed groups: was quadratic (minutes)
    "\\boxed x " * 50_000, "answer: " + "." * 50_000 + "x",  # regex and slicing blow-ups
    "9" * 100_000, "1e999", "\\boxed{1e999}", "\\boxed{nan}", "\\boxed{inf}", "\\boxed{\\sqrt{-4}}",
    "\\boxed{\\frac{1}{0}}", "\\boxed{}", "\\boxed{", "}" * 1000 + "{" * 1000, "\x00\ud800\uffff", "",
]


@pytest.mark.parametrize("completion", DEGENERATE, ids=lambda c: repr(c[:40]) + f"..{len(c)}")
def test_degenerate_output_scores_zero_and_never_raises(completion):
    start = time.monotonic()
    assert get_reward("math_correctness")("", completion, {"answer": "3"}) == {"reward": 0.0, "correct": False}
    assert get_reward("math_correctness", strict=True)("", completion, {"answer": "3"})["reward"] == 0.0
    assert time.monotonic() - start < 2.0


def test_reviewer_examples():
    from textrl.rewards import math_correctness

    assert math_correctness("", "the answer is " + "9" * 400, {"answer": "3"}) == {"reward": 0.0, "correct": False}
    assert math_correctness("", "\\boxed{999999999999^{64}}", {"answer": "3"})["correct"] is False
    assert to_number("999999999999^{64}") is None and to_number(10**400) is None and to_number("9" * 400) is None


def test_huge_exact_answers_still_compare_as_text():
    big = "9" * 400
    assert get_reward("math_correctness")("", f"the answer is {big}", {"answer": big})["correct"] is True
    assert get_reward("math_correctness")("", f"\\boxed{{{big}}}", {"answer": big + "8"})["correct"] is False


LATEX_BITS = st.sampled_from(["\\boxed{", "\\fbox{", "{", "}", "\\frac", "\\dfrac", "\\sqrt", "^", "_", "\\pi",
                              "\\cdot", "\\left(", "\\right)", "(", ")", "-", "+", "*", "/", ".", ",", "%", "$",
                              "\\%", "\\text{", "answer is ", "Answer: ", "#### ", "999999999999", "64", "0",
                              "1e308", " ", "\n", "\\", "\\boxed "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400), st.lists(st.one_of(LATEX_BITS, st.text(max_size=5)), max_size=80).map("".join)),
       st.sampled_from(["3", "\\frac{1}{2}", "999999999999^{64}", "(1, 2)", "", "-0.5"]))
def test_math_correctness_never_raises_on_arbitrary_text(completion, answer):
    result = get_reward("math_correctness")("", completion, {"answer": answer})
    assert result["reward"] in (0.0, 1.0) and result["correct"] is (result["reward"] == 1.0)
