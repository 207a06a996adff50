"""What the server's observability costs.

1. HTTP: the request-metrics middleware around a trivial ASGI app, per request, against the
   same app without it (the ASGI calls made directly: no sockets, so only the middleware's
   own cost is left).
2. The hooks alone: the interceptor around one model call (against a bare pass-through
   interceptor) and the observer over one step's two events, called directly.
3. Engine: a ``map`` over 2,000 items of an inline async model, in memory, per model call:
   the plain orchestrator, then with the server's metrics (observer and interceptor), then
   with tracing on too (an SDK provider whose spans go nowhere). On a shared machine this
   end-to-end difference is within the noise of the engine's own time; (2) is the cost.

The best of ``--repeat`` rounds, each variant interleaved. Run:

    python benchmarks/observability.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from podium import Orchestrator
from podium.server.observability._http import HttpMetrics
from podium.server.observability._install import Observability
from podium.server.observability._metrics import Metrics


class _Route:
    path = "/api/v1/runs/{run_id}"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _requests(app: Any, n: int) -> float:
    scope = {"type": "http", "method": "GET", "path": "/api/v1/runs/abc", "root_path": ""}
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return time.perf_counter() - started


def http_overhead_us(repeat: int, n: int = 20_000) -> dict[str, float]:
    wrapped = HttpMetrics(_app, Metrics())
    plain_best = wrapped_best = float("inf")
    for _ in range(repeat):
        plain_best = min(plain_best, asyncio.run(_requests(_app, n)))
        wrapped_best = min(wrapped_best, asyncio.run(_requests(wrapped, n)))
    return {
        "plain_us": plain_best / n * 1e6,
        "with_metrics_us": wrapped_best / n * 1e6,
        "overhead_us": (wrapped_best - plain_best) / n * 1e6,
    }


async def inc(x: int) -> dict[str, Any]:
    return {"x": x + 1}


MAPPED = {
    "name": "bench-map",
    "inputs": {"xs": "array"},
    "steps": {
        "each": {
            "map": "${{ inputs.xs }}",
            "concurrency": 1,
            "step": {"uses": "model/inc", "with": {"x": "${{ item }}"}},
        }
    },
}


def _orchestrator(variant: str) -> Orchestrator:
    orch = Orchestrator(durable=False, discover=False)
    orch.register_callable(inc, capabilities=["bench.inc"])
    if variant != "plain":
        observed = Observability(orch)
        if variant == "traced":
            from opentelemetry.sdk.trace import TracerProvider

            observed.trace_with(TracerProvider())
    return orch


def hooks_us(repeat: int, n: int = 50_000) -> dict[str, float]:
    from podium._context import RunContext
    from podium.adapters import CallContext
    from podium.engine import ModelCall
    from podium.engine._control import ACTIVE_RUNS
    from podium.server.observability._events import RunEvents
    from podium.server.observability._interceptor import CallMetrics
    from podium.store import Event

    with Orchestrator(durable=False, discover=False) as orch:
        spec = orch.register_callable(inc, capabilities=["bench.inc"])
        context = CallContext("r1", "each[0]", 1, None, None, RunContext("r1", "bench"))
        call = ModelCall(spec, {"x": 1}, context, "bench.inc")
        answer = {"x": 2}

        async def proceed(model_call: ModelCall) -> dict[str, Any]:
            model_call.meter.adapter_ms = 0.01
            return answer

        async def bare(model_call: ModelCall, go: Any) -> Any:
            return await go(model_call)

        async def calls(interceptor: Any) -> float:
            started = time.perf_counter()
            for _ in range(n):
                await interceptor(call, proceed)
            return time.perf_counter() - started

        metered = CallMetrics(Metrics())
        bare_best = metered_best = float("inf")
        for _ in range(repeat):
            bare_best = min(bare_best, asyncio.run(calls(bare)))
            metered_best = min(metered_best, asyncio.run(calls(metered)))
        events = RunEvents(Metrics(), orch.store, ACTIVE_RUNS)
        now = time.time()
        start = {"attempt": 1, "model": "inc@0.1.0", "decision": {"same_as": "each[0]"}}
        done = {"output": {"x": 1}, "model": "inc@0.1.0", "cost": 0.0, "latency_ms": 0.01}
        observer_best = float("inf")
        for _ in range(repeat):
            pairs = [
                (
                    Event("step_started", f"m[{i}]", start, now),
                    Event("step_succeeded", f"m[{i}]", done, now),
                )
                for i in range(n)
            ]
            events("r1", Event("run_started", None, {}, now))
            started = time.perf_counter()
            for first, second in pairs:
                events("r1", first)
                events("r1", second)
            observer_best = min(observer_best, time.perf_counter() - started)
            events("r1", Event("run_succeeded", None, {}, now))
    return {
        "interceptor_us": (metered_best - bare_best) / n * 1e6,
        "observer_per_step_us": observer_best / n * 1e6,
    }


def engine_overhead_us(repeat: int, n: int = 2_000) -> dict[str, float]:
    variants = ("plain", "metrics", "traced")
    orchs = {v: _orchestrator(v) for v in variants}
    inputs = {"xs": list(range(n))}
    best = dict.fromkeys(variants, float("inf"))
    try:
        for orch in orchs.values():
            assert orch.run(MAPPED, inputs).ok  # warm up
        for _ in range(repeat):
            for variant, orch in orchs.items():
                started = time.perf_counter()
                assert orch.run(MAPPED, inputs).ok
                best[variant] = min(best[variant], time.perf_counter() - started)
    finally:
        for orch in orchs.values():
            orch.close()
    per_call = {v: best[v] / n * 1e6 for v in variants}
    return {
        "plain_us": per_call["plain"],
        "metrics_us": per_call["metrics"],
        "traced_us": per_call["traced"],
        "metrics_overhead_us": per_call["metrics"] - per_call["plain"],
        "traced_overhead_us": per_call["traced"] - per_call["plain"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = {
        "http": http_overhead_us(args.repeat),
        "hooks": hooks_us(args.repeat),
        "engine": engine_overhead_us(args.repeat),
    }
    if args.json:
        print(json.dumps(found, indent=2))
        return
    http, hooks, engine = found["http"], found["hooks"], found["engine"]
    print(
        f"HTTP request: {http['plain_us']:.2f} us bare, {http['with_metrics_us']:.2f} us with "
        f"metrics: {http['overhead_us']:.2f} us per request"
    )
    print(
        f"hooks: the interceptor {hooks['interceptor_us']:.2f} us per model call, the observer "
        f"{hooks['observer_per_step_us']:.2f} us per step (two events)"
    )
    print(
        f"model call in a map step: {engine['plain_us']:.2f} us plain, "
        f"{engine['metrics_us']:.2f} us with metrics (+{engine['metrics_overhead_us']:.2f}), "
        f"{engine['traced_us']:.2f} us with tracing (+{engine['traced_overhead_us']:.2f})"
    )


if __name__ == "__main__":
    main()
