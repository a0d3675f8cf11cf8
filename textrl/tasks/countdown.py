"""Countdown: reach a target with + - * / from given numbers, each used at most once.

The answer is read from the last <answer>...</answer> and evaluated by textrl.rewards.safe_eval
(syntax tree walk, exact fractions, no eval). Shaped reward: no readable equation, or one using
numbers it was not given -> 0; a valid equation with the wrong value -> `format_reward`; correct -> 1.
"""
from __future__ import annotations

import random
import re
from collections import Counter

from pydantic import Field

from textrl.advantages.planning import grams_for
from textrl.rewards.safe_eval import UnsafeExpression, evaluate, literals, parse
from textrl.scores import Score, make_score
from textrl.tasks.base import Example, check_batch, shuffled_split
from textrl.tasks.params import TaskParams, parse_params

PROMPT = ("Using the numbers {numbers}, create an equation that equals {target}. You can use + - * / "
          "and each number at most once. Show your reasoning, then give the equation in "
          "<answer></answer> tags, for example <answer>(1 + 2) / 3</answer>.")
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


class CountdownParams(TaskParams):
    numbers: int = Field(4, ge=2, le=6, description="how many numbers each problem gives")
    max_number: int = Field(99, ge=2)
    max_target: int = Field(1000, ge=1)
    size: int = Field(10_000, ge=2, description="distinct problems generated (train + held-out)")
    format_reward: float = Field(0.1, description="reward for a valid equation with the wrong value")


def _solvable(rng: random.Random, count: int, max_number: int, max_target: int):
    """Numbers and a target built from all of them, so every problem has a known solution."""
    while True:
        numbers = [rng.randint(1, max_number) for _ in range(count)]
        order = rng.sample(numbers, len(numbers))
        expr, value = str(order[0]), order[0]
        for n in order[1:]:
            # the first operator (in random order) that keeps the running value a positive integer
            for op in rng.sample("+-*/", 4):
                if op == "+" or op == "*" or (op == "-" and value > n) or (op == "/" and value % n == 0):
                    value = {"+": value + n, "-": value - n, "*": value * n, "/": value // max(n, 1)}[op]
                    expr = f"({expr} {op} {n})"
                    break
        if value <= max_target:
            return numbers, value, expr[1:-1]


def check_equation(text: str, numbers: list[int], target: int) -> str:
    """'invalid', 'wrong' or 'correct' for the equation inside the last <answer> tag."""
    found = _ANSWER.findall(text)
    if not found:
        return "invalid"
    expr = found[-1].strip().split("=")[0]
    try:
        tree = parse(expr)
        used = literals(tree)
        value = evaluate(tree, ops=frozenset("+-*/"))
    except UnsafeExpression:
        return "invalid"
    if any(u.denominator != 1 for u in used) or Counter(int(u) for u in used) - Counter(numbers):
        return "invalid"
    return "correct" if value == target else "wrong"


class CountdownTask:
    name = "countdown"
    stop: tuple[str, ...] = ("</answer>",)
    default_max_tokens = 256

    def __init__(self, **params):
        self.params = parse_params(self.name, CountdownParams, params)
        self.planning_grams = grams_for(self.name)

    def _problems(self, seed: int) -> list[tuple[list[int], int, str]]:
        p = self.params
        rng, seen, problems = random.Random(seed), set(), []
        for _ in range(p.size * 20):
            numbers, target, solution = _solvable(rng, p.numbers, p.max_number, p.max_target)
            key = (tuple(sorted(numbers)), target)
            if key not in seen:  # distinct problems, so held-out never repeats a training one
                seen.add(key)
                problems.append((numbers, target, solution))
                if len(problems) == p.size:
                    break
        return problems

    def problem_count(self) -> int:
        """Problems to split into training and held-out (optional in the Task protocol: plan-time checks)."""
        return self.params.size

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]:
        train, heldout = shuffled_split(self._problems(seed), seed, heldout_size, "countdown")
        return self._examples("train", train), self._examples("heldout", heldout)

    def _examples(self, split: str, problems) -> list[Example]:
        return [Example(id=f"{self.name}/{split}/{i:05d}", prompt=PROMPT.format(numbers=numbers, target=target),
                        answer=target, meta={"numbers": numbers, "solution": solution})
                for i, (numbers, target, solution) in enumerate(problems)]

    def target(self, example: Example) -> str:
        return f"<answer>{example.meta['solution']}</answer>"

    def alphabet(self) -> str:
        return "".join(sorted(set(PROMPT) | set("0123456789+-*/() <>answer[],")))

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        check_batch(completions, examples)
        rewards = {"invalid": 0.0, "wrong": self.params.format_reward, "correct": 1.0}
        scores = []
        for text, ex in zip(completions, examples):
            verdict = check_equation(text, ex.meta["numbers"], ex.answer)
            scores.append(make_score(rewards[verdict], verdict == "correct",
                                     {"countdown": rewards[verdict], "valid_equation": float(verdict != "invalid")}))
        return scores


def build(**params) -> CountdownTask:
    return CountdownTask(**params)
