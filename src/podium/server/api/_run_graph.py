"""``/runs/{id}/graph`` and ``/runs/{id}/steps/{key}``: the shape of the workflow a run
runs (its steps, what each one reads, how it is set up) and everything known about one
step: what it was given, what it gave, its attempts, the routing explanation, ensemble
members, cascade stages and cost.

The graph comes from the definition the run stored when it started, so it is the run's
own workflow even if a newer version was registered since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from podium._types import StepStatus
from podium.engine import (
    RunState,
    workflow_from_snapshot,
)
from podium.errors import PodiumError
from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._problems import not_found
from podium.server._state import server_state
from podium.server.api._common import plain_json, problems
from podium.server.api._drafts import describe_steps
from podium.server.api._router import router
from podium.server.api._runs import visible_run


class GraphStep(BaseModel):
    """A top-level step of the run's workflow."""

    id: str
    kind: str
    uses: str | None = None
    deps: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class RunGraph(BaseModel):
    """The run's workflow as a graph: steps and the steps each one waits for."""

    run_id: str
    workflow: str
    steps: list[GraphStep]
    outputs: list[str] = Field(default_factory=list)


class StepDetail(BaseModel):
    """One step key of a run, with everything its events say."""

    run_id: str
    step: str
    status: str
    model: str | None = None
    attempts: int = 0
    cost: float = 0.0
    cached: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    error: str | None = None
    inputs: Any = None
    output: Any = None
    decision: dict[str, Any] | None = None
    members: list[dict[str, Any]] | None = None
    cascade: list[dict[str, Any]] | None = None
    approval: dict[str, Any] | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)


_SETTINGS = (
    "if",
    "with",
    "after",
    "retry",
    "timeout_s",
    "route",
    "fallback",
    "cache",
    "models",
    "combine",
    "stacker",
    "map",
    "concurrency",
    "loop",
    "approval",
    "workflow",
)


def graph_json(run_id: str, name: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The graph of a stored definition, read from its document (the loader's full
    checks are not needed to draw it, and cost a quarter second at 1,000 steps)."""
    document = definition.get("document") or {}
    if not isinstance(document, Mapping):
        document = {}
    bodies = document.get("steps") if isinstance(document.get("steps"), Mapping) else {}
    steps = []
    for info in describe_steps(document, None):
        body = bodies.get(info["id"]) if isinstance(bodies, Mapping) else None
        settings = {k: body[k] for k in _SETTINGS if k in body} if isinstance(body, Mapping) else {}
        steps.append(
            {
                "id": info["id"],
                "kind": info["kind"],
                "uses": info["uses"],
                "deps": info["deps"],
                "settings": plain_json(settings),
            }
        )
    outputs = document.get("outputs")
    return {
        "run_id": run_id,
        "workflow": name,
        "steps": steps,
        "outputs": list(outputs) if isinstance(outputs, Mapping) else [],
    }


@router.get(
    "/runs/{run_id}/graph",
    response_model=RunGraph,
    summary="The run's workflow as a graph: its steps and what each one waits for",
    responses=problems(404),
)
async def run_graph(request: Request, run_id: str, principal: Principal = Viewer) -> Any:
    record = visible_run(server_state(request), principal, run_id)
    return graph_json(run_id, record.workflow, record.definition or {})


def _inputs(definition: Mapping[str, Any], key: str, state: RunState) -> Any:
    """What a top-level step was given: its ``with`` evaluated over the run's state."""
    if "[" in key or "/" in key or "#" in key:
        return None
    try:
        workflow = workflow_from_snapshot(definition)
    except (PodiumError, KeyError, TypeError):
        return None
    step = workflow.steps.get(key)
    if step is None or step.with_ is None:
        return None
    done = {
        k: {"output": r.output}
        for k, r in state.steps.items()
        if r.status is StepStatus.SUCCEEDED and k in workflow.steps
    }
    if any(dep not in done for dep in step.deps):
        return None
    try:
        return step.with_.evaluate({"inputs": state.inputs, "steps": done, "item": None})
    except PodiumError:
        return None


@router.get(
    "/runs/{run_id}/steps/{key:path}",
    response_model=StepDetail,
    summary="One step of a run: inputs, output, attempts, routing, members, stages, cost",
    responses=problems(404),
)
async def run_step(
    request: Request, run_id: str, key: str, principal: Principal = Viewer
) -> dict[str, Any]:
    state_ = server_state(request)
    record = visible_run(state_, principal, run_id)
    events = state_.orchestrator.store.events(run_id)
    replayed = RunState.replay(events)
    found = replayed.steps.get(key)
    document = (record.definition or {}).get("document") or {}
    declared = key in (document.get("steps") or {}) if isinstance(document, Mapping) else False
    if found is None and not declared:
        raise not_found(f"run {run_id} has no step '{key}'")
    mine = [
        {
            "seq": e.seq,
            "type": e.type,
            "ts": e.ts,
            "data": {k: v for k, v in e.data.items() if k != "output"},
        }
        for e in events
        if e.step == key
    ]
    if found is None:
        return {"run_id": run_id, "step": key, "status": "pending", "events": mine}
    info = dict(found.info)
    duration = None
    if found.started_at and found.finished_at:
        duration = round((found.finished_at - found.started_at) * 1000, 3)
    detail: dict[str, Any] = plain_json(
        {
            "run_id": run_id,
            "step": key,
            "status": str(found.status) if found.status else "pending",
            "model": found.model,
            "attempts": found.attempts,
            "cost": round(found.cost, 8),
            "cached": found.cached,
            "started_at": found.started_at,
            "finished_at": found.finished_at,
            "duration_ms": duration,
            "error": found.error,
            "inputs": _inputs(record.definition or {}, key, replayed),
            "output": found.output,
            "decision": found.decision,
            "members": info.pop("members", None),
            "cascade": info.pop("cascade", None),
            "approval": found.approval,
            "info": info,
            "events": mine,
        }
    )
    return detail
