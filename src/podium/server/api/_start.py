"""Starting a run for a request: in the background, at most once per idempotency key, and
waiting for its end when asked.

A request with an ``Idempotency-Key`` gets a run id derived from its principal and the key,
so the store's uniqueness of run ids decides, atomically and across servers, that a retried
request never starts a second run. The run records a digest of the request that started
it (in its caller's headers); a retry whose body differs is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson

from podium._context import Caller
from podium._types import RunStatus
from podium.engine import RunResult
from podium.engine._runner import new_run_id
from podium.errors import SchemaError
from podium.server._auth import Principal
from podium.server._problems import Problem, not_found
from podium.server._state import ServerState
from podium.server.api._schemas import record_json, result_json
from podium.store import RunRecord

KEY_HEADER = "idempotency-key"
DIGEST_HEADER = "podium-request-digest"
_POLL_S = 0.05

Work = Callable[[str, Caller], Coroutine[Any, Any, RunResult]]


def request_digest(body: dict[str, Any]) -> str:
    """A digest of what a request asks for (canonical JSON)."""
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def idempotent_run_id(principal: str, key: str) -> str:
    """The run id of ``principal``'s requests with ``key``: the same for every retry."""
    digest = hashlib.blake2b(f"{principal}\n{key}".encode(), digest_size=12).hexdigest()
    return f"idem-{digest}"


@dataclass
class Started:
    """A run a request started (``task`` drives it here), or found started (``record``)."""

    run_id: str
    workflow: str
    task: asyncio.Task[RunResult] | None
    record: RunRecord | None = None

    @property
    def replayed(self) -> bool:
        return self.record is not None


def _with_key(caller: Caller, key: str, digest: str) -> Caller:
    headers = dict(caller.headers) | {KEY_HEADER: key, DIGEST_HEADER: digest}
    return Caller.of(caller.principal, caller.tenant, headers, caller.trace_id, caller.span_id)


async def start(
    state: ServerState,
    principal: Principal,
    caller: Caller,
    workflow: str,
    work: Work,
    *,
    key: str | None = None,
    digest: str = "",
) -> Started:
    """Start ``work`` (a run, given its id and caller) in the background.

    The run's first step (load, check the inputs, store the run) runs before this
    returns, so bad inputs are the request's error, not a failed background run.
    """
    if key is None:
        run_id = new_run_id()
    else:
        run_id = idempotent_run_id(principal.name, key)
        caller = _with_key(caller, key, digest)
        if state.tasks.get(run_id) is not None:  # the same request is in flight here
            return await _replay(state, run_id, digest)
    task = state.tasks.spawn(run_id, principal.name, work(run_id, caller))
    await asyncio.sleep(0)  # the task's first step: nothing awaits before the run is stored
    if task.done() and not task.cancelled():
        error = task.exception()
        if error is not None:
            if key is not None and state.orchestrator.store.run_brief(run_id) is not None:
                return await _replay(state, run_id, digest)  # started before, elsewhere
            if isinstance(error, SchemaError) and not error.field:
                raise error.located(field="inputs") from None
            raise error
    return Started(run_id, workflow, task)


async def _replay(state: ServerState, run_id: str, digest: str) -> Started:
    """The run an earlier request with the same key started; refused if it asked for
    something else."""
    store = state.orchestrator.store
    task = state.tasks.get(run_id)
    record = store.run(run_id)
    spins = 0
    while record is None and task is not None and not task.done() and spins < 400:
        await asyncio.sleep(0 if spins < 8 else 0.005)  # its first step is about to store it
        spins += 1
        record = store.run(run_id)
    if record is None:
        if task is not None and task.done() and not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error
        raise not_found(f"no run with id '{run_id}'")
    seen = (record.caller.get("headers") or {}).get(DIGEST_HEADER)
    if seen != digest:
        raise Problem(
            422,
            "Invalid input",
            "Idempotency-Key: this key was used for a different request; use a new key",
            kind="idempotency-key-reused",
            field="Idempotency-Key",
            run_id=run_id,
        )
    return Started(run_id, record.workflow, state.tasks.get(run_id), record)


async def outcome(
    state: ServerState, principal: Principal, started: Started, wait_s: float | None
) -> dict[str, Any]:
    """What to answer: the run's end if it comes within ``wait_s``, else where it is."""
    task = started.task
    if wait_s:
        if task is not None:
            await asyncio.wait((task,), timeout=wait_s)  # never cancels the run
            if task.done() and not task.cancelled() and task.exception() is None:
                return result_json(task.result(), principal.name, principal.tenant)
        else:
            await until_settled(state, started.run_id, wait_s)
        found = state.orchestrator.store.run(started.run_id)
        if found is not None:
            return record_json(found, outputs=True)
    if started.record is not None:
        return record_json(started.record, outputs=True)
    return {
        "run_id": started.run_id,
        "workflow": started.workflow,
        "status": str(RunStatus.RUNNING),
        "principal": principal.name,
        "tenant": principal.tenant,
    }


async def until_settled(state: ServerState, run_id: str, wait_s: float) -> None:
    """Poll the run's status until it finishes or waits (it is driven elsewhere)."""
    deadline = time.monotonic() + wait_s
    store = state.orchestrator.store
    while time.monotonic() < deadline:
        brief = store.run_brief(run_id)
        if brief is None or brief.status not in ("pending", "running"):
            return
        await asyncio.sleep(min(_POLL_S, max(deadline - time.monotonic(), 0.0)))
