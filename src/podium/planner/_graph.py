"""The signature graph: what the planner can call, each as an operator on semantic types.

Models of one capability that share one signature (consumed and produced types) become a
single ``capability/NAME`` operator, so the router still picks among them at run time;
models whose signature differs from their capability's peers become ``model/NAME@VERSION``
operators. Registered workflows (:class:`WorkflowEntry`) become ``workflow/NAME``
operators: one step that runs a whole sub-workflow.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.engine import CallStep, MapStep, Step, Workflow, WorkflowStep
from podium.errors import ModelNotFoundError
from podium.planner._types import CostWeights, Estimate, PlanConstraints
from podium.registry import Field, ModelSpec, Registry
from podium.routing import SCORERS, RoutePolicy, violation


@dataclass(frozen=True)
class WorkflowEntry:
    """A workflow file registered for planning, with its semantic signature."""

    name: str
    path: str
    description: str = ""
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    encapsulate: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "consumes": list(self.consumes),
            "produces": list(self.produces),
            "encapsulate": self.encapsulate,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowEntry:
        return cls(
            name=str(data["name"]),
            path=str(data["path"]),
            description=str(data.get("description") or ""),
            consumes=tuple(data.get("consumes") or ()),
            produces=tuple(data.get("produces") or ()),
            encapsulate=bool(data.get("encapsulate", False)),
        )


@dataclass(frozen=True, eq=False)
class Operator:
    """One thing a plan step can call: it consumes some types and produces others.

    ``uses`` is what the step names: ``capability/X``, ``model/NAME@VERSION`` or, for a
    workflow, the file path (``kind == "workflow"``). ``inner`` lists, for a workflow, the
    capability and candidate models of each model call inside it.
    """

    ref: str
    kind: str
    name: str
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    inputs: Mapping[str, Field]
    outputs: Mapping[str, Field]
    uses: str
    capability: str | None = None
    providers: tuple[ModelSpec, ...] = ()
    description: str = ""
    inner: tuple[tuple[str, tuple[ModelSpec, ...]], ...] = field(default=())

    @property
    def texts(self) -> list[str]:
        """What this operator is, in words, for matching a goal against it."""
        words = (self.capability or self.name).replace(".", " ").replace("_", " ")
        found = [f"{words}: {', '.join(t.replace('_', ' ') for t in self.produces)}"]
        seen = set(found)
        for text in [self.description, *(p.description for p in self.providers)]:
            if text and text not in seen:
                seen.add(text)
                found.append(text)
        return found

    @property
    def passages(self) -> list[str]:
        """:attr:`texts`, plus each sentence of a description of several sentences: a
        short request matches the sentence that says what it asks ("transcribes a given
        audio into text") better than a paragraph about the task."""
        found = self.texts
        seen = set(found)
        for text in found[1:]:
            parts = [p.strip() for p in _SENTENCE.split(text) if len(p.split()) >= 3]
            for part in parts if len(parts) > 1 else ():
                if part not in seen:
                    seen.add(part)
                    found.append(part)
        return found


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def estimate_call(
    providers: Sequence[ModelSpec], capability: str, route: RoutePolicy
) -> Estimate | None:
    """The model the prior router would pick under ``route`` (``None`` if none may be)."""
    kept: list[ModelSpec] = []
    rejected: list[tuple[str, str]] = []
    for spec in providers:
        why = violation(spec, capability, route)
        if why is None:
            kept.append(spec)
        else:
            rejected.append((spec.key, why))
    if not kept:
        return None
    scorer = SCORERS.get(route.policy, SCORERS["best"])
    top = min(kept, key=lambda s: (-scorer(s, capability, route, kept), s.name, str(s.semver)))
    return Estimate(
        model=top.key,
        cost=top.cost.per_call,
        latency_ms=top.latency_ms,
        quality=top.quality_for(capability),
        rejected=tuple(rejected),
    )


def estimate(op: Operator, route: RoutePolicy) -> Estimate | None:
    """Expected cost, latency and quality of one call of ``op`` under ``route``."""
    if op.kind != "workflow":
        return estimate_call(op.providers, op.capability or "", route)
    cost = latency = 0.0
    quality = 1.0
    models = []
    for capability, providers in op.inner:
        inner = estimate_call(providers, capability, route)
        if inner is None:
            return None
        cost += inner.cost
        latency += inner.latency_ms
        quality = min(quality, inner.quality)
        models.append(inner.model)
    return Estimate(model=", ".join(models) or "-", cost=cost, latency_ms=latency, quality=quality)


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _merged_fields(schemas: Iterable[Mapping[str, Field]], *, inputs: bool) -> dict[str, Field]:
    """Input fields: the union (required if any model requires it). Output fields: those
    every model produces."""
    merged: dict[str, Field] = {}
    schemas = list(schemas)
    for fields in schemas:
        for name, f in fields.items():
            old = merged.get(name)
            if old is None:
                merged[name] = f
            elif inputs and f.required and not old.required:
                merged[name] = Field(name, old.type, True)
    if not inputs and len(schemas) > 1:
        merged = {n: f for n, f in merged.items() if all(n in s for s in schemas)}
    return merged


def model_operators(
    registry: Registry, hidden: set[str], descriptions: Mapping[str, str] | None = None
) -> list[Operator]:
    """One operator per capability (or per model, where a capability's models differ in
    signature); ``descriptions`` describe capabilities for matching."""
    descriptions = descriptions or {}
    by_capability: dict[str, list[ModelSpec]] = defaultdict(list)
    for spec in registry:
        if spec.status != "active":
            continue
        for capability in spec.capabilities:
            if capability not in hidden:
                by_capability[capability].append(spec)
    ops: list[Operator] = []
    seen: set[tuple[Any, ...]] = set()
    for capability in sorted(by_capability):
        specs = sorted(by_capability[capability], key=lambda s: (s.name, s.semver))
        signatures = {(_dedupe(s.consumed_types), _dedupe(s.produced_types)) for s in specs}
        groups = [specs] if len(signatures) == 1 else [[s] for s in specs]
        for group in groups:
            consumes, produces = _dedupe(group[0].consumed_types), _dedupe(group[0].produced_types)
            key = (consumes, produces, tuple(s.key for s in group))
            if key in seen or not (produces or group[0].output_schema.fields or consumes):
                continue
            seen.add(key)
            single = len(signatures) > 1
            ref = f"model/{group[0].key}" if single else f"capability/{capability}"
            ops.append(
                Operator(
                    ref=ref,
                    kind="model" if single else "capability",
                    name=group[0].name if single else capability,
                    consumes=consumes,
                    produces=produces,
                    inputs=_merged_fields((s.input_schema.fields for s in group), inputs=True),
                    outputs=_merged_fields((s.output_schema.fields for s in group), inputs=False),
                    uses=f"model/{group[0].name}@{group[0].version}" if single else ref,
                    capability=capability,
                    providers=tuple(group),
                    description=descriptions.get(capability, ""),
                )
            )
    return ops


def inner_calls(
    steps: Mapping[str, Step], registry: Registry
) -> list[tuple[str, tuple[ModelSpec, ...]]]:
    """Capability and candidate models of every model call in ``steps`` (recursively)."""
    calls: list[tuple[str, tuple[ModelSpec, ...]]] = []
    for step in steps.values():
        body = step.body if isinstance(step, MapStep) else step
        if isinstance(body, CallStep):
            try:
                providers = tuple(registry.resolve(body.uses))
            except ModelNotFoundError:
                providers = ()
            capability = body.uses.name if body.uses.kind == "capability" else None
            if capability is None and providers:
                capability = providers[0].capabilities[0]
            calls.append((capability or body.uses.name, providers))
        elif isinstance(body, WorkflowStep):
            calls.extend(inner_calls(body.workflow.steps, registry))
    return calls


def workflow_operator(entry: WorkflowEntry, workflow: Workflow, registry: Registry) -> Operator:
    """The operator for a registered workflow (inputs and outputs taken from the file)."""
    inputs: dict[str, Field] = {}
    for name, declared in workflow.inputs.items():
        type_name = declared.get("type", "any") if isinstance(declared, Mapping) else declared
        text = str(type_name)
        optional = text.endswith("?") or (isinstance(declared, Mapping) and "default" in declared)
        inputs[name] = Field(name, text.rstrip("?"), not optional)
    return Operator(
        ref=f"workflow/{entry.name}",
        kind="workflow",
        name=entry.name,
        consumes=entry.consumes or tuple(inputs),
        produces=entry.produces or tuple(workflow.outputs),
        inputs=inputs,
        outputs={n: Field(n, "any") for n in workflow.outputs},
        uses=entry.path,
        description=entry.description or str(workflow.document.get("description") or ""),
        inner=tuple(inner_calls(workflow.steps, registry)),
    )


class SignatureGraph:
    """Operators indexed by the types they consume and produce (``serial`` is unique per
    graph, so caches keyed by it never outlive the graph they describe)."""

    _serials = itertools.count(1)

    def __init__(self, operators: Sequence[Operator]) -> None:
        self.serial = next(self._serials)
        self.operators = list(operators)
        self.by_ref = {op.ref: i for i, op in enumerate(self.operators)}
        self.producers: dict[str, list[int]] = defaultdict(list)
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, op in enumerate(self.operators):
            for t in op.produces:
                self.producers[t].append(i)
            for t in set(op.consumes):
                self.consumers[t].append(i)
        self.free = [i for i, op in enumerate(self.operators) if not op.consumes]
        self.pre_count = [len(set(op.consumes)) for op in self.operators]
        self.produces = [op.produces for op in self.operators]
        self.types = frozenset(self.producers) | frozenset(self.consumers)
        self.sources = frozenset(t for t in self.consumers if t not in self.producers)
        self._estimates: dict[RoutePolicy, list[Estimate | None]] = {}
        self._weights: dict[tuple[RoutePolicy, CostWeights], list[float]] = {}

    def __len__(self) -> int:
        return len(self.operators)

    def estimates(self, constraints: PlanConstraints) -> list[Estimate | None]:
        """Per operator, the expected call under ``constraints`` (``None``: excluded)."""
        route = constraints.route
        found = self._estimates.get(route)
        if found is None:
            found = self._estimates[route] = [estimate(op, route) for op in self.operators]
        return found

    def weights(self, constraints: PlanConstraints, weights: CostWeights) -> list[float]:
        """Per operator, its search weight (``inf`` when the constraints exclude it)."""
        key = (constraints.route, weights)
        found = self._weights.get(key)
        if found is None:
            found = self._weights[key] = [
                math.inf if e is None else weights.weigh(e.cost, e.latency_ms, e.quality)
                for e in self.estimates(constraints)
            ]
        return found

    def operator_for(self, uses: str) -> Operator | None:
        """The operator a step's ``uses``/``workflow`` value names, if the graph has one."""
        index = self.by_ref.get(uses)
        if index is not None:
            return self.operators[index]
        for op in self.operators:
            if op.uses == uses:
                return op
        if uses.startswith("model/"):
            name = uses.removeprefix("model/").partition("@")[0]
            for op in self.operators:
                if any(p.name == name for p in op.providers):
                    return op
        return None
