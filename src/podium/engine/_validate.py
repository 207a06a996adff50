"""Static checks of a workflow: references, cycles, and types against the registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from podium.engine._expr import Template
from podium.engine._ir import (
    CallStep,
    EnsembleStep,
    LoopStep,
    MapStep,
    Step,
    Workflow,
    WorkflowStep,
)
from podium.errors import ModelNotFoundError, UserError, WorkflowError
from podium.registry import ModelRef, ModelSpec, Registry, Schema, assignable

Fail = Callable[[str, list[str | int]], UserError]


def check_scope(
    fail: Fail, steps: Mapping[str, Step], path: list[str | int], visible: frozenset[str]
) -> None:
    """Every reference names a known step, ``after`` names siblings, and there is no cycle."""
    ids = set(steps)
    known = visible | ids
    for step_id, step in steps.items():
        if step_id in step.refs and not isinstance(step, LoopStep):
            raise fail(f"step reads its own output: {step_id} -> {step_id}", [*path, step_id])
        unknown = sorted(step.refs - known)
        if unknown:
            raise fail(f"refers to unknown step '{unknown[0]}'", [*path, step_id])
        bad_after = sorted(set(step.after) - ids)
        if bad_after:
            raise fail(f"'after' names unknown step '{bad_after[0]}'", [*path, step_id, "after"])
    cycle = find_cycle({sid: step.deps for sid, step in steps.items()})
    if cycle:
        raise fail(
            "steps depend on each other in a cycle: " + " -> ".join(cycle), [*path, cycle[0]]
        )


def templates_of(step: Step) -> list[tuple[list[str | int], Template]]:
    """Every template of a step and of the steps nested in it (not inside sub-workflows)."""
    found: list[tuple[list[str | int], Template]] = []
    for field, template in (("if", step.condition), ("with", step.with_)):
        if template is not None:
            found.append(([field], template))
    if isinstance(step, MapStep):
        found.append((["map"], step.over))
        found += [(["step", *p], t) for p, t in templates_of(step.body)]
    elif isinstance(step, LoopStep):
        if step.until is not None:
            found.append((["loop", "until"], step.until))
        for inner_id, inner in step.steps.items():
            found += [(["loop", "steps", inner_id, *p], t) for p, t in templates_of(inner)]
    return found


def check_inputs_declared(
    fail: Fail, steps: Mapping[str, Step], outputs: Mapping[str, Template], declared: set[str]
) -> None:
    """``inputs.NAME`` must name a declared input (when the workflow declares any)."""
    if not declared:
        return
    places = [(["steps", sid, *p], t) for sid, s in steps.items() for p, t in templates_of(s)]
    places += [(["outputs", name], t) for name, t in outputs.items()]
    for path, template in places:
        unknown = sorted(template.inputs - declared)
        if unknown:
            raise fail(
                f"reads input '{unknown[0]}', which the workflow does not declare "
                f"(inputs: {', '.join(sorted(declared))})",
                path,
            )


def find_cycle(graph: Mapping[str, frozenset[str]]) -> list[str] | None:
    """A dependency cycle as a path (first id repeated at the end), or ``None``.

    Depth-first, without recursion, so a chain of thousands of steps is fine.
    """
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        trail: list[str] = [start]
        on_trail = {start}
        pending = [iter(sorted(graph[start]))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                node = trail.pop()
                on_trail.discard(node)
                done.add(node)
            elif dep in on_trail:
                return [*trail[trail.index(dep) :], dep]
            elif dep in graph and dep not in done:
                trail.append(dep)
                on_trail.add(dep)
                pending.append(iter(sorted(graph[dep])))
    return None


def check_models(workflow: Workflow, registry: Registry) -> None:
    """Every model reference resolves, and values flowing between steps have matching types."""
    _check_steps(workflow, workflow.steps, registry, ["steps"], {})


def _producer_schemas(
    steps: Mapping[str, Step], registry: Registry, known: dict[str, Schema]
) -> dict[str, Schema]:
    schemas = dict(known)
    for step_id, step in steps.items():
        if isinstance(step, CallStep):
            schema = _output_schema(step, registry)
            if schema is not None:
                schemas[step_id] = schema
    return schemas


def _output_schema(step: CallStep, registry: Registry) -> Schema | None:
    if step.uses.kind == "model":
        try:
            return registry.resolve_model(step.uses).output_schema
        except ModelNotFoundError:
            return None  # reported with its location when the step itself is checked
    contract = registry.contract(step.uses.name)
    return Schema.parse(contract["output"]) if contract else None


def _check_steps(
    workflow: Workflow,
    steps: Mapping[str, Step],
    registry: Registry,
    path: list[str | int],
    known: dict[str, Schema],
) -> None:
    def fail(message: str, where: list[str | int]) -> WorkflowError:
        from podium._yaml import line_of

        field = ".".join(str(p) for p in where)
        return WorkflowError(
            message,
            file=workflow.display or workflow.source,
            line=line_of(workflow.located, where),
            field=field,
        )

    producers = _producer_schemas(steps, registry, known)
    for step_id, step in steps.items():
        where = [*path, step_id]
        try:
            _check_step(workflow, step, registry, where, producers, fail)
        except ModelNotFoundError as exc:
            raise fail(exc.message, [*where, "uses"]) from None


def _check_step(
    workflow: Workflow,
    step: Step,
    registry: Registry,
    where: list[str | int],
    producers: dict[str, Schema],
    fail: Fail,
) -> None:
    def resolve(ref: ModelRef, at: list[str | int]) -> list[ModelSpec]:
        try:
            return registry.resolve(ref)
        except ModelNotFoundError as exc:
            raise fail(exc.message, at) from None

    if isinstance(step, CallStep):
        primary = resolve(step.uses, [*where, "uses"])
        for i, ref in enumerate(step.fallback):
            resolve(ref, [*where, "fallback", i])
        _check_inputs(workflow, step, primary, producers, where, fail)
    elif isinstance(step, EnsembleStep):
        if isinstance(step.members, tuple):
            for i, ref in enumerate(step.members):
                resolve(ref, [*where, "models", i])
        else:
            resolve(step.uses, [*where, "ensemble"])
        if step.stacker is not None:
            resolve(step.stacker, [*where, "stacker"])
    elif isinstance(step, MapStep):
        _check_step(workflow, step.body, registry, [*where, "step"], producers, fail)
    elif isinstance(step, LoopStep):
        _check_steps(workflow, step.steps, registry, [*where, "loop", "steps"], producers)
    elif isinstance(step, WorkflowStep):
        check_models(step.workflow, registry)


def _closed(schema: Schema) -> bool:
    """Whether a schema lists every input field: a lite schema naming fields, or a JSON
    Schema with ``additionalProperties: false``. An empty lite schema takes anything."""
    return bool(schema.fields) if schema.lite else not schema.open


def _unknown_input(
    step: CallStep, candidates: list[ModelSpec], given: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The first ``with`` field that no candidate model takes, and the message saying so.

    Only when every candidate's schema is closed; for a capability a field counts as known
    when any provider takes it."""
    if not candidates or not all(_closed(c.input_schema) for c in candidates):
        return None
    known = {name for c in candidates for name in c.input_schema.fields}
    for name in given:
        if name not in known:
            owner = candidates[0].key if step.uses.kind == "model" else str(step.uses)
            return name, f"{owner} has no input '{name}' (inputs: {', '.join(sorted(known))})"
    return None


def _check_inputs(
    workflow: Workflow,
    step: CallStep,
    candidates: list[ModelSpec],
    producers: dict[str, Schema],
    where: list[str | int],
    fail: Fail,
) -> None:
    """Check a literal ``with`` mapping against the model's input schema: no field it does
    not have (when the schema is closed), every field it requires, and the types."""
    given = step.with_.source if step.with_ is not None else None
    if not isinstance(given, dict):
        return
    unknown = _unknown_input(step, candidates, given)
    if unknown is not None:
        raise fail(unknown[1], [*where, "with", unknown[0]])
    target = candidates[0]
    schema = target.input_schema
    for field in schema.fields.values():
        if field.required and field.name not in given:
            raise fail(f"{target.key} needs input '{field.name}' ({field.type})", [*where, "with"])
    if not schema.open and not schema.lite:
        return
    for name, value in given.items():
        expected = schema.fields.get(name)
        if expected is None:
            continue
        actual = _static_type(value, workflow, producers)
        if actual is not None and not assignable(actual, expected.type):
            raise fail(
                f"{target.key} input '{name}' is {expected.type}, but {actual} is given",
                [*where, "with", name],
            )


def _static_type(value: Any, workflow: Workflow, producers: dict[str, Schema]) -> str | None:
    """The type of a ``with`` value when it can be known before running, else ``None``."""
    from podium.engine._expr import compile_template
    from podium.registry import type_of

    template = compile_template(value)
    if template.is_constant:
        return type_of(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(template.expressions) != 1 or not (text.startswith("${{") and text.endswith("}}")):
        return "string"
    path = template.expressions[0].path
    if not path:
        return None
    if path[0] == "inputs" and len(path) == 2:
        spec = workflow.inputs.get(str(path[1]))
        if isinstance(spec, Mapping):
            spec = spec.get("type")
        return str(spec).rstrip("?") if isinstance(spec, str) else None
    if path[0] == "steps" and len(path) == 4 and path[2] == "output":
        schema = producers.get(str(path[1]))
        field = schema.fields.get(str(path[3])) if schema else None
        return field.type if field else None
    return None
