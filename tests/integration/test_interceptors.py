"""The model-call seam as a contract: what every interceptor can rely on.

Order, the run context, refusals, cache hits, retries, fallbacks, hedging, latency timed
around the adapter alone, and failures that never leave a run orphaned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator, RunStatus
from podium._context import Caller
from podium.engine import ModelCall, Proceed
from podium.errors import InvalidStateError, ModelCallError, RefusedError


class Recorder:
    """Appends what it saw; optionally refuses, raises or sleeps."""

    def __init__(self, name: str, log: list[Any]) -> None:
        self.name = name
        self.log = log
        self.refuse_model: str | None = None
        self.raise_error: Exception | None = None
        self.sleep_s = 0.0

    async def __call__(self, call: ModelCall, proceed: Proceed) -> dict[str, Any]:
        self.log.append((self.name, "in", call))
        if self.refuse_model and call.spec.name == self.refuse_model:
            raise RefusedError("no-premium", f"{call.spec.key} is not allowed for this tenant")
        if self.raise_error is not None:
            raise self.raise_error
        if self.sleep_s:
            await asyncio.sleep(self.sleep_s)
        output = await proceed(call)
        self.log.append((self.name, "out", call))
        return output


@pytest.fixture
def log() -> list[Any]:
    return []


@pytest.fixture
def chain(log: list[Any]) -> tuple[Recorder, Recorder]:
    return Recorder("outer", log), Recorder("inner", log)


@pytest.fixture
def orch(tmp_path: Path, chain: tuple[Recorder, Recorder]) -> Iterator[Orchestrator]:
    calls: list[str] = []
    with Orchestrator(home=tmp_path / "home", discover=False, interceptors=chain) as o:

        @o.model(capabilities=["t.echo"], cost=0.01, quality={"t.echo": 0.9})
        def premium(text: str) -> dict[str, Any]:
            calls.append("premium")
            return {"text": text, "by": "premium"}

        @o.model(capabilities=["t.echo"], cost=0.001, quality={"t.echo": 0.5})
        def basic(text: str) -> dict[str, Any]:
            calls.append("basic")
            return {"text": text, "by": "basic"}

        flaky_left = [1]

        @o.model(capabilities=["t.flaky"])
        def flaky(text: str) -> dict[str, Any]:
            if flaky_left[0]:
                flaky_left[0] -= 1
                raise RuntimeError("first call fails")
            return {"text": text}

        o.calls = calls  # type: ignore[attr-defined]
        yield o


def ins(log: list[Any]) -> list[ModelCall]:
    return [call for name, kind, call in log if kind == "in" and name == "outer"]


def step(uses: str, **extra: Any) -> dict[str, Any]:
    return {"steps": {"a": {"uses": uses, "with": {"text": "hi"}, **extra}}}


def test_interceptors_wrap_in_order_and_see_the_run_context(
    orch: Orchestrator, log: list[Any]
) -> None:
    caller = Caller.of("key:abc", "acme", {"X-Request-Id": "r-9"}, trace_id="t" * 32)
    result = orch.run(step("capability/t.echo", route="best"), caller=caller)
    assert result.ok
    assert [(name, kind) for name, kind, _ in log] == [
        ("outer", "in"),
        ("inner", "in"),
        ("inner", "out"),
        ("outer", "out"),
    ]
    call = log[0][2]
    assert call.run is not None and call.run.run_id == result.run_id
    assert call.run.principal == "key:abc" and call.run.tenant == "acme"
    assert call.run.caller.header("x-request-id") == "r-9"
    assert call.run.caller.trace_id == "t" * 32
    assert call.decision is not None and call.decision.chosen.name == "premium"
    assert call.capability == "t.echo" and not call.cached
    record = orch.store.run(result.run_id)
    assert record is not None and (record.principal, record.tenant) == ("key:abc", "acme")


def test_a_refusal_is_not_retried_not_a_model_error_and_names_the_rule(
    orch: Orchestrator, chain: tuple[Recorder, Recorder], log: list[Any]
) -> None:
    chain[0].refuse_model = "premium"
    result = orch.run(step("model/premium", retry={"attempts": 3}))
    assert result.status is RunStatus.FAILED
    assert "refused by rule 'no-premium'" in (result.error or "")
    assert len(ins(log)) == 1  # never retried
    assert orch.calls == []  # type: ignore[attr-defined]
    stats = orch.router.model_stats("premium@0.1.0") or {}
    assert stats.get("errors", 0) == 0  # not counted against the model's health

    log.clear()
    moved = orch.run(step("model/premium", fallback=["model/basic"]))
    assert moved.ok
    assert [c.spec.name for c in ins(log)] == ["premium", "basic"]
    assert orch.get_run(moved.run_id).steps[0]["model"] == "basic@0.1.0"


def test_cache_hits_pass_through_the_chain_flagged(orch: Orchestrator, log: list[Any]) -> None:
    first = orch.run(step("model/basic", cache=True))
    second = orch.run(step("model/basic", cache=True))
    assert first.ok and second.ok
    seen = ins(log)
    assert [c.cached for c in seen] == [False, True]
    assert seen[1].cached_output == {"text": "hi", "by": "basic"}
    assert orch.calls == ["basic"]  # type: ignore[attr-defined]
    assert second.steps[0]["cached"] is True


def test_each_retry_and_fallback_goes_through_the_chain(orch: Orchestrator, log: list[Any]) -> None:
    result = orch.run(step("model/flaky", retry={"attempts": 2}))
    assert result.ok
    assert [c.context.attempt for c in ins(log)] == [1, 2]


def test_latency_is_timed_around_the_adapter_alone(
    orch: Orchestrator, chain: tuple[Recorder, Recorder]
) -> None:
    chain[1].sleep_s = 0.2
    started = time.perf_counter()
    assert orch.run(step("model/basic")).ok
    assert time.perf_counter() - started >= 0.2
    stats = orch.router.model_stats("basic@0.1.0") or {}
    assert stats["latency_p50_ms"] < 50, stats


@pytest.mark.parametrize(
    "error",
    [InvalidStateError("a plug-in's own mistake"), ValueError("a bug in a plug-in")],
    ids=["podium-error", "bug"],
)
def test_an_interceptor_failing_never_orphans_the_run(
    orch: Orchestrator, chain: tuple[Recorder, Recorder], error: Exception
) -> None:
    chain[0].raise_error = error
    if isinstance(error, InvalidStateError):
        result = orch.run(step("model/basic"), run_id="r-x")
        assert result.status is RunStatus.FAILED and "plug-in" in (result.error or "")
    else:
        with pytest.raises(ValueError, match="bug in a plug-in"):
            orch.run(step("model/basic"), run_id="r-x")
    record = orch.store.run("r-x")
    assert record is not None and record.status == "failed" and record.heartbeat is None
    assert [e.type for e in orch.store.events("r-x")][-1] == "run_failed"


def test_a_model_error_raised_by_an_interceptor_counts_against_the_model(
    orch: Orchestrator, chain: tuple[Recorder, Recorder]
) -> None:
    chain[0].raise_error = ModelCallError("upstream said no", model="basic@0.1.0")
    assert orch.run(step("model/basic")).status is RunStatus.FAILED
    assert (orch.router.model_stats("basic@0.1.0") or {}).get("errors") == 1


def test_an_observer_that_raises_cannot_break_a_run(tmp_path: Path) -> None:
    seen: list[str] = []

    def broken(run_id: str, event: Any) -> None:
        raise RuntimeError("observer bug")

    def fine(run_id: str, event: Any) -> None:
        seen.append(event.type)

    with Orchestrator(home=tmp_path / "h", discover=False, observers=[broken, fine]) as orch:

        @orch.model(capabilities=["t.x"])
        def echo(text: str) -> dict[str, Any]:
            return {"text": text}

        assert orch.run(step("model/echo")).ok
    assert "step_succeeded" in seen and seen[-1] == "run_succeeded"


def test_hedged_requests_each_pass_through_the_chain(
    tmp_path: Path, log: list[Any], asgi_server: Callable[[Any], AbstractContextManager[str]]
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    served = [0]

    async def answer(request: Request) -> JSONResponse:
        served[0] += 1
        if served[0] == 1:  # the first request is slow, wherever it lands
            await asyncio.sleep(0.5)
        return JSONResponse({"text": request.path_params["name"]})

    app = Starlette(routes=[Route("/{name}", answer, methods=["POST"])])
    with asgi_server(app) as base:
        recorder = Recorder("outer", log)
        with Orchestrator(home=tmp_path / "h", discover=False, interceptors=[recorder]) as orch:
            orch.register(
                {
                    "name": "svc",
                    "version": "1.0.0",
                    "capabilities": ["t.svc"],
                    "input": {"text": "string"},
                    "output": {"text": "string"},
                    "runtime": {"kind": "http"},
                    "instances": [{"url": f"{base}/a"}, {"url": f"{base}/b"}],
                }
            )
            flow = step("capability/t.svc", route={"policy": "best", "hedge_after_ms": 50})
            result = orch.run(flow)
            done = [e for e in orch.store.events(result.run_id) if e.type == "step_succeeded"]
    assert result.ok and done[0].data.get("hedged") is True  # the hedge answered, not the slow one
    assert sorted(c.context.instance for c in ins(log)) == [0, 1]
