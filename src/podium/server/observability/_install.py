"""What :func:`install` adds to an application: ``/metrics``, the request middleware, the
run observer and model-call interceptor, and tracing when it is configured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from podium._orchestrator import Orchestrator
from podium.engine._control import ACTIVE_RUNS
from podium.server._deps import Viewer
from podium.server._state import ServerState
from podium.server.observability._events import RunEvents
from podium.server.observability._http import HttpMetrics
from podium.server.observability._interceptor import CallMetrics
from podium.server.observability._metrics import LiveCollector, Metrics

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from podium.server.observability._tracing import RunTracer

#: Set to 1/true/yes/on to serve ``/metrics`` without an API key.
PUBLIC_METRICS_ENV = "PODIUM_METRICS_PUBLIC"
_TRUE = frozenset({"1", "true", "yes", "on"})


class Observability:
    """One application's metrics, and the hooks that feed them from its orchestrator."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.metrics = Metrics()
        self.events = RunEvents(self.metrics, orchestrator.store, ACTIVE_RUNS)
        self.calls = CallMetrics(self.metrics)
        self.tracer: RunTracer | None = None
        circuits = getattr(orchestrator.router, "circuits", None)
        self.metrics.registry.register(
            LiveCollector(
                circuits if callable(circuits) else None,
                lambda: len(ACTIVE_RUNS),
                self.events.sweep,
            )
        )
        orchestrator.add_observer(self.events)
        orchestrator.add_interceptor(self.calls, outermost=True)

    def trace_with(self, provider: TracerProvider) -> RunTracer:
        """Make spans of every run, step and model call with ``provider``."""
        from podium.server.observability._tracing import RunTracer

        tracer = RunTracer(provider)
        self.tracer = self.events.tracer = self.calls.tracer = tracer
        return tracer

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.metrics.registry)


def observability_of(app: FastAPI) -> Observability:
    """What :func:`install` attached to ``app``."""
    found: Observability = app.state.observability
    return found


def install(app: FastAPI, state: ServerState) -> None:
    """Add ``/metrics``, request metrics, run and model-call metrics, and tracing when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, to ``app`` over ``state.orchestrator``.

    ``/metrics`` asks for a viewer key, unless the server is ``public_read`` or
    ``PODIUM_METRICS_PUBLIC`` is true.
    """
    found = Observability(state.orchestrator)
    app.state.observability = found
    app.add_middleware(HttpMetrics, metrics=found.metrics)
    public = os.environ.get(PUBLIC_METRICS_ENV, "").strip().lower() in _TRUE

    async def metrics() -> Response:
        return Response(found.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Metrics in the Prometheus text format",
        include_in_schema=False,
        dependencies=[] if public else [Viewer],
    )
    from podium.server.observability._otlp import provider_from_env

    provider = provider_from_env()
    if provider is not None:
        found.trace_with(provider)
        _on_shutdown(app, provider.shutdown)


def enable_tracing(app: FastAPI, provider: TracerProvider) -> None:
    """Trace ``app``'s runs with ``provider`` (yours to configure and shut down)."""
    observability_of(app).trace_with(provider)


def _on_shutdown(app: FastAPI, job: Callable[[], Any]) -> None:
    """Run ``job`` once the application's own shutdown is done."""
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        try:
            async with inner(application) as value:
                yield value
        finally:
            job()

    app.router.lifespan_context = lifespan
