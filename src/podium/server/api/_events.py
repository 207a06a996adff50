"""``/runs/{id}/events``: a run's event log as Server-Sent Events, live until it ends.

Each event's ``id:`` is its sequence number, so a client that reconnects with
``Last-Event-ID`` (or ``?after=N``) gets exactly the events it missed. The stream polls
the store (one indexed read per tick, slower while nothing happens), sends a comment as a
keep-alive while the run is quiet, and ends with an ``end`` event once the run has
finished or waits for approval. A client that disconnects stops the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse

from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._state import server_state
from podium.server.api._common import problems
from podium.server.api._router import router
from podium.server.api._runs import visible_run
from podium.store import Event, Store

POLL_MIN_S = 0.05
POLL_MAX_S = 0.5
KEEP_ALIVE_S = 15.0
_SETTLED = frozenset({"succeeded", "failed", "cancelled", "waiting"})
_ENDINGS = frozenset({"run_succeeded", "run_failed", "run_cancelled", "run_waiting"})


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def frame(event: Event) -> bytes:
    """One event as an SSE frame."""
    data = orjson.dumps(
        {
            "seq": event.seq,
            "type": event.type,
            "step": event.step,
            "ts": event.ts,
            "data": event.data,
        }
    )
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), data)


def _end(status: str | None) -> bytes:
    return b"event: end\ndata: %s\n\n" % orjson.dumps({"status": status})


async def stream(
    store: Store,
    run_id: str,
    after: int,
    *,
    poll_min_s: float = POLL_MIN_S,
    poll_max_s: float = POLL_MAX_S,
    keep_alive_s: float = KEEP_ALIVE_S,
) -> AsyncIterator[bytes]:
    """The run's events after ``after``, then the ones to come, until it settles."""
    last = after
    pause = poll_min_s
    quiet_since = time.monotonic()
    yield b"retry: 1000\n\n"
    while True:
        events = store.events(run_id, after=last)
        if events:
            yield b"".join(map(frame, events))  # one write per read, not one per event
            last = events[-1].seq
            pause = poll_min_s
            quiet_since = time.monotonic()
        if not events or events[-1].type in _ENDINGS:
            brief = store.run_brief(run_id)
            status = brief.status if brief is not None else None
            if status is None or status in _SETTLED:
                for event in store.events(run_id, after=last):  # written as it settled
                    yield frame(event)
                yield _end(status)
                return
        if time.monotonic() - quiet_since >= keep_alive_s:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(pause)
        pause = min(pause * 2, poll_max_s)


def _last_event_id(header: str | None) -> int:
    if header is None:
        return 0
    text = header.strip()
    return int(text) if text.isdigit() and len(text) < 19 else 0


@router.get(
    "/runs/{run_id}/events",
    response_class=EventStream,
    summary="The run's events as Server-Sent Events (id: the sequence number)",
    responses=problems(
        404,
        also={
            200: {
                "description": "`id:` is the event's sequence number, `event:` its type, "
                "`data:` the event as JSON; a final `end` event gives the run's status",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    ),
)
async def run_events(
    request: Request,
    run_id: str,
    principal: Principal = Viewer,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only events after this")] = 0,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64, description="Resume here")
    ] = None,
) -> EventStream:
    state = server_state(request)
    visible_run(state, principal, run_id)
    start = max(after, _last_event_id(last_event_id))
    return EventStream(
        stream(state.orchestrator.store, run_id, start),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
