"""One model call the way a step makes it.

A call checks the cache, asks the router for an instance (waiting out a rate limit or a
concurrency cap; a model whose every circuit is open is skipped), runs through the
interceptor chain under the step's timeout, and reports the outcome back to the router.
Around that: hedging (a second request to another instance when the first is slow; the
first answer wins), retries that move to another instance, fallback models, and cascades
(cheapest model first, escalating while it is unsure).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from podium._context import RunContext
from podium._types import JSONObject
from podium.adapters import AdapterPool, CallContext
from podium.engine._admission import Admission, admitted_call, runs_here
from podium.engine._ir import RetryPolicy
from podium.errors import (
    ApprovalRequired,
    ExecutionError,
    ModelCallError,
    RefusedError,
    SchemaError,
    StepTimeoutError,
    WorkerLostError,
)
from podium.registry import ModelSpec
from podium.routing import CallOutcome, Lease, RouteDecision, Router
from podium.store import Store


class CallMeter:
    """Filled by the innermost layer of the chain: how long the adapter itself took."""

    __slots__ = ("adapter_ms",)

    def __init__(self) -> None:
        self.adapter_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One call as interceptors see it (frozen: an interceptor replaces, never mutates).

    ``context`` is the adapter's view (run id, step, attempt, instance, timeout) and carries
    ``run``, the frozen run context (workflow, principal, tenant, headers, trace ids).
    ``decision`` is the router's choice for the step (``None`` for a named model's step
    when no routing took place). A cache hit passes through the chain too, with
    ``cached_output`` set: ``proceed`` returns it without calling the model. ``meter``
    records the adapter's own latency (interceptors are not timed).
    """

    spec: ModelSpec
    inputs: JSONObject
    context: CallContext
    capability: str | None
    decision: RouteDecision | None = None
    cached_output: JSONObject | None = None
    meter: CallMeter = field(default_factory=CallMeter)

    @property
    def run(self) -> RunContext | None:
        return self.context.run

    @property
    def cached(self) -> bool:
        return self.cached_output is not None


Proceed = Callable[[ModelCall], Awaitable[JSONObject]]
#: Told of each failed attempt: the model, the attempt number, the error, and the rule
#: when a rule refused the call.
FailureHook = Callable[[ModelSpec, int, str, str | None], object]


class Interceptor(Protocol):
    """Wraps every model call (audit, policy, budgets, tracing): call ``proceed`` to go on."""

    async def __call__(self, call: ModelCall, proceed: Proceed) -> JSONObject: ...


class CallResult(NamedTuple):
    """A step's answer: which model (and instance) gave it, at what cost, after how many tries.

    ``hedged``: a second request was sent. ``stages``: a cascade's trail, one entry per model
    asked (its confidence, the threshold, whether it answered). (A named tuple: one is made
    per call, and tuples are the cheapest immutable record.)
    """

    output: JSONObject
    model: ModelSpec
    cost: float
    cached: bool
    latency_ms: float
    attempts: int
    instance: int | None = None
    hedged: bool = False
    stages: tuple[dict[str, Any], ...] = ()


class StepFailure(ExecutionError):
    """A step failed for good (retries and fallbacks exhausted)."""

    def __init__(self, key: str, message: str, attempts: int = 0) -> None:
        self.key = key
        self.reason = message
        self.attempts = attempts
        super().__init__(f"step '{key}' failed: {message}")


class CircuitOpenError(ModelCallError):
    """Every instance of the model has an open circuit: the call was not made."""


def cache_key(spec: ModelSpec, inputs: JSONObject) -> str:
    """Hash of (model, version, canonical input JSON)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{spec.key}\n{canonical}".encode()).hexdigest()


def call_cost(spec: ModelSpec, output: JSONObject) -> float:
    """Per-call cost plus token cost when the output reports ``usage.total_tokens``."""
    cost = spec.cost.per_call
    usage = output.get("usage") if isinstance(output, dict) else None
    if spec.cost.per_1k_tokens and isinstance(usage, dict):
        tokens = usage.get("total_tokens") or 0
        if isinstance(tokens, int | float):
            cost += spec.cost.per_1k_tokens * float(tokens) / 1000.0
    return cost


class ModelCaller:
    """Makes model calls for the scheduler: caching, routing to instances, the interceptor
    chain, timeouts, hedging, retries, fallbacks and cascades."""

    def __init__(
        self,
        adapters: AdapterPool,
        router: Router,
        store: Store,
        interceptors: Sequence[Interceptor] = (),
        rng: random.Random | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.adapters = adapters
        #: Limits and resources of the models that declare them, fair between runs.
        self.admission = admission or Admission()
        self.router = router
        self.store = store
        self.rng = rng or random.Random()  # noqa: S311 - only for retry jitter
        self._last: Proceed = self._invoke
        self._interceptors = list(interceptors)
        self._proceed = self._chain()
        self._twins: list[ModelCaller] = []
        router.attach(store)  # what the router learns from these calls survives a restart

    def _chain(self) -> Proceed:
        proceed: Proceed = self._last
        for interceptor in reversed(self._interceptors):
            proceed = _wrap(interceptor, proceed)
        return proceed

    def add_interceptor(self, interceptor: Interceptor, *, outermost: bool = False) -> None:
        """Wrap the calls made from now on in ``interceptor`` too: innermost (nearest the
        model) by default, or ``outermost`` (it sees every call first, refusals included)."""
        if outermost:
            self._interceptors.insert(0, interceptor)
        else:
            self._interceptors.append(interceptor)
        self._proceed = self._chain()
        for twin in self._twins:
            twin._proceed = twin._chain()

    def forwarding(self, adapters: AdapterPool) -> ModelCaller:
        """A caller whose innermost layer calls ``adapters`` instead, sharing this one's
        router, store, random source and interceptors (those added later too): the
        gateway's pass-through of requests as they are, routed like any call."""
        twin = copy.copy(self)
        twin.adapters = adapters
        twin._last = twin._invoke
        twin._twins = []
        twin._proceed = twin._chain()
        self._twins.append(twin)
        return twin

    async def _invoke(self, call: ModelCall) -> JSONObject:
        """The innermost layer: the cached answer, or the adapter, timed."""
        if call.cached_output is not None:
            return call.cached_output
        started = time.perf_counter()
        try:
            return await self.adapters.invoke(call.spec, call.inputs, call.context)
        finally:
            call.meter.adapter_ms = (time.perf_counter() - started) * 1000.0

    @property
    def intercepted(self) -> bool:
        """Whether interceptors wrap each call."""
        return self._proceed is not self._last

    # one attempt ---------------------------------------------------------------------------
    async def call_once(
        self,
        spec: ModelSpec,
        inputs: JSONObject,
        context: CallContext,
        *,
        capability: str | None,
        cache: bool,
        hedge_after_s: float | None = None,
        tried: set[int] | None = None,
        decision: RouteDecision | None = None,
        admitted: bool = False,
    ) -> CallResult:
        """One attempt: a cache hit, or a timed call on an instance the router grants.

        ``tried`` collects the instances used, so the next attempt can avoid them. A model
        that declares ``resources`` is first admitted (``admitted``: it has been).
        """
        key = cache_key(spec, inputs) if cache else None
        if key is not None:
            hit = self.store.cache_get(key)
            if hit is not None:
                if self.intercepted:  # interceptors see cache hits too (audit, policy)
                    call = ModelCall(spec, inputs, context, capability, decision, hit)
                    hit = await self._proceed(call)
                return CallResult(hit, spec, 0.0, True, 0.0, context.attempt)
        if spec.resources is not None and not admitted and runs_here(self.adapters, spec, context):
            # limits or resources: wait a turn (fair between runs)
            return await admitted_call(
                self, spec, inputs, context, key, capability, tried, decision
            )
        started = time.perf_counter()
        timeout = context.timeout_s
        deadline = asyncio.get_running_loop().time() + timeout if timeout else None
        used = set() if tried is None else tried
        lease = self.router.acquire(spec, used)
        if not lease.granted:
            lease = await self._wait(spec, lease, used, deadline)
        instance = lease.instance
        ctx = context
        if instance is not None:
            used.add(instance)
            if spec.instances != 1:  # the adapter of a single instance needs no index
                ctx = CallContext(
                    context.run_id,
                    context.step,
                    context.attempt,
                    instance,
                    timeout,
                    context.run,
                    context.placement,
                )
        hedged = False
        if hedge_after_s is None:
            output, cost = await self._one(
                spec, inputs, ctx, capability, deadline, instance, decision
            )
        else:
            (output, cost), instance, hedged = await self._hedged(
                spec, inputs, ctx, capability, deadline, hedge_after_s, used, instance, decision
            )
        latency = (time.perf_counter() - started) * 1000.0
        if key is not None:
            self.store.cache_put(key, output)
        shown = None if spec.instances == 1 else instance
        return CallResult(output, spec, cost, False, latency, context.attempt, shown, hedged)

    async def _wait(
        self, spec: ModelSpec, lease: Lease, tried: set[int], deadline: float | None
    ) -> Lease:
        """Ask again until an instance is granted (rate limit, caps), or give up."""
        loop = asyncio.get_running_loop()
        while not lease.granted:
            if lease.refused is not None:
                raise CircuitOpenError(lease.refused, model=spec.key)
            if deadline is not None and loop.time() + lease.wait_s >= deadline:
                await asyncio.sleep(max(deadline - loop.time(), 0.0))
                raise StepTimeoutError(f"{spec.key} had no free instance within the step's timeout")
            await asyncio.sleep(lease.wait_s)
            lease = self.router.acquire(spec, tried)
        return lease

    async def _one(
        self,
        spec: ModelSpec,
        inputs: JSONObject,
        ctx: CallContext,
        capability: str | None,
        deadline: float | None,
        instance: int | None,
        decision: RouteDecision | None = None,
    ) -> tuple[JSONObject, float]:
        """One request to ``instance``, reported to the router however it ends: the output
        and its cost. The latency the router learns is the adapter's alone."""
        started = time.perf_counter()
        call: ModelCall | None = None
        try:
            if deadline is None and not self.intercepted:  # no ModelCall to build
                output = await self.adapters.invoke(spec, inputs, ctx)
            else:
                call = ModelCall(spec, inputs, ctx, capability, decision)
                if deadline is None:
                    output = await self._proceed(call)
                else:
                    async with asyncio.timeout_at(deadline):
                        output = await self._proceed(call)
        except TimeoutError:
            self._report(spec, capability, started, instance, ok=False, meter=call)
            raise StepTimeoutError(
                f"{spec.key} did not answer within {ctx.timeout_s:g} s"
            ) from None
        except RefusedError:
            # a rule refused the call: nothing about the model's health; release the instance
            self._report(spec, capability, started, instance, ok=False, cancelled=True)
            raise
        except (ModelCallError, SchemaError) as exc:
            fault = isinstance(exc, ModelCallError) and exc.retryable
            self._report(spec, capability, started, instance, ok=False, fault=fault, meter=call)
            raise
        except BaseException:
            self._report(spec, capability, started, instance, ok=False, cancelled=True)
            raise
        cost = call_cost(spec, output)
        self._report(spec, capability, started, instance, ok=True, cost=cost, meter=call)
        return output, cost

    def _report(
        self,
        spec: ModelSpec,
        capability: str | None,
        started: float,
        instance: int | None,
        *,
        ok: bool,
        fault: bool = True,
        cancelled: bool = False,
        cost: float = 0.0,
        meter: ModelCall | None = None,
    ) -> None:
        measured = meter.meter.adapter_ms if meter is not None else None
        latency = measured if measured is not None else (time.perf_counter() - started) * 1000.0
        outcome = CallOutcome(capability, latency, ok, cost, instance, fault, cancelled)
        self.router.observe(spec, outcome)

    async def _hedged(
        self,
        spec: ModelSpec,
        inputs: JSONObject,
        ctx: CallContext,
        capability: str | None,
        deadline: float | None,
        hedge_after_s: float,
        tried: set[int],
        instance: int | None,
        decision: RouteDecision | None = None,
    ) -> tuple[tuple[JSONObject, float], int | None, bool]:
        """Send the request; if no answer after ``hedge_after_s``, send it to another
        instance too. The first answer wins and the other request is cancelled."""
        first = asyncio.create_task(
            self._one(spec, inputs, ctx, capability, deadline, instance, decision)
        )
        tasks: dict[asyncio.Task[tuple[JSONObject, float]], int | None] = {first: instance}
        try:
            done, _ = await asyncio.wait((first,), timeout=hedge_after_s)
            if not done:
                avoid = () if instance is None else (instance,)
                lease = self.router.acquire(spec, avoid)
                if lease.granted:
                    if lease.instance is not None:
                        tried.add(lease.instance)
                    again = CallContext(
                        ctx.run_id,
                        ctx.step,
                        ctx.attempt,
                        lease.instance,
                        ctx.timeout_s,
                        ctx.run,
                        ctx.placement,
                    )
                    second = asyncio.create_task(
                        self._one(
                            spec, inputs, again, capability, deadline, lease.instance, decision
                        )
                    )
                    tasks[second] = lease.instance
            error: BaseException | None = None
            pending = set(tasks)
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(finished, key=list(tasks).index):
                    failure = task.exception()
                    if failure is None:
                        return task.result(), tasks[task], len(tasks) > 1
                    error = error or failure
            assert error is not None
            raise error
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # a step's calls ------------------------------------------------------------------------
    async def call_with_retries(
        self,
        models: Sequence[ModelSpec],
        inputs: JSONObject,
        base: CallContext,
        *,
        retry: RetryPolicy,
        capability: str | None,
        cache: bool,
        on_failure: FailureHook,
        hedge_after_s: float | None = None,
        decision: RouteDecision | None = None,
        alternatives: Sequence[ModelSpec] = (),
    ) -> CallResult:
        """Try each model in order (primary, then fallbacks), each up to ``retry.attempts``;
        each retry goes to an instance not yet tried while there is one. A refusal is never
        retried: the step moves to the ``alternatives`` not yet tried (the router's runner-ups)
        and then to its next model, and fails naming the rule if none is left.
        A call whose worker died (:class:`WorkerLostError`) earns the model one attempt
        beyond the policy, once.
        """
        errors: list[str] = []
        attempt_no = base.attempt - 1
        order = list(models)
        spare = list(alternatives)
        position = -1
        while position + 1 < len(order):
            position += 1
            spec = order[position]
            last = len(order) - 1
            tried: set[int] = set()
            allowed = retry.attempts
            attempt = 0
            while attempt < allowed:
                attempt += 1
                attempt_no += 1
                context = (
                    base
                    if attempt_no == base.attempt and base.instance is None
                    else CallContext(
                        base.run_id,
                        base.step,
                        attempt_no,
                        None,
                        base.timeout_s,
                        base.run,
                        base.placement,
                    )
                )
                try:
                    return await self.call_once(
                        spec,
                        inputs,
                        context,
                        capability=capability,
                        cache=cache,
                        hedge_after_s=hedge_after_s,
                        tried=tried,
                        decision=decision,
                    )
                except ApprovalRequired:
                    raise  # the step waits for a decision; no other model is asked meanwhile
                except RefusedError as exc:
                    errors.append(str(exc))
                    on_failure(spec, attempt_no, str(exc), exc.rule)
                    if spare:  # another candidate may be allowed: ask it next
                        known = {m.key for m in order}
                        order[position + 1 : position + 1] = [
                            m for m in spare if m.key not in known
                        ]
                        spare = []
                    break
                except (ModelCallError, StepTimeoutError, SchemaError) as exc:
                    message = exc.message if isinstance(exc, SchemaError) else str(exc)
                    errors.append(message)
                    on_failure(spec, attempt_no, message, None)
                    retryable = not isinstance(exc, SchemaError) and getattr(exc, "retryable", True)
                    if not retryable or (isinstance(exc, CircuitOpenError) and position < last):
                        break
                    if isinstance(exc, WorkerLostError) and allowed == retry.attempts:
                        allowed += 1  # the lost process's attempt is given back, once
                    if attempt < allowed:
                        await asyncio.sleep(retry.delay(attempt, self.rng))
        tried_models = ", ".join(s.key for s in order[: position + 1])
        raise StepFailure(base.step or "?", f"{errors[-1]} (tried {tried_models})", attempt_no)

    async def call_cascade(
        self,
        decision: RouteDecision,
        fallbacks: Sequence[ModelSpec],
        inputs: JSONObject,
        base: CallContext,
        *,
        retry: RetryPolicy,
        capability: str | None,
        cache: bool,
        on_failure: FailureHook,
    ) -> CallResult:
        """Ask ``decision.stages`` in order until one is confident enough (the last always
        is). A failing stage escalates; if the last one fails (after its fallbacks), the
        latest earlier answer is returned, else the step fails."""
        started = time.perf_counter()
        stages = decision.stages
        trail: list[dict[str, Any]] = []
        cost = 0.0
        attempt = base.attempt
        answer: CallResult | None = None
        for index, spec in enumerate(stages):
            final = index == len(stages) - 1
            chain = [spec, *(f for f in fallbacks if f.key != spec.key)] if final else [spec]
            context = CallContext(
                base.run_id, base.step, attempt, None, base.timeout_s, base.run, base.placement
            )
            try:
                result = await self.call_with_retries(
                    chain,
                    inputs,
                    context,
                    retry=retry,
                    capability=capability,
                    cache=cache,
                    on_failure=on_failure,
                    hedge_after_s=decision.hedge_after_s,
                    decision=decision,
                )
            except StepFailure as failure:
                attempt = failure.attempts + 1
                trail.append({"model": spec.key, "error": failure.reason})
                if final and answer is None:
                    raise StepFailure(base.step or "?", failure.reason, failure.attempts) from None
                continue
            attempt = result.attempts + 1
            cost += result.cost
            confidence = _confidence(result.output, decision.confidence_field)
            threshold = None if final else decision.thresholds[index]
            accepted = threshold is None or confidence is None or confidence >= threshold
            trail.append(
                {
                    "model": result.model.key,
                    "confidence": confidence,
                    "threshold": threshold,
                    "answered": accepted,
                }
            )
            answer = result
            if accepted:
                break
        assert answer is not None
        latency = (time.perf_counter() - started) * 1000.0
        return CallResult(
            answer.output,
            answer.model,
            cost,
            answer.cached,
            latency,
            answer.attempts,
            answer.instance,
            answer.hedged,
            tuple(trail),
        )


def _confidence(output: JSONObject, field: str) -> float | None:
    value = output.get(field) if isinstance(output, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _wrap(interceptor: Interceptor, proceed: Proceed) -> Proceed:
    async def call(model_call: ModelCall) -> JSONObject:
        return await interceptor(model_call, proceed)

    return call
