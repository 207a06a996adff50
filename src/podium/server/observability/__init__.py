"""Metrics, traces and logs of the server.

Metrics (``GET /metrics``, the Prometheus text format; a viewer key is needed unless the
server is ``--public-read`` or ``PODIUM_METRICS_PUBLIC=1``), each application in its own
registry:

=======================================  =========================  ==========================
``podium_runs_total``                    counter    ``status``      runs ended: succeeded,
                                                                    failed, cancelled
``podium_runs_active``                   gauge                      runs this process drives
``podium_step_duration_seconds``         histogram  ``kind``,       call, map, ensemble, loop,
                                                    ``status``      workflow, approval, other
``podium_model_calls_total``             counter    ``model``,      ok, cached, error, timeout,
                                                    ``status``      refused, cancelled
``podium_model_latency_seconds``         histogram  ``model``       the adapter's, ok calls
``podium_cost_total``                    counter                    cost of succeeded steps
``podium_breaker_open``                  gauge      ``model``       instances with an open
                                                                    circuit (read at scrape)
``podium_http_requests_total``           counter    ``route``,      route *template*, method,
                                                    ``method``,     status code
                                                    ``status``
``podium_http_request_duration_seconds`` histogram  ``route``,
                                                    ``method``
=======================================  =========================  ==========================

Traces: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, a span per run, step and model call goes
out over OTLP/HTTP (GenAI semantic-convention attributes; a run continues the request's
``traceparent``); :func:`enable_tracing` gives an application a provider of your own.
Without either, no span is made. Logs: :func:`configure_logging` writes JSON lines on
stderr, with ``run_id``, ``step`` and ``trace_id`` when known and secrets redacted.
"""

from __future__ import annotations

from podium.server.observability._install import (
    PUBLIC_METRICS_ENV,
    Observability,
    enable_tracing,
    install,
    observability_of,
)
from podium.server.observability._logging import configure_logging, redact

__all__ = [
    "PUBLIC_METRICS_ENV",
    "Observability",
    "configure_logging",
    "enable_tracing",
    "install",
    "observability_of",
    "redact",
]
