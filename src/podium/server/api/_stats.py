"""``/stats``: model calls per model or capability (count, errors, latency percentiles,
cost, quality), read from the event logs of the runs the caller sees.

Each call leaves ``step_started`` (the model and the routing decision, whose reference
names the capability), then ``attempt_failed`` per failed try and ``step_succeeded`` with
the latency and cost. Quality is the mean feedback score given to the steps of those runs
(``orch.feedback``), else the models' prior. The scan covers the newest ``runs`` runs
(since ``since``); it runs in a worker thread and is cached for a moment per question.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel

from podium.registry import Registry
from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._state import server_state
from podium.server.api._common import problems
from podium.server.api._router import router
from podium.server.api._shared import api_state
from podium.store import RunFilter, Store

CACHE_S = 2.0
FEEDBACK = "routing.feedback"


class CallStats(BaseModel):
    """The calls of one model (``name@version``) or capability."""

    key: str
    calls: int
    errors: int
    cached: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    cost: float
    quality: float | None
    quality_from: Literal["feedback", "prior", "none"]
    feedback: int


class Stats(BaseModel):
    """Call statistics over the runs scanned."""

    by: Literal["model", "capability"]
    tenant: str | None
    runs: int
    since: float | None
    items: list[CallStats]


@dataclass
class _Tally:
    ok: int = 0
    errors: int = 0
    cached: int = 0
    cost: float = 0.0
    latencies: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    prior: float | None = None  # the manifest's quality of the first model seen


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 3)


def _capability(decision: dict[str, Any] | None, model: str, registry: Registry) -> str:
    ref = str((decision or {}).get("ref", ""))
    if ref.startswith("capability/"):
        return ref.partition("/")[2]
    name, _, version = model.partition("@")
    for spec in registry.versions(name):
        if spec.version == version:
            return spec.capabilities[0]
    return "unknown"


def _prior(model: str, capability: str, registry: Registry) -> float | None:
    name, _, version = model.partition("@")
    for spec in registry.versions(name):
        if spec.version == version:
            return spec.quality_for(capability)
    return None


def compute(
    store: Store,
    registry: Registry,
    by: str,
    tenant: str | None,
    runs: int,
    since: float | None,
) -> dict[str, Any]:
    """The statistics (blocking: run it in a thread)."""
    records = store.runs(runs, where=RunFilter(tenant=tenant))
    if since is not None:
        records = [r for r in records if r.started_at >= since]
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    answered: dict[str, tuple[str, str]] = {}  # run/step -> (model, capability)
    for record in records:
        decisions: dict[str, dict[str, Any]] = {}
        for event in store.events(record.run_id):
            data = event.data
            step = event.step or ""
            if event.type == "step_started":
                decision = data.get("decision")
                if isinstance(decision, dict):
                    same = decision.get("same_as")
                    decisions[step] = decisions.get(same, {}) if same else decision
                continue
            model = data.get("model")
            if not isinstance(model, str) or model.startswith("ensemble:"):
                continue
            capability = _capability(decisions.get(step), model, registry)
            tally = tallies[model if by == "model" else capability]
            if event.type == "attempt_failed":
                tally.errors += 1
            elif event.type == "step_succeeded" and "latency_ms" in data:
                if data.get("cached"):
                    tally.cached += 1
                else:
                    tally.ok += 1
                    tally.latencies.append(float(data.get("latency_ms") or 0.0))
                tally.cost += float(data.get("cost") or 0.0)
                answered[f"{record.run_id}/{step}"] = (model, capability)
                if tally.prior is None:
                    tally.prior = _prior(model, capability, registry)
    if answered:
        for key, judged in store.documents(FEEDBACK).items():
            found = answered.get(key)
            if found is not None and isinstance(judged.get("score"), int | float):
                tallies[found[0] if by == "model" else found[1]].scores.append(
                    float(judged["score"])
                )
    items = []
    for key, t in sorted(tallies.items()):
        calls = t.ok + t.errors
        if t.scores:
            quality, source = sum(t.scores) / len(t.scores), "feedback"
        elif t.prior is not None:
            quality, source = t.prior, "prior"
        else:
            quality, source = None, "none"
        items.append(
            {
                "key": key,
                "calls": calls,
                "errors": t.errors,
                "cached": t.cached,
                "error_rate": round(t.errors / calls, 6) if calls else 0.0,
                "p50_ms": percentile(t.latencies, 0.50),
                "p95_ms": percentile(t.latencies, 0.95),
                "cost": round(t.cost, 8),
                "quality": round(quality, 6) if quality is not None else None,
                "quality_from": source,
                "feedback": len(t.scores),
            }
        )
    return {"by": by, "tenant": tenant, "runs": len(records), "since": since, "items": items}


@router.get(
    "/stats",
    response_model=Stats,
    summary="Calls, errors, p50/p95 latency, cost and quality per model or capability",
    responses=problems(),
)
async def stats(
    request: Request,
    principal: Principal = Viewer,
    by: Literal["model", "capability"] = "model",
    runs: Annotated[int, Query(ge=1, le=5000, description="Newest runs scanned")] = 500,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Started at or after")] = None,
) -> dict[str, Any]:
    api = api_state(request)
    orch = server_state(request).orchestrator
    question = (by, principal.tenant, runs, since)
    cached = api.stats.get(question)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        result: dict[str, Any] = cached[1]
        return result
    result = await asyncio.to_thread(
        compute, orch.store, orch.registry, by, principal.tenant, runs, since
    )
    if len(api.stats) > 64:
        api.stats.clear()
    api.stats[question] = (now + CACHE_S, result)
    return result
