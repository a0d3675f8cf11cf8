"""Validation of a task's `params` mapping with pydantic, turned into one-line ConfigErrors."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from textrl.errors import ConfigError
from textrl.validation import config_error

P = TypeVar("P", bound="TaskParams")


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_params(task: str, model: type[P], params: dict[str, Any]) -> P:
    try:
        return model(**params)
    except ValidationError as err:
        raise config_error(err, model, prefix="task.params", where=f"task {task!r}: ") from None


def check_template(template: str, field: str) -> None:
    """A prompt template must take exactly the one named field (literal braces doubled)."""
    try:
        template.format(**{field: "x"})
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"task.params.template: expected a format string using {{{field}}} "
                          f"(double any literal braces), got {template!r} ({type(err).__name__}: {err})") from None
    if "{" + field + "}" not in template:
        raise ConfigError(f"task.params.template: {template!r} does not contain {{{field}}}")
