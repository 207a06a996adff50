"""``/overview`` and ``/stats/series``: what the console's first page and model pages
chart, computed from the runs the caller sees.

``/overview``: runs by status per time bucket, cost today (since midnight UTC) and over
the last seven days, the error rate of finished runs, the busiest and slowest models,
open approvals and the circuit breakers open now. ``/stats/series``: one model's calls,
errors and median latency per time bucket. Both read at most ``runs`` of the newest runs
(and say how many they read), in a worker thread, cached for a moment per question.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from podium.engine import RunState
from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._state import server_state
from podium.server.api._common import problems
from podium.server.api._router import router
from podium.server.api._schemas import pending_approvals
from podium.server.api._shared import api_state
from podium.server.api._stats import CACHE_S, compute, percentile
from podium.store import RunFilter, Store

DAY_S = 86400.0
STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "cancelled")


class Bucket(BaseModel):
    """Counts in one time bucket starting at ``t`` (seconds since the epoch)."""

    t: float
    counts: dict[str, int]


class ModelLine(BaseModel):
    model: str
    calls: int
    errors: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    cost: float = 0.0


class Breaker(BaseModel):
    model: str
    instance: int
    circuit: str


class Overview(BaseModel):
    """The state of the platform over the last ``hours`` hours."""

    now: float
    hours: int
    bucket_s: int
    buckets: list[Bucket]
    totals: dict[str, int]
    cost_today: float
    cost_week: float
    error_rate: float | None = Field(description="failed / finished runs in the window")
    busiest: list[ModelLine]
    slowest: list[ModelLine]
    open_approvals: int
    breakers_open: list[Breaker]
    runs_scanned: int
    truncated: bool


class SeriesPoint(BaseModel):
    t: float
    calls: int
    errors: int
    p50_ms: float | None = None


class Series(BaseModel):
    """One model's calls per time bucket."""

    model: str
    bucket_s: int
    points: list[SeriesPoint]
    runs_scanned: int


def _bucket_size(hours: int) -> int:
    return 3600 if hours <= 48 else 6 * 3600


def _start(now: float, hours: int, bucket: int) -> float:
    return (now - hours * 3600.0) // bucket * bucket + bucket


def runs_overview(store: Store, tenant: str | None, hours: int, limit: int) -> dict[str, Any]:
    """Run counts and costs (blocking: run it in a thread)."""
    now = time.time()
    bucket = _bucket_size(hours)
    start = _start(now, hours, bucket)
    week = now - 7 * DAY_S
    midnight = now // DAY_S * DAY_S
    records = store.runs(limit, where=RunFilter(tenant=tenant))
    counts: dict[float, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    totals = dict.fromkeys(STATUSES, 0)
    cost_today = cost_week = 0.0
    for record in records:
        if record.started_at >= week:
            cost_week += record.cost or 0.0
            if record.started_at >= midnight:
                cost_today += record.cost or 0.0
        if record.started_at >= start:
            at = record.started_at // bucket * bucket
            counts[at][record.status] = counts[at].get(record.status, 0) + 1
            totals[record.status] = totals.get(record.status, 0) + 1
    buckets = []
    t = start
    while t <= now:
        buckets.append({"t": t, "counts": counts.get(t, dict.fromkeys(STATUSES, 0))})
        t += bucket
    finished = totals["succeeded"] + totals["failed"] + totals["cancelled"]
    oldest = records[-1].started_at if records else now
    return {
        "now": now,
        "hours": hours,
        "bucket_s": bucket,
        "buckets": buckets,
        "totals": totals,
        "cost_today": round(cost_today, 8),
        "cost_week": round(cost_week, 8),
        "error_rate": round(totals["failed"] / finished, 6) if finished else None,
        "runs_scanned": len(records),
        "truncated": len(records) == limit and oldest > week,
    }


def _open_approvals(store: Store, tenant: str | None) -> int:
    """Steps waiting for a decision, counted as ``GET /approvals`` lists them."""
    count = 0
    for status in ("waiting", "running"):
        for record in store.runs(200, where=RunFilter(status=status, tenant=tenant)):
            count += len(pending_approvals(record, RunState.replay(store.events(record.run_id))))
    return count


def _model_lines(stats: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    lines = [
        {k: item[k] for k in ("calls", "errors", "p50_ms", "p95_ms", "cost")}
        | {"model": item["key"]}
        for item in stats["items"]
    ]
    busiest = sorted(lines, key=lambda x: -x["calls"])[:5]
    timed = [x for x in lines if x["p95_ms"] is not None]
    slowest = sorted(timed, key=lambda x: -x["p95_ms"])[:5]
    return busiest, slowest


def _breakers(router: Any) -> list[dict[str, Any]]:
    circuits = getattr(router, "circuits", None)
    if not callable(circuits):
        return []
    return [
        {"model": model, "instance": i, "circuit": state}
        for model, states in sorted(circuits().items())
        for i, state in enumerate(states)
        if state != "closed"
    ]


def _cached(request: Request, question: tuple[Any, ...]) -> Any:
    found = api_state(request).stats.get(question)
    return found[1] if found is not None and found[0] > time.monotonic() else None


def _keep(request: Request, question: tuple[Any, ...], value: Any) -> None:
    cache = api_state(request).stats
    if len(cache) > 64:
        cache.clear()
    cache[question] = (time.monotonic() + CACHE_S, value)


@router.get(
    "/overview",
    response_model=Overview,
    summary="Runs by status over time, cost, error rate, busiest and slowest models, "
    "open approvals and open circuit breakers",
    responses=problems(),
)
async def overview(
    request: Request,
    principal: Principal = Viewer,
    hours: Annotated[int, Query(ge=1, le=24 * 14, description="The window charted")] = 24,
    runs: Annotated[int, Query(ge=1, le=20000, description="Newest runs read")] = 5000,
) -> dict[str, Any]:
    question = ("overview", principal.tenant, hours, runs)
    cached = _cached(request, question)
    if cached is not None:
        return dict(cached)
    orch = server_state(request).orchestrator
    tenant = principal.tenant

    def work() -> dict[str, Any]:
        found = runs_overview(orch.store, tenant, hours, runs)
        since = found["now"] - hours * 3600.0
        stats = compute(orch.store, orch.registry, "model", tenant, min(runs, 500), since)
        found["busiest"], found["slowest"] = _model_lines(stats)
        found["open_approvals"] = _open_approvals(orch.store, tenant)
        return found

    result = await asyncio.to_thread(work)
    result["breakers_open"] = _breakers(orch.router)
    _keep(request, question, result)
    return result


def call_series(
    store: Store, tenant: str | None, model: str, hours: int, limit: int
) -> dict[str, Any]:
    """Calls of ``model`` (``name@version``, or every version of ``name``) per bucket."""
    now = time.time()
    bucket = _bucket_size(hours)
    start = _start(now, hours, bucket)
    whole = "@" in model
    calls: dict[float, list[float]] = defaultdict(list)
    errors: dict[float, int] = defaultdict(int)
    records = [
        r for r in store.runs(limit, where=RunFilter(tenant=tenant)) if r.started_at >= start
    ]
    for record in records:
        for event in store.events(record.run_id):
            if event.type not in ("step_succeeded", "attempt_failed") or event.ts < start:
                continue
            used = event.data.get("model")
            if not isinstance(used, str):
                continue
            if (used != model) if whole else (used.partition("@")[0] != model):
                continue
            at = event.ts // bucket * bucket
            if event.type == "attempt_failed":
                errors[at] += 1
            elif not event.data.get("cached"):
                calls[at].append(float(event.data.get("latency_ms") or 0.0))
    points = []
    t = start
    while t <= now:
        done = calls.get(t, [])
        points.append(
            {
                "t": t,
                "calls": len(done) + errors.get(t, 0),
                "errors": errors.get(t, 0),
                "p50_ms": percentile(done, 0.5),
            }
        )
        t += bucket
    return {"model": model, "bucket_s": bucket, "points": points, "runs_scanned": len(records)}


@router.get(
    "/stats/series",
    response_model=Series,
    summary="One model's calls, errors and median latency per hour",
    responses=problems(),
)
async def stats_series(
    request: Request,
    model: Annotated[str, Query(min_length=1, max_length=300, description="name or name@version")],
    principal: Principal = Viewer,
    hours: Annotated[int, Query(ge=1, le=24 * 14)] = 24,
    runs: Annotated[int, Query(ge=1, le=5000, description="Newest runs read")] = 500,
) -> dict[str, Any]:
    question = ("series", principal.tenant, model, hours, runs)
    cached = _cached(request, question)
    if cached is not None:
        return dict(cached)
    store = server_state(request).orchestrator.store
    result = await asyncio.to_thread(call_series, store, principal.tenant, model, hours, runs)
    _keep(request, question, result)
    return result
