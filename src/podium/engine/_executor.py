"""The DAG scheduler: runs a map of steps, each the moment its dependencies are done.

Step kinds (call, map, ensemble, loop, sub-workflow, approval) are executed here; every
transition goes through the :class:`Journal`, which the scheduler flushes before acting
on a finished step, so a resumed run never repeats or loses a finished step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from podium._context import RunContext
from podium._limits import DEFAULT_LIMITS, Limits
from podium._types import StepStatus
from podium.adapters import LOCAL, CallContext, Placement
from podium.engine._approvals import TIMED_OUT, ApprovalDesk, remaining
from podium.engine._calls import CallResult, FailureHook, ModelCaller, StepFailure
from podium.engine._ensemble_run import run_ensemble
from podium.engine._ir import (
    ApprovalStep,
    CallStep,
    EnsembleStep,
    LoopStep,
    MapStep,
    Step,
    WorkflowStep,
)
from podium.engine._journal import Journal
from podium.engine._loader import input_defaults, input_schema
from podium.engine._rule_approval import await_rule_approval
from podium.errors import (
    ApprovalRequired,
    ModelCallError,
    NoCandidateError,
    SchemaError,
    UserError,
)
from podium.registry import ModelSpec, Registry
from podium.routing import RoutePolicy, Router, for_tenant
from podium.store import Event, digest, encode_json

S = StepStatus
_WORK = (CallStep, EnsembleStep)  # steps that call models (a tuple: isinstance's fastest form)
#: Steps started between two chances for the event loop to run other work.
YIELD_EVERY = 32
T = TypeVar("T")


@dataclass
class Scope:
    """What expressions see: ``inputs``, ``steps``, ``item``, ``loop``; and where the
    scope's model calls run unless a step says otherwise (``placement``)."""

    inputs: Mapping[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    item: Any = None
    loop: Mapping[str, Any] | None = None
    placement: Placement = LOCAL
    _view: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def view(self) -> dict[str, Any]:
        """The mapping expressions read (made once: ``steps`` fills in place)."""
        if self._view is None:
            self._view = {
                "inputs": self.inputs,
                "steps": self.steps,
                "item": self.item,
                "loop": self.loop,
            }
        return self._view


class Outcome(NamedTuple):
    """How a step ended in this pass: done (with output), skipped, or waiting for approval.

    (A named tuple: one is made per step, and tuples are the cheapest immutable record.)
    """

    status: StepStatus
    output: Any = None
    iterations: int | None = None
    gate_closed: bool = False

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"output": self.output}
        if self.iterations is not None:
            entry["iterations"] = self.iterations
        return entry


WAITING = Outcome(S.WAITING)


@dataclass
class ScopeResult:
    outcomes: dict[str, Outcome]
    waiting: bool


class Executor:
    """Runs steps for one run; shared by nested scopes (maps, loops, sub-workflows)."""

    def __init__(
        self,
        run_id: str,
        journal: Journal,
        caller: ModelCaller,
        router: Router,
        registry: Registry,
        *,
        limits: Limits = DEFAULT_LIMITS,
        run: RunContext | None = None,
        audit: bool = False,
    ) -> None:
        self.run_id = run_id
        self.run = run
        #: Whether model calls name the hash of their inputs (for the audit log).
        self.audit = audit
        #: The run's tenant: only models that serve it are routed to or resolved.
        self.tenant = run.tenant if run is not None else None
        self.journal = journal
        self.state = journal.state
        self.caller = caller
        self.router = router
        self.registry = registry
        self.limits = limits
        self.desk = ApprovalDesk()
        self._ticks = 0
        self._over_limit: StepFailure | None = None
        self._logged_decisions: dict[int, tuple[Any, str]] = {}
        self._started_json: dict[tuple[int, str, str], str] = {}

    def has_parked(self) -> bool:
        """Whether an approval is waiting inside the live run for a decision."""
        return self.desk.parked

    def deliver_decisions(self, decisions: dict[str, Any]) -> None:
        """Hand decisions recorded by another process to the approvals waiting for them."""

        def adopt(key: str, decision: Any) -> None:
            self.journal.adopt(Event("approval_decided", key, dict(decision), time.time()))

        self.desk.deliver(decisions, adopt)

    # scheduling ----------------------------------------------------------------------------
    async def run_scope(self, steps: Mapping[str, Step], scope: Scope, prefix: str) -> ScopeResult:
        """Run a DAG of steps to completion (or until only approvals remain)."""
        waiting_on, dependents = _graph(steps)
        outcomes: dict[str, Outcome] = {}
        ready = [sid for sid, n in waiting_on.items() if n == 0]
        running: dict[str, asyncio.Task[Outcome]] = {}
        finished: list[str] = []
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def tracked(sid: str, step: Step) -> Outcome:
            # Tells the scheduler itself, however it ends: cheaper than a done-callback,
            # which costs the loop one more turn per step. (The task is done by the time
            # the scheduler wakes, so its result or exception can be read then.)
            try:
                return await self.run_step(step, scope, prefix + sid)
            finally:
                finished.append(sid)
                wake.set()

        def complete(sid: str, outcome: Outcome) -> None:
            outcomes[sid] = outcome
            if outcome.status is not S.WAITING:
                scope.steps[sid] = outcome.entry()
                for child in dependents[sid]:
                    waiting_on[child] -= 1
                    if waiting_on[child] == 0:
                        ready.append(child)

        journal = self.journal
        try:
            while True:
                while ready:
                    if journal.dirty:
                        await journal.flush()  # what we act on next is durable first
                    sid = ready.pop()
                    step = steps[sid]
                    skip = self._blocked_by(step, outcomes)
                    if skip is not None:
                        complete(sid, self._skip(prefix + sid, skip))
                        continue
                    if not ready and not running:
                        # the only step that can run now: await it here, no task or wake-up
                        complete(sid, await self.run_step(step, scope, prefix + sid))
                        continue
                    running[sid] = loop.create_task(tracked(sid, step))
                if not running:
                    break
                await wake.wait()
                wake.clear()
                batch, finished[:] = list(finished), []
                for sid in batch:
                    complete(sid, running.pop(sid).result())
        except BaseException:
            for task in running.values():
                task.cancel()
            if running:
                await asyncio.gather(*running.values(), return_exceptions=True)
            raise
        waiting = any(o.status is S.WAITING for o in outcomes.values())
        return ScopeResult(outcomes, waiting or len(outcomes) < len(steps))

    def _blocked_by(self, step: Step, outcomes: Mapping[str, Outcome]) -> str | None:
        for dep in step.deps:
            outcome = outcomes[dep]
            if (outcome.status is S.SKIPPED or outcome.gate_closed) and dep not in step.guarded:
                break
        else:
            return None  # the common case: nothing upstream was skipped or rejected
        for dep in sorted(step.deps):  # the reason names the first such dependency
            outcome = outcomes[dep]
            if dep in step.guarded:
                continue
            if outcome.status is S.SKIPPED:
                return f"needs '{dep}', which was skipped"
            if outcome.gate_closed:
                return f"approval '{dep}' was rejected"
        return None

    def _skip(self, key: str, reason: str) -> Outcome:
        record = self.state.step(key)
        if record is None or record.status is not S.SKIPPED:
            self.journal.record("step_skipped", key, reason=reason)
        return Outcome(S.SKIPPED)

    # one step ------------------------------------------------------------------------------
    async def run_step(self, step: Step, scope: Scope, key: str) -> Outcome:
        journal = self.journal
        if journal.fault is not None:  # a run whose log cannot be written starts nothing
            raise journal.fault
        if journal.degraded:  # a write is being retried: wait for the log before acting
            await journal.flush()
        if self._over_limit is not None and self._over_limit.key != key:
            raise self._over_limit  # the run is over its step limit: start nothing more
        self._ticks += 1
        if self._ticks % YIELD_EVERY == 0:
            # Models that run inline never suspend: let the loop flush the journal, run
            # timers (heartbeat, cancel) and other runs now and then.
            await asyncio.sleep(0)
        record = self.state.steps.get(key)
        if record is not None:
            if record.status is S.SUCCEEDED:
                gate = isinstance(step, ApprovalStep) and not (record.output or {}).get("approved")
                return Outcome(S.SUCCEEDED, record.output, record.info.get("iterations"), gate)
            if record.status is S.SKIPPED:
                return Outcome(S.SKIPPED)
        view = scope.view()
        try:
            if step.condition is not None and not step.condition.evaluate(view):
                return self._skip(key, "'if' is false")
            inputs = step.with_.evaluate(view) if step.with_ is not None else {}
        except UserError as exc:
            raise self._fail(key, exc.message) from None
        try:
            if isinstance(step, _WORK):
                while True:
                    self.desk.working()
                    try:
                        placement = step.executor or scope.placement
                        if isinstance(step, CallStep):
                            return await self._call(step, inputs, key, placement)
                        return await run_ensemble(self, step, inputs, key, placement)
                    except ApprovalRequired as needed:
                        asked = needed
                    finally:
                        self.desk.idle()
                    if not await await_rule_approval(self, key, asked):
                        return WAITING
            if isinstance(step, MapStep):
                return await self._within(step, key, self._map(step, scope, key))
            if isinstance(step, LoopStep):
                return await self._within(step, key, self._loop(step, scope, key))
            if isinstance(step, WorkflowStep):
                return await self._within(
                    step, key, self._workflow(step, inputs, key, scope.placement)
                )
            if isinstance(step, ApprovalStep):
                return await self._approval(step, key)
        except StepFailure as failure:
            if failure.key == key:
                raise self._fail(key, failure.reason) from None
            raise
        except (UserError, NoCandidateError, ModelCallError) as exc:
            # a model that cannot be loaded or called, a bad value: this step fails, the
            # run ends failed with the reason (never left running)
            raise self._fail(key, getattr(exc, "message", None) or str(exc)) from None
        raise AssertionError(f"unknown step kind {type(step).__name__}")

    def failure_hook(self, key: str) -> FailureHook:
        """Records each failed attempt of ``key`` (and the rule, for a refusal)."""

        def failed(spec: ModelSpec, n: int, error: str, rule: str | None) -> None:
            named = {"rule": rule} if rule else {}
            self.journal.record(
                "attempt_failed", key, attempt=n, model=spec.key, error=error, **named
            )

        return failed

    def input_digest(self, inputs: Any) -> dict[str, Any]:
        """``{"input_sha256": ...}`` for a model call's step record when audited, else ``{}``."""
        return {"input_sha256": digest(inputs)} if self.audit else {}

    async def _within(self, step: Step, key: str, work: Coroutine[Any, Any, Outcome]) -> Outcome:
        """A container step (map, loop, sub-workflow) as a whole must finish in ``timeout_s``."""
        if step.timeout_s is None:
            return await work
        try:
            async with asyncio.timeout(step.timeout_s):
                return await work
        except TimeoutError:
            raise StepFailure(key, f"did not finish within {step.timeout_s:g} s") from None

    def _fail(self, key: str, message: str) -> StepFailure:
        record = self.state.step(key)
        if record is None or record.status is None:
            self.journal.record("step_started", key, attempt=1)
        if self.state.step(key).status is not S.FAILED:  # type: ignore[union-attr]
            self.journal.record("step_failed", key, error=message)
        return StepFailure(key, message)

    def _needs_start(self, key: str) -> bool:
        """Whether a container step (map, loop, sub-workflow) must record a (re)start."""
        record = self.state.step(key)
        return record is None or record.status not in (S.RUNNING, S.WAITING)

    def _next_attempt(self, key: str) -> int:
        """The attempt number a (re)start of ``key`` records; a new step within the limit."""
        record = self.state.steps.get(key)
        if record is None and len(self.state.steps) >= self.limits.run_steps:
            message = self.limits.exceeded(
                "run_steps", len(self.state.steps) + 1, "the run's steps"
            )
            self._over_limit = StepFailure(key, message)
            raise self._over_limit
        return (record.attempts if record else 0) + 1

    def _started_call(self, key: str, model: str, decision: dict[str, Any]) -> int:
        """:meth:`_started` for a call step, whose start names the model and the decision."""
        attempt = self._next_attempt(key)
        first = self._logged_decisions.get(id(decision))
        if first is None:
            self._logged_decisions[id(decision)] = (decision, key)
            self.journal.record(
                "step_started", key, attempt=attempt, model=model, decision=decision
            )
            return attempt
        # A decision the run already logged is referenced, not written again. Such starts
        # repeat a few shapes, so the JSON of each shape is encoded once.
        data = {"attempt": attempt, "model": model, "decision": {"same_as": first[1]}}
        shape = (attempt, model, first[1])
        raw = self._started_json.get(shape)
        if raw is None:
            raw = self._started_json[shape] = encode_json(data)
        self.journal.record_encoded("step_started", key, data, raw)
        return attempt

    def route_of(self, route: RoutePolicy) -> RoutePolicy:
        """A step's route policy for this run: bound to its tenant while some models are
        marked for tenants (a run of no tenant is routed to shared models only)."""
        if self.tenant is None or not self.registry.scoped:
            return route
        return for_tenant(route, self.tenant)

    def _started(self, key: str, **data: Any) -> int:
        attempt = self._next_attempt(key)
        decision = data.get("decision")
        if decision is not None:
            # A decision the run already logged is referenced, not written again.
            first = self._logged_decisions.get(id(decision))
            if first is None:
                self._logged_decisions[id(decision)] = (decision, key)
            else:
                data["decision"] = {"same_as": first[1]}
        self.journal.record("step_started", key, attempt=attempt, **data)
        return attempt

    def _succeed(self, key: str, output: Any, **data: Any) -> Outcome:
        return self._succeed_with(key, {"output": output, **data})

    def _succeed_with(self, key: str, payload: dict[str, Any]) -> Outcome:
        """Record ``step_succeeded`` with ``payload`` (``output`` first, then the rest)."""
        raw = encode_json(payload)  # encoded once: measured here, stored as is
        if len(raw) > self.limits.output_bytes:
            raise StepFailure(
                key, self.limits.exceeded("output_bytes", len(raw), "the output's size in bytes")
            )
        self.journal.record_encoded("step_succeeded", key, payload, raw)
        return Outcome(S.SUCCEEDED, payload["output"], payload.get("iterations"))

    async def _call(self, step: CallStep, inputs: Any, key: str, placement: Placement) -> Outcome:
        if not isinstance(inputs, dict):
            raise SchemaError(f"'with' must give an object, got {type(inputs).__name__}")
        decision = self.router.route(step.uses, self.route_of(step.route), inputs)
        chosen = decision.chosen
        fallbacks = (
            [self.registry.resolve(ref, tenant=self.tenant)[0] for ref in step.fallback]
            if step.fallback
            else []
        )
        chosen_key = chosen.key  # built on every read
        attempt = self._started_call(key, chosen_key, decision.to_json())
        capability = step.uses.name if step.uses.kind == "capability" else None
        remote = placement if placement.remote else None
        base = CallContext(self.run_id, key, attempt, None, step.timeout_s, self.run, remote)
        failed = self.failure_hook(key)
        if decision.stages:
            result = await self.caller.call_cascade(
                decision,
                fallbacks,
                inputs,
                base,
                retry=step.retry,
                capability=capability,
                cache=step.cache,
                on_failure=failed,
            )
            data = _call_data(result, result.model, result.model.key)
            data["cascade"] = list(result.stages)
        else:
            models: list[ModelSpec] = [chosen]
            for spec in (*decision.failover, *fallbacks):
                if all(spec.key != m.key for m in models):
                    models.append(spec)
            result = await self.caller.call_with_retries(
                models,
                inputs,
                base,
                retry=step.retry,
                capability=capability,
                cache=step.cache,
                on_failure=failed,
                hedge_after_s=decision.hedge_after_s,
                decision=decision,
                alternatives=[c.spec for c in decision.ranked[1:]],
            )
            data = _call_data(result, chosen, chosen_key)
        if result.instance is not None:
            data["instance"] = result.instance
        if result.hedged:
            data["hedged"] = True
        if self.audit:
            data["input_sha256"] = digest(inputs)
        if remote is not None and not result.cached:
            ran = self.caller.adapters.placed(result.model, remote)
            if ran.remote:
                data["executor"] = ran.describe()
        return self._succeed_with(key, data)

    async def _map(self, step: MapStep, scope: Scope, key: str) -> Outcome:
        items = step.over.evaluate(scope.view())
        if items is None:
            items = []
        if not isinstance(items, list | tuple):
            raise SchemaError(f"'map' must give a list, got {type(items).__name__}")
        count = len(items)
        if count > self.limits.map_items:
            raise StepFailure(key, self.limits.exceeded("map_items", count, "the map's items"))
        if self._needs_start(key):
            self._started(key, items=count)
        outcomes: list[Outcome] = [WAITING] * count
        indices = iter(range(count))  # shared: each worker takes the next item
        placement = step.executor or scope.placement

        async def worker() -> None:
            for index in indices:
                child = Scope(scope.inputs, scope.steps, items[index], scope.loop, placement)
                outcomes[index] = await self.run_step(step.body, child, f"{key}[{index}]")
                self.journal.flush_soon()

        workers = min(step.concurrency, count)
        if workers == 1:
            await worker()
        elif workers:
            await _all_or_nothing([worker() for _ in range(workers)])
        await self.journal.flush()
        if any(o.status is S.WAITING for o in outcomes):
            return WAITING
        output = [o.output if o.status is S.SUCCEEDED else None for o in outcomes]
        return self._succeed(key, output, items=len(items))

    async def _loop(self, step: LoopStep, scope: Scope, key: str) -> Outcome:
        if self._needs_start(key):
            self._started(key)
        last: dict[str, Any] | None = None
        current: dict[str, Any] = {}
        iteration = 0
        for iteration in range(1, step.max_iterations + 1):
            inner = Scope(
                scope.inputs,
                dict(scope.steps),
                scope.item,
                {"iteration": iteration, "last": last},
                step.executor or scope.placement,
            )
            result = await self.run_scope(step.steps, inner, f"{key}#{iteration}/")
            if result.waiting:
                return WAITING
            current = {sid: o.output for sid, o in result.outcomes.items()}
            inner.steps[step.id] = {"output": current, "iterations": iteration}
            last = current
            if step.until is not None and step.until.evaluate(inner.view()):
                break
        return self._succeed(key, current, iterations=iteration)

    async def _workflow(
        self, step: WorkflowStep, inputs: Any, key: str, outer: Placement
    ) -> Outcome:
        sub = step.workflow
        if not isinstance(inputs, dict):
            raise SchemaError(f"'with' must give an object, got {type(inputs).__name__}")
        values = input_defaults(sub) | inputs
        input_schema(sub).validate(values, owner=f"sub-workflow {sub.name}", direction="input")
        if self._needs_start(key):
            self._started(key, workflow=sub.name)
        scope = Scope(values, placement=sub.executor or step.executor or outer)
        result = await self.run_scope(sub.steps, scope, f"{key}/")
        if result.waiting:
            return WAITING
        outputs = {name: t.evaluate(scope.view()) for name, t in sub.outputs.items()}
        return self._succeed(key, outputs, workflow=sub.name)

    async def _approval(self, step: ApprovalStep, key: str) -> Outcome:
        record = self.state.step(key)
        requested = record.approval if record else None
        decision = (requested or {}).get("decision")
        timeout = step.approval.timeout_s
        if decision is None and requested is None:
            self._started(key)
            self.journal.record(
                "approval_requested",
                key,
                prompt=step.approval.prompt,
                approvers=list(step.approval.approvers),
                timeout_s=timeout,
            )
            requested = self.state.step(key).approval  # type: ignore[union-attr]
        if decision is None:
            decision = await self.await_decision(key, requested, timeout)
            if decision is None:
                return WAITING
        output = {
            "approved": bool(decision.get("approved")),
            "by": decision.get("by"),
            "comment": decision.get("comment"),
        }
        outcome = self._succeed(key, output)
        return Outcome(outcome.status, output, gate_closed=not output["approved"])

    async def await_decision(
        self, key: str, requested: dict[str, Any] | None, timeout: float | None
    ) -> dict[str, Any] | None:
        """The decision on the approval ``requested`` at ``key``, awaited once the request is
        durable; one nobody made within ``timeout`` is a rejection, unless a decision just
        arrived. ``None``: no decision here (the run stops waiting, or was cancelled)."""
        left = remaining(float((requested or {}).get("requested_at") or 0), timeout)
        if left is None or left > 0:
            await self.journal.flush()  # durable before anyone can answer it
            parked = await self.desk.park(key, left)
            if parked != TIMED_OUT:
                return parked if isinstance(parked, dict) else None
        await self.journal.flush()
        decision = {
            "approved": False,
            "by": "timeout",
            "comment": f"no decision within {timeout or 0.0:g} s",
        }
        outcome = self.journal.store.decide(self.run_id, key, decision, time.time())
        if not outcome.recorded:
            if outcome.existing is None:
                return None  # the run was closed meanwhile (cancelled)
            decision = outcome.existing
        self.journal.adopt(Event("approval_decided", key, decision, time.time()))
        return decision


def _graph(steps: Mapping[str, Step]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Per step: how many dependencies it waits on, and which steps depend on it."""
    waiting_on = {sid: len(step.deps) for sid, step in steps.items()}
    dependents: dict[str, list[str]] = {sid: [] for sid in steps}
    for sid, step in steps.items():
        for dep in step.deps:
            dependents[dep].append(sid)
    return waiting_on, dependents


def _call_data(result: CallResult, primary: ModelSpec, primary_key: str) -> dict[str, Any]:
    """A call step's ``step_succeeded`` payload: the output, then how it was obtained."""
    data: dict[str, Any] = {
        "output": result.output,
        "attempt": result.attempts,
        "model": primary_key if result.model is primary else result.model.key,
        "cost": result.cost,
        "cached": result.cached,
        "latency_ms": round(result.latency_ms, 3),
    }
    if result.model is not primary:
        data["fallback_from"] = primary_key
    return data


async def _all_or_nothing(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
