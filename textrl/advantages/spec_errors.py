"""Turn a pydantic ValidationError into one ConfigError line per problem, each naming its field.

"advantage.gtpo.beta: must be >= 0, got -1" rather than pydantic's multi-line report.
"""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ValidationError

from textrl.errors import ConfigError

# Custom errors raised by our validators carry the field they are about in ctx["field"], because a
# model-level validator cannot set the error location itself.
FIELD_ERROR = "textrl_field"


def field_path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "<root>"


def model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at `loc` (for listing the allowed fields)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        candidates = [field.annotation]
        if isinstance(field.annotation, types.UnionType) or typing.get_origin(field.annotation) is typing.Union:
            candidates = list(typing.get_args(field.annotation))
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def describe(err: dict, model: type[BaseModel]) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if kind in bounds:
        op, key = bounds[kind]
        bound = ctx[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {op} {bound}, got {got!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {got!r}"
    if kind == "extra_forbidden":
        holder = model_at(model, err["loc"][:-1])
        allowed = f"; allowed: {', '.join(holder.model_fields)}" if holder else ""
        return f"unknown field{allowed}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of parameters (or null / false to switch it off), got {got!r}"
    if kind == FIELD_ERROR:
        return ctx["message"]
    if kind == "value_error":
        return str(ctx["error"])
    return f"{err['msg'][0].lower()}{err['msg'][1:]}, got {got!r}"


def config_error(exc: ValidationError, prefix: str, model: type[BaseModel]) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == FIELD_ERROR:
            loc = loc + (err["ctx"]["field"],)
        lines.append(f"{field_path(prefix, loc)}: {describe(err, model)}")
    return ConfigError("; ".join(lines))
