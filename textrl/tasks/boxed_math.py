"""Math problems with reference answers from a local JSONL or Parquet file (no download); a completion
is correct when its final (\\boxed{}) answer equals the reference (textrl.rewards math_correctness)."""
from __future__ import annotations

from pydantic import Field

from textrl.advantages.planning import grams_for
from textrl.rewards import get_reward, score_batch
from textrl.scores import Score
from textrl.tasks.base import Example, check_batch, shuffled_split
from textrl.tasks.datasets import load_rows
from textrl.tasks.params import TaskParams, check_template, parse_params

TEMPLATE = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


class BoxedMathParams(TaskParams):
    path: str = Field(description="local .jsonl or .parquet file of problems")
    problem_field: str = "problem"
    answer_field: str = "answer"
    solution_field: str = Field("solution", description="optional worked solution for the warm start")
    template: str = TEMPLATE
    strict: bool = Field(False, description="accept only a \\boxed{} final answer")


class BoxedMathTask:
    name = "boxed_math"
    stop: tuple[str, ...] = ()
    default_max_tokens = 1024

    def __init__(self, **params):
        self.params = parse_params(self.name, BoxedMathParams, params)
        p = self.params
        check_template(p.template, "problem")
        self.planning_grams = grams_for(self.name)
        self._rows = load_rows(p.path, [p.problem_field, p.answer_field], task=self.name)
        self._reward = get_reward("math_correctness", strict=p.strict)

    def problem_count(self) -> int:
        """Problems to split into training and held-out (optional in the Task protocol: plan-time checks)."""
        return len(self._rows)

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]:
        train, heldout = shuffled_split(list(range(len(self._rows))), seed, heldout_size, self.params.path)
        return [self._example(i) for i in train], [self._example(i) for i in heldout]

    def _example(self, i: int) -> Example:
        p, row = self.params, self._rows[i]
        meta = {"row": i}
        if row.get(p.solution_field) is not None:
            meta["solution"] = row[p.solution_field]
        return Example(id=f"{self.name}/{row.get('id', i)}", prompt=p.template.format(problem=row[p.problem_field]),
                       answer=row[p.answer_field], meta=meta)

    def target(self, example: Example) -> str:
        solution = example.meta.get("solution")
        boxed = f"\\boxed{{{example.answer}}}"
        return f"{solution}\n{boxed}" if solution and "\\boxed" not in solution else (solution or boxed)

    def alphabet(self) -> str:
        return "".join(sorted({c for i in range(len(self._rows)) for c in self._example(i).prompt
                               + self.target(self._example(i))}))

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        check_batch(completions, examples)
        return score_batch(self._reward, completions, examples)


def build(**params) -> BoxedMathTask:
    return BoxedMathTask(**params)
