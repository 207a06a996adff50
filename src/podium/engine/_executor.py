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
from typing import Any

from podium._types import StepStatus
from podium.adapters import CallContext
from podium.engine._aggregate import COMBINERS, STACKING, Vote, stacking_features
from podium.engine._calls import CallResult, ModelCaller, StepFailure
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
from podium.errors import ExpressionError, ModelCallError, NoCandidateError, SchemaError
from podium.registry import ModelSpec, Registry
from podium.routing import Router

S = StepStatus


@dataclass
class Scope:
    """What expressions see: ``inputs``, ``steps``, ``item``, ``loop``."""

    inputs: Mapping[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    item: Any = None
    loop: Mapping[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "steps": self.steps, "item": self.item, "loop": self.loop}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a step ended in this pass: done (with output), skipped, or waiting for approval."""

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
    ) -> None:
        self.run_id = run_id
        self.journal = journal
        self.state = journal.state
        self.caller = caller
        self.router = router
        self.registry = registry
        self._logged_decisions: dict[int, tuple[Any, str]] = {}

    # scheduling ----------------------------------------------------------------------------
    async def run_scope(self, steps: Mapping[str, Step], scope: Scope, prefix: str) -> ScopeResult:
        """Run a DAG of steps to completion (or until only approvals remain)."""
        waiting_on = {sid: len(step.deps) for sid, step in steps.items()}
        dependents: dict[str, list[str]] = {sid: [] for sid in steps}
        for sid, step in steps.items():
            for dep in step.deps:
                dependents[dep].append(sid)
        outcomes: dict[str, Outcome] = {}
        ready = [sid for sid, n in waiting_on.items() if n == 0]
        running: dict[asyncio.Task[Outcome], str] = {}
        finished: list[asyncio.Task[Outcome]] = []
        wake = asyncio.Event()

        def on_done(task: asyncio.Task[Outcome]) -> None:
            finished.append(task)
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
                        journal.flush()  # what we are about to act on is durable first
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
                    task = asyncio.ensure_future(self.run_step(step, scope, prefix + sid))
                    running[task] = sid
                    task.add_done_callback(on_done)
                if not running:
                    break
                await wake.wait()
                wake.clear()
                batch, finished[:] = list(finished), []
                for task in batch:
                    sid = running.pop(task)
                    complete(sid, task.result())
        except BaseException:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            raise
        waiting = any(o.status is S.WAITING for o in outcomes.values())
        return ScopeResult(outcomes, waiting or len(outcomes) < len(steps))

    def _blocked_by(self, step: Step, outcomes: Mapping[str, Outcome]) -> str | None:
        for dep in sorted(step.deps):
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
        record = self.state.step(key)
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
        except ExpressionError as exc:
            raise self._fail(key, exc.message) from None
        try:
            if isinstance(step, CallStep):
                return await self._call(step, inputs, key)
            if isinstance(step, MapStep):
                return await self._within(step, key, self._map(step, scope, key))
            if isinstance(step, EnsembleStep):
                return await self._ensemble(step, inputs, key)
            if isinstance(step, LoopStep):
                return await self._within(step, key, self._loop(step, scope, key))
            if isinstance(step, WorkflowStep):
                return await self._within(step, key, self._workflow(step, inputs, key))
            if isinstance(step, ApprovalStep):
                return self._approval(step, key)
        except StepFailure as failure:
            if failure.key == key:
                raise self._fail(key, failure.reason) from None
            raise
        except (ExpressionError, SchemaError, NoCandidateError, ModelCallError) as exc:
            raise self._fail(key, getattr(exc, "message", None) or str(exc)) from None
        raise AssertionError(f"unknown step kind {type(step).__name__}")

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

    def _started(self, key: str, **data: Any) -> int:
        record = self.state.step(key)
        attempt = (record.attempts if record else 0) + 1
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
        self.journal.record("step_succeeded", key, output=output, **data)
        return Outcome(S.SUCCEEDED, output, data.get("iterations"))

    async def _call(self, step: CallStep, inputs: Any, key: str) -> Outcome:
        if not isinstance(inputs, dict):
            raise SchemaError(f"'with' must give an object, got {type(inputs).__name__}")
        decision = self.router.route(step.uses, step.route, inputs)
        fallbacks = [self.registry.resolve(ref)[0] for ref in step.fallback]
        attempt = self._started(key, model=decision.chosen.key, decision=decision.to_json())
        capability = step.uses.name if step.uses.kind == "capability" else None
        base = CallContext(self.run_id, key, attempt, None, step.timeout_s)

        def failed(spec: ModelSpec, n: int, error: str) -> None:
            self.journal.record("attempt_failed", key, attempt=n, model=spec.key, error=error)

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
            data = _call_data(result, result.model)
            data["cascade"] = list(result.stages)
        else:
            models: list[ModelSpec] = [decision.chosen]
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
            )
            data = _call_data(result, models[0])
        if result.instance is not None:
            data["instance"] = result.instance
        if result.hedged:
            data["hedged"] = True
        return self._succeed(key, result.output, **data)

    async def _map(self, step: MapStep, scope: Scope, key: str) -> Outcome:
        items = step.over.evaluate(scope.view())
        if items is None:
            items = []
        if not isinstance(items, list | tuple):
            raise SchemaError(f"'map' must give a list, got {type(items).__name__}")
        if self._needs_start(key):
            self._started(key, items=len(items))
        limit = asyncio.Semaphore(step.concurrency)

        async def one(index: int, item: Any) -> Outcome:
            async with limit:
                child = Scope(scope.inputs, scope.steps, item, scope.loop)
                outcome = await self.run_step(step.body, child, f"{key}[{index}]")
                self.journal.flush_soon()
                return outcome

        outcomes = await _all_or_nothing([one(i, item) for i, item in enumerate(items)])
        self.journal.flush()
        if any(o.status is S.WAITING for o in outcomes):
            return WAITING
        output = [o.output if o.status is S.SUCCEEDED else None for o in outcomes]
        return self._succeed(key, output, items=len(items))

    async def _ensemble(self, step: EnsembleStep, inputs: Any, key: str) -> Outcome:
        hedge_after_s: float | None = None
        routed: dict[str, Any] = {}
        if isinstance(step.members, tuple):
            members = [self.registry.resolve(ref)[0] for ref in step.members]
            reason = "listed members"
        else:
            decision = self.router.route(step.uses, step.route, inputs)
            members = [c.spec for c in decision.ranked[: step.members]]
            reason = decision.reason
            hedge_after_s = decision.hedge_after_s
            routed["decision"] = decision.to_json()
        capability = step.uses.name if step.uses.kind == "capability" else None
        attempt = self._started(key, models=[m.key for m in members], reason=reason, **routed)
        base = CallContext(self.run_id, key, attempt, None, step.timeout_s)

        async def member(spec: ModelSpec) -> CallResult:
            return await self.caller.call_with_retries(
                [spec],
                inputs,
                base,
                retry=step.retry,
                capability=capability,
                cache=step.cache,
                on_failure=lambda s, n, error: self.journal.record(
                    "attempt_failed", key, attempt=n, model=s.key, error=error
                ),
                hedge_after_s=hedge_after_s,
            )

        results = await asyncio.gather(*(member(m) for m in members), return_exceptions=True)
        votes, failed, cost = [], [], 0.0
        for spec, result in zip(members, results, strict=True):
            if isinstance(result, CallResult):
                cap = capability or spec.capabilities[0]
                votes.append(Vote(spec.key, result.output, spec.quality_for(cap)))
                cost += result.cost
            elif isinstance(result, StepFailure):
                failed.append({"model": spec.key, "error": result.reason})
            else:
                raise result
        if not votes:
            raise StepFailure(
                key, "every ensemble member failed: " + "; ".join(f["error"] for f in failed)
            )
        if step.combine == STACKING:
            combined, stack_cost = await self._stack(step, votes, failed, base)
            cost += stack_cost
        else:
            combined = COMBINERS[step.combine].combine(votes)
        if failed:
            combined["failed"] = failed
        return self._succeed(
            key,
            combined,
            model=f"ensemble:{step.combine}",
            cost=cost,
            members=[
                {k: m[k] for k in ("model", "weight", "contribution") if k in m}
                for m in combined.get("members", [])
            ],
        )

    async def _stack(
        self, step: EnsembleStep, votes: list[Vote], failed: list[Any], base: CallContext
    ) -> tuple[dict[str, Any], float]:
        """Ask the stacker (a model trained on the members' outputs) for the combined answer.

        The stacker was trained on every member in order; if one failed, its input cannot be
        formed, so the step falls back to ``weighted`` and says so.
        """
        if failed or step.stacker is None:
            combined = COMBINERS["weighted"].combine(votes)
            combined["combined_by"] = "weighted (stacking needs every member)"
            return combined, 0.0
        stacker = self.registry.resolve(step.stacker)[0]
        result = await self.caller.call_with_retries(
            [stacker],
            {"features": stacking_features(votes)},
            base,
            retry=step.retry,
            capability=None,
            cache=step.cache,
            on_failure=lambda s, n, error: self.journal.record(
                "attempt_failed", base.step or "", attempt=n, model=s.key, error=error
            ),
        )
        combined = {
            k: v
            for k, v in result.output.items()
            if k in ("label", "value", "confidence", "probabilities")
        }
        combined["members"] = [
            {"model": v.model, "output": v.output, "weight": round(v.weight, 6)} for v in votes
        ]
        combined["combined_by"] = stacker.key
        return combined, result.cost

    async def _loop(self, step: LoopStep, scope: Scope, key: str) -> Outcome:
        if self._needs_start(key):
            self._started(key)
        last: dict[str, Any] | None = None
        current: dict[str, Any] = {}
        iteration = 0
        for iteration in range(1, step.max_iterations + 1):
            inner = Scope(
                scope.inputs, dict(scope.steps), scope.item, {"iteration": iteration, "last": last}
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

    async def _workflow(self, step: WorkflowStep, inputs: Any, key: str) -> Outcome:
        sub = step.workflow
        if not isinstance(inputs, dict):
            raise SchemaError(f"'with' must give an object, got {type(inputs).__name__}")
        values = input_defaults(sub) | inputs
        input_schema(sub).validate(values, owner=f"sub-workflow {sub.name}", direction="input")
        if self._needs_start(key):
            self._started(key, workflow=sub.name)
        scope = Scope(values)
        result = await self.run_scope(sub.steps, scope, f"{key}/")
        if result.waiting:
            return WAITING
        outputs = {name: t.evaluate(scope.view()) for name, t in sub.outputs.items()}
        return self._succeed(key, outputs, workflow=sub.name)

    def _approval(self, step: ApprovalStep, key: str) -> Outcome:
        record = self.state.step(key)
        requested = record.approval if record else None
        decision = (requested or {}).get("decision")
        timeout = step.approval.timeout_s
        expired = (
            timeout is not None
            and requested is not None
            and time.time() - float(requested["requested_at"]) > timeout
        )
        if decision is None and expired:
            decision = {
                "approved": False,
                "by": "timeout",
                "comment": f"no decision within {timeout:g} s",
            }
            self.journal.record("approval_decided", key, **decision)
        if decision is None:
            if requested is None:
                self._started(key)
                self.journal.record(
                    "approval_requested",
                    key,
                    prompt=step.approval.prompt,
                    approvers=list(step.approval.approvers),
                    timeout_s=step.approval.timeout_s,
                )
            return WAITING
        output = {
            "approved": bool(decision.get("approved")),
            "by": decision.get("by"),
            "comment": decision.get("comment"),
        }
        outcome = self._succeed(key, output)
        return Outcome(outcome.status, output, gate_closed=not output["approved"])


def _call_data(result: CallResult, primary: ModelSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "attempt": result.attempts,
        "model": result.model.key,
        "cost": result.cost,
        "cached": result.cached,
        "latency_ms": round(result.latency_ms, 3),
    }
    if result.model is not primary:
        data["fallback_from"] = primary.key
    return data


async def _all_or_nothing(coros: list[Coroutine[Any, Any, Outcome]]) -> list[Outcome]:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
