"""Validation of a task's `params` mapping with pydantic, turned into one-line ConfigErrors."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from textrl.errors import ConfigError

P = TypeVar("P", bound="TaskParams")


class TaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_params(task: str, model: type[P], params: dict[str, Any]) -> P:
    try:
        return model(**params)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            if e["type"] == "extra_forbidden":
                known = ", ".join(model.model_fields)
                problems.append(f"task.params.{loc}: unknown parameter for task {task!r} (known: {known})")
            elif e["type"] == "missing":
                what = model.model_fields[str(e["loc"][0])].description or "no default"
                problems.append(f"task.params.{loc}: required for task {task!r} ({what})")
            else:
                problems.append(f"task.params.{loc}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("; ".join(problems)) from None


def check_template(template: str, field: str) -> None:
    """A prompt template must take exactly the one named field (literal braces doubled)."""
    try:
        template.format(**{field: "x"})
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"task.params.template: expected a format string using {{{field}}} "
                          f"(double any literal braces), got {template!r} ({type(err).__name__}: {err})") from None
    if "{" + field + "}" not in template:
        raise ConfigError(f"task.params.template: {template!r} does not contain {{{field}}}")
