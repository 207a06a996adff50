"""The server's Prometheus metrics, in a registry of its own (one per application).

Labels are few and bounded: run and step statuses, step kinds, model keys
(``name@version``, bounded by the registry), route templates (never raw paths), a fixed
set of HTTP methods and the status code. No run ids, users, tenants or paths.

Counting is on the hot path of every request, step and model call, so the numbers are
kept in small objects of their own (a float, or a list of bucket counts, under a lock of
their own) that the registry's collector reads at scrape time: an increment costs a
fraction of a microsecond, where ``prometheus_client``'s own metric objects take several.
Children are looked up once per label set and kept by their users.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: Step durations: from a millisecond to half an hour (approvals wait long).
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
#: Model latencies: from half a millisecond (a local classifier) to a minute (an LLM).
MODEL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)
#: HTTP request durations.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class CounterChild:
    """One label set's count."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value += amount


class HistogramChild:
    """One label set's bucket counts (``counts[i]``: observations in bucket ``i`` alone;
    the last bucket is ``+Inf``) and sum."""

    __slots__ = ("_lock", "bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._lock = threading.Lock()
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)  # the first bound >= value ("le")
        with self._lock:
            self.counts[index] += 1
            self.sum += value

    def read(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self.counts), self.sum


class _Family:
    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = list(labels)
        self._lock = threading.Lock()


class CounterFamily(_Family):
    """A counter (exposed as ``<name>_total``) with a child per label set."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labels)
        self.children: dict[tuple[str, ...], CounterChild] = {}

    def labels(self, *values: str) -> CounterChild:
        found = self.children.get(values)
        if found is None:
            with self._lock:
                found = self.children.setdefault(values, CounterChild())
        return found

    def metric(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in sorted(self.children.items()):
            family.add_metric(list(values), child.value)
        return family


class HistogramFamily(_Family):
    """A histogram with a child per label set."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        super().__init__(name, documentation, labels)
        self.bounds = tuple(float(b) for b in buckets)
        self.edges = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]
        self.children: dict[tuple[str, ...], HistogramChild] = {}

    def labels(self, *values: str) -> HistogramChild:
        found = self.children.get(values)
        if found is None:
            with self._lock:
                found = self.children.setdefault(values, HistogramChild(self.bounds))
        return found

    def metric(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        edges = [*self.edges, "+Inf"]
        for values, child in sorted(self.children.items()):
            counts, total = child.read()
            running = 0
            buckets = []
            for edge, count in zip(edges, counts, strict=True):
                running += count
                buckets.append((edge, float(running)))
            family.add_metric(list(values), buckets, total)
        return family


class Metrics(Collector):
    """Every metric of one application, collected by :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.runs = CounterFamily("podium_runs", "Runs that ended, by final status.", ["status"])
        self.steps = HistogramFamily(
            "podium_step_duration_seconds",
            "How long steps took, from their start to their end, by kind and final status.",
            ["kind", "status"],
            STEP_BUCKETS,
        )
        self.model_calls = CounterFamily(
            "podium_model_calls",
            "Model calls (each attempt, hedge and cache hit), by model and outcome.",
            ["model", "status"],
        )
        self.model_latency = HistogramFamily(
            "podium_model_latency_seconds",
            "The adapter's own latency of successful model calls.",
            ["model"],
            MODEL_BUCKETS,
        )
        self.cost = CounterFamily("podium_cost", "Cost of the steps that succeeded.")
        self.http_requests = CounterFamily(
            "podium_http_requests",
            "HTTP requests served, by route template, method and status code.",
            ["route", "method", "status"],
        )
        self.http_duration = HistogramFamily(
            "podium_http_request_duration_seconds",
            "HTTP request durations (to the end of the response), by route template and method.",
            ["route", "method"],
            HTTP_BUCKETS,
        )
        self._families: list[CounterFamily | HistogramFamily] = [
            self.runs,
            self.steps,
            self.model_calls,
            self.model_latency,
            self.cost,
            self.http_requests,
            self.http_duration,
        ]
        self._cost = self.cost.labels()
        self._step_children: dict[tuple[str, str], HistogramChild] = {}
        self._http_children: dict[tuple[str, str, int], tuple[CounterChild, HistogramChild]] = {}
        self.registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return [family.metric() for family in self._families]

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.metric()

    def run_ended(self, status: str) -> None:
        self.runs.labels(status).inc()

    def step_ended(self, kind: str, status: str, seconds: float) -> None:
        key = (kind, status)
        child = self._step_children.get(key)
        if child is None:
            child = self._step_children[key] = self.steps.labels(kind, status)
        child.observe(max(seconds, 0.0))

    def add_cost(self, amount: float) -> None:
        if amount > 0:
            self._cost.inc(amount)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request (the middleware's hot path: one dict read when known)."""
        key = (route, method, status)
        found = self._http_children.get(key)
        if found is None:
            found = self._http_children[key] = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route, method),
            )
        found[0].inc()
        found[1].observe(seconds)


class ModelMeters:
    """The children of the model-call metrics for one model (kept per model spec)."""

    __slots__ = ("_calls", "_metrics", "cached", "key", "latency", "ok", "spec")

    def __init__(self, metrics: Metrics, spec: object, key: str) -> None:
        self.spec = spec
        self.key = key
        self._metrics = metrics
        self.latency = metrics.model_latency.labels(key)
        self.ok = metrics.model_calls.labels(key, "ok")
        self.cached = metrics.model_calls.labels(key, "cached")
        self._calls: dict[str, CounterChild] = {}

    def count(self, status: str) -> None:
        """Count a call that ended otherwise than ``ok`` or ``cached``."""
        child = self._calls.get(status)
        if child is None:
            child = self._calls[status] = self._metrics.model_calls.labels(self.key, status)
        child.inc()


class LiveCollector(Collector):
    """Gauges read at scrape time: breakers open per model, runs being driven."""

    def __init__(
        self,
        circuits: Callable[[], dict[str, list[str]]] | None,
        active: Callable[[], int],
        before: Callable[[], None] | None = None,
    ) -> None:
        self._circuits = circuits
        self._active = active
        self._before = before

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families()

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "podium_breaker_open",
                "Instances of the model whose circuit breaker is open (refusing calls).",
                labels=["model"],
            ),
            GaugeMetricFamily("podium_runs_active", "Runs this process is driving now."),
        ]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._before is not None:
            self._before()
        breakers, active = self._families()
        if self._circuits is not None:
            for model, states in sorted(self._circuits().items()):
                breakers.add_metric([model], sum(1 for s in states if s == "open"))
        active.add_metric([], self._active())
        yield breakers
        yield active
