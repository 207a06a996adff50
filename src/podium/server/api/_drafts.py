"""``/workflows/draft``: a workflow being written, as YAML and as a document, with every
error the validator finds, each on the step at fault.

The console's builder edits the document and shows the YAML beside it (or the other way
round); both go through here, so there is one YAML writer and one validator: the engine's
loader and model checks, as ``podium run`` and ``POST /workflows/validate`` use them.

The validator stops at its first error. To find the others, the step at fault is set
aside and the rest is checked again (a step that only fails because it reads a step set
aside is not an error of its own), until the rest passes or nothing is left.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml
from fastapi import Request
from pydantic import BaseModel, Field

from podium._yaml import line_of, load_yaml_text
from podium.engine import check_models, workflow_from_mapping
from podium.errors import UserError, WorkflowError
from podium.registry import ModelRef, Registry, Schema
from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._state import server_state
from podium.server.api._catalog import FieldInfo, fields_of
from podium.server.api._common import SOURCE, Strict, invalid, plain_json, problems
from podium.server.api._documents import refuse_files
from podium.server.api._router import router

_STEP_REF = re.compile(r"steps\.([A-Za-z_][A-Za-z0-9_-]*)")
_UNKNOWN_STEP = re.compile(r"refers to unknown step '([^']+)'|'after' names unknown step '([^']+)'")
_KINDS = ("uses", "map", "ensemble", "loop", "workflow", "approval")
#: What steps of kinds other than a model call give as their output.
_OUTPUTS: dict[str, list[dict[str, Any]]] = {
    "ensemble": [
        {"name": "label", "type": "any", "required": False},
        {"name": "value", "type": "number", "required": False},
        {"name": "confidence", "type": "number", "required": True},
        {"name": "members", "type": "array", "required": True},
    ],
    "approval": [
        {"name": "approved", "type": "boolean", "required": True},
        {"name": "by", "type": "string", "required": False},
        {"name": "comment", "type": "string", "required": False},
    ],
    "loop": [{"name": "iterations", "type": "integer", "required": True}],
}


class DraftRequest(Strict):
    """A draft as YAML text (``yaml``) or as a document (``document``): one of the two."""

    yaml: str | None = Field(default=None, max_length=1_000_000)
    document: dict[str, Any] | None = None


class DraftError(BaseModel):
    """One error: the step at fault (``None``: the workflow itself), where, and what."""

    step: str | None = None
    field: str | None = None
    line: int | None = None
    message: str


class DraftStep(BaseModel):
    """A step of the draft as the builder draws it: kind, what it uses, what it reads."""

    id: str
    kind: str
    uses: str | None = None
    deps: list[str] = Field(default_factory=list)
    input: list[FieldInfo] = Field(default_factory=list)
    output: list[FieldInfo] = Field(default_factory=list)


class Draft(BaseModel):
    """The draft both ways, whether it is valid, and its errors."""

    yaml: str
    document: dict[str, Any] | None = None
    valid: bool
    errors: list[DraftError]
    steps: list[DraftStep]


def to_yaml(document: Mapping[str, Any]) -> str:
    """A workflow document as YAML, keys in the order given."""
    return yaml.safe_dump(
        plain_json(document), sort_keys=False, allow_unicode=True, width=100, indent=2
    )


def _step_of(field: str | None) -> str | None:
    parts = (field or "").split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "steps" else None


def _error(exc: UserError, step: str | None, located: Any) -> dict[str, Any]:
    line = exc.line
    if line is None and exc.field:
        path: list[str | int] = [int(p) if p.isdigit() else p for p in exc.field.split(".")]
        line = line_of(located, path)
    return {"step": step, "field": exc.field, "line": line, "message": exc.message}


def _check(document: Any, registry: Registry, limits: Any) -> None:
    """The checks ``POST /workflows`` makes (one validator), raising the first error."""
    if not isinstance(document, dict):
        raise WorkflowError("a workflow must be a mapping with 'steps'", line=1)
    refuse_files(document)
    check_models(workflow_from_mapping(document, source=SOURCE, limits=limits), registry)


def collect_errors(located: Any, registry: Registry, limits: Any) -> list[dict[str, Any]]:
    """Every error of ``located`` (a document with its lines), each on its step."""
    work = copy.deepcopy(located)
    errors: list[dict[str, Any]] = []
    aside: set[str] = set()
    steps = work.get("steps") if isinstance(work, dict) else None
    for _ in range((len(steps) if isinstance(steps, dict) else 0) + 8):
        try:
            _check(work, registry, limits)
            return errors
        except UserError as exc:
            step = _step_of(exc.field)
            unknown = _UNKNOWN_STEP.search(exc.message)
            blocked = unknown is not None and (unknown.group(1) or unknown.group(2)) in aside
            steps = work.get("steps") if isinstance(work, dict) else None
            if step is not None and isinstance(steps, dict) and step in steps:
                if not blocked:
                    errors.append(_error(exc, step, located))
                del steps[step]
                aside.add(step)
                if not steps:
                    return errors
                continue
            field = exc.field or ""
            outputs = work.get("outputs") if isinstance(work, dict) else None
            if field.startswith("outputs.") and isinstance(outputs, dict):
                if not blocked:
                    errors.append(_error(exc, None, located))
                outputs.pop(field.partition(".")[2].partition(".")[0], None)
                continue
            errors.append(_error(exc, None, located))
            return errors
    return errors


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_STEP_REF.findall(value)) if "${{" in value else set()
    if isinstance(value, Mapping):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _schemas(registry: Registry | None, ref_text: Any) -> tuple[Schema, Schema] | None:
    """The input and output schema a ``uses`` reference stands for, if it resolves."""
    if registry is None or not isinstance(ref_text, str):
        return None
    try:
        ref = ModelRef.parse(ref_text)
        if ref.kind == "model":
            spec = registry.resolve_model(ref)
            return spec.input_schema, spec.output_schema
        contract = registry.contract(ref.name)
        if contract is None:
            return None
        return Schema.parse(contract["input"]), Schema.parse(contract["output"])
    except UserError:
        return None


def describe_steps(document: Any, registry: Registry | None) -> list[dict[str, Any]]:
    """Each top-level step: kind, reference, the sibling steps it reads, its fields."""
    steps = document.get("steps") if isinstance(document, Mapping) else None
    if not isinstance(steps, Mapping):
        return []
    ids = {str(k) for k in steps}
    found = []
    for step_id, body in steps.items():
        body = body if isinstance(body, Mapping) else {}  # noqa: PLW2901
        kind = next((k for k in _KINDS if k in body), "uses")
        uses = body.get(kind) if kind in ("uses", "ensemble") else None
        inner = body.get("step") if kind == "map" else None
        if isinstance(inner, Mapping) and uses is None:
            uses = inner.get("uses")
        after_raw = body.get("after")
        after: list[Any] = after_raw if isinstance(after_raw, list) else []
        deps = (_references(dict(body)) | {str(a) for a in after}) & ids
        deps.discard(str(step_id))
        schemas = _schemas(registry, uses)
        entry: dict[str, Any] = {
            "id": str(step_id),
            "kind": {"uses": "call"}.get(kind, kind),
            "uses": str(uses) if isinstance(uses, str) else None,
            "deps": sorted(deps),
            "input": fields_of(schemas[0]) if schemas and kind == "uses" else [],
            "output": fields_of(schemas[1]) if schemas and kind == "uses" else [],
        }
        if kind == "ensemble" and schemas:
            entry["input"] = fields_of(schemas[0])
        entry["output"] = entry["output"] or list(_OUTPUTS.get(kind, []))
        if kind == "map":
            entry["output"] = [{"name": "(list)", "type": "array", "required": True}]
        found.append(entry)
    return found


@router.post(
    "/workflows/draft",
    response_model=Draft,
    summary="A draft workflow as YAML and as a document, with every error on its step",
    responses=problems(413),
)
async def draft_workflow(
    body: DraftRequest, request: Request, principal: Principal = Viewer
) -> dict[str, Any]:
    if (body.yaml is None) == (body.document is None):
        raise invalid("send either yaml or document", "yaml")
    orch = server_state(request).orchestrator
    limits = orch.settings.limits
    text = body.yaml if body.yaml is not None else to_yaml(body.document or {})
    try:
        located = load_yaml_text(text, SOURCE, WorkflowError, limits=limits)
    except UserError as exc:
        error = _error(exc, None, None)
        return {"yaml": text, "document": None, "valid": False, "errors": [error], "steps": []}
    document = plain_json(located) if isinstance(located, Mapping) else None
    errors = collect_errors(located, orch.registry, limits)
    return {
        "yaml": text,
        "document": document,
        "valid": not errors,
        "errors": errors,
        "steps": describe_steps(document, orch.registry),
    }
