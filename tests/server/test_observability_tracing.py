"""Spans per run, step and model call on a real server, read back from the SDK's in-memory
exporter (and, once, from a real OTLP/HTTP receiver): parent/child structure, GenAI
attribute names, and the run continuing the caller's W3C trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from server_support import Served, add_test_models, start_server

from podium import Orchestrator
from podium._context import Caller
from podium.server import ServerConfig, create_app
from podium.server._deps import Operator, caller_of
from podium.server.observability import enable_tracing, observability_of
from podium.server.observability._tracing import caller_context, parent_key

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"

NESTED = {
    "name": "obs-trace",
    "inputs": {"text": "string", "lines": "array"},
    "steps": {
        "first": {"uses": "capability/text.upper", "with": {"text": "${{ inputs.text }}"}},
        "each": {
            "map": "${{ inputs.lines }}",
            "step": {"uses": "capability/text.upper", "with": {"text": "${{ item }}"}},
        },
        "again": {
            "loop": {
                "max_iterations": 2,
                "steps": {
                    "inner": {"uses": "model/chatty", "with": {"text": "${{ inputs.text }}"}}
                },
            }
        },
    },
}

FLAT = {
    "name": "obs-flat",
    "inputs": {"text": "string"},
    "steps": {"first": {"uses": "capability/text.upper", "with": {"text": "${{ inputs.text }}"}}},
}


@dataclass
class Traced(Served):
    exporter: InMemorySpanExporter | None = None

    def spans(self) -> list[ReadableSpan]:
        assert self.exporter is not None
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    """A server whose runs are traced into memory, with a route starting a run as the
    request's caller (its key, tenant and ``traceparent``)."""
    orch = Orchestrator(home=tmp_path / "home", discover=False)
    add_test_models(orch)

    @orch.model(capabilities=["text.chat"])
    def chatty(text: str) -> dict[str, Any]:
        return {
            "text": text,
            "model": "tiny-chat-1",
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }

    @orch.model(capabilities=["text.broken"])
    def broken(text: str) -> dict[str, Any]:
        raise RuntimeError("the model is down")

    app = create_app(orch, ServerConfig(resume_every_s=0))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(app, provider)

    async def start_run(request: Request, principal: Any = Operator) -> dict[str, str]:
        result = await orch.arun(
            NESTED, {"text": "hi", "lines": ["a"]}, caller=caller_of(principal, request)
        )
        return {"run_id": result.run_id, "status": str(result.status)}

    app.add_api_route("/probe/run", start_run, methods=["POST"])
    url, serving = start_server(app)
    found = Traced(url, orch, exporter=exporter)
    found.keys["operator"] = found.key("operator")
    try:
        yield found
    finally:
        serving.stop()
        orch.close()
        provider.shutdown()


def by_step(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {
        str(s.attributes["podium.step"]): s
        for s in spans
        if s.name.startswith("step ") and s.attributes
    }


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_run_step_and_call_spans_nest_and_continue_the_callers_trace(traced: Traced) -> None:
    caller = Caller.of("tester", None, None, TRACE_ID, SPAN_ID)
    result = traced.orchestrator.run(NESTED, {"text": "hi", "lines": ["a", "b"]}, caller=caller)
    assert result.ok
    spans = traced.spans()
    assert {s.context.trace_id for s in spans} == {int(TRACE_ID, 16)}

    (run,) = [s for s in spans if s.name == "invoke_workflow obs-trace"]
    assert run.parent is not None and run.parent.is_remote
    assert parent_of(run) == int(SPAN_ID, 16)
    assert run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert run.attributes["podium.run_id"] == result.run_id
    assert run.attributes["podium.run.status"] == "succeeded"

    steps = by_step(spans)
    assert set(steps) == {"first", "each", "each[0]", "each[1]", "again", "again#1/inner"} | {
        "again#2/inner"
    }
    run_id = run.context.span_id
    assert parent_of(steps["first"]) == run_id
    assert parent_of(steps["each"]) == run_id
    assert parent_of(steps["each[0]"]) == steps["each"].context.span_id
    assert parent_of(steps["again#2/inner"]) == steps["again"].context.span_id
    kinds = {k: (s.attributes or {}).get("podium.step.kind") for k, s in steps.items()}
    assert kinds["first"] == "call" and kinds["each"] == "map" and kinds["again"] == "loop"
    for span in steps.values():
        assert span.start_time is not None and span.end_time is not None
        assert run.start_time is not None and run.end_time is not None
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time

    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(calls) == 5  # first, two items, two loop iterations
    for call in calls:
        parent = next(s for s in steps.values() if s.context.span_id == parent_of(call))
        attributes = call.attributes or {}
        assert attributes["podium.step"] == (parent.attributes or {})["podium.step"]
        assert attributes["podium.run_id"] == result.run_id
        assert attributes["gen_ai.operation.name"] == "predict"
        assert attributes["gen_ai.system"] == "podium"
    upper = next(c for c in calls if (c.attributes or {})["podium.step"] == "first")
    assert upper.name == "predict shout"
    assert (upper.attributes or {})["gen_ai.request.model"] == "shout"
    chat = next(c for c in calls if (c.attributes or {})["podium.step"] == "again#1/inner")
    attributes = chat.attributes or {}
    assert attributes["gen_ai.request.model"] == "chatty"
    assert attributes["gen_ai.response.model"] == "tiny-chat-1"
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert "gen_ai.usage.input_tokens" not in (upper.attributes or {})


def test_a_run_without_a_caller_trace_starts_its_own(traced: Traced) -> None:
    result = traced.orchestrator.run(NESTED, {"text": "hi", "lines": []})
    spans = traced.spans()
    (run,) = [s for s in spans if s.name.startswith("invoke_workflow")]
    assert run.parent is None
    assert (run.attributes or {})["podium.run_id"] == result.run_id
    assert {s.context.trace_id for s in spans} == {run.context.trace_id}


def test_a_failed_step_and_its_calls_are_errors(traced: Traced) -> None:
    failing = {
        "name": "obs-fail",
        "inputs": {"text": "string"},
        "steps": {
            "bad": {
                "uses": "model/broken",
                "with": {"text": "${{ inputs.text }}"},
                "retry": {"attempts": 2, "backoff_s": 0},
            }
        },
    }
    assert not traced.orchestrator.run(failing, {"text": "x"}).ok
    spans = traced.spans()
    run = next(s for s in spans if s.name == "invoke_workflow obs-fail")
    step = by_step(spans)["bad"]
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["podium.run.status"] == "failed"
    assert step.status.status_code is StatusCode.ERROR
    assert [e.name for e in step.events] == ["attempt_failed", "attempt_failed"]
    assert len(calls) == 2
    for call in calls:
        assert call.status.status_code is StatusCode.ERROR
        assert parent_of(call) == step.context.span_id
        assert (call.attributes or {})["error.type"]


def test_a_traceparent_header_is_continued_by_the_run_it_starts(traced: Traced) -> None:
    header = f"00-{TRACE_ID}-{SPAN_ID}-01"
    with traced.client("operator") as client:
        answer = client.post("/probe/run", headers={"traceparent": header})
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["run_id"]
    spans = traced.spans()
    (run,) = [
        s
        for s in spans
        if (s.attributes or {}).get("podium.run_id") == run_id
        and s.name.startswith("invoke_workflow")
    ]
    assert run.context.trace_id == int(TRACE_ID, 16)
    assert parent_of(run) == int(SPAN_ID, 16)
    assert all(s.context.trace_id == int(TRACE_ID, 16) for s in spans)


def test_without_an_otlp_endpoint_nothing_is_traced(served: Served) -> None:
    assert served.orchestrator.run(FLAT, {"text": "x"}).ok
    interceptors = served.orchestrator.caller._interceptors
    assert all(getattr(i, "tracer", None) is None for i in interceptors)


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.got.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_spans_are_exported_over_otlp_http_when_the_endpoint_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: list[tuple[str, str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"got": got})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "podium-test")
    try:
        with Orchestrator(home=tmp_path / "home", discover=False) as orch:
            add_test_models(orch)
            app = create_app(orch, ServerConfig(resume_every_s=0))
            assert observability_of(app).tracer is not None
            url, serving = start_server(app)
            try:
                with httpx.Client(base_url=url) as client:
                    assert client.get("/healthz").status_code == 200
                caller = Caller.of("tester", None, None, TRACE_ID, SPAN_ID)
                assert orch.run(FLAT, {"text": "hi"}, caller=caller).ok
            finally:
                serving.stop()  # the server's shutdown flushes the exporter
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=5)
    assert got, "no OTLP request arrived"
    path, content_type, _ = got[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    names: set[str] = set()
    services: set[str] = set()
    for _, _, body in got:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    names.add(span.name)
                    assert span.trace_id.hex() == TRACE_ID
    assert services == {"podium-test"}
    assert {"invoke_workflow obs-flat", "step first", "predict shout"} <= names


def test_a_run_cancelled_from_outside_has_its_spans_closed(traced: Traced) -> None:
    orch = traced.orchestrator
    slow = {
        "name": "obs-slow",
        "inputs": {"text": "string"},
        "steps": {"wait": {"uses": "capability/text.slow", "with": {"text": "x", "delay": 1.0}}},
    }
    worker = threading.Thread(target=lambda: orch.run(slow, {"text": "x"}, run_id="obs-trace-c"))
    worker.start()
    time.sleep(0.3)
    orch.cancel("obs-trace-c")
    worker.join(timeout=10)
    with traced.client("operator") as client:
        deadline = time.monotonic() + 10
        while not any(s.name == "invoke_workflow obs-slow" for s in traced.spans()):
            assert time.monotonic() < deadline, "the run's span was never closed"
            assert client.get("/metrics").status_code == 200  # a scrape sweeps stopped drives
            time.sleep(0.1)
    spans = traced.spans()
    run = next(s for s in spans if s.name == "invoke_workflow obs-slow")
    assert (run.attributes or {})["podium.run.status"] == "cancelled"
    assert run.end_time is not None
    # the step's start was not yet written when the run was cancelled: no step span, and
    # the interrupted call hangs from the run
    (call,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert (call.attributes or {})["podium.call.status"] == "cancelled"
    assert parent_of(call) == run.context.span_id


@pytest.mark.parametrize(
    ("key", "parent"),
    [
        ("a", None),
        ("m[3]", "m"),
        ("l#2/x", "l"),
        ("w/x", "w"),
        ("l#1/m[2]", "l#1/m"),
        ("l#1/m", "l"),
        ("w/l#10/x", "w/l"),
    ],
)
def test_nested_step_keys_name_their_parent(key: str, parent: str | None) -> None:
    assert parent_key(key) == parent


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (None, None),
        ("0" * 32, SPAN_ID),
        (TRACE_ID, "0" * 16),
        ("not-hex" * 5, SPAN_ID),
        (TRACE_ID[:-1], SPAN_ID),
    ],
)
def test_an_invalid_caller_trace_starts_a_new_one(
    trace_id: str | None, span_id: str | None
) -> None:
    assert caller_context(Caller.of("x", None, None, trace_id, span_id)) is None
    assert caller_context(Caller.of("x", None, None, TRACE_ID, SPAN_ID)) is not None
