"""The one translation of pydantic's validation errors into textrl's messages, for the campaign spec,
the run config, advantage pipelines and task params alike: one line per problem, naming the field and
what was expected, e.g. "advantage.gtpo.beta: must be >= 0, got -1" instead of pydantic's report.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from textrl.errors import ConfigError, shown

# A validator that knows which field to blame (a model-level check cannot set the error location)
# raises field_error(...): its ctx carries the field, relative to the model that raised it.
FIELD_ERROR = "textrl_field"
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
_META_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
_FIELD = re.compile(r"[A-Za-z_][\w.\[\]]*")


def field_error(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(FIELD_ERROR, "{message}", {"field": field, "message": message})


def config_error(exc: ValidationError, model: type[BaseModel], *, where: str = "", prefix: str = "",
                 first_only: bool = False) -> ConfigError:
    """One ConfigError for a ValidationError of `model`: "<where><prefix>.<field>: <problem>", one per
    problem joined by "; " (only the first with first_only)."""
    errors = exc.errors()[:1] if first_only else exc.errors()
    return ConfigError("; ".join(where + message(err, model, prefix) for err in errors))


def message(err: dict, model: type[BaseModel], prefix: str = "") -> str:
    """"<field>: <problem>" for one pydantic error dict."""
    loc = _loc(err["loc"])
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == FIELD_ERROR:
        return f"{field_path(prefix, loc + (ctx['field'],))}: {ctx['message']}"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        field, _, rest = msg.partition(": ")
        if rest and _FIELD.fullmatch(field):  # "field: problem" from a validator of the enclosing model
            return f"{field_path(prefix, loc + (field,))}: {rest}"
        return f"{field_path(prefix, loc)}: {msg}"
    return f"{field_path(prefix, loc)}: {describe(err, model, loc)}"


def describe(err: dict, model: type[BaseModel], loc: tuple) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        holder = model_at(model, loc[:-1])
        return f"unknown field (expected one of: {', '.join(holder.model_fields)})" if holder else "unknown field"
    if kind == "missing":
        found = _field_at(model, loc)
        hint = found[2].model_fields[loc[-1]].description if found else None
        return "required field is missing" + (f" ({hint})" if hint else "")
    if kind == "finite_number":
        return f"expected a finite number, got {shown(got)}"
    found = _field_at(model, loc)
    if found is not None:
        # the field's whole contract (type, both bounds, null allowed), not only the one bound it broke
        return f"expected {_expected(found[0], found[1])}, got {shown(got)}"
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        bound = ctx[key]
        return f"must be {op} {_number(bound)}, got {shown(got)}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {shown(got)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {shown(got)}"
    return f"{err['msg'][0].lower()}{err['msg'][1:]}, got {shown(got)}"


def field_path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "(top level)"


def _loc(parts) -> tuple:
    """pydantic's location without its internal steps (validator kinds, union members, model names)."""
    return tuple(p for p in parts if isinstance(p, int) or not (
        p.startswith(("function-", "list[", "literal[", "dict["))
        or (p[:1].isupper() and p.isidentifier() and p.endswith(("Config", "Spec", "Stages", "Params")))))


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(bare type, constraint metadata, allows None) of a possibly Optional/Annotated annotation."""
    metadata: list[Any] = []
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation = args[0]
            for m in args[1:]:
                metadata.extend(getattr(m, "metadata", [m]))
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        else:
            return annotation, metadata, nullable


def model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class holding the fields at `loc` (list items and optional sections see through)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _unwrap(current.model_fields[part].annotation)[0]
        while typing.get_origin(current) in (list, dict):
            current = _unwrap(typing.get_args(current)[-1])[0]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_at(model: type[BaseModel], loc: tuple) -> tuple[Any, list[Any], type[BaseModel]] | None:
    """(annotation, constraints, owning model) of the field at `loc`."""
    names = tuple(p for p in loc if not isinstance(p, int))
    if not names:
        return None
    owner = model_at(model, names[:-1])
    if owner is None or names[-1] not in owner.model_fields:
        return None
    info = owner.model_fields[names[-1]]
    return info.annotation, list(info.metadata), owner


def _number(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _expected(annotation: Any, metadata: list[Any]) -> str:
    bare, meta, nullable = _unwrap(annotation)
    meta = meta + list(metadata)
    if typing.get_origin(bare) is Literal:
        desc = "one of " + ", ".join(repr(v) for v in typing.get_args(bare))
    elif bare is bool:
        desc = "true or false"
    elif bare in (int, float):
        noun = "integer" if bare is int else "number"
        bounds = [(sym, getattr(m, attr)) for m in meta for attr, sym in _META_BOUNDS if getattr(m, attr, None) is not None]
        if bounds == [(">", 0)]:
            desc = f"a positive {noun}"
        elif bounds == [(">=", 0)]:
            desc = f"a non-negative {noun}"
        elif bare is int and len(bounds) == 2 and bounds[0] == (">", 0) and bounds[1][0] == "<=":
            desc = f"a positive {noun} up to {bounds[1][1]:,}"
        else:
            desc = ("an " if bare is int else "a ") + noun + "".join(
                (" " if i == 0 else " and ") + f"{sym} {_number(v)}" for i, (sym, v) in enumerate(bounds))
    elif bare is str:
        desc = "a string"
    elif typing.get_origin(bare) is list:
        desc = "a list"
    elif typing.get_origin(bare) is dict or bare is dict:
        desc = "a mapping"
    elif isinstance(bare, type) and issubclass(bare, BaseModel):
        desc = "a mapping with fields " + ", ".join(bare.model_fields)
    else:
        desc = str(bare)
    return desc + (" or null" if nullable else "")
