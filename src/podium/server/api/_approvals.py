"""``/approvals``: what waits for a decision; deciding one, attributed to the caller."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from podium._context import Caller
from podium._types import RunStatus
from podium.engine import RunResult, RunState, decide_approval
from podium.errors import InvalidStateError
from podium.governance import Role
from podium.server._auth import Principal
from podium.server._deps import Operator, Viewer, caller_of
from podium.server._problems import Problem
from podium.server._state import ServerState, server_state
from podium.server.api._common import Strict, forbidden, problems, wait_for
from podium.server.api._router import router
from podium.server.api._runs import PREFER, WAIT_QUERY, _applied, visible_run
from podium.server.api._schemas import PendingApproval, pending_approvals
from podium.server.api._start import Started, outcome
from podium.store import RunFilter

log = logging.getLogger("podium.server")


class Decision(Strict):
    """Approve (or reject) a waiting step."""

    approved: bool = True
    comment: str | None = Field(default=None, max_length=4000)


class Decided(BaseModel):
    """The decision recorded, and the run's status after it."""

    run_id: str
    step: str
    approved: bool
    by: str
    comment: str | None = None
    status: str
    outputs: dict[str, Any] | None = None


@router.get(
    "/approvals",
    response_model=list[PendingApproval],
    summary="Steps waiting for a decision, in the runs you see",
    responses=problems(),
)
async def list_approvals(
    request: Request,
    principal: Principal = Viewer,
    limit: Annotated[int, Query(ge=1, le=1000, description="Runs looked at per status")] = 200,
) -> list[dict[str, Any]]:
    orch = server_state(request).orchestrator
    found: list[dict[str, Any]] = []
    for status in ("waiting", "running"):
        where = RunFilter(status=status, tenant=principal.tenant)
        for record in orch.runs(limit, where=where):
            state = RunState.replay(orch.store.events(record.run_id))
            found.extend(pending_approvals(record, state))
    return sorted(found, key=lambda a: a.get("requested_at") or 0.0)


def _may_approve(principal: Principal, approvers: list[str]) -> bool:
    """Whether ``principal`` is among ``approvers`` (names, or roles it holds)."""
    if not approvers or principal.name in approvers:
        return True
    for approver in approvers:
        try:
            role = Role(approver)
        except ValueError:
            continue
        if principal.may(role):
            return True
    return False


def _continue(state: ServerState, run_id: str, by: Caller, principal: Principal) -> Started:
    """Go on with the run after the decision: here, unless a live process drives it."""
    task = state.tasks.get(run_id)
    if task is not None:  # this server drives it: the driver picks the decision up
        return Started(run_id, "", task)
    orch = state.orchestrator

    async def go() -> RunResult:
        try:
            return await orch.aresume(run_id, by=by)
        except InvalidStateError as exc:  # another process drives it and takes the decision
            log.info("run %s continues elsewhere: %s", run_id, exc)
            return await orch.aget_run(run_id)

    return Started(run_id, "", state.tasks.spawn(run_id, principal.name, go()))


@router.post(
    "/runs/{run_id}/approvals/{step}",
    response_model=Decided,
    summary="Approve or reject a waiting step, then continue the run",
    responses=problems(404, 409),
)
async def decide(
    request: Request,
    run_id: str,
    step: str,
    body: Decision,
    principal: Principal = Operator,
    wait: Annotated[str | None, WAIT_QUERY] = None,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    state = server_state(request)
    store = state.orchestrator.store
    record = visible_run(state, principal, run_id)
    replayed = RunState.replay(store.events(run_id))
    waiting = replayed.steps.get(step)
    approval = waiting.approval if waiting is not None else None
    if approval is not None and not _may_approve(principal, list(approval.get("approvers") or ())):
        raise forbidden(f"step '{step}' is for {', '.join(approval['approvers'])} to decide")
    try:
        decide_approval(
            store, run_id, step, approved=body.approved, by=principal.name, comment=body.comment
        )
    except InvalidStateError as exc:
        made = store.decisions(run_id).get(step)
        if made is None:
            raise
        verdict = "approved" if made.get("approved") else "rejected"
        raise Problem(
            409,
            "Conflict",
            f"step '{step}' of run {run_id} already decided by {made.get('by')} ({verdict})",
            kind="already-decided",
            decided_by=made.get("by"),
            approved=bool(made.get("approved")),
        ) from exc
    started = _continue(state, run_id, caller_of(principal, request), principal)
    wait_s = wait_for(wait, False, prefer)
    data = await outcome(state, principal, started, wait_s) if wait_s else {}
    status = data.get("status") or str(RunStatus.RUNNING)
    body_json = Decided(
        run_id=run_id,
        step=step,
        approved=body.approved,
        by=principal.name,
        comment=body.comment,
        status=status,
        outputs=data.get("outputs"),
    ).model_dump_json()
    headers = {"Location": f"/api/v1/runs/{record.run_id}"}
    applied = _applied(prefer, wait_s)
    if applied:
        headers["Preference-Applied"] = applied
    return Response(body_json, 200, headers, media_type="application/json")
