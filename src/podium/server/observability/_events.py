"""The journal observer: run and step metrics from the events of each run.

Every event reaches it once written. A step is timed from its first ``step_started`` to
the event that ends it (``step_succeeded``, ``step_failed``, ``step_cancelled``); its kind
(``call``, ``map``, ``ensemble``, ``loop``, ``workflow``, ``approval``) is read from what
those events carry (``other`` when they do not tell, as for a step that failed before it
began). A run is counted when it ends (``succeeded``, ``failed``, ``cancelled``) in this
process. A drive that stops without an ending event (cancelled from elsewhere, the log
lost, the server shutting down) is noticed by a sweep once the engine no longer drives
the run; a cancelled one is then counted as such.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from podium.server.observability._metrics import Metrics
from podium.store import Event, Store

if TYPE_CHECKING:
    from podium.server.observability._tracing import RunTracer

log = logging.getLogger("podium.server.observability")

#: A run not driven any more and quiet for this long is swept (its drive has stopped).
SWEEP_AFTER_S = 2.0
_SWEEP_EVERY_S = 5.0
_ENDS = {"step_succeeded": "succeeded", "step_failed": "failed", "step_cancelled": "cancelled"}
_RUN_ENDS = {"run_succeeded": "succeeded", "run_failed": "failed", "run_cancelled": "cancelled"}


def start_kind(data: dict[str, Any]) -> str:
    """A step's kind from its ``step_started`` data (``""``: not told there)."""
    if "model" in data:
        return "call"
    if "models" in data:
        return "ensemble"
    if "items" in data:
        return "map"
    if "workflow" in data:
        return "workflow"
    return ""


def end_kind(data: dict[str, Any]) -> str:
    """A step's kind from the data of the event that ended it."""
    if "iterations" in data:
        return "loop"
    model = data.get("model")
    if isinstance(model, str):
        return "ensemble" if model.startswith("ensemble:") else "call"
    if "items" in data:
        return "map"
    if "workflow" in data:
        return "workflow"
    output = data.get("output")
    if isinstance(output, dict) and "approved" in output and "by" in output:
        return "approval"
    return "other"


class _Run:
    __slots__ = ("steps", "touched")

    def __init__(self, now: float) -> None:
        self.steps: dict[str, list[Any]] = {}  # step key -> [started (epoch s), kind]
        self.touched = now


class RunEvents:
    """Observer of every run's events (``orchestrator.add_observer(events)``)."""

    def __init__(self, metrics: Metrics, store: Store, active: Collection[str]) -> None:
        self.metrics = metrics
        self.store = store
        self.active = active
        self.tracer: RunTracer | None = None
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        self._handlers: dict[str, Callable[[str, Event], None]] = {
            "run_started": self._opened,
            "run_resumed": self._opened,
            "step_started": self._step_started,
            "approval_requested": self._approval,
            "step_succeeded": self._step_ended,
            "step_failed": self._step_ended,
            "step_cancelled": self._step_ended,
            "step_skipped": self._step_skipped,
            "run_succeeded": self._run_ended,
            "run_failed": self._run_ended,
            "run_cancelled": self._run_ended,
            "run_waiting": self._run_ended,
        }

    def __call__(self, run_id: str, event: Event) -> None:
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(run_id, event)
        tracer = self.tracer
        if tracer is not None:
            tracer.event(run_id, event)

    @property
    def open_runs(self) -> int:
        """Runs whose drive this observer is following."""
        return len(self._runs)

    def _run(self, run_id: str, now: float) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            with self._lock:
                run = self._runs[run_id] = _Run(now)
        else:
            run.touched = now
        return run

    def _opened(self, run_id: str, event: Event) -> None:
        with self._lock:
            self._runs[run_id] = _Run(event.ts)
        if time.monotonic() - self._swept >= _SWEEP_EVERY_S:
            self.sweep()

    def _step_started(self, run_id: str, event: Event) -> None:
        steps = self._run(run_id, event.ts).steps
        key = event.step
        if key is not None and key not in steps:
            steps[key] = [event.ts, start_kind(event.data)]

    def _approval(self, run_id: str, event: Event) -> None:
        entry = self._run(run_id, event.ts).steps.get(event.step or "")
        if entry is not None:
            entry[1] = "approval"

    def _step_ended(self, run_id: str, event: Event) -> None:
        data = event.data
        entry = self._run(run_id, event.ts).steps.pop(event.step or "", None)
        status = _ENDS[event.type]
        if status == "succeeded":
            cost = data.get("cost")
            if cost and isinstance(cost, int | float):
                self.metrics.add_cost(float(cost))
        if entry is not None:  # a step begun in an earlier drive is not timed
            self.metrics.step_ended(entry[1] or end_kind(data), status, event.ts - entry[0])

    def _step_skipped(self, run_id: str, event: Event) -> None:
        self._run(run_id, event.ts).steps.pop(event.step or "", None)

    def _run_ended(self, run_id: str, event: Event) -> None:
        status = _RUN_ENDS.get(event.type)
        if status is not None:
            self.metrics.run_ended(status)
        with self._lock:
            self._runs.pop(run_id, None)

    def sweep(self) -> None:
        """Forget the drives that stopped without an ending event (see the module doc)."""
        self._swept = time.monotonic()
        now = time.time()
        with self._lock:
            stopped = [
                rid
                for rid, run in list(self._runs.items())
                if rid not in self.active and now - run.touched >= SWEEP_AFTER_S
            ]
            for rid in stopped:
                del self._runs[rid]
        tracer = self.tracer
        traced = tracer.stopped(self.active, now - SWEEP_AFTER_S) if tracer is not None else []
        for rid in sorted(set(stopped) | set(traced)):
            status = self._status(rid)
            if rid in stopped and status == "cancelled":
                self.metrics.run_ended("cancelled")
            if tracer is not None and rid in traced:
                tracer.close_run(rid, status or "stopped", now)

    def _status(self, run_id: str) -> str | None:
        try:
            brief = self.store.run_brief(run_id)
        except Exception as exc:  # the sweep must not fail a scrape or a run
            log.warning("could not read run %s: %s", run_id, type(exc).__name__)
            return None
        return str(brief.status) if brief is not None else None
