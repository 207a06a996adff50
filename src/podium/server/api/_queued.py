"""Queuing a run over the API for ``podium worker`` processes, instead of running it here."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from podium.errors import SchemaError
from podium.server._auth import Principal
from podium.server._deps import caller_of
from podium.server._state import ServerState
from podium.server.api._schemas import record_json
from podium.server.api._start import until_settled


async def submit_queued(
    state: ServerState,
    principal: Principal,
    request: Request,
    workflow: Any,
    body: Any,
    queue: str | None,
    wait_s: float | None,
) -> Response:
    """Store the run ``pending`` in its queue and answer at once (or, with ``wait``, when a
    worker has finished it or the wait is over)."""
    orch = state.orchestrator
    try:
        run_id = await orch.asubmit(
            workflow, body.inputs, queue=queue, caller=caller_of(principal, request)
        )
    except SchemaError as exc:
        raise (exc if exc.field else exc.located(field="inputs")) from None
    if wait_s:
        await until_settled(state, run_id, wait_s)
    record = orch.store.run(run_id)
    assert record is not None
    data = record_json(record, outputs=True)
    headers = {"Location": f"/api/v1/runs/{run_id}"}
    return Response(orjson.dumps(data), 201, headers, media_type="application/json")
