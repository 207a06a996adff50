"""Audit records of the gateway's model calls.

A gateway call belongs to no run, so no run event carries its record: the trail keeps the
records of the calls answered in the last moments and writes them to the audit log in one
transaction, off the request path, at most :data:`FLUSH_S` after the first of them (or at
once when :data:`BATCH` are waiting). The server writes what is left when it stops; a
server killed outright loses at most that last moment's records.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from podium.engine._calls import CallResult
from podium.registry import ModelSpec
from podium.server._auth import Principal
from podium.store import AuditNote, Store, digest

log = logging.getLogger("podium.server.gateway")

#: Longest a record waits before it is written (seconds).
FLUSH_S = 0.05
#: Records written together at the most.
BATCH = 512


def call_note(
    result: CallResult,
    request: dict[str, Any],
    answer: bytes | None,
    principal: Principal,
    request_id: str,
    kind: str,
) -> AuditNote:
    """The ``model.call`` record of one gateway call: the model and instance that answered,
    hashes of the request and of the answer's bytes, cost, latency, attempts."""
    data: dict[str, Any] = {
        "model": result.model.key,
        "gateway": kind,
        "request": request_id,
        "cached": False,
        "latency_ms": round(result.latency_ms, 3),
        "attempt": result.attempts,
        "input_sha256": digest(request),
        "output_sha256": hashlib.sha256(answer).hexdigest() if answer is not None else None,
    }
    if result.instance is not None:
        data["instance"] = result.instance
    if result.hedged:
        data["hedged"] = True
    return AuditNote(
        "model.call",
        time.time(),
        data,
        result.model.key,
        principal.name,
        principal.tenant,
        "gateway",
        None,
        float(result.cost),
    )


def cut_note(
    model: ModelSpec,
    request: dict[str, Any],
    principal: Principal,
    request_id: str,
    kind: str,
    latency_ms: float,
) -> AuditNote:
    """The ``model.call`` record of a streamed call whose client went away before the end:
    the model was called and had begun to answer; its cost was never reported."""
    data: dict[str, Any] = {
        "model": model.key,
        "gateway": kind,
        "request": request_id,
        "cached": False,
        "latency_ms": round(latency_ms, 3),
        "cancelled": "the client went away before the answer ended",
        "input_sha256": digest(request),
        "output_sha256": None,
    }
    return AuditNote(
        "model.call",
        time.time(),
        data,
        model.key,
        principal.name,
        principal.tenant,
        "gateway",
        None,
        0.0,
    )


class AuditTrail:
    """Gathers the gateway's records and writes them in batches on a thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[AuditNote] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, note: AuditNote) -> None:
        """Keep ``note`` for the next write (called on the event loop)."""
        self._pending.append(note)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        deadline = asyncio.get_running_loop().time() + FLUSH_S
        while len(self._pending) < BATCH:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 0.01))
        await self.flush()

    async def flush(self) -> None:
        """Write every record kept so far."""
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await asyncio.to_thread(self._store.audit, batch)
            except Exception:  # the call was answered: say what is lost, never fail it
                log.exception("%d gateway audit record(s) could not be written", len(batch))

    async def aclose(self) -> None:
        """Write what is left (the server is stopping)."""
        if self._task is not None and not self._task.done():
            await self._task
        await self.flush()
