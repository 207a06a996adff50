"""Model input/output schemas: JSON-Schema-lite (``{field: type}``) or full JSON Schema.

A lite schema maps each field to a JSON Schema type name; a trailing ``?`` makes the field
optional (``{note: "string?"}``). Either form is normalised to a :class:`Schema`, which
validates values fast (plain ``isinstance`` checks for lite schemas, ``jsonschema`` otherwise)
and answers compatibility questions for contract and workflow type checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podium.errors import SchemaError

TYPE_NAMES = ("string", "integer", "number", "boolean", "array", "object", "null", "any")

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def type_of(value: Any) -> str:
    """The JSON Schema type name of a Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def matches_type(value: Any, type_name: str) -> bool:
    """Whether ``value`` is of JSON Schema type ``type_name`` (``integer`` is a ``number``)."""
    if type_name == "any":
        return True
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False
    return isinstance(value, _PY_TYPES.get(type_name, ()))


def assignable(source: str, target: str) -> bool:
    """Whether a value of type ``source`` may flow into a field of type ``target``."""
    return (
        source == target or "any" in (source, target) or (source, target) == ("integer", "number")
    )


@dataclass(frozen=True)
class Field:
    """One top-level field of an object schema."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class Schema:
    """A normalised object schema with a fast validator."""

    fields: Mapping[str, Field]
    json_schema: Mapping[str, Any]
    lite: bool
    open: bool = True
    _validator: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, raw: Any, *, where: str = "schema") -> Schema:
        """Build a schema from a manifest's ``input``/``output`` value; ``where`` names it."""
        if raw is None:
            return ANY_OBJECT
        if not isinstance(raw, Mapping):
            raise SchemaError(
                f"must be a mapping of field -> type, got {type_of(raw)}", field=where
            )
        if _is_full_json_schema(raw):
            return cls._from_json_schema(dict(raw), where)
        fields: dict[str, Field] = {}
        for name, spec in raw.items():
            type_name, required = _lite_type(spec, f"{where}.{name}")
            fields[str(name)] = Field(str(name), type_name, required)
        json_schema = {
            "type": "object",
            "properties": {n: _type_schema(f.type) for n, f in fields.items()},
            "required": [n for n, f in fields.items() if f.required],
        }
        return cls(fields=fields, json_schema=json_schema, lite=True)

    @classmethod
    def _from_json_schema(cls, raw: dict[str, Any], where: str) -> Schema:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError as JSONSchemaError

        try:
            Draft202012Validator.check_schema(raw)
        except JSONSchemaError as exc:
            raise SchemaError(f"invalid JSON Schema: {exc.message}", field=where) from None
        required = set(raw.get("required", []))
        fields: dict[str, Field] = {}
        for name, prop in (raw.get("properties") or {}).items():
            prop_type = prop.get("type", "any") if isinstance(prop, Mapping) else "any"
            if isinstance(prop_type, list):
                prop_type = "any"
            fields[name] = Field(name, str(prop_type), name in required)
        return cls(
            fields=fields,
            json_schema=raw,
            lite=False,
            open=raw.get("additionalProperties", True) is not False,
            _validator=Draft202012Validator(raw),
        )

    def validate(self, value: Any, *, owner: str, direction: str) -> None:
        """Raise :class:`SchemaError` naming ``owner`` and the field if ``value`` does not fit."""
        if not isinstance(value, dict):
            raise SchemaError(
                f"{owner}: {direction} must be an object, got {type_of(value)}", field=direction
            )
        if self._validator is not None:
            error = next(iter(self._validator.iter_errors(value)), None)
            if error is not None:
                path = ".".join(str(p) for p in error.absolute_path) or "(root)"
                raise SchemaError(f"{owner}: {direction} field {path}: {error.message}")
            return
        for spec in self.fields.values():
            if spec.name not in value:
                if spec.required:
                    raise SchemaError(
                        f"{owner}: {direction} field '{spec.name}' is required ({spec.type})"
                    )
                continue
            item = value[spec.name]
            if not matches_type(item, spec.type) and not (item is None and not spec.required):
                raise SchemaError(
                    f"{owner}: {direction} field '{spec.name}' must be {spec.type}, "
                    f"got {type_of(item)}"
                )

    def describe(self) -> str:
        """Short text form, e.g. ``text:string, note:string?``."""
        if not self.fields:
            return "(any object)"
        return ", ".join(
            f"{f.name}:{f.type}{'' if f.required else '?'}" for f in self.fields.values()
        )

    def to_json(self) -> dict[str, Any]:
        """The schema in the form it was declared (lite mapping or full JSON Schema)."""
        if not self.lite:
            return dict(self.json_schema)
        return {n: f.type + ("" if f.required else "?") for n, f in self.fields.items()}


def _is_full_json_schema(raw: Mapping[str, Any]) -> bool:
    return (
        raw.get("type") == "object"
        and isinstance(raw.get("properties", {}), Mapping)
        and ("properties" in raw or "required" in raw or "additionalProperties" in raw)
    )


def _lite_type(spec: Any, where: str) -> tuple[str, bool]:
    if isinstance(spec, Mapping):
        type_name = spec.get("type", "any")
        required = bool(spec.get("required", True))
    elif isinstance(spec, str):
        required = not spec.endswith("?")
        type_name = spec.rstrip("?")
    else:
        raise SchemaError(f"field type must be a type name, got {spec!r}", field=where)
    if type_name not in TYPE_NAMES:
        raise SchemaError(
            f"unknown type '{type_name}'; expected one of {', '.join(TYPE_NAMES)}", field=where
        )
    return str(type_name), required


def _type_schema(type_name: str) -> dict[str, Any]:
    return {} if type_name == "any" else {"type": type_name}


def contract_breaks(contract: Schema, candidate: Schema, *, direction: str) -> list[str]:
    """Reasons why ``candidate`` cannot stand in for ``contract`` (empty when it can).

    Inputs: the candidate may not require a field the contract does not offer, nor
    narrow a field's type. Outputs: the candidate must produce every contract field with
    an assignable type.
    """
    reasons: list[str] = []
    if direction == "input":
        for f in candidate.fields.values():
            offered = contract.fields.get(f.name)
            if offered is None:
                if f.required and contract.fields:
                    reasons.append(f"requires input field '{f.name}' the contract does not have")
            elif not assignable(offered.type, f.type):
                reasons.append(
                    f"input field '{f.name}' is {f.type}, the contract passes {offered.type}"
                )
    else:
        for f in contract.fields.values():
            if not f.required:
                continue
            produced = candidate.fields.get(f.name)
            if produced is None:
                reasons.append(f"output field '{f.name}' ({f.type}) is missing")
            elif not assignable(produced.type, f.type):
                reasons.append(
                    f"output field '{f.name}' is {produced.type}, contract says {f.type}"
                )
    return reasons


ANY_OBJECT = Schema(fields={}, json_schema={"type": "object"}, lite=True)
