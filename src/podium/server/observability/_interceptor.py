"""The model-call interceptor: a count and a latency per call, the log context, and (when
tracing is on) the call's span.

Every call passes through it, cache hits and refusals included (it is the outermost link of
the chain). Outcomes: ``ok``, ``cached``, ``error``, ``timeout``, ``refused``, ``cancelled``
(a hedge that lost, a cancelled run). The latency is the adapter's own, for successful calls.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from podium._types import JSONObject
from podium.engine import ModelCall, Proceed
from podium.errors import RefusedError, StepTimeoutError
from podium.server.observability._logging import LOG_CONTEXT
from podium.server.observability._metrics import Metrics, ModelMeters

if TYPE_CHECKING:
    from podium.server.observability._tracing import RunTracer

#: A cancelled call that lasted this share of its timeout is counted as timed out.
_TIMEOUT_SHARE = 0.9


def outcome(error: BaseException, call: ModelCall, seconds: float) -> str:
    """How a failed call is counted."""
    if isinstance(error, RefusedError):
        return "refused"
    if isinstance(error, TimeoutError | StepTimeoutError):
        return "timeout"
    if isinstance(error, asyncio.CancelledError):
        limit = call.context.timeout_s
        return "timeout" if limit and seconds >= limit * _TIMEOUT_SHARE else "cancelled"
    return "error"


class CallMetrics:
    """An :class:`~podium.engine.Interceptor` (``orchestrator.add_interceptor(...)``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.tracer: RunTracer | None = None
        self._models: dict[int, ModelMeters] = {}

    async def __call__(self, call: ModelCall, proceed: Proceed) -> JSONObject:
        spec = call.spec
        meters = self._models.get(id(spec))
        if meters is None or meters.spec is not spec:
            meters = self._models[id(spec)] = ModelMeters(self.metrics, spec, spec.key)
        context = call.context
        run = context.run
        tracer = self.tracer
        trace_id = tracer.trace_id(context.run_id) if tracer and context.run_id else None
        if trace_id is None and run is not None:
            trace_id = run.caller.trace_id
        token = LOG_CONTEXT.set((context.run_id or None, context.step, trace_id))
        started_ns = time.time_ns() if tracer is not None else 0
        started = time.perf_counter()
        try:
            output = await proceed(call)
        except BaseException as error:
            status = outcome(error, call, time.perf_counter() - started)
            meters.count(status)
            if tracer is not None:
                tracer.record_call(call, started_ns, time.time_ns(), None, status, error)
            raise
        finally:
            LOG_CONTEXT.reset(token)
        if call.cached_output is not None:
            meters.cached.inc()
            status = "cached"
        else:
            meters.ok.inc()
            status = "ok"
            measured = call.meter.adapter_ms
            meters.latency.observe(
                measured / 1000.0 if measured is not None else time.perf_counter() - started
            )
        if tracer is not None:
            tracer.record_call(call, started_ns, time.time_ns(), output, status)
        return output
