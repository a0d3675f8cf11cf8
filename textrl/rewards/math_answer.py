"""math_correctness: extract a completion's final answer and compare it with the reference numerically.

Handles \\boxed{...} (nested braces), "answer is / Answer: / ####" phrasings, numbers with thousands
separators, fractions, percentages and simple LaTeX (\\frac, \\sqrt, \\pi, \\cdot, \\left(...\\right)).
Forms that do not reduce to a number are compared as normalised text.
"""
from __future__ import annotations

import math
import re
from typing import Any

from textrl.rewards.builtin import reference
from textrl.rewards.registry import reward
from textrl.rewards.safe_eval import UnsafeExpression, evaluate

_ANSWER_PHRASE = re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*:?\s*(.+)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*(.+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Contents of the {...} group opening at text[start], honouring nesting."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i], i + 1
    return None


def last_boxed(text: str) -> str | None:
    found = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        group = _braced(text, m.end())
        if group is not None:
            found = group[0]
        else:  # "\boxed 5"
            bare = re.match(r"[^\s$]+", text[m.end():])
            found = bare.group(0) if bare else found
    return found


def extract_answer(text: str, *, strict: bool = False) -> str | None:
    """The final answer: the last \\boxed{}; unless strict, else an "answer is" phrase, else the last number."""
    boxed = last_boxed(text)
    if boxed is not None or strict:
        return boxed
    for pattern in (_HASHES, _ANSWER_PHRASE):
        matches = pattern.findall(text)
        if matches:
            answer = matches[-1].strip().splitlines()[0] if matches[-1].strip() else ""
            answer = re.sub(r"[.\s]+$", "", answer)
            if answer:
                return answer
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _latex_to_expr(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\text\{[^{}]*\}|\\mbox\{[^{}]*\}|\\mathrm\{[^{}]*\}", "", s)  # units, words
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:|\s)", "", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|\\%|%|\\\$", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)  # \frac12
    for _ in range(5):  # nested \frac / \sqrt, innermost first
        s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
        s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\sqrt\s*(\d+)", r"sqrt(\1)", s)
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/").replace("\\pi", "pi")
    s = s.replace("{", "(").replace("}", ")").replace("^", "**")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s.replace(" ", "")):
        s = s.replace(",", "")
    s = re.sub(r"(?<=[\d)])\s*(?=[(a-z])", "*", s.replace(" ", ""))  # 2\sqrt{3} -> 2*sqrt(3)
    return s


def to_number(text: Any) -> float | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    try:
        value = evaluate(_latex_to_expr(str(text)), ops=frozenset("+-*/^"),
                         names={"pi": math.pi}, functions={"sqrt": math.sqrt})
    except (UnsafeExpression, ZeroDivisionError, OverflowError):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _normalise_text(s: Any) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;)|\s|\$", "", str(s))
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    return s.rstrip(".").casefold()


def answers_match(predicted: Any, expected: Any, *, rel_tol: float = 1e-6) -> bool:
    a, b = to_number(predicted), to_number(expected)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)
    return _normalise_text(predicted) == _normalise_text(expected)


@reward
def math_correctness(prompt: str, completion: str, example: Any = None, *, answer: Any = None,
                     strict: bool = False, **_) -> dict:
    """1.0 when the completion's final answer equals the reference (numerically where possible).
    strict=True accepts only a \\boxed{} answer."""
    expected = answer if answer is not None else reference(example)
    predicted = extract_answer(completion, strict=strict)
    ok = predicted is not None and answers_match(predicted, expected)
    return {"reward": float(ok), "correct": ok}
