"""A run's life: start, resume, wait for approval, cancel, finish; and its result."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any

from podium._types import RunStatus, StepStatus
from podium.engine._calls import ModelCaller, StepFailure
from podium.engine._executor import Executor, Scope
from podium.engine._ir import Workflow
from podium.engine._journal import Journal, Observer
from podium.engine._loader import input_defaults, input_schema, workflow_from_snapshot
from podium.engine._state import RunState, StepRecord
from podium.errors import ExpressionError, InvalidStateError, RunNotFoundError, SchemaError
from podium.registry import Registry
from podium.routing import Router
from podium.store import Event, RunRecord, Store

CANCEL_POLL_S = 0.25
HEARTBEAT_S = 2.0
LEASE_S = 10.0
OWNER = f"{socket.gethostname()}:{os.getpid()}"


class RunResult:
    """What a run produced: status, outputs, cost, every step, and the lineage of each output.

    ``steps`` and ``lineage`` are built from the run's state on first access.
    """

    def __init__(
        self,
        run_id: str,
        workflow: str,
        status: RunStatus,
        outputs: dict[str, Any] | None,
        state: RunState,
        error: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.status = status
        self.outputs = outputs
        self.error = error
        self.cost = state.cost
        self._state = state

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @functools.cached_property
    def steps(self) -> list[dict[str, Any]]:
        """One entry per step key: status, model, attempts, cost, cache hit, time, error."""
        return [_step_json(key, record) for key, record in self._state.steps.items()]

    @functools.cached_property
    def lineage(self) -> list[dict[str, Any]]:
        """For each finished model call: which model produced it, and why it was chosen."""
        return [
            _lineage(key, r)
            for key, r in self._state.steps.items()
            if r.status is StepStatus.SUCCEEDED and r.model
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": str(self.status),
            "outputs": self.outputs,
            "cost": round(self.cost, 8),
            "error": self.error,
            "steps": self.steps,
            "lineage": self.lineage,
        }

    def __repr__(self) -> str:
        return f"RunResult({self.run_id!r}, {self.workflow!r}, {self.status!s}, cost={self.cost:g})"


def new_run_id() -> str:
    """Sortable, unique: milliseconds since the epoch in hex, then 6 random hex digits."""
    return f"{int(time.time() * 1000):x}-{uuid.uuid4().hex[:6]}"


def prepare_inputs(workflow: Workflow, inputs: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and types checked; a mismatch is a :class:`SchemaError`."""
    values = input_defaults(workflow) | dict(inputs)
    unknown = sorted(set(values) - set(workflow.inputs))
    if unknown and workflow.inputs:
        raise SchemaError(
            f"workflow '{workflow.name}' has no input '{unknown[0]}'", field=f"inputs.{unknown[0]}"
        )
    try:
        input_schema(workflow).validate(
            values, owner=f"workflow '{workflow.name}'", direction="input"
        )
    except SchemaError as exc:
        raise SchemaError(
            exc.message.replace(f"workflow '{workflow.name}': ", ""),
            file=workflow.display or workflow.source,
        ) from None
    return values


class Runner:
    """Drives runs against one store, registry, router and model caller."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        router: Router,
        caller: ModelCaller,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.store = store
        self.registry = registry
        self.router = router
        self.caller = caller
        self.observers = list(observers)

    async def start(
        self, workflow: Workflow, inputs: dict[str, Any], *, run_id: str | None = None
    ) -> RunResult:
        values = prepare_inputs(workflow, inputs)
        run_id = run_id or new_run_id()
        now = time.time()
        first = Event("run_started", None, {"inputs": values, "workflow": workflow.name}, now)
        self.store.create_run(
            RunRecord(
                run_id,
                workflow.name,
                str(RunStatus.RUNNING),
                now,
                inputs=values,
                definition=workflow.snapshot(),
                owner=OWNER,
                heartbeat=now,
            ),
            [first],
        )
        state = RunState()
        state.apply(first)
        return await self._drive(run_id, workflow, state)

    async def resume(self, run_id: str, *, force: bool = False) -> RunResult:
        """Continue a run. A run another live process is driving is refused unless ``force``."""
        record = self.store.run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run with id '{run_id}'")
        if record.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
            raise InvalidStateError(f"run {run_id} is {record.status}; nothing to resume")
        holder = live_owner(record)
        if holder and not force:
            raise InvalidStateError(
                f"run {run_id} is being run by {holder} (heartbeat "
                f"{time.time() - (record.heartbeat or 0):.1f} s ago); wait, or resume with "
                "--force if that process is gone"
            )
        workflow = workflow_from_snapshot(record.definition)
        state = RunState.replay(self.store.events(run_id))
        return await self._drive(run_id, workflow, state, resumed=True)

    def result(self, run_id: str) -> RunResult:
        """The result of a stored run, rebuilt from its event log."""
        record = self.store.run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run with id '{run_id}'")
        state = RunState.replay(self.store.events(run_id))
        return _result(
            run_id, record.workflow, RunStatus(record.status), state, record.outputs, record.error
        )

    async def _drive(
        self, run_id: str, workflow: Workflow, state: RunState, *, resumed: bool = False
    ) -> RunResult:
        journal = Journal(self.store, run_id, state, self.observers)
        if resumed:
            journal.record("run_resumed")
            journal.update_run(
                status=str(RunStatus.RUNNING),
                finished_at=None,
                error=None,
                owner=OWNER,
                heartbeat=time.time(),
            )
        executor = Executor(run_id, journal, self.caller, self.router, self.registry)
        scope = Scope(state.inputs)
        work = asyncio.ensure_future(executor.run_scope(workflow.steps, scope, ""))
        watch = _CancelWatch(self.store, run_id, work) if self.store.durable else None
        status, outputs, error = RunStatus.SUCCEEDED, None, None
        try:
            result = await work
            if result.waiting:
                status = RunStatus.WAITING
            else:
                outputs = {n: t.evaluate(scope.view()) for n, t in workflow.outputs.items()}
        except StepFailure as failure:
            status, error = RunStatus.FAILED, str(failure)
            for key, record in state.steps.items():
                if record.status is StepStatus.RUNNING:
                    journal.record("step_cancelled", key, error=f"cancelled: {failure.key} failed")
        except ExpressionError as exc:
            status, error = RunStatus.FAILED, f"outputs: {exc.message}"
        except asyncio.CancelledError:
            status, error = RunStatus.CANCELLED, "cancelled"
            for key, record in state.steps.items():
                if record.status in (StepStatus.RUNNING, StepStatus.WAITING):
                    journal.record("step_cancelled", key, error="run cancelled")
            self._finish(journal, status, outputs, error)
            if watch is None or not watch.fired:
                raise  # our caller was cancelled: record it, then let the cancellation go on
            return _result(run_id, workflow.name, status, state, outputs, error)
        finally:
            if watch is not None:
                watch.stop()
        self._finish(journal, status, outputs, error)
        return _result(run_id, workflow.name, status, state, outputs, error)

    def _finish(
        self, journal: Journal, status: RunStatus, outputs: dict[str, Any] | None, error: str | None
    ) -> None:
        kind = {
            RunStatus.WAITING: "run_waiting",
            RunStatus.SUCCEEDED: "run_succeeded",
            RunStatus.FAILED: "run_failed",
            RunStatus.CANCELLED: "run_cancelled",
        }[status]
        data: dict[str, Any] = {"outputs": outputs} if outputs is not None else {}
        if error:
            data["error"] = error
        journal.record(kind, **data)
        update: dict[str, Any] = {
            "status": str(status),
            "cost": journal.state.cost,
            "heartbeat": None,
        }
        if status.finished:
            update |= {"finished_at": time.time(), "outputs": outputs, "error": error}
        journal.update_run(**update)
        journal.flush()


class _CancelWatch:
    """Polls the run's status on a timer; cancels ``work`` when another process cancelled it.

    A timer rather than a task: short runs (most of them) pay only for arming it.
    """

    def __init__(self, store: Store, run_id: str, work: asyncio.Future[Any]) -> None:
        self.store = store
        self.run_id = run_id
        self.work = work
        self.fired = False
        self._beat = time.time()
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(CANCEL_POLL_S, self._check)

    def _check(self) -> None:
        if self.work.done():
            return
        now = time.time()
        if now - self._beat >= HEARTBEAT_S:
            self._beat = now
            self.store.update_run(self.run_id, {"heartbeat": now, "owner": OWNER})
        record = self.store.run(self.run_id)
        if record is not None and record.status == RunStatus.CANCELLED:
            self.fired = True
            self.work.cancel()
            return
        self._timer = self._loop.call_later(CANCEL_POLL_S, self._check)

    def stop(self) -> None:
        self._timer.cancel()


def live_owner(record: RunRecord) -> str | None:
    """Who is driving ``record`` right now, if anyone: a fresh heartbeat from a live process.

    On this host a dead process is recognised at once; elsewhere the lease lapses after
    :data:`LEASE_S` seconds without a heartbeat.
    """
    if record.status != RunStatus.RUNNING or not record.owner or record.heartbeat is None:
        return None
    if time.time() - record.heartbeat > LEASE_S or record.owner == OWNER:
        return None
    host, _, pid = record.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return record.owner
    return record.owner


def cancel_run(store: Store, run_id: str) -> RunRecord:
    """Mark a run cancelled; a process still running it notices within a fraction of a second."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    if RunStatus(record.status).finished:
        raise InvalidStateError(f"run {run_id} already {record.status}")
    now = time.time()
    open_steps: list[Event] = []
    if record.status == RunStatus.WAITING:  # no process drives it: close its waiting steps here
        state = RunState.replay(store.events(run_id))
        open_steps = [
            Event("step_cancelled", key, {"error": "run cancelled"}, now)
            for key, step in state.steps.items()
            if step.status in (StepStatus.RUNNING, StepStatus.WAITING)
        ]
    store.append(
        run_id,
        [*open_steps, Event("run_cancelled", None, {"error": "cancelled by request"}, now)],
        {
            "status": str(RunStatus.CANCELLED),
            "finished_at": time.time(),
            "error": "cancelled by request",
        },
    )
    return store.run(run_id)  # type: ignore[return-value]


def decide_approval(
    store: Store, run_id: str, step: str, *, approved: bool, by: str, comment: str | None
) -> None:
    """Record an approval decision for a waiting step (the caller then resumes the run)."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    if record.status in (RunStatus.CANCELLED, RunStatus.SUCCEEDED):
        raise InvalidStateError(f"run {run_id} is {record.status}; nothing to approve")
    state = RunState.replay(store.events(run_id))
    waiting = sorted(k for k, r in state.steps.items() if r.status is StepStatus.WAITING)
    if step not in waiting:
        hint = f"; waiting: {', '.join(waiting)}" if waiting else "; no step is waiting"
        raise InvalidStateError(f"step '{step}' of run {run_id} is not waiting for approval{hint}")
    store.append(
        run_id,
        [
            Event(
                "approval_decided",
                step,
                {"approved": approved, "by": by, "comment": comment},
                time.time(),
            )
        ],
    )


def _result(
    run_id: str,
    workflow: str,
    status: RunStatus,
    state: RunState,
    outputs: dict[str, Any] | None,
    error: str | None,
) -> RunResult:
    return RunResult(run_id, workflow, status, outputs, state, error)


def _step_json(key: str, record: StepRecord) -> dict[str, Any]:
    duration = None
    if record.started_at and record.finished_at:
        duration = round((record.finished_at - record.started_at) * 1000, 3)
    return {
        "step": key,
        "status": str(record.status) if record.status else "pending",
        "model": record.model,
        "attempts": record.attempts,
        "cost": round(record.cost, 8),
        "cached": record.cached,
        "duration_ms": duration,
        "error": record.error,
    }


def _lineage(key: str, record: StepRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": key, "model": record.model, "cached": record.cached}
    for extra in ("fallback_from", "members"):
        if extra in record.info:
            entry[extra] = record.info[extra]
    if record.decision:
        entry["why"] = record.decision.get("reason")
    return entry
