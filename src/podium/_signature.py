"""Input and output schemas derived from a Python function's signature."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

_TYPE_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


def _type_name(annotation: Any) -> tuple[str, bool]:
    """JSON type name for an annotation, and whether it admits ``None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return _type_name(args[0])[0], optional
        return "any", optional
    base = origin or annotation
    return _TYPE_NAMES.get(base, "any"), False


def input_schema_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """``{param: type}`` from the parameters; defaults and ``Optional`` make a field optional.

    A function that takes ``**kwargs`` accepts fields it does not name: its schema is a
    JSON Schema that allows additional properties.
    """
    target = fn if inspect.isroutine(fn) else getattr(fn, "predict", None) or fn
    hints = _hints(target)
    fields: dict[str, str] = {}
    open_ended = False
    for name, param in inspect.signature(target).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
            continue
        if param.kind is param.VAR_POSITIONAL or name in ("self", "podium_context"):
            continue
        type_name, optional = _type_name(hints.get(name, Any))
        optional = optional or param.default is not param.empty
        fields[name] = type_name + ("?" if optional else "")
    if not open_ended:
        return fields
    properties = {
        name: ({} if kind.rstrip("?") == "any" else {"type": kind.rstrip("?")})
        for name, kind in fields.items()
    }
    required = [name for name, kind in fields.items() if not kind.endswith("?")]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def output_schema_of(fn: Callable[..., Any]) -> dict[str, str] | None:
    """``{field: type}`` from a TypedDict or pydantic return annotation, else ``None``."""
    target = fn if inspect.isroutine(fn) else getattr(fn, "predict", None) or fn
    annotation = _hints(target).get("return")
    if annotation is None:
        return None
    if typing.is_typeddict(annotation):
        required: frozenset[str] = getattr(annotation, "__required_keys__", frozenset())
        return {
            k: _type_name(v)[0] + ("" if k in required else "?")
            for k, v in typing.get_type_hints(annotation).items()
        }
    fields = getattr(annotation, "model_fields", None)
    if isinstance(fields, dict):
        return {
            k: _type_name(f.annotation)[0] + ("" if f.is_required() else "?")
            for k, f in fields.items()
        }
    return None


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return {}
