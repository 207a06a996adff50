"""Why each step is in a plan, in which parallel stage it runs, and what it should cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podium.engine import compile_template
from podium.planner._graph import Operator, SignatureGraph
from podium.planner._plan import StepInfo
from podium.planner._types import Estimate, Match, PlanConstraints


def step_deps(steps: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Per step id, the sibling steps its ``with``/``if`` read or it names in ``after``."""
    deps: dict[str, tuple[str, ...]] = {}
    for sid, body in steps.items():
        refs: set[str] = set()
        for key in ("with", "if"):
            if key in body:
                refs |= set(compile_template(body[key]).references)
        refs |= set(body.get("after") or ())
        deps[sid] = tuple(s for s in steps if s in refs and s != sid)
    return deps


def stages_of(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """The stage of each step: one more than the latest stage it waits for."""
    stage: dict[str, int] = {}

    def of(sid: str, trail: frozenset[str]) -> int:
        if sid not in stage:
            earlier = [of(d, trail | {sid}) for d in deps[sid] if d not in trail]
            stage[sid] = 1 + max(earlier, default=-1)
        return stage[sid]

    for sid in deps:
        of(sid, frozenset())
    return stage


def _fields_reading(body: Mapping[str, Any], sid: str) -> list[str]:
    """The ``with`` fields of a step body that read step ``sid``."""
    raw = body.get("with")
    if not isinstance(raw, Mapping):
        return ["output"]
    return [f for f, v in raw.items() if sid in compile_template(v).references]


def _phrase(op: Operator, serves: Sequence[str], matches: Sequence[Match]) -> str | None:
    for m in matches:
        if m.ref == op.ref:
            return m.phrase
    for m in matches:
        if set(m.types) & set(serves):
            return m.phrase
    return None


def _why(
    serves: Sequence[str], feeds: Mapping[str, list[str]], phrase: str | None, origin: str
) -> str:
    parts: list[str] = []
    if serves:
        wanted = ", ".join(f"'{t}'" for t in serves)
        asked = f' (asked for by "{phrase}")' if phrase else ""
        parts.append(f"delivers wanted {wanted}{asked}")
    for consumer, values in feeds.items():
        parts.append(f"gives {', '.join(values) or 'its output'} to {consumer}")
    if not parts:
        parts.append(f"kept from the {origin} plan")
    return "; ".join(parts)


def explain(
    steps: Mapping[str, Any],
    operators: Mapping[str, Operator],
    outputs: Mapping[str, str],
    *,
    graph: SignatureGraph,
    constraints: PlanConstraints,
    wanted: Sequence[str],
    matches: Sequence[Match],
    origin: str,
) -> tuple[list[StepInfo], list[list[str]], float, float]:
    """Step infos, parallel stages, expected cost per run, critical-path latency."""
    deps = step_deps(steps)
    stage = stages_of(deps)
    estimates = graph.estimates(constraints)
    serves_of: dict[str, list[str]] = {sid: [] for sid in steps}
    for t in wanted:
        expr = outputs.get(t)
        if expr is None:
            continue
        for sid in compile_template(expr).references & set(steps):
            serves_of[sid].append(t)
    infos: list[StepInfo] = []
    finish: dict[str, float] = {}
    total = 0.0
    for sid in sorted(steps, key=lambda s: (stage[s], list(steps).index(s))):
        op = operators[sid]
        index = graph.by_ref.get(op.ref)
        est = estimates[index] if index is not None else None
        est = est or Estimate(model="?", cost=0.0, latency_ms=0.0, quality=0.0)
        feeds: dict[str, list[str]] = {}
        for other, other_deps in deps.items():
            if sid in other_deps:
                used = [repr(t) for t in op.produces if t in operators[other].consumes]
                feeds[other] = used or [f"its {f}" for f in _fields_reading(steps[other], sid)]
        phrase = _phrase(op, serves_of[sid], matches)
        why = _why(serves_of[sid], feeds, phrase, origin)
        finish[sid] = est.latency_ms + max((finish[d] for d in deps[sid]), default=0.0)
        total += est.cost
        infos.append(
            StepInfo(
                id=sid,
                uses=op.uses,
                kind=op.kind,
                consumes=op.consumes,
                produces=op.produces,
                after=deps[sid],
                stage=stage[sid] + 1,
                serves=tuple(serves_of[sid]),
                feeds=tuple(feeds),
                phrase=phrase,
                model=est.model,
                cost=est.cost,
                latency_ms=est.latency_ms,
                quality=est.quality,
                why=why,
            )
        )
    grouped: list[list[str]] = []
    for info in infos:
        while len(grouped) < info.stage:
            grouped.append([])
        grouped[info.stage - 1].append(info.id)
    return infos, grouped, total, max(finish.values(), default=0.0)
