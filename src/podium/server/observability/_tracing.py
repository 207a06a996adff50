"""OpenTelemetry spans per run, step and model call, built from the run's events.

A run's span opens at ``run_started`` (or ``run_resumed``: each drive of a run is a span)
and continues the caller's W3C trace (``Caller.trace_id``/``span_id``, from the request's
``traceparent``). A step's span opens at its ``step_started`` and closes at the event that
ends it, with the events' own times; a step inside a map, loop or sub-workflow is a child
of that step. Model calls are timed by the interceptor and become children of their step's
span when the step ends. Names and attributes follow the GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.system``), with ``podium.run_id``,
``podium.step`` and a few more ``podium.*`` attributes. At most ``max_spans`` spans are
made per drive of a run; the rest are counted in ``podium.spans_dropped``.

Nothing here is imported unless tracing is on: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set,
spans go out over OTLP/HTTP; else the server makes none at all.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TracerProvider,
)

from podium._context import Caller, current_run
from podium.server.observability._events import end_kind, start_kind
from podium.store import Event

if TYPE_CHECKING:
    from podium.engine import ModelCall
    from podium.registry import ModelSpec

MAX_SPANS = 10_000
_INDEX = re.compile(r"\[\d+\]|#\d+")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_STEP_END = {"step_succeeded": "succeeded", "step_failed": "failed", "step_cancelled": "cancelled"}
_RUN_END = {
    "run_succeeded": "succeeded",
    "run_failed": "failed",
    "run_cancelled": "cancelled",
    "run_waiting": "waiting",
}
Attributes = dict[str, Any]


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def parent_key(key: str) -> str | None:
    """The step a nested step key belongs to: ``m[3]`` -> ``m``, ``l#2/x`` -> ``l``,
    ``w/x`` -> ``w``; ``None`` for a top-level step."""
    if key.endswith("]"):
        cut = key.rfind("[")
        return key[:cut] if cut > 0 else None
    cut = key.rfind("/")
    if cut <= 0:
        return None
    prefix = key[:cut]
    hash_at = prefix.rfind("#")
    if hash_at > 0 and prefix[hash_at + 1 :].isdigit():
        prefix = prefix[:hash_at]
    return prefix


def caller_context(caller: Caller | None) -> Context | None:
    """The caller's W3C trace as a remote parent (``None``: the run starts a trace)."""
    if caller is None or not caller.trace_id or not caller.span_id:
        return None
    trace_id, span_id = caller.trace_id.lower(), caller.span_id.lower()
    if not _HEX32.match(trace_id) or not _HEX16.match(span_id):
        return None
    if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        return None
    parent = SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


class _Trace:
    """The open spans of one drive of a run."""

    __slots__ = (
        "calls",
        "dropped",
        "kinds",
        "run",
        "spans",
        "start_ns",
        "steps",
        "touched",
        "trace_hex",
    )

    def __init__(self, run: Span, start_ns: int, touched: float) -> None:
        self.run = run
        self.start_ns = start_ns
        self.steps: dict[str, Span] = {}
        self.kinds: dict[str, str] = {}
        self.calls: dict[str, list[tuple[str, int, int, Attributes, str | None]]] = {}
        self.spans = 1
        self.dropped = 0
        self.touched = touched
        self.trace_hex = format(run.get_span_context().trace_id, "032x")


class RunTracer:
    """Turns events and recorded model calls into spans (one per application)."""

    def __init__(self, provider: TracerProvider, *, max_spans: int = MAX_SPANS) -> None:
        from podium import __version__

        self.provider = provider
        self.max_spans = max_spans
        self._tracer = provider.get_tracer("podium", __version__)
        self._runs: dict[str, _Trace] = {}
        self._lock = threading.Lock()
        self._static: dict[int, tuple[ModelSpec, Attributes, str]] = {}

    # what logs ask ---------------------------------------------------------------------------
    def trace_id(self, run_id: str) -> str | None:
        """The trace id (hex) of the run's open span, if it has one."""
        found = self._runs.get(run_id)
        return found.trace_hex if found is not None else None

    # events ------------------------------------------------------------------------------
    def event(self, run_id: str, event: Event) -> None:
        kind = event.type
        if kind in ("run_started", "run_resumed"):
            self._open(run_id, event)
            return
        found = self._runs.get(run_id)
        if found is None:
            return  # a drive that began before tracing was on
        found.touched = event.ts
        key = event.step
        if kind in _STEP_END and key is not None:
            self._end_step(found, run_id, key, event, _STEP_END[kind])
        elif kind == "step_started" and key is not None:
            if key not in found.steps:
                self._start_step(found, run_id, key, event)
        elif kind == "attempt_failed" and key is not None:
            span = found.steps.get(key)
            if span is not None:
                attrs = {k: str(v) for k, v in event.data.items() if k in ("model", "error")}
                attrs["attempt"] = str(event.data.get("attempt", ""))
                span.add_event("attempt_failed", attrs, timestamp=_ns(event.ts))
        elif kind == "approval_requested" and key is not None:
            span = found.steps.get(key)
            if span is not None:
                found.kinds[key] = "approval"
                span.add_event("approval_requested", timestamp=_ns(event.ts))
        elif kind == "step_skipped" and key is not None:
            self._skipped(found, run_id, key, event)
        elif kind in _RUN_END:
            error = event.data.get("error")
            self.close_run(run_id, _RUN_END[kind], event.ts, str(error) if error else None)

    def _open(self, run_id: str, event: Event) -> None:
        if run_id in self._runs:  # the previous drive ended without an ending event
            self.close_run(run_id, "stopped", event.ts)
        context = current_run()
        workflow = str(event.data.get("workflow") or (context.workflow if context else "") or "")
        attributes: Attributes = {
            "gen_ai.operation.name": "invoke_workflow",
            "podium.run_id": run_id,
            "podium.workflow": workflow,
            "podium.resumed": event.type == "run_resumed",
        }
        if context is not None and context.tenant:
            attributes["podium.tenant"] = context.tenant
        start = _ns(event.ts)
        span = self._tracer.start_span(
            f"invoke_workflow {workflow}".strip(),
            context=caller_context(context.caller if context else None),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=start,
        )
        with self._lock:
            self._runs[run_id] = _Trace(span, start, event.ts)

    def _parent(self, found: _Trace, key: str) -> Context:
        up = parent_key(key)
        while up is not None:
            span = found.steps.get(up)
            if span is not None:
                return trace.set_span_in_context(span)
            up = parent_key(up)
        return trace.set_span_in_context(found.run)

    def _room(self, found: _Trace) -> bool:
        if found.spans >= self.max_spans:
            found.dropped += 1
            return False
        found.spans += 1
        return True

    def _start_step(self, found: _Trace, run_id: str, key: str, event: Event) -> None:
        if not self._room(found):
            return
        attributes: Attributes = {"podium.run_id": run_id, "podium.step": key}
        attempt = event.data.get("attempt")
        if isinstance(attempt, int):
            attributes["podium.attempt"] = attempt
        model = event.data.get("model")
        if isinstance(model, str):
            attributes["podium.model"] = model
        kind = start_kind(event.data)
        if kind:
            found.kinds[key] = kind
        found.steps[key] = self._tracer.start_span(
            "step " + _INDEX.sub("", key),
            context=self._parent(found, key),
            attributes=attributes,
            start_time=_ns(event.ts),
        )

    def _end_step(self, found: _Trace, run_id: str, key: str, event: Event, status: str) -> None:
        span = found.steps.pop(key, None)
        if span is None:  # begun in an earlier drive: it spans this drive only
            if not self._room(found):
                found.calls.pop(key, None)
                return
            span = self._tracer.start_span(
                "step " + _INDEX.sub("", key),
                context=self._parent(found, key),
                attributes={"podium.run_id": run_id, "podium.step": key},
                start_time=found.start_ns,
            )
        self._emit_calls(found, key, trace.set_span_in_context(span))
        data = event.data
        attributes: Attributes = {
            "podium.step.kind": found.kinds.pop(key, "") or end_kind(data),
            "podium.step.status": status,
        }
        model = data.get("model")
        if isinstance(model, str):
            attributes["podium.model"] = model
        for name in ("cost", "latency_ms"):
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[f"podium.{name}"] = float(value)
        if data.get("cached"):
            attributes["podium.cached"] = True
        span.set_attributes(attributes)  # one call: the SDK checks every attribute it is given
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, str(data.get("error") or "failed")))
        span.end(end_time=_ns(event.ts))

    def _skipped(self, found: _Trace, run_id: str, key: str, event: Event) -> None:
        span = found.steps.pop(key, None)
        found.kinds.pop(key, None)
        if span is None:
            if not self._room(found):
                return
            span = self._tracer.start_span(
                "step " + _INDEX.sub("", key),
                context=self._parent(found, key),
                attributes={"podium.run_id": run_id, "podium.step": key},
                start_time=_ns(event.ts),
            )
        span.set_attribute("podium.step.status", "skipped")
        reason = event.data.get("reason")
        if reason:
            span.set_attribute("podium.skip_reason", str(reason))
        span.end(end_time=_ns(event.ts))

    def close_run(self, run_id: str, status: str, ts: float, error: str | None = None) -> None:
        """End the run's span and every span of it still open (their end: ``ts``)."""
        with self._lock:
            found = self._runs.pop(run_id, None)
        if found is None:
            return
        end = _ns(ts)
        for key in sorted(found.steps, key=len, reverse=True):  # the innermost first
            span = found.steps.pop(key)
            self._emit_calls(found, key, trace.set_span_in_context(span))
            span.set_attribute("podium.step.kind", found.kinds.pop(key, "") or "other")
            span.set_attribute("podium.step.status", status)
            span.end(end_time=end)
        run_context = trace.set_span_in_context(found.run)
        for key in list(found.calls):
            self._emit_calls(found, key, run_context)
        span = found.run
        span.set_attribute("podium.run.status", status)
        if found.dropped:
            span.set_attribute("podium.spans_dropped", found.dropped)
        if status == "failed":
            span.set_status(Status(StatusCode.ERROR, error or "failed"))
        span.end(end_time=end)

    def stopped(self, active: Collection[str], quiet_since: float) -> list[str]:
        """Runs with open spans that nobody drives any more and that are quiet."""
        return [
            rid
            for rid, found in list(self._runs.items())
            if rid not in active and found.touched <= quiet_since
        ]

    # model calls ---------------------------------------------------------------------------
    def record_call(
        self,
        call: ModelCall,
        start_ns: int,
        end_ns: int,
        output: Mapping[str, Any] | None,
        status: str,
        error: BaseException | None = None,
    ) -> None:
        """A model call's span: kept until its step ends, or made now outside any run."""
        name, attributes = self._call_attributes(call, output, status, error)
        failed = error is not None and status != "cancelled"  # a lost hedge is no error
        text = f"{type(error).__name__}: {error}" if failed else None
        run_id = call.context.run_id
        found = self._runs.get(run_id) if run_id else None
        if found is None:
            run = call.run
            self._emit(
                (name, start_ns, end_ns, attributes, text),
                caller_context(run.caller if run is not None else None),
            )
            return
        if self._room(found):
            found.calls.setdefault(call.context.step or "", []).append(
                (name, start_ns, end_ns, attributes, text)
            )

    def _emit_calls(self, found: _Trace, key: str, parent: Context) -> None:
        for record in found.calls.pop(key, ()):
            self._emit(record, parent)

    def _emit(
        self, record: tuple[str, int, int, Attributes, str | None], parent: Context | None
    ) -> None:
        name, start, end, attributes, error = record
        span = self._tracer.start_span(
            name, context=parent, kind=SpanKind.CLIENT, attributes=attributes, start_time=start
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=end)

    def _call_attributes(
        self,
        call: ModelCall,
        output: Mapping[str, Any] | None,
        status: str,
        error: BaseException | None,
    ) -> tuple[str, Attributes]:
        spec = call.spec
        static = self._static.get(id(spec))
        if static is None or static[0] is not spec:
            static = self._static[id(spec)] = (spec, *_model_attributes(spec))
        _, fixed, name = static
        context = call.context
        attributes = dict(fixed)
        attributes["podium.call.status"] = status
        if context.run_id:
            attributes["podium.run_id"] = context.run_id
        if context.step:
            attributes["podium.step"] = context.step
        attributes["podium.attempt"] = context.attempt
        if context.instance is not None:
            attributes["podium.instance"] = context.instance
        if call.capability:
            attributes["podium.capability"] = call.capability
        if call.cached:
            attributes["podium.cached"] = True
        if call.meter.adapter_ms is not None:
            attributes["podium.latency_ms"] = round(call.meter.adapter_ms, 3)
        if error is not None:
            attributes["error.type"] = type(error).__name__
        if isinstance(output, Mapping):
            _usage(attributes, output)
        return name, attributes


def _model_attributes(spec: ModelSpec) -> tuple[Attributes, str]:
    """The attributes every call of ``spec`` shares, and its spans' name."""
    runtime = spec.runtime
    kind = runtime.kind
    operation = "predict"
    requested = spec.name
    system = "podium"
    if kind == "openai":
        system = "openai"
        operation = "embeddings" if getattr(runtime, "mode", "chat") == "embeddings" else "chat"
        requested = str(getattr(runtime, "model", spec.name))
    elif kind == "embedding":
        operation = "embeddings"
    attributes: Attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": system,
        "gen_ai.request.model": requested,
        "gen_ai.response.model": requested,
        "podium.model": spec.key,
    }
    return attributes, f"{operation} {requested}"


def _usage(attributes: Attributes, output: Mapping[str, Any]) -> None:
    model = output.get("model")
    if isinstance(model, str) and model:
        attributes["gen_ai.response.model"] = model
    usage = output.get("usage")
    if isinstance(usage, Mapping):
        for name, keys in (
            ("gen_ai.usage.input_tokens", ("input_tokens", "prompt_tokens")),
            ("gen_ai.usage.output_tokens", ("output_tokens", "completion_tokens")),
        ):
            for key in keys:
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    attributes[name] = value
                    break
    reason = output.get("finish_reason")
    if isinstance(reason, str) and reason:
        attributes["gen_ai.response.finish_reasons"] = [reason]
