"""``/plans``: a goal (words and/or wanted types) becomes an explained workflow; run it
if asked."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Annotated, Any, Literal

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from podium._context import Caller
from podium.engine import RunResult
from podium.server._auth import Principal
from podium.server._deps import Operator, caller_of, start_allowed
from podium.server._state import server_state
from podium.server.api._common import Strict, plain_json, problems, wait_for
from podium.server.api._router import router
from podium.server.api._runs import IDEMPOTENCY, PREFER, WAIT_QUERY, _applied
from podium.server.api._schemas import RunSummary
from podium.server.api._start import outcome, request_digest, start


class PlanRequest(Strict):
    """What you want (in words, or as semantic types), what you have, and how to plan."""

    goal: str = Field(default="", max_length=4000)
    given: dict[str, str] | list[str] | None = Field(
        default=None, description="What you have: {name: type} or ['name:type']"
    )
    want: list[str] | None = Field(default=None, description="Semantic types you want")
    run: bool = Field(default=False, description="Run the plan after making it")
    inputs: dict[str, Any] = Field(default_factory=dict, description="The run's inputs")
    wait: bool = Field(default=False, description="With run: answer when the run ends")
    policy: Literal["best", "cheapest", "fastest", "balanced", "learned", "cascade"] = "best"
    max_cost: float | None = Field(default=None, ge=0)
    min_quality: float | None = Field(default=None, ge=0, le=1)
    matcher: Literal["auto", "lexical", "embedding"] = "auto"
    llm: bool | None = Field(default=None, description="Ask the configured LLM planner")
    templates: bool = Field(default=True, description="Reuse plans of similar goals")


class PlanResult(BaseModel):
    """The plan (its explanation and workflow document) and the run, if one was started."""

    plan: dict[str, Any]
    run: RunSummary | None = None


@router.post(
    "/plans",
    response_model=PlanResult,
    summary="Plan a goal as a workflow over the registered models (and run it)",
    responses=problems(
        404, 503, also={201: {"model": PlanResult, "description": "Planned and started"}}
    ),
)
async def create_plan(
    body: PlanRequest,
    request: Request,
    principal: Principal = Operator,
    wait: Annotated[str | None, WAIT_QUERY] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY] = None,
    prefer: Annotated[str | None, PREFER] = None,
) -> Response:
    from podium.planner import PlanConstraints, PlanError, PlanOptions

    state = server_state(request)
    if body.run:
        start_allowed(state, principal)
    if not body.goal.strip() and not body.want:
        raise PlanError("give a goal in words, or the types you want", field="goal")
    options = PlanOptions(
        constraints=PlanConstraints(
            policy=body.policy, max_cost=body.max_cost, min_quality=body.min_quality
        ),
        matcher=body.matcher,
        llm=body.llm,
        templates=body.templates,
    )
    orch = state.orchestrator
    plan = await orch.aplan(body.goal, given=body.given, want=body.want, options=options)
    planned = plain_json(plan.to_json())
    if not body.run:
        return Response(orjson.dumps({"plan": planned, "run": None}), 200, None, "application/json")
    inputs = body.inputs

    def work(run_id: str, caller: Caller) -> Coroutine[Any, Any, RunResult]:
        return orch.arun_plan(plan, inputs, run_id=run_id, caller=caller)

    digest = request_digest(body.model_dump(mode="json", exclude={"wait"}))
    started = await start(
        state,
        principal,
        caller_of(principal, request),
        plan.name,
        work,
        key=idempotency_key,
        digest=digest,
    )
    wait_s = wait_for(wait, body.wait, prefer)
    run = await outcome(state, principal, started, wait_s)
    headers = {"Location": f"/api/v1/runs/{started.run_id}"}
    applied = _applied(prefer, wait_s)
    if applied:
        headers["Preference-Applied"] = applied
    content = orjson.dumps({"plan": planned, "run": run})
    return Response(content, 201, headers, media_type="application/json")
