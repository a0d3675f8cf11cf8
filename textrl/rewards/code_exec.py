"""code_execution: run a completion's Python against unit tests in the sandbox; reward = fraction passed.

Tests are assert-style snippets (`assert add(2, 3) == 5`), run one by one after the solution has
loaded completely. The solution and its grader run in two sandboxes of their own
(`textrl.rewards.code_box`): the solution's box holds the solution and nothing else, no test, no
expected value, no verdict; the grader's box holds the tests and sees the solution only through
a pipe of plain data, calling the solution's functions by request. Each test's comparisons run in
the grader with its own builtins, so a solution that reads its memory, its files, its frames or the
channel, or that redefines `type`, `isinstance` or `__eq__`, finds nothing to steal and changes
nothing that decides its grade. Only the grader's "pass i" lines count, each test once.

What a test can do with the solution: call its functions and classes, read and set attributes,
index, iterate, take len(), str() and `in`, and compare results with plain values (None, bool, int,
float, str, bytes, complex, and list / tuple / set / frozenset / dict of them). Arguments to the
solution must be such values too (or objects the solution returned): a test that passes a lambda to
the solution fails. Two objects of the solution's own classes compare by the data the solution
reports about them (dataclass fields, namedtuple items, enum names), so such a comparison is only as
strong as the solution's honesty; compare with plain values where it matters. A test that needs
the solution's files or printed output cannot see them: use `expected_output=` for programs judged
by what they print.

A correct solution that needs subprocesses or Unix sockets scores 0 here (see
`textrl.rewards.sandbox`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import warnings
from pathlib import Path
from typing import Any

from textrl.errors import ConfigError
from textrl.rewards.builtin import example_value
from textrl.rewards.registry import reward
from textrl.rewards.sandbox import Limits, isolation, run_connected, run_python

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_VERDICT = re.compile(r"^pass (\d{1,9})$", re.MULTILINE)  # bounded: int() of 5000 digits raises
_BOX = Path(__file__).with_name("code_box.py").read_text()


def extract_code(completion: str) -> str:
    """The last ```python (or untagged) fenced block, else the whole completion."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(completion)]
    for lang, body in reversed(blocks):
        if lang in ("python", "py", "python3", ""):
            return body
    return completion


def run_tests(code: str, tests: list[str], limits: Limits = Limits()) -> int:
    """Number of tests passed; a test the grader did not report as passed before a timeout or a
    crash has failed."""
    # the grader's stdout carries only its verdict lines (under 16 bytes per test): room for all of them
    limits = dataclasses.replace(limits, output_bytes=max(limits.output_bytes, 16 * len(tests) + 4096))
    # the grader needs only the standard library (-S: no site-packages, a faster start)
    result = run_connected({"code_box.py": _BOX, "tests.json": json.dumps(tests)}, ["-S", "code_box.py", "grade"],
                           {"code_box.py": _BOX, "solution.py": code}, ["code_box.py", "serve"], limits=limits)
    return len({int(i) for i in _VERDICT.findall(result.stdout) if int(i) < len(tests)})


@functools.lru_cache(maxsize=1)
def _warn_if_partly_isolated() -> None:
    missing = isolation()["not_enforced"]
    if missing:
        warnings.warn("code_execution sandbox does not enforce: " + "; ".join(missing), stacklevel=3)


@reward(parallel="thread")
def code_execution(prompt: str, completion: str, example: Any = None, *, tests: Any = None,
                   expected_output: str | None = None, timeout_s: float = 5.0, memory_mb: int = 512,
                   **_) -> dict:
    """Fraction of unit tests passed (a list of assert snippets from `tests=` or the example's
    tests/answer); or, with expected_output=, 1.0 when the program's stdout equals it."""
    limits = Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s + 0.999)), memory_mb=memory_mb)
    code = extract_code(completion)
    if expected_output is not None:
        _warn_if_partly_isolated()
        result = run_python({"solution.py": code}, "solution.py", limits=limits)
        ok = not result.timed_out and result.stdout.strip() == str(expected_output).strip()
        return {"reward": float(ok), "correct": ok}
    tests = next((t for t in (tests, example_value(example, "tests"), example_value(example, "answer"))
                  if t is not None), None)
    if isinstance(tests, str):
        tests = [tests]
    if not tests or not all(isinstance(t, str) for t in tests):
        raise ConfigError(f"code_execution: expected tests as a non-empty list of Python snippets "
                          f"(tests=... or the example's 'tests'), got {tests!r}")
    _warn_if_partly_isolated()
    passed = run_tests(code, list(tests), limits)
    return {"reward": passed / len(tests), "correct": passed == len(tests)}
