"""One model call the way a step makes it: cache, interceptors, timeout, retries, fallbacks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from podium._types import JSONObject
from podium.adapters import AdapterPool, CallContext
from podium.engine._ir import RetryPolicy
from podium.errors import ExecutionError, ModelCallError, SchemaError, StepTimeoutError
from podium.registry import ModelSpec
from podium.routing import CallOutcome, Router
from podium.store import Store


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One call as interceptors see it (frozen: an interceptor replaces, never mutates)."""

    spec: ModelSpec
    inputs: JSONObject
    context: CallContext
    capability: str | None


Proceed = Callable[[ModelCall], Awaitable[JSONObject]]


class Interceptor(Protocol):
    """Wraps every model call (audit, policy, budgets, tracing): call ``proceed`` to go on."""

    async def __call__(self, call: ModelCall, proceed: Proceed) -> JSONObject: ...


@dataclass(frozen=True)
class CallResult:
    output: JSONObject
    model: ModelSpec
    cost: float
    cached: bool
    latency_ms: float
    attempts: int


class StepFailure(ExecutionError):
    """A step failed for good (retries and fallbacks exhausted)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.reason = message
        super().__init__(f"step '{key}' failed: {message}")


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
    """Makes model calls for the scheduler: caching, the interceptor chain, timeouts, retries."""

    def __init__(
        self,
        adapters: AdapterPool,
        router: Router,
        store: Store,
        interceptors: Sequence[Interceptor] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.adapters = adapters
        self.router = router
        self.store = store
        self.rng = rng or random.Random()  # noqa: S311 - only for retry jitter
        proceed: Proceed = self._invoke
        for interceptor in reversed(interceptors):
            proceed = _wrap(interceptor, proceed)
        self._proceed = proceed

    async def _invoke(self, call: ModelCall) -> JSONObject:
        return await self.adapters.invoke(call.spec, call.inputs, call.context)

    async def call_once(
        self,
        spec: ModelSpec,
        inputs: JSONObject,
        context: CallContext,
        *,
        capability: str | None,
        cache: bool,
    ) -> CallResult:
        """One attempt: a cache hit, or a timed call through the interceptor chain."""
        key = cache_key(spec, inputs) if cache else None
        if key is not None:
            hit = self.store.cache_get(key)
            if hit is not None:
                return CallResult(hit, spec, 0.0, True, 0.0, context.attempt)
        started = time.perf_counter()
        try:
            call = ModelCall(spec, inputs, context, capability)
            if context.timeout_s:
                async with asyncio.timeout(context.timeout_s):
                    output = await self._proceed(call)
            else:
                output = await self._proceed(call)
        except TimeoutError:
            self._observe(spec, capability, started, ok=False)
            raise StepTimeoutError(
                f"{spec.key} did not answer within {context.timeout_s:g} s"
            ) from None
        except (ModelCallError, SchemaError):
            self._observe(spec, capability, started, ok=False)
            raise
        latency = self._observe(spec, capability, started, ok=True)
        if key is not None:
            self.store.cache_put(key, output)
        return CallResult(output, spec, call_cost(spec, output), False, latency, context.attempt)

    def _observe(
        self, spec: ModelSpec, capability: str | None, started: float, *, ok: bool
    ) -> float:
        latency = (time.perf_counter() - started) * 1000.0
        self.router.observe(spec, CallOutcome(capability, latency, ok))
        return latency

    async def call_with_retries(
        self,
        models: Sequence[ModelSpec],
        inputs: JSONObject,
        base: CallContext,
        *,
        retry: RetryPolicy,
        capability: str | None,
        cache: bool,
        on_failure: Callable[[ModelSpec, int, str], object],
    ) -> CallResult:
        """Try each model in order (primary, then fallbacks), each up to ``retry.attempts``."""
        errors: list[str] = []
        attempt_no = base.attempt - 1
        for spec in models:
            for attempt in range(1, retry.attempts + 1):
                attempt_no += 1
                context = CallContext(
                    base.run_id, base.step, attempt_no, base.instance, base.timeout_s
                )
                try:
                    return await self.call_once(
                        spec, inputs, context, capability=capability, cache=cache
                    )
                except (ModelCallError, StepTimeoutError, SchemaError) as exc:
                    message = exc.message if isinstance(exc, SchemaError) else str(exc)
                    errors.append(message)
                    on_failure(spec, attempt_no, message)
                    retryable = not isinstance(exc, SchemaError) and getattr(exc, "retryable", True)
                    if not retryable:
                        break
                    if attempt < retry.attempts:
                        await asyncio.sleep(retry.delay(attempt, self.rng))
        tried = ", ".join(s.key for s in models)
        raise StepFailure(base.step or "?", f"{errors[-1]} (tried {tried})")


def _wrap(interceptor: Interceptor, proceed: Proceed) -> Proceed:
    async def call(model_call: ModelCall) -> JSONObject:
        return await interceptor(model_call, proceed)

    return call
