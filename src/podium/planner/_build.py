"""From an ordered set of operators to a workflow document in the YAML workflow format.

Each step's ``with`` is wired by the semantic types and field names it consumes:

1. an input field named like an available type takes that type's value (the nearest
   earlier producer, or the given input);
2. a field named like a given input takes that input;
3. required fields still open take the consumed types not yet wired, in order; a model
   with many required fields and one consumed type gets that value as its whole input;
4. optional fields are then filled from any other step that produces a type or an
   output field of the same name, when that adds no cycle (so a reply can use the
   sentiment a parallel branch computes).

A produced type's value is the output field of that name, else the producer's only
field, ``label`` or ``value``, else the whole output object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.planner._graph import Operator
from podium.registry import Field, assignable

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Source:
    """Where a value comes from: an expression path, its step (if any), its JSON type."""

    path: str
    step: str | None = None
    type: str | None = None

    @property
    def expr(self) -> str:
        return "${{ " + self.path + " }}"


@dataclass
class Built:
    """A workflow document and, per step id, the operator it calls."""

    document: dict[str, Any]
    operators: dict[str, Operator]


def slug(text: str, limit: int = 6) -> str:
    words = [w for w in _SLUG.split(text.lower()) if w][:limit]
    return "-".join(words) or "goal"


def step_id(op: Operator, taken: set[str], needed: set[str]) -> str:
    """A readable, unique step id: the first produced type something needs."""
    base = next((t for t in op.produces if t in needed), op.produces[0] if op.produces else op.name)
    base = re.sub(r"[^A-Za-z0-9_]", "_", base) or "step"
    if base[0].isdigit():
        base = "s_" + base
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def value_of(op: Operator, sid: str, t: str) -> Source:
    """The value of type ``t`` produced by step ``sid`` calling ``op``."""
    out = op.outputs
    if t in out:
        return Source(f"steps.{sid}.output.{t}", sid, out[t].type)
    if len(op.produces) == 1 and op.kind != "workflow":
        if len(out) == 1:
            only = next(iter(out.values()))
            return Source(f"steps.{sid}.output.{only.name}", sid, only.type)
        for name in ("label", "value"):
            if name in out:
                return Source(f"steps.{sid}.output.{name}", sid, out[name].type)
    return Source(f"steps.{sid}.output", sid, "object")


def _fits(src: Source, f: Field) -> bool:
    return src.type is None or assignable(src.type, f.type)


class _Wiring:
    def __init__(self, given: Mapping[str, str]) -> None:
        self.given = given
        self.available: dict[str, Source] = {}
        for name, t in given.items():
            self.available.setdefault(t, Source(f"inputs.{name}"))
        self.input_types: dict[str, set[str]] = {}
        self.deps: dict[str, set[str]] = {}

    def use(self, sid: str, src: Source, json_type: str) -> Source:
        if src.step is not None:
            self.deps.setdefault(sid, set()).add(src.step)
        elif src.path.startswith("inputs."):
            self.input_types.setdefault(src.path.removeprefix("inputs."), set()).add(json_type)
        return src

    def required(self, sid: str, op: Operator) -> dict[str, Source] | Source:
        fields = op.inputs
        self.deps.setdefault(sid, set())
        if not fields:
            return {t: self.use(sid, self.available[t], "any") for t in op.consumes}
        bound: dict[str, Source] = {}
        open_types = list(op.consumes)
        for name, f in fields.items():
            src = self.available.get(name)
            if src is not None and _fits(src, f) and (f.required or name in op.consumes):
                bound[name] = self.use(sid, src, f.type)
                if name in open_types:
                    open_types.remove(name)
        for name, f in fields.items():
            if name not in bound and name in self.given:
                bound[name] = self.use(sid, Source(f"inputs.{name}"), f.type)
        need = [n for n, f in fields.items() if f.required and n not in bound]
        open_types = [t for t in open_types if t in self.available]
        if need and open_types:
            if len(open_types) == 1 and len(need) > 1 and not bound:
                return self.use(sid, self.available[open_types[0]], "object")
            for name, t in zip(need, open_types, strict=False):
                bound[name] = self.use(sid, self.available[t], fields[name].type)
        return bound

    def optional(
        self, sid: str, op: Operator, bound: dict[str, Source], steps: Mapping[str, Operator]
    ) -> None:
        """Fill optional fields from any other step, unless that would make a cycle."""
        for fname, f in op.inputs.items():
            if fname in bound or f.required:
                continue
            for other, other_op in steps.items():
                if other == sid or self.reaches(other, sid):
                    continue
                src: Source
                if fname in other_op.produces:
                    src = value_of(other_op, other, fname)
                elif fname in other_op.outputs:
                    out = other_op.outputs[fname]
                    src = Source(f"steps.{other}.output.{fname}", other, out.type)
                else:
                    continue
                if _fits(src, f):
                    bound[fname] = self.use(sid, src, f.type)
                    break

    def reaches(self, start: str, target: str) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == target:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(self.deps.get(node, ()))
        return False


def goal_order(
    ops: Sequence[Operator], given: Mapping[str, str], wanted: Sequence[str]
) -> list[int]:
    """Indices of ``ops`` in a data order that lists first what serves the earliest wanted
    type (so plans read in the order the goal asked)."""
    have = set(given.values())
    producer: dict[str, int] = {}
    deps: list[set[int]] = []
    for k, op in enumerate(ops):
        deps.append({producer[t] for t in op.consumes if t not in have and t in producer})
        for t in op.produces:
            producer[t] = k
    rank = [len(wanted)] * len(ops)
    for k in reversed(range(len(ops))):
        served = [wanted.index(t) for t in ops[k].produces if t in wanted]
        rank[k] = min([rank[k], *served])
        for d in deps[k]:
            rank[d] = min(rank[d], rank[k])
    placed: list[int] = []
    left = set(range(len(ops)))
    while left:
        ready = [k for k in left if not deps[k] & left]
        first = min(ready, key=lambda k: (rank[k], k))
        placed.append(first)
        left.remove(first)
    return placed


def build(
    ops: Sequence[Operator],
    given: Mapping[str, str],
    wanted: Sequence[str],
    *,
    name: str,
    description: str,
    route: Mapping[str, Any] | None = None,
) -> Built:
    """The workflow document that calls ``ops`` and outputs every wanted type."""
    ops = [ops[k] for k in goal_order(ops, given, wanted)]
    wiring = _Wiring(given)
    taken: set[str] = set()
    needed = set(wanted) | {t for op in ops for t in op.consumes}
    ids: list[str] = []
    withs: dict[str, dict[str, Source] | Source] = {}
    for op in ops:
        sid = step_id(op, taken, needed)
        ids.append(sid)
        withs[sid] = wiring.required(sid, op)
        for t in op.produces:
            wiring.available[t] = value_of(op, sid, t)
    by_id = dict(zip(ids, ops, strict=True))
    for sid, op in by_id.items():
        bound = withs[sid]
        if isinstance(bound, dict):
            wiring.optional(sid, op, bound, by_id)
    steps: dict[str, Any] = {}
    for sid, op in by_id.items():
        bound = withs[sid]
        body: dict[str, Any] = {"workflow" if op.kind == "workflow" else "uses": op.uses}
        if isinstance(bound, Source):
            body["with"] = bound.expr
        else:
            body["with"] = {k: s.expr for k, s in bound.items()}
        if route and op.kind != "workflow":
            body["route"] = dict(route)
        steps[sid] = body
    outputs: dict[str, str] = {}
    for t in wanted:
        found = wiring.available.get(t)
        if found is not None:
            outputs[t] = wiring.use("<outputs>", found, "any").expr
    inputs: dict[str, str] = {}
    for input_name in given:
        types = wiring.input_types.get(input_name)
        if types is None:
            continue
        concrete = types - {"any"}
        inputs[input_name] = concrete.pop() if len(concrete) == 1 else "any"
    document: dict[str, Any] = {"name": name, "description": description}
    if inputs:
        document["inputs"] = inputs
    document["steps"] = steps
    document["outputs"] = outputs
    return Built(document, by_id)
