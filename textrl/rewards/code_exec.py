"""code_execution: run a completion's Python against unit tests in the sandbox; reward = fraction passed.

Tests are assert-style snippets run one by one after the solution is loaded. Each result line is
prefixed with a random token handed to the harness on stdin, so a program that prints "PASS"
lines itself earns nothing.
"""
from __future__ import annotations

import functools
import json
import re
import secrets
import warnings
from typing import Any

from textrl.errors import ConfigError
from textrl.rewards.builtin import example_value
from textrl.rewards.registry import reward
from textrl.rewards.sandbox import Limits, isolation, run_python

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)

HARNESS = '''
import json, os, sys, traceback

def main():
    token = sys.stdin.readline().strip()
    def say(line):
        os.write(1, ("\\n" + token + " " + line + "\\n").encode())
    with open("tests.json") as f:
        tests = json.load(f)
    with open("solution.py") as f:
        source = f.read()
    scope = {"__name__": "solution"}
    try:
        exec(compile(source, "solution.py", "exec"), scope)
    except BaseException:
        traceback.print_exc()
        say("LOAD-FAILED")
        return
    for i, test in enumerate(tests):
        try:
            exec(compile(test, "test_%d" % i, "exec"), scope)
            say("PASS %d" % i)
        except BaseException:
            traceback.print_exc()
            say("FAIL %d" % i)

main()
sys.stdout.flush()
os._exit(0)
'''


def extract_code(completion: str) -> str:
    """The last ```python (or untagged) fenced block, else the whole completion."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(completion)]
    for lang, body in reversed(blocks):
        if lang in ("python", "py", "python3", ""):
            return body
    return completion


def run_tests(code: str, tests: list[str], limits: Limits = Limits()) -> int:
    """Number of tests passed; a test that did not report before a timeout or crash has failed."""
    token = secrets.token_hex(16)
    result = run_python({"solution.py": code, "tests.json": json.dumps(tests), "harness.py": HARNESS},
                        "harness.py", stdin=token + "\n", limits=limits)
    return len(set(re.findall(rf"^{token} PASS (\d+)$", result.stdout, re.MULTILINE)))


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
