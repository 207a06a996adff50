"""A run's life: start, resume, wait for approval, cancel, finish; and its result.

The driver's outermost frame always records how the run ended: an error it does not
expect fails the run (``run_failed`` with the reason) before it propagates, so no run is
ever left ``running`` by a process that has given up on it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

from podium._context import CURRENT_RUN, NOBODY, Caller, RunContext
from podium._limits import DEFAULT_LIMITS, Limits
from podium._types import RunStatus, StepStatus
from podium.adapters import LOCAL, Placement
from podium.engine._calls import ModelCaller, StepFailure
from podium.engine._control import ACTIVE_RUNS, OWNER, claim
from podium.engine._executor import Executor, Scope
from podium.engine._ir import MapStep, Workflow
from podium.engine._journal import Journal, JournalError, Observer, WritePolicy, tell
from podium.engine._loader import input_defaults, input_schema, workflow_from_snapshot
from podium.engine._queue import submit
from podium.engine._result import RunResult
from podium.engine._state import RunState
from podium.engine._watch import RunWatch
from podium.errors import (
    ExpressionError,
    InvalidStateError,
    LeaseLostError,
    RunNotFoundError,
    SchemaError,
    UserError,
)
from podium.registry import Registry
from podium.routing import Router
from podium.store import Event, RunRecord, Store, encode_json

#: Workflows rebuilt from stored definitions kept for the next run of the same one.
_SNAPSHOTS = 64


def new_run_id() -> str:
    """Sortable, unique: milliseconds since the epoch in hex, then 6 random hex digits."""
    return f"{int(time.time() * 1000):x}-{os.urandom(3).hex()}"


def prepare_inputs(
    workflow: Workflow, inputs: dict[str, Any], limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Defaults filled in, types and size checked; a mismatch is a :class:`SchemaError`."""
    values = input_defaults(workflow) | dict(inputs)
    shown = workflow.display or workflow.source
    unknown = sorted(set(values) - set(workflow.inputs))
    if unknown and workflow.inputs:
        raise SchemaError(
            f"workflow '{workflow.name}' has no input '{unknown[0]}'", field=f"inputs.{unknown[0]}"
        )
    size = len(encode_json(values))
    if size > limits.input_bytes:
        raise SchemaError(
            limits.exceeded("input_bytes", size, "the inputs' size in bytes"),
            file=shown,
            field="inputs",
        )
    try:
        input_schema(workflow).validate(
            values, owner=f"workflow '{workflow.name}'", direction="input"
        )
    except SchemaError as exc:
        raise SchemaError(
            exc.message.replace(f"workflow '{workflow.name}': ", ""), file=shown
        ) from None
    _check_map_widths(workflow, values, limits)
    return values


def _check_map_widths(workflow: Workflow, values: dict[str, Any], limits: Limits) -> None:
    """A top-level map over the inputs alone: its width is known before the run starts."""
    view = {"inputs": values, "steps": {}, "item": None, "loop": None}
    for step_id, step in workflow.steps.items():
        over = step.over if isinstance(step, MapStep) else None
        if over is None or over.references or not over.roots <= {"inputs"}:
            continue
        try:
            items = over.evaluate(view)
        except ExpressionError:
            continue  # reported when the step runs
        if isinstance(items, list | tuple) and len(items) > limits.map_items:
            raise SchemaError(
                limits.exceeded("map_items", len(items), "the map's items"),
                file=workflow.display or workflow.source,
                field=f"steps.{step_id}.map",
            )


class Runner:
    """Drives runs against one store, registry, router and model caller."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        router: Router,
        caller: ModelCaller,
        observers: Sequence[Observer] = (),
        *,
        limits: Limits = DEFAULT_LIMITS,
        write_policy: WritePolicy | None = None,
        placement: Placement = LOCAL,
    ) -> None:
        self.store = store
        self.registry = registry
        self.router = router
        self.caller = caller
        self.observers = list(observers)
        self.limits = limits
        self.write_policy = write_policy or WritePolicy()
        #: Where model calls run unless the workflow or step says (``PODIUM_EXECUTOR``).
        self.placement = placement
        #: Set when the process shuts down: a run cancelled now is left ``running`` with no
        #: heartbeat (what it finished is written), to be resumed by the next process.
        self.suspending = False
        self._snapshots: dict[str, Workflow] = {}

    async def start(
        self,
        workflow: Workflow,
        inputs: dict[str, Any],
        *,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunResult:
        """Start a run of ``workflow`` for ``caller`` (who asked: principal, tenant, ...)."""
        values = prepare_inputs(workflow, inputs, self.limits)
        run_id = run_id or new_run_id()
        who = caller or NOBODY
        now = time.time()
        data: dict[str, Any] = {"inputs": values, "workflow": workflow.name}
        if who.principal:
            data["by"] = who.principal
        first = Event("run_started", None, data, now)
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
                claim=1,
                principal=who.principal,
                tenant=who.tenant,
                caller=who.to_json(),
            ),
            [first],
        )
        state = RunState()
        state.apply(first)
        context = RunContext(run_id, workflow.name, who, workflow)
        return await self._drive(run_id, workflow, state, 1, context, opened=first)

    async def resume(
        self, run_id: str, *, force: bool = False, by: Caller | None = None
    ) -> RunResult:
        """Continue a run. A run another live process is driving is refused unless ``force``;
        of two processes resuming at once, exactly one drives the run. The run keeps the
        caller it started with; ``by`` (who resumes it) is recorded in its log."""
        record = self.store.run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run with id '{run_id}'")
        if record.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
            raise InvalidStateError(f"run {run_id} is {record.status}; nothing to resume")
        fence = claim(self.store, run_id, force=force)
        return await self._take_over(record, fence, by.principal if by else None)

    def submit(
        self,
        workflow: Workflow,
        inputs: dict[str, Any],
        *,
        queue: str,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunRecord:
        """Queue a run of ``workflow`` for a worker: checked and stored ``pending`` now."""
        values = prepare_inputs(workflow, inputs, self.limits)
        return submit(
            self.store, workflow, values, queue=queue, run_id=run_id or new_run_id(), caller=caller
        )

    async def run_claimed(self, run_id: str, fence: int, *, by: str | None = None) -> RunResult:
        """Drive a run this process has just claimed with ``fence`` (a worker's claim): start
        a queued run, or continue one whose driver died. A run that cannot be driven (its
        log holds an impossible event, its stored workflow no longer loads) is failed with
        the reason, so no worker takes it again."""
        record = self.store.run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run with id '{run_id}'")
        try:
            return await self._take_over(record, fence, by, queued=True)
        except UserError as exc:  # its log or its workflow cannot be read: never retried
            now = time.time()
            self.store.append(
                run_id,
                [Event("run_failed", None, {"error": str(exc)}, now)],
                {"status": str(RunStatus.FAILED), "error": str(exc), "finished_at": now},
                fence=fence,
            )
            raise

    async def _take_over(
        self, record: RunRecord, fence: int, by: str | None, *, queued: bool = False
    ) -> RunResult:
        """Continue ``record``'s run under the claim ``fence`` this process holds."""
        run_id = record.run_id
        workflow = self._rebuilt(record.definition)
        state = RunState.replay(self.store.events(run_id))
        if state.anomalies:
            if not queued:
                self.store.update_run(run_id, {"heartbeat": None})
            first = state.anomalies[0]
            raise InvalidStateError(
                f"cannot resume: {first.describe(run_id)}; 'podium runs repair {run_id}' "
                "quarantines the impossible events"
            )
        context = RunContext(
            run_id,
            record.workflow,
            Caller.from_record(record.principal, record.tenant, record.caller),
            workflow,
        )
        # a queued run nobody has started yet (one queued again after an approval has steps)
        fresh = state.status is RunStatus.PENDING and not state.steps
        return await self._drive(
            run_id, workflow, state, fence, context, resumed=True, by=by, fresh=fresh
        )

    def _rebuilt(self, definition: dict[str, Any]) -> Workflow:
        """The workflow a stored run was started with, built once per definition (a worker
        drives many runs of the same few workflows)."""
        key = encode_json(definition)
        found = self._snapshots.pop(key, None)
        if found is None:
            found = workflow_from_snapshot(definition, limits=self.limits)
            if len(self._snapshots) >= _SNAPSHOTS:
                del self._snapshots[next(iter(self._snapshots))]
        self._snapshots[key] = found  # most recently used last
        return found

    def result(self, run_id: str) -> RunResult:
        """The result of a stored run, rebuilt from its event log (impossible events are
        skipped and listed in ``anomalies``)."""
        record = self.store.run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run with id '{run_id}'")
        state = RunState.replay(self.store.events(run_id))
        return RunResult(
            run_id, record.workflow, RunStatus(record.status), record.outputs, state, record.error
        )

    async def _drive(
        self,
        run_id: str,
        workflow: Workflow,
        state: RunState,
        fence: int,
        context: RunContext,
        *,
        resumed: bool = False,
        by: str | None = None,
        opened: Event | None = None,
        fresh: bool = False,
    ) -> RunResult:
        """Drive the run (``opened``: its ``run_started``, written already, which observers
        now hear of), with :data:`~podium._context.CURRENT_RUN` set throughout."""
        token = CURRENT_RUN.set(context)
        try:
            if opened is not None and self.observers:
                tell(self.observers, run_id, [opened])
            while True:
                result = await self._drive_once(
                    run_id, workflow, state, fence, context, resumed=resumed, by=by, fresh=fresh
                )
                if result.status is not RunStatus.WAITING or not self._decided_meanwhile(
                    run_id, state
                ):
                    return result
                # A decision arrived as we stopped: continue at once, unless another process
                # (the one that decided) has claimed the run to continue it itself.
                taken = self.store.claim_run(run_id, OWNER, expected=fence, now=time.time())
                if taken is None:
                    return result
                fence, resumed, fresh = taken, True, False
                state = RunState.replay(self.store.events(run_id))
        finally:
            CURRENT_RUN.reset(token)

    def _decided_meanwhile(self, run_id: str, state: RunState) -> bool:
        decisions = self.store.decisions(run_id)
        return any(
            key in decisions and record.status is StepStatus.WAITING
            for key, record in state.steps.items()
        )

    async def _drive_once(
        self,
        run_id: str,
        workflow: Workflow,
        state: RunState,
        fence: int,
        context: RunContext,
        *,
        resumed: bool,
        by: str | None = None,
        fresh: bool = False,
    ) -> RunResult:
        journal = Journal(
            self.store, run_id, state, self.observers, fence=fence, policy=self.write_policy
        )
        ACTIVE_RUNS.add(run_id)
        try:
            if fresh:  # a queued run's first driver: it starts now
                journal.record(
                    "run_started",
                    inputs=state.inputs,
                    workflow=workflow.name,
                    **({"by": by} if by else {}),
                )
            elif resumed:
                journal.record("run_resumed", **({"by": by} if by else {}))
            if resumed:
                journal.update_run(
                    status=str(RunStatus.RUNNING), finished_at=None, error=None, owner=OWNER
                )
            executor = Executor(
                run_id,
                journal,
                self.caller,
                self.router,
                self.registry,
                limits=self.limits,
                run=context,
                audit=getattr(self.store, "audited", False),
            )
            scope = Scope(state.inputs, placement=workflow.executor or self.placement)
            work = asyncio.get_running_loop().create_task(
                executor.run_scope(workflow.steps, scope, "")
            )

            def stop_work(_fault: JournalError) -> None:
                if not work.done():
                    work.cancel()

            journal.on_fault = stop_work
            watch = RunWatch(
                self.store,
                journal,
                work,
                parked=executor.has_parked,
                deliver=executor.deliver_decisions,
            )
            try:
                status, outputs, error = await self._outcome(work, workflow, scope, journal)
            finally:
                watch.stop()
            await self._finish(journal, status, outputs, error)
            return RunResult(run_id, workflow.name, status, outputs, state, error)
        except JournalError as fault:
            return self._after_fault(run_id, workflow, state, fault)
        finally:
            ACTIVE_RUNS.discard(run_id)

    async def _outcome(
        self, work: asyncio.Future[Any], workflow: Workflow, scope: Scope, journal: Journal
    ) -> tuple[RunStatus, dict[str, Any] | None, str | None]:
        """Await the run's work; how it ended as (status, outputs, error)."""
        state = journal.state
        try:
            result = await work
            if result.waiting:
                return RunStatus.WAITING, None, None
            outputs = {n: t.evaluate(scope.view()) for n, t in workflow.outputs.items()}
            size = len(encode_json(outputs))
            if size > self.limits.output_bytes:
                message = self.limits.exceeded("output_bytes", size, "the outputs' size in bytes")
                return RunStatus.FAILED, None, f"outputs: {message}"
            return RunStatus.SUCCEEDED, outputs, None
        except StepFailure as failure:
            journal.check()
            for key, record in state.steps.items():
                if record.status is StepStatus.RUNNING:
                    journal.record("step_cancelled", key, error=f"cancelled: {failure.key} failed")
            return RunStatus.FAILED, None, str(failure)
        except ExpressionError as exc:
            return RunStatus.FAILED, None, f"outputs: {exc.message}"
        except asyncio.CancelledError:
            journal.check()  # cancelled because the log broke, or another process took over
            if self.suspending:  # the process is shutting down: leave the run resumable
                journal.update_run(heartbeat=None)
                await journal.flush()
                raise
            self._close_open_steps(journal, "run cancelled")
            await self._finish(journal, RunStatus.CANCELLED, None, "cancelled")
            raise  # our caller was cancelled: recorded; let the cancellation go on
        except JournalError:
            raise
        except Exception as exc:
            journal.check()
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self._close_open_steps(journal, reason)
            await self._finish(journal, RunStatus.FAILED, None, reason)
            raise

    def _after_fault(
        self, run_id: str, workflow: Workflow, state: RunState, fault: JournalError
    ) -> RunResult:
        """The journal stopped. Cancelled elsewhere: report that; otherwise raise the fault."""
        if isinstance(fault.cause, LeaseLostError):
            try:
                record = self.store.run(run_id)
            except Exception:
                record = None
            if record is not None and record.status == RunStatus.CANCELLED:
                stored = RunState.replay(self.store.events(run_id))
                # Steps this process had begun but not yet recorded were cancelled too.
                now = time.time()
                for key in state.steps:
                    known = stored.steps.get(key)
                    if known is not None and known.status is not None and known.status.finished:
                        continue
                    if known is None:
                        stored.apply(Event("step_started", key, {}, now))
                    if stored.steps[key].status in (StepStatus.RUNNING, StepStatus.WAITING):
                        stored.apply(Event("step_cancelled", key, {"error": "run cancelled"}, now))
                return RunResult(
                    run_id, workflow.name, RunStatus.CANCELLED, None, stored, record.error
                )
        raise fault

    @staticmethod
    def _close_open_steps(journal: Journal, reason: str) -> None:
        for key, record in journal.state.steps.items():
            if record.status in (StepStatus.RUNNING, StepStatus.WAITING):
                journal.record("step_cancelled", key, error=reason)

    async def _finish(
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
        # heartbeat None: released, nobody drives a finished or waiting run
        update: dict[str, Any] = {
            "status": str(status),
            "cost": journal.state.cost,
            "heartbeat": None,
        }
        if status.finished:
            update |= {"finished_at": time.time(), "outputs": outputs, "error": error}
        journal.update_run(**update)
        await journal.flush()
