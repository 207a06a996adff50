"""``/audit`` (admins): the hash-chained audit log, page by page; ``/usage``: model calls
and their cost, grouped. A tenant's key sees only its tenant's records and usage."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field

from podium.server._auth import Principal
from podium.server._deps import Admin, Viewer
from podium.server._state import server_state
from podium.server.api._common import problems
from podium.server.api._router import router
from podium.store import UsageQuery

MAX_PAGE = 1000
#: a time to read from, bounded to what a database can hold
Since = Annotated[float | None, Query(ge=0, le=1e11, description="seconds since the epoch")]


class AuditPage(BaseModel):
    """Records in order; pass ``next_after`` as ``after`` for the next page."""

    items: list[dict[str, Any]]
    next_after: int | None = Field(default=None, description="the last seq of this page")
    head: str | None = Field(default=None, description="the log's head, SEQ:HASH (an anchor)")


class Usage(BaseModel):
    """Calls, cache hits, failed calls and cost per group."""

    by: Literal["tenant", "key", "model", "workflow"]
    since: float | None
    tenant: str | None
    items: list[dict[str, Any]]


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="The audit log after a sequence number (admins; a tenant's key: its records)",
    responses=problems(401, 403, 422),
)
async def audit_log(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="records after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    since: Since = None,
    tenant: Annotated[str | None, Query()] = None,
    principal: Principal = Admin,
) -> dict[str, Any]:
    store = server_state(request).orchestrator.store
    scope = principal.tenant if principal.tenant is not None else tenant

    def read() -> dict[str, Any]:
        rows = list(store.audit_records(after=after, since=since, tenant=scope, limit=limit))
        head = store.audit_head() if principal.tenant is None else None
        return {
            "items": [r.to_json() for r in rows],
            "next_after": rows[-1].seq if len(rows) == limit else None,
            "head": f"{head[0]}:{head[1]}" if head else None,
        }

    return await asyncio.to_thread(read)


@router.get(
    "/usage",
    response_model=Usage,
    summary="Model calls and cost by tenant, key, model or workflow",
    responses=problems(401, 403, 422),
)
async def usage(
    request: Request,
    by: Literal["tenant", "key", "model", "workflow"] = "tenant",
    since: Since = None,
    tenant: Annotated[str | None, Query()] = None,
    principal: Principal = Viewer,
) -> dict[str, Any]:
    store = server_state(request).orchestrator.store
    scope = principal.tenant if principal.tenant is not None else tenant
    rows = await asyncio.to_thread(store.usage, UsageQuery(by, since, scope))
    return {"by": by, "since": since, "tenant": scope, "items": [r.to_json() for r in rows]}
