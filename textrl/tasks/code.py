"""Programming problems with unit tests from a local JSONL/Parquet file, scored by the sandboxed
code_execution reward (fraction of tests passed; correct when all pass)."""
from __future__ import annotations

from pydantic import Field

from textrl.advantages.planning import grams_for
from textrl.errors import ConfigError
from textrl.rewards import get_reward, score_batch
from textrl.scores import Score
from textrl.tasks.base import Example, check_batch, shuffled_split
from textrl.tasks.datasets import load_rows
from textrl.tasks.params import TaskParams, check_template, parse_params

TEMPLATE = "{prompt}\nWrite a Python solution in a ```python code block."


class CodeParams(TaskParams):
    path: str = Field(description="local .jsonl or .parquet: one problem per row with its tests")
    prompt_field: str = "prompt"
    tests_field: str = Field("tests", description="list of assert snippets run after the solution")
    solution_field: str = "solution"
    template: str = TEMPLATE
    timeout_s: float = Field(5.0, gt=0)
    memory_mb: int = Field(512, ge=64)
    max_workers: int = Field(2, ge=1, description="sandboxes running at once")


class CodeTask:
    name = "code"
    stop: tuple[str, ...] = ()
    default_max_tokens = 1024

    def __init__(self, **params):
        self.params = parse_params(self.name, CodeParams, params)
        p = self.params
        check_template(p.template, "prompt")
        self.planning_grams = grams_for(self.name)
        self._rows = load_rows(p.path, [p.prompt_field, p.tests_field], task=self.name)
        for i, row in enumerate(self._rows):
            tests = row[p.tests_field]
            tests = [tests] if isinstance(tests, str) else tests
            if not tests or not all(isinstance(t, str) for t in tests):
                raise ConfigError(f"{p.path!r} row {i + 1}: {p.tests_field!r} must be a non-empty list of "
                                  f"Python test snippets, got {row[p.tests_field]!r}")
            row[p.tests_field] = list(tests)
        self._reward = get_reward("code_execution", timeout_s=p.timeout_s, memory_mb=p.memory_mb)

    def problem_count(self) -> int:
        """Problems to split into training and held-out (optional in the Task protocol: plan-time checks)."""
        return len(self._rows)

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]:
        train, heldout = shuffled_split(list(range(len(self._rows))), seed, heldout_size, self.params.path)
        return [self._example(i) for i in train], [self._example(i) for i in heldout]

    def _example(self, i: int) -> Example:
        p, row = self.params, self._rows[i]
        return Example(id=f"{self.name}/{row.get('id', i)}", prompt=p.template.format(prompt=row[p.prompt_field]),
                       answer=row[p.tests_field], meta={"row": i, "solution": row.get(p.solution_field)})

    def target(self, example: Example) -> str:
        if not example.meta.get("solution"):
            raise ConfigError(f"{self.params.path!r} row {example.meta['row'] + 1}: no "
                              f"{self.params.solution_field!r} field, which the supervised warm start needs")
        return f"```python\n{example.meta['solution']}\n```"

    def alphabet(self) -> str:
        chars = set()
        for i in range(len(self._rows)):
            ex = self._example(i)
            chars |= set(ex.prompt) | set(ex.meta.get("solution") or "")
        return "".join(sorted(chars))

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        check_batch(completions, examples)
        return score_batch(self._reward, completions, examples, max_workers=self.params.max_workers)


def build(**params) -> CodeTask:
    return CodeTask(**params)
