"""Tasks: prompts with references, a deterministic train/held-out split, and batch scoring.

`get_task(name, **params)` builds one by name (arithmetic, countdown, sentiment, boxed_math, code) or
from "package.module:function" returning a Task. Task modules are imported lazily so that naming one
task never pays for the others. `build_task(task_config)` is what a run trains on: the task plus the
weighted rewards its config adds (task.rewards / task.reward_params, see textrl.tasks.rewarded).
"""
from __future__ import annotations

from textrl.scores import Score, make_score
from textrl.tasks.base import Example, Task
from textrl.tasks.registry import get_task
from textrl.tasks.rewarded import build_task, with_rewards

__all__ = ["Example", "Score", "Task", "build_task", "get_task", "make_score", "with_rewards"]
