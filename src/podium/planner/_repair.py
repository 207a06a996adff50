"""Checking an LLM's proposed workflow against the registry and the types.

What can be repaired is, and each repair is reported: a wrapper object around the
workflow, a list of steps instead of a mapping, a bare or misspelt capability name, a
model named where a capability was meant, fields the model does not take, a missing or
misnamed input reference, a required field left out, outputs and inputs. What cannot be
repaired rejects the plan with reasons: an unknown capability, a step kind the planner
does not emit, a reference to a step that does not exist, a cycle, a wanted type nobody
produces, or anything the workflow loader and ``check_models`` refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from podium.engine import compile_template
from podium.engine._validate import find_cycle
from podium.errors import ExpressionError
from podium.planner._build import Source, value_of
from podium.planner._graph import Operator, SignatureGraph
from podium.planner._types import closest

STEP_KEYS = {"uses", "workflow", "with", "after", "description", "retry", "timeout_s", "route"}
OTHER_KINDS = ("map", "ensemble", "loop", "approval")
_ID = re.compile(r"[^A-Za-z0-9_]")


class Rejected(Exception):
    """The proposed plan cannot be used; ``reasons`` says why, ``repairs`` what was fixed."""

    def __init__(self, reasons: Sequence[str], repairs: Sequence[str] = ()) -> None:
        self.reasons = list(reasons)
        self.repairs = list(repairs)
        super().__init__("; ".join(self.reasons))


def _steps_mapping(raw: Any, repairs: list[str]) -> dict[str, Any]:
    if isinstance(raw, list):
        steps: dict[str, Any] = {}
        for n, item in enumerate(raw):
            if not isinstance(item, dict):
                raise Rejected([f"step {n + 1} is not an object"], repairs)
            body = dict(item)
            sid = str(body.pop("id", None) or body.pop("name", None) or f"step{n + 1}")
            steps[sid] = body
        repairs.append("turned the list of steps into a mapping by id")
        return steps
    if not isinstance(raw, dict) or not raw:
        raise Rejected(["the plan has no steps"], repairs)
    return dict(raw)


def _resolve(
    uses: str, graph: SignatureGraph, workflows: Mapping[str, str], repairs: list[str], sid: str
) -> Operator:
    op = graph.operator_for(uses) or graph.operator_for(workflows.get(uses, uses))
    if op is not None:
        return op
    kind, _, name = uses.rpartition("/")
    capabilities = {o.capability: o for o in graph.operators if o.kind == "capability"}
    by_model = {p.name: o for o in graph.operators for p in o.providers}
    if name in capabilities:
        found = capabilities[name]
    elif name in by_model:
        found = by_model[name]
    elif kind in ("", "capability") and (near := closest(name, [c for c in capabilities if c])):
        found = capabilities[near]
    else:
        raise Rejected([f"step '{sid}' uses '{uses}', which is not registered"], repairs)
    repairs.append(f"step '{sid}': '{uses}' read as '{found.uses}'")
    return found


def _source_for(
    field: str,
    op: Operator,
    order: Sequence[str],
    ops: Mapping[str, Operator],
    given: Mapping[str, str],
) -> Source | None:
    """A value for ``field``: a given input of that name or type, or an earlier step."""
    wanted_types = [field, *op.consumes] if field in op.consumes else [field]
    if len(op.consumes) == 1 and field in op.inputs and op.inputs[field].required:
        wanted_types.append(op.consumes[0])
    for t in wanted_types:
        for name, type_ in given.items():
            if t in (name, type_):
                return Source(f"inputs.{name}")
        for other in reversed(order):
            if t in ops[other].produces:
                return value_of(ops[other], other, t)
    return None


def _check_whole(
    sid: str,
    body: dict[str, Any],
    raw: str,
    op: Operator,
    order: Sequence[str],
    ops: Mapping[str, Operator],
    given: Mapping[str, str],
    repairs: list[str],
) -> None:
    """A whole-object ``with: "${{ ... }}"``: keep it if it reads what exists."""
    try:
        template = compile_template(raw)
    except ExpressionError as exc:
        raise Rejected([f"step '{sid}' with: {exc.message}"], repairs) from None
    inputs_ok = all(
        not e.path or e.path[0] != "inputs" or (len(e.path) > 1 and str(e.path[1]) in given)
        for e in template.expressions
    )
    if inputs_ok and not template.references - set(ops):
        return
    src = None
    if op.consumes:
        src = _source_for(op.consumes[0], op, [s for s in order if s != sid], ops, given)
    if src is None:
        raise Rejected([f"step '{sid}' reads what the plan does not have: {raw}"], repairs)
    body["with"] = src.expr
    repairs.append(f"step '{sid}': input now reads {src.path}")


def _check_with(
    sid: str,
    body: dict[str, Any],
    op: Operator,
    order: Sequence[str],
    ops: Mapping[str, Operator],
    given: Mapping[str, str],
    repairs: list[str],
) -> None:
    raw = body.get("with")
    if isinstance(raw, str) and "${{" in raw and len(op.inputs) != 1:
        _check_whole(sid, body, raw, op, order, ops, given, repairs)
        return
    bound = dict(raw) if isinstance(raw, dict) else {}
    if raw is not None and not isinstance(raw, dict):
        repairs.append(f"step '{sid}': rebuilt 'with' (it was not a mapping)")
    for name in list(bound):
        if op.inputs and name not in op.inputs:
            del bound[name]
            repairs.append(f"step '{sid}': dropped input '{name}', which {op.uses} does not take")
    for name, value in list(bound.items()):
        try:
            refs = compile_template(value)
        except ExpressionError as exc:
            raise Rejected([f"step '{sid}' input '{name}': {exc.message}"], repairs) from None
        for expr in refs.expressions:
            path = expr.path
            if path and path[0] == "inputs" and len(path) > 1 and str(path[1]) not in given:
                src = _source_for(name, op, order, ops, given)
                if src is None:
                    raise Rejected(
                        [f"step '{sid}' reads input '{path[1]}', which is not given"], repairs
                    )
                bound[name] = src.expr
                repairs.append(f"step '{sid}': input '{name}' now reads {src.path}")
        unknown = sorted(refs.references - set(ops))
        if unknown:
            reason = f"step '{sid}' reads step '{unknown[0]}', which does not exist"
            raise Rejected([reason], repairs)
    for name, f in op.inputs.items():
        if f.required and name not in bound:
            src = _source_for(name, op, [s for s in order if s != sid], ops, given)
            if src is None:
                raise Rejected([f"step '{sid}' lacks required input '{name}'"], repairs)
            bound[name] = src.expr
            repairs.append(f"step '{sid}': wired missing input '{name}' to {src.path}")
    body["with"] = bound


def repair(
    raw: Any,
    graph: SignatureGraph,
    *,
    given: Mapping[str, str],
    wanted: Sequence[str],
    workflows: Mapping[str, str],
    name: str,
    description: str,
) -> tuple[dict[str, Any], dict[str, Operator], list[str]]:
    """The repaired workflow document, each step's operator, and the repairs made."""
    repairs: list[str] = []
    if isinstance(raw, dict) and "steps" not in raw:
        inner = next((raw[k] for k in ("workflow", "plan") if isinstance(raw.get(k), dict)), None)
        if inner is not None:
            raw = inner
            repairs.append("unwrapped the workflow from its wrapper object")
    if not isinstance(raw, dict):
        raise Rejected(["the reply is not a JSON object"], repairs)
    proposed = _steps_mapping(raw.get("steps"), repairs)
    steps: dict[str, dict[str, Any]] = {}
    ops: dict[str, Operator] = {}
    for raw_id, raw_body in proposed.items():
        sid = _ID.sub("_", str(raw_id)) or "step"
        if sid != raw_id:
            repairs.append(f"step id '{raw_id}' renamed '{sid}'")
        steps[sid], ops[sid] = _step(sid, raw_body, graph, workflows, repairs)
    order = list(steps)
    for sid, body in steps.items():
        _check_with(sid, body, ops[sid], order, ops, given, repairs)
        body["after"] = [a for a in body.get("after") or [] if a in steps] or None
        if body["after"] is None:
            del body["after"]
    graph_deps = {
        sid: frozenset(compile_template(b.get("with")).references | set(b.get("after") or ()))
        for sid, b in steps.items()
    }
    cycle = find_cycle(graph_deps)
    if cycle:
        raise Rejected(["steps read each other in a cycle: " + " -> ".join(cycle)], repairs)
    produced: dict[str, Source] = {}
    for sid in _topological(graph_deps):
        for t in ops[sid].produces:
            produced[t] = value_of(ops[sid], sid, t)
    missing = [t for t in wanted if t not in produced and t not in given.values()]
    if missing:
        raise Rejected(
            [
                f"the plan does not produce wanted type{'s' if len(missing) > 1 else ''} "
                + ", ".join(repr(t) for t in missing)
            ],
            repairs,
        )
    outputs = _outputs(raw.get("outputs"), steps, produced, given, wanted, repairs)
    inputs = _input_types(steps, ops, outputs, given)
    document = {
        "name": name,
        "description": description,
        **({"inputs": inputs} if inputs else {}),
        "steps": steps,
        "outputs": outputs,
    }
    return document, ops, repairs


def _step(
    sid: str,
    raw_body: Any,
    graph: SignatureGraph,
    workflows: Mapping[str, str],
    repairs: list[str],
) -> tuple[dict[str, Any], Operator]:
    """One proposed step, normalised to ``uses``/``workflow`` + known fields."""
    if not isinstance(raw_body, dict):
        raise Rejected([f"step '{sid}' is not an object"], repairs)
    body = dict(raw_body)
    kinds = [k for k in OTHER_KINDS if k in body]
    if kinds:
        raise Rejected([f"step '{sid}' is a '{kinds[0]}' step; plans call models"], repairs)
    uses = body.pop("uses", None) or body.pop("workflow", None)
    for alias in ("capability", "model"):
        if uses is None and isinstance(body.get(alias), str):
            uses = f"{alias}/{body.pop(alias)}"
    if not isinstance(uses, str):
        raise Rejected([f"step '{sid}' names no capability to use"], repairs)
    op = _resolve(uses.strip(), graph, workflows, repairs, sid)
    for key in list(body):
        if key not in STEP_KEYS:
            del body[key]
            repairs.append(f"step '{sid}': dropped unknown field '{key}'")
    return {("workflow" if op.kind == "workflow" else "uses"): op.uses, **body}, op


def _topological(deps: Mapping[str, frozenset[str]]) -> list[str]:
    placed: list[str] = []
    left = dict(deps)
    while left:
        ready = [s for s, d in left.items() if not (d & set(left))]
        placed.extend(ready)
        for s in ready:
            del left[s]
    return placed


def _outputs(
    raw: Any,
    steps: Mapping[str, Any],
    produced: Mapping[str, Source],
    given: Mapping[str, str],
    wanted: Sequence[str],
    repairs: list[str],
) -> dict[str, str]:
    outputs: dict[str, str] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            try:
                refs = compile_template(value).references
            except ExpressionError:
                refs = frozenset({"?"})
            if refs - set(steps) or not isinstance(value, str):
                repairs.append(f"dropped output '{key}', which reads nothing the plan makes")
                continue
            outputs[str(key)] = value
    for t in wanted:
        if t in outputs:
            continue
        src = produced.get(t)
        if src is None:
            name = next(n for n, type_ in given.items() if type_ == t)
            src = Source(f"inputs.{name}")
        outputs[t] = src.expr
        repairs.append(f"added output '{t}' from {src.path}")
    if not outputs:
        raise Rejected(["the plan has no outputs"], repairs)
    return outputs


def _input_types(
    steps: Mapping[str, Any],
    ops: Mapping[str, Operator],
    outputs: Mapping[str, str],
    given: Mapping[str, str],
) -> dict[str, str]:
    """The given inputs the plan reads, typed by the fields they fill."""
    types: dict[str, set[str]] = {}
    for sid, body in steps.items():
        raw = body.get("with")
        items = raw.items() if isinstance(raw, dict) else [(None, raw)]
        for field, value in items:
            for expr in compile_template(value).expressions:
                path = expr.path or ()
                if len(path) < 2 or path[0] != "inputs":
                    continue
                f = ops[sid].inputs.get(field) if field else None
                exact = isinstance(value, str) and value.strip().startswith("${{")
                found = f.type if f and exact and len(path) == 2 else "any"
                if field is None and len(path) == 2:
                    found = "object"
                types.setdefault(str(path[1]), set()).add(found)
    for value in outputs.values():
        for expr in compile_template(value).expressions:
            path = expr.path or ()
            if len(path) >= 2 and path[0] == "inputs":
                types.setdefault(str(path[1]), set()).add("any")
    found_types: dict[str, str] = {}
    for name in given:
        if name in types:
            concrete = types[name] - {"any"}
            found_types[name] = concrete.pop() if len(concrete) == 1 else "any"
    return found_types
