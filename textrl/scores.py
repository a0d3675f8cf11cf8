"""The score of one completion: what a reward returns, what a task returns, what training reads."""

from __future__ import annotations

from typing import TypedDict


class Score(TypedDict):
    reward: float
    correct: bool
    components: dict[str, float]


def make_score(reward: float, correct: bool, components: dict[str, float] | None = None) -> Score:
    return {"reward": float(reward), "correct": bool(correct), "components": dict(components or {})}
