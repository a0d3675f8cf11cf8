"""Tasks by name: the built-in ones (imported lazily, so naming one task never pays for the others)
or "package.module:function" returning a Task."""

from __future__ import annotations

import importlib

from textrl.errors import ConfigError
from textrl.tasks.base import Task
from textrl.user_code import import_user_module, not_user_code

BUILTIN = {
    "arithmetic": "textrl.tasks.arithmetic",
    "countdown": "textrl.tasks.countdown",
    "sentiment": "textrl.tasks.sentiment",
    "boxed_math": "textrl.tasks.boxed_math",
    "code": "textrl.tasks.code",
}

REQUIRED = ("name", "planning_grams", "stop", "default_max_tokens", "split", "target", "score")


def get_task(name: str, **params) -> Task:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"task.name: expected a task name, got {name!r}")
    if name in BUILTIN:
        return importlib.import_module(BUILTIN[name]).build(**params)
    if ":" in name:
        return _custom(name, params)
    raise ConfigError(
        f"task.name: unknown task {name!r}; known tasks: {', '.join(BUILTIN)}, "
        f"or 'package.module:function' returning a Task")


def _custom(spec: str, params: dict) -> Task:
    module_name, _, attr = spec.partition(":")
    if why := not_user_code(module_name):
        raise ConfigError(f"task.name: {spec!r}: {why}")
    try:
        module = import_user_module(module_name)
    except ImportError as err:
        raise ConfigError(f"task.name: cannot import module {module_name!r} for custom task {spec!r}: {err}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"task.name: {module_name!r} has no callable {attr!r} (custom task {spec!r})")
    try:
        task = factory(**params)
    except TypeError as err:
        raise ConfigError(f"task.params: custom task {spec!r} rejected its params {params!r}: {err}") from None
    missing = [a for a in REQUIRED if not hasattr(task, a)]
    if missing:
        raise ConfigError(f"task.name: {spec!r} returned {type(task).__name__}, which lacks "
                          f"{', '.join(missing)} of the Task protocol")
    return task
