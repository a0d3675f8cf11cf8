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


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_BARE = re.compile(r"[^\s$]+")
_BRACE = re.compile(r"[{}]")
# Text longer than this is not read as a number (safe_eval refuses long expressions anyway), so a
# degenerate completion costs linear time, never more.
MAX_NUMBER_TEXT = 2000


def _closing_braces(text: str) -> dict[int, int]:
    """{index of "{": index of its matching "}"} for every balanced group, in one pass."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            pairs[stack.pop()] = m.start()
    return pairs


def last_boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...} / \\fbox{...} (nested braces) that has any, else of a bare
    "\\boxed 5" (or unclosed group); linear in the length of the text however degenerate it is."""
    closing = None
    for m in reversed(list(_BOXED.finditer(text))):  # the last one with a value wins
        start = m.end()
        if text.startswith("{", start):
            if closing is None:
                closing = _closing_braces(text)
            end = closing.get(start)
            if end is not None:
                return text[start + 1:end]
        bare = _BARE.match(text, start)  # "\boxed 5" (or an unclosed group)
        if bare:
            return bare.group(0)
    return None


def _strip_trailing_dots(s: str) -> str:
    """s without trailing dots and whitespace (a regex like [.\\s]+$ is quadratic on long runs)."""
    end = len(s)
    while end and (s[end - 1] == "." or s[end - 1].isspace()):
        end -= 1
    return s[:end]


def extract_answer(text: str, *, strict: bool = False) -> str | None:
    """The final answer: the last \\boxed{}; unless strict, else an "answer is" phrase, else the last number."""
    boxed = last_boxed(text)
    if boxed is not None or strict:
        return boxed
    for pattern in (_HASHES, _ANSWER_PHRASE):
        matches = pattern.findall(text)
        if matches:
            answer = matches[-1].strip().splitlines()[0] if matches[-1].strip() else ""
            answer = _strip_trailing_dots(answer)
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
    """The value of a number or simple LaTeX expression as a finite float; None for anything else,
    including values too large for a float (e.g. 999999999999^{64}): never raises."""
    if isinstance(text, bool):
        return None
    try:
        if isinstance(text, (int, float)):
            value = float(text)
        else:
            text = str(text)
            if len(text) > MAX_NUMBER_TEXT:
                return None
            value = float(evaluate(_latex_to_expr(text), ops=frozenset("+-*/^"),
                                   names={"pi": math.pi}, functions={"sqrt": math.sqrt}))
    except (UnsafeExpression, ArithmeticError, ValueError, TypeError, RecursionError, MemoryError):
        return None  # OverflowError and ZeroDivisionError are ArithmeticErrors
    return value if math.isfinite(value) else None


def _normalise_text(s: Any) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;)|\s|\$", "", str(s))
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    return s.rstrip(".").casefold()


def answers_match(predicted: Any, expected: Any, *, rel_tol: float = 1e-6) -> bool:
    """Numerically equal when both sides are numbers, else equal as normalised text. A predicted
    answer that is not a usable number (too large, malformed) simply does not match a number."""
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
