"""``/runs``: start a run (in the background, idempotently, waiting if asked), list and
read runs, cancel and resume them."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import Header, Query, Request
from fastapi.responses import Response
from pydantic import Field

from podium.engine import RunState
from podium.errors import InvalidStateError
from podium.server._auth import Principal
from podium.server._deps import Operator, Viewer, caller_of, start_allowed, visible
from podium.server._problems import Problem, not_found
from podium.server._state import ServerState, server_state
from podium.server.api._common import Strict, invalid, problems, wait_for
from podium.server.api._documents import refuse_files
from podium.server.api._queued import submit_queued
from podium.server.api._router import router
from podium.server.api._schemas import (
    RunDetail,
    RunPage,
    RunStatusName,
    RunSummary,
    detail_json,
    record_json,
)
from podium.server.api._shared import api_state
from podium.server.api._start import Started, outcome, request_digest, start
from podium.store import RunFilter, RunRecord

WAIT_QUERY = Query(
    description="Wait for the run to finish or wait for approval: `true`, or at most N "
    "seconds (also `Prefer: wait=N`)",
)
IDEMPOTENCY = Header(
    alias="Idempotency-Key",
    min_length=1,
    max_length=255,
    description="Retries with the same key (per API key) return the same run",
)
PREFER = Header(alias="Prefer", description="`wait=N`: wait up to N seconds for the run to end")


STARTED = {
    "Location": {"description": "The run", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true`: an earlier request with this Idempotency-Key started it",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Preference-Applied": {
        "description": "The `Prefer: wait` honoured",
        "schema": {"type": "string"},
    },
}


class RunRequest(Strict):
    """What to run: a registered workflow's name (and version), or a workflow document."""

    workflow: str | dict[str, Any] = Field(
        description="A registered workflow's name, or a workflow document"
    )
    version: int | None = Field(default=None, ge=1, le=2**31)
    inputs: dict[str, Any] = Field(default_factory=dict)
    wait: bool = Field(default=False, description="Answer when the run ends (or waits)")
    queue: bool | str | None = Field(
        default=None,
        description="Queue the run for `podium worker` instead of running it here: `true` "
        "(the workflow's own queue, else `default`) or a queue name",
    )


def _workflow(request: Request, principal: Principal, body: RunRequest) -> tuple[Any, str]:
    """The workflow to run (a loaded one for a name) and its name."""
    if isinstance(body.workflow, str):
        found = api_state(request).book.workflow(principal.tenant, body.workflow, body.version)
        if found is None:
            what = f"version {body.version} of " if body.version else ""
            raise not_found(f"no {what}workflow named '{body.workflow}'")
        return found[0], found[0].name
    if body.version is not None:
        raise invalid("only a registered workflow (given by name) has versions", "version")
    refuse_files(body.workflow)  # errors name fields inside the document, as the CLI's do
    name = body.workflow.get("name")
    return body.workflow, name if isinstance(name, str) else "workflow"


def run_response(data: dict[str, Any], status: int, started: Started, wait: str | None) -> Response:
    headers = {"Location": f"/api/v1/runs/{started.run_id}"}
    if wait is not None:
        headers["Preference-Applied"] = wait
    if started.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _applied(prefer: str | None, wait_s: float | None) -> str | None:
    if prefer and wait_s is not None and "wait" in prefer.lower():
        return f"wait={wait_s:g}"
    return None


@router.post(
    "/runs",
    status_code=201,
    response_model=RunSummary,
    summary="Start a run; with wait, answer with its outputs when it ends",
    responses=problems(404, 503, also={201: {"description": "Started", "headers": STARTED}}),
)
async def create_run(
    body: RunRequest,
    request: Request,
    principal: Principal = Operator,
    wait: Annotated[str | None, WAIT_QUERY] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY] = None,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    state = server_state(request)
    start_allowed(state, principal)
    wait_s = wait_for(wait, body.wait, prefer)
    workflow, name = _workflow(request, principal, body)
    digest = ""
    if idempotency_key is not None:
        asked = {"workflow": body.workflow, "version": body.version, "inputs": body.inputs}
        digest = request_digest(asked)
    orch = state.orchestrator
    inputs = body.inputs
    if body.queue:
        queue = body.queue if isinstance(body.queue, str) else None
        return await submit_queued(state, principal, request, workflow, body, queue, wait_s)

    def work(run_id: str, caller: Any) -> Any:
        return orch.arun(workflow, inputs, run_id=run_id, caller=caller)

    started = await start(
        state,
        principal,
        caller_of(principal, request),
        name,
        work,
        key=idempotency_key,
        digest=digest,
    )
    data = await outcome(state, principal, started, wait_s)
    return run_response(data, 201, started, _applied(prefer, wait_s))


def _cursor(cursor: str | None) -> float | None:
    if cursor is None:
        return None
    try:
        value = float(cursor)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise invalid("pass the next_cursor of the previous page", "cursor")
    return value


#: The most runs one listing reads to find a page that matches ``q`` or ``since``.
SCAN_MAX = 5000


def _matches(record: RunRecord, text: str | None, since: float | None) -> bool:
    if since is not None and record.started_at < since:
        return False
    if not text:
        return True
    found = (record.run_id, record.workflow, record.error or "", record.principal or "")
    return any(text in part.lower() for part in found)


@router.get(
    "/runs",
    response_model=RunPage,
    summary="Runs newest first, by status, workflow, time and text; paged by cursor",
    responses=problems(),
)
async def list_runs(
    request: Request,
    principal: Principal = Viewer,
    status: RunStatusName | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the run id, workflow or error")
    ] = None,
    since: Annotated[
        float | None, Query(ge=0, le=1e11, description="Started at or after (epoch seconds)")
    ] = None,
    until: Annotated[
        float | None, Query(ge=0, le=1e11, description="Started before (epoch seconds)")
    ] = None,
) -> dict[str, Any]:
    before = _cursor(cursor)
    if until is not None:
        before = until if before is None else min(before, until)
    orch = server_state(request).orchestrator
    where = RunFilter(status=status, workflow=workflow, tenant=principal.tenant, before=before)
    text = q.strip().lower() if q else None
    if not text and since is None:
        records = await orch.aruns(limit, where=where)
        next_cursor = repr(records[-1].started_at) if len(records) == limit else None
        return {"items": [record_json(r) for r in records], "next_cursor": next_cursor}
    found: list[RunRecord] = []
    scanned = 0
    batch = max(limit, 200)
    while len(found) < limit and scanned < SCAN_MAX:
        records = await orch.aruns(batch, where=where)
        scanned += len(records)
        for record in records:
            if _matches(record, text, since):
                found.append(record)
                if len(found) == limit:
                    break
        last = records[-1] if records else None
        if len(records) < batch or last is None or (since is not None and last.started_at < since):
            break
        where = replace(where, before=last.started_at)
    next_cursor = repr(found[-1].started_at) if len(found) == limit else None
    return {"items": [record_json(r) for r in found], "next_cursor": next_cursor}


def visible_run(state: ServerState, principal: Principal, run_id: str) -> RunRecord:
    """The stored run ``run_id`` if ``principal`` may see it; else 404."""
    record = state.orchestrator.store.run(run_id)
    if record is None:
        raise not_found(f"no run with id '{run_id}'")
    visible(principal, record.tenant, f"no run with id '{run_id}'")
    return record


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="A run: status, outputs, steps, lineage, pending approvals",
    responses=problems(404),
)
async def get_run(request: Request, run_id: str, principal: Principal = Viewer) -> dict[str, Any]:
    state = server_state(request)
    record = visible_run(state, principal, run_id)
    return detail_json(record, RunState.replay(state.orchestrator.store.events(run_id)))


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunSummary,
    summary="Cancel a run; the process driving it stops within a second",
    responses=problems(404, 409),
)
async def cancel_run(
    request: Request, run_id: str, principal: Principal = Operator
) -> dict[str, Any]:
    state = server_state(request)
    visible_run(state, principal, run_id)
    return record_json(await state.orchestrator.acancel(run_id, by=principal.name), outputs=True)


@router.post(
    "/runs/{run_id}/resume",
    response_model=RunSummary,
    summary="Continue a run whose process died, or that failed; finished steps are kept",
    responses=problems(404, 409, 503),
)
async def resume_run(
    request: Request,
    run_id: str,
    principal: Principal = Operator,
    wait: Annotated[str | None, WAIT_QUERY] = None,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    state = server_state(request)
    record = visible_run(state, principal, run_id)
    start_allowed(state, principal)
    if state.tasks.get(run_id) is not None:  # its driver here has not stopped yet
        if record.status in ("succeeded", "cancelled"):
            raise InvalidStateError(f"run {run_id} is {record.status}; nothing to resume")
        raise Problem(409, "Conflict", f"run {run_id} is running on this server", kind="conflict")
    wait_s = wait_for(wait, False, prefer)
    orch = state.orchestrator
    by = caller_of(principal, request)
    task = state.tasks.spawn(run_id, principal.name, orch.aresume(run_id, by=by))
    started = Started(run_id, record.workflow, task)
    await _first_step(task)
    data = await outcome(state, principal, started, wait_s)
    data |= {"principal": record.principal, "tenant": record.tenant}
    return run_response(data, 200, started, _applied(prefer, wait_s))


async def _first_step(task: asyncio.Task[Any]) -> None:
    """Let a just-spawned driver take its first step; its refusal is the request's error."""
    await asyncio.sleep(0)
    if task.done() and not task.cancelled():
        error = task.exception()
        if error is not None:
            raise error
