"""Sentiment classification, as in the REINFORCE classification seed: reward 1 for the right label.

Offline by default: reviews are generated from small phrase lists (every combination is distinct,
so the held-out set never repeats a training review). `path=` points at a local JSONL/Parquet file
with your own text and label fields instead.
"""
from __future__ import annotations

import itertools
import re

from pydantic import Field

from textrl.advantages.planning import grams_for
from textrl.scores import Score, make_score
from textrl.tasks.base import Example, check_batch, shuffled_split
from textrl.tasks.datasets import load_rows
from textrl.tasks.params import TaskParams, parse_params

PROMPT = "Review: {text}\nIs this review positive or negative? Answer with one word.\nSentiment:"

SUBJECTS = ("The movie", "This phone", "The hotel", "Our dinner", "The book", "This laptop", "The concert",
            "The service", "This game", "The coffee", "The new album", "The train ride")
POSITIVE = ("was absolutely wonderful", "exceeded every expectation", "was a real delight",
            "made my whole week", "works beautifully", "was worth every penny", "felt warm and welcoming",
            "is the best I have tried", "left me smiling", "was fantastic from start to finish")
NEGATIVE = ("was a complete waste of money", "broke after two days", "was painfully boring",
            "left me disappointed", "felt cold and unfriendly", "is the worst I have tried",
            "was a total mess", "made me angry", "never worked properly", "was dull from start to finish")
CODAS = ("", " I would recommend it to a friend.", " Honestly, what else is there to say?",
         " We went there last weekend.", " My sister agreed with me.")


class SentimentParams(TaskParams):
    path: str | None = Field(None, description="local JSONL/Parquet with text and label fields")
    text_field: str = "text"
    label_field: str = "label"


def generated_reviews() -> list[tuple[str, str]]:
    rows = []
    for subject, coda in itertools.product(SUBJECTS, CODAS):
        rows += [(f"{subject} {p}.{coda}", "positive") for p in POSITIVE]
        rows += [(f"{subject} {n}.{coda}", "negative") for n in NEGATIVE]
    return rows


def first_word(text: str) -> str:
    m = re.search(r"[A-Za-z]+", text)
    return m.group(0).casefold() if m else ""


class SentimentTask:
    name = "sentiment"
    stop: tuple[str, ...] = ("\n",)
    default_max_tokens = 4

    def __init__(self, **params):
        self.params = parse_params(self.name, SentimentParams, params)
        self.planning_grams = grams_for(self.name)
        p = self.params
        if p.path is None:
            self._rows = generated_reviews()
        else:
            rows = load_rows(p.path, [p.text_field, p.label_field], task=self.name)
            self._rows = [(str(r[p.text_field]), str(r[p.label_field]).strip().casefold()) for r in rows]
        self.labels = tuple(sorted({label for _, label in self._rows}))

    def problem_count(self) -> int:
        """Problems to split into training and held-out (optional in the Task protocol: plan-time checks)."""
        return len(self._rows)

    def split(self, seed: int, heldout_size: int) -> tuple[list[Example], list[Example]]:
        indexed = list(enumerate(self._rows))
        train, heldout = shuffled_split(indexed, seed, heldout_size, "sentiment")
        return self._examples(train), self._examples(heldout)

    def _examples(self, rows) -> list[Example]:
        return [Example(id=f"{self.name}/{i:05d}", prompt=PROMPT.format(text=text), answer=label,
                        meta={"labels": list(self.labels)}) for i, (text, label) in rows]

    def target(self, example: Example) -> str:
        return f" {example.answer}"

    def alphabet(self) -> str:
        return "".join(sorted({c for text, label in self._rows for c in PROMPT.format(text=text) + " " + label}))

    def score(self, completions: list[str], examples: list[Example]) -> list[Score]:
        check_batch(completions, examples)
        out = []
        for text, ex in zip(completions, examples):
            ok = first_word(text) == ex.answer
            out.append(make_score(float(ok), ok, {"label": float(ok)}))
        return out


def build(**params) -> SentimentTask:
    return SentimentTask(**params)
