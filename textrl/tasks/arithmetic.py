"""Integer arithmetic sized for the built-in character-level model.

The default is the task on which this project first saw RL learn on 2 CPU cores: zero-padded two-digit
addition "07+45=" -> "52". Zero padding is what made the warm start learn
fast, so every operand is padded to `digits` characters; the answer is written naturally.

With `carry: true` (two-operand addition only) the target writes its one intermediate decision before
the answer: "carry 52" when the units column carries ("07+45="), "52" when it does not. "carry" is a
planning phrase, so a built-in model warm-started on this format gives HICRA and SEPA real planning
tokens to act on; only the final answer is scored, so the policy is free to drop or misplace the word.
"""
from __future__ import annotations

import random
import string

from pydantic import Field, field_validator, model_validator

from textrl.advantages.planning import grams_for
from textrl.scores import Score, make_score
from textrl.tasks.base import Example, check_batch, shuffled_split
from textrl.tasks.params import TaskParams, parse_params

# Above this many distinct problems the universe is sampled instead of enumerated.
ENUMERATE_LIMIT = 200_000


class ArithmeticParams(TaskParams):
    ops: str = Field("+", description="operators to draw from, any of '+-*'")
    operands: int = Field(2, ge=2, le=4)
    digits: int = Field(2, ge=1, le=4)
    train_size: int | None = Field(None, ge=1, description="cap on training problems (default: all)")
    carry: bool = Field(False, description="write 'carry' before the answer when the units column carries "
                                           "(two-operand addition only)")

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, ops: str) -> str:
        if not ops or set(ops) - set("+-*") or len(set(ops)) != len(ops):
            raise ValueError("expected distinct operators from '+-*', e.g. '+' or '+-*'")
        return ops

    @model_validator(mode="after")
    def _carry_needs_addition(self) -> "ArithmeticParams":
        if self.carry and (self.ops != "+" or self.operands != 2):
            raise ValueError(f"carry: true needs ops '+' and operands 2 (got ops {self.ops!r}, operands {self.operands})")
        return self


CARRY_WORD = "carry"


def evaluate(numbers: tuple[int, ...], ops: tuple[str, ...]) -> int:
    """Value with the usual precedence (* before + and -), without eval()."""
    terms, signs = [numbers[0]], []
    for op, n in zip(ops, numbers[1:]):
        if op == "*":
            terms[-1] *= n
        else:
            signs.append(op)
            terms.append(n)
    value = terms[0]
    for sign, term in zip(signs, terms[1:]):
        value = value + term if sign == "+" else value - term
    return value


class ArithmeticTask:
    name = "arithmetic"
    stop: tuple[str, ...] = ()

    def __init__(self, **params):
        self.params = parse_params(self.name, ArithmeticParams, params)
        # without `carry` the char model cannot write these; they matter when a word-level model learns the task
        self.planning_grams = grams_for(self.name)
        p = self.params
        self._base = 10 ** p.digits
        self._n_op_choices = len(p.ops) ** (p.operands - 1)
        self.size = self._base ** p.operands * self._n_op_choices
        # answer digits (+ sign) + EOS: the sampler needs no more than this
        largest = (self._base - 1) ** p.operands if "*" in p.ops else p.operands * (self._base - 1)
        self.default_max_tokens = len(str(largest)) + ("-" in p.ops) + 1 + (len(CARRY_WORD) + 1) * p.carry

    def alphabet(self) -> str:
        """Sorted characters that can appear in prompts and targets (the char tokenizer's vocabulary)."""
        chars = set(string.digits) | set(self.params.ops) | {"="} | (set(CARRY_WORD + " ") if self.params.carry else set())
        return "".join(sorted(chars))

    def _problem(self, index: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        p = self.params
        index, op_index = divmod(index, self._n_op_choices)
        # first operand most significant: for the default this is the original (a, b) order, so the
        # same seed gives the same held-out set as the first experiments
        numbers = []
        for _ in range(p.operands):
            index, n = divmod(index, self._base)
            numbers.insert(0, n)
        ops = []
        for _ in range(p.operands - 1):
            op_index, k = divmod(op_index, len(p.ops))
            ops.append(p.ops[k])
        return tuple(numbers), tuple(ops)

    def _example(self, split: str, position: int, index: int) -> Example:
        numbers, ops = self._problem(index)
        width = self.params.digits
        text = f"{numbers[0]:0{width}d}" + "".join(f"{op}{n:0{width}d}" for op, n in zip(ops, numbers[1:]))
        return Example(id=f"{self.name}/{split}/{position:05d}", prompt=text + "=",
                       answer=evaluate(numbers, ops),
                       meta={"operands": list(numbers), "ops": list(ops)})

    def problem_count(self) -> int:
        """Problems to split into training and held-out (optional in the Task protocol: plan-time checks)."""
        return self.size

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]:
        cap = self.params.train_size
        if self.size <= ENUMERATE_LIMIT:
            train_idx, held_idx = shuffled_split(range(self.size), seed, heldout_size, "arithmetic")
        else:
            want = heldout_size + (cap or ENUMERATE_LIMIT)
            drawn = random.Random(seed).sample(range(self.size), want)
            train_idx, held_idx = shuffled_split(drawn, seed, heldout_size, "arithmetic")
        if cap is not None:
            train_idx = train_idx[:cap]
        train = [self._example("train", i, k) for i, k in enumerate(train_idx)]
        heldout = [self._example("heldout", i, k) for i, k in enumerate(held_idx)]
        return train, heldout

    def target(self, example: Example) -> str:
        if self.params.carry:
            a, b = example.meta["operands"]
            if a % 10 + b % 10 >= 10:
                return f"{CARRY_WORD} {example.answer}"
        return str(example.answer)

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        check_batch(completions, examples)
        scores = []
        for text, ex in zip(completions, examples):
            # the last word is the answer: with `carry` any words before it are the model's working
            words = text.split() if self.params.carry else [text.strip()]
            ok = bool(words) and words[-1] == str(ex.answer)
            scores.append(make_score(float(ok), ok, {"exact_match": float(ok)}))
        return scores


def build(**params) -> ArithmeticTask:
    return ArithmeticTask(**params)


__all__ = ["ArithmeticTask", "ArithmeticParams", "build", "evaluate"]
