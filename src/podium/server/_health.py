"""Liveness and readiness: ``/healthz`` while the process serves, ``/readyz`` while it
takes work and its database answers."""

from __future__ import annotations

from fastapi import APIRouter, Request

from podium.server._problems import Problem
from podium.server._state import server_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The server takes work and its database answers")
async def readyz(request: Request) -> dict[str, object]:
    state = server_state(request)
    if not state.ready or not state.tasks.accepting:
        raise Problem(503, "Not ready", "the server is starting or stopping", kind="unavailable")
    try:
        state.orchestrator.store.run_brief("-")
    except Exception as exc:
        raise Problem(
            503,
            "Not ready",
            f"the database does not answer: {type(exc).__name__}",
            kind="unavailable",
        ) from None
    return {"status": "ready", "runs": len(state.tasks)}
