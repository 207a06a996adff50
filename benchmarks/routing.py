"""Routing benchmarks: decision latency, cost and quality on real data, tail latency with
hedging, and failure handling. Run:

    python benchmarks/routing.py [--part a|b|c|d] [--quick] [--json]

(a) Decision latency with 10, 1,000 and 10,000 registered models, all offering the routed
    capability (the worst case: the index cannot narrow them down). A warm decision is
    ``route`` + ``acquire`` while ``observe`` reports a call of a random candidate between
    decisions (so rankings keep changing); a cold one is the first decision of a new
    ``(reference, policy)``, which filters and ranks every candidate once.
(b) Cost and quality on the shipped risk and diagnostics models (trained on first use):
    the held-out set is split in two halves; the cascade's thresholds are tuned and the
    learned policy is warmed up (with correctness as feedback) on the first half; every
    policy is then scored on the second half.
(c) Tail latency: an HTTP model with three instances on 127.0.0.1, one of which answers
    slowly 10% of the time; p50/p99 of whole workflow runs without and with hedging.
(d) 30% injected failures on HTTP instances: the share of calls that still succeed
    through retries on other instances, circuit breakers and a fallback model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

import podium
from podium.adapters import CallContext
from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing import (
    AdaptiveRouter,
    BreakerConfig,
    CallOutcome,
    RoutePolicy,
    RoutingConfig,
    tune_thresholds,
)
from podium.store import MemoryStore


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------------------ (a) latency
def synthetic(n: int, rng: random.Random) -> list[ModelSpec]:
    return [
        ModelSpec(
            name=f"m{i:05d}",
            version="1.0.0",
            capabilities=["bench.x"],
            input={"text": "string"},
            output={"label": "string"},
            cost={"per_call": round(rng.uniform(0.0001, 0.01), 6)},
            latency_ms=round(rng.uniform(1, 200), 2),
            quality={"bench.x": round(rng.uniform(0.5, 0.99), 4)},
            tags=["gpu"] if i % 3 == 0 else [],
        )
        for i in range(n)
    ]


def decision_latency(sizes: list[int], decisions: int) -> list[dict[str, Any]]:
    rows = []
    ref = ModelRef.parse("capability/bench.x")
    for n in sizes:
        rng = random.Random(n)
        registry = Registry(MemoryStore())
        specs = synthetic(n, rng)
        for spec in specs:
            registry._index(spec)  # index directly: registering 10,000 manifests is not timed here
        for name in ("best", "fastest", "balanced", "cascade", "learned"):
            router = AdaptiveRouter(registry, RoutingConfig(seed=1))
            policy = RoutePolicy(name, max_cost=0.009, forbid_tags=("gpu",))
            for spec in specs:  # every model has been called once: its stats entry exists
                router.observe(spec, CallOutcome("bench.x", rng.uniform(1, 200), True, 0.001))
            started = time.perf_counter()
            router.route(ref, policy, {"text": "x"})
            cold_ms = (time.perf_counter() - started) * 1000
            warm: list[float] = []
            observe: list[float] = []
            for _ in range(decisions):
                spec = specs[rng.randrange(n)]
                lat = rng.uniform(1, 200)
                t0 = time.perf_counter()
                router.observe(spec, CallOutcome("bench.x", lat, True, 0.001))
                t1 = time.perf_counter()
                decision = router.route(ref, policy, {"text": "x"})
                lease = router.acquire(decision.chosen)
                t2 = time.perf_counter()
                done = CallOutcome("bench.x", 0.0, True, 0.0, lease.instance, cancelled=True)
                router.observe(decision.chosen, done)  # release the instance
                observe.append((t1 - t0) * 1e6)
                warm.append((t2 - t1) * 1e6)
            rows.append(
                {
                    "models": n,
                    "policy": name,
                    "p50_us": statistics.median(warm),
                    "p99_us": pct(warm, 0.99),
                    "observe_p50_us": statistics.median(observe),
                    "cold_ms": cold_ms,
                }
            )
    return rows


# --------------------------------------------------------------------- (b) cost and quality
SCENARIOS = {"risk": "risk.score", "diagnostics": "diagnosis.malignancy"}
CASCADE_TARGET = 0.985  # tuned on the first half with a little margin for the second
LEARNED = {
    "policy": "learned",
    "context": "cluster",
    "clusters": 12,
    "cost_weight": 0.9,
    "explore_top": 3,
    "max_explore": 0.05,
}


def flow_for(fields: list[str], uses: str, route: dict[str, Any] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"uses": uses, "with": {f: f"${{{{ inputs.{f} }}}}" for f in fields}}
    if route:
        step["route"] = route
    return {
        "name": "bench",
        "inputs": dict.fromkeys(fields, "number"),
        "steps": {"s": step},
        "outputs": {"label": "${{ steps.s.output.label }}"},
    }


async def score(
    orch: podium.Orchestrator,
    flow: Any,
    cases: list[dict[str, Any]],
    *,
    feedback: bool = False,
) -> tuple[float, float, dict[str, int]]:
    """Accuracy, total cost and answers per model of ``flow`` over ``cases``."""
    right, cost = 0, 0.0
    models: dict[str, int] = {}
    for case in cases:
        result = await orch.arun(flow, case["inputs"])
        assert result.ok, result.error
        correct = (
            result.outputs is not None and result.outputs["label"] == case["expected"]["label"]
        )
        right += correct
        cost += result.cost
        model = result.steps[0]["model"]
        models[model] = models.get(model, 0) + 1
        if feedback:
            orch.feedback(result.run_id, "s", 1.0 if correct else 0.0)
    return right / len(cases), cost, models


async def cost_quality(home: Path, scenario: str, limit: int | None) -> list[dict[str, Any]]:
    from podium.demo.catalog import demo_models, held_out

    capability = SCENARIOS[scenario]
    specs = [s for s in demo_models(home) if capability in s.capabilities]
    orch = bench_orchestrator()
    for spec in specs:
        orch.register(spec)
    cases = held_out(home, scenario)
    random.Random(0).shuffle(cases)
    half = len(cases) // 2
    tune, test = cases[:half], cases[half:]
    if limit:
        tune, test = tune[:limit], test[:limit]
    fields = sorted(cases[0]["inputs"])
    router = orch.router
    assert isinstance(router, AdaptiveRouter)

    # tune the cascade's thresholds on the first half
    ref = ModelRef.parse(f"capability/{capability}")
    stages = router.route(ref, RoutePolicy("cascade"), {}).stages
    results = []
    for case in tune:
        row = []
        for spec in stages:
            out = await orch.adapters.invoke(spec, case["inputs"], CallContext())
            row.append((float(out["confidence"]), out["label"] == case["expected"]["label"]))
        results.append(row)
    thresholds = tune_thresholds(results, [s.cost.per_call for s in stages], CASCADE_TARGET)
    tuned = {s.key: t for s, t in zip(stages, thresholds, strict=False)}
    router.set_cascade_thresholds(capability, tuned)

    # warm the learned policy up on the first half, with correctness as feedback
    learned = orch.load(flow_for(fields, f"capability/{capability}", LEARNED))
    await score(orch, learned, tune, feedback=True)

    rows: list[dict[str, Any]] = []
    for spec in sorted(specs, key=lambda s: s.cost.per_call):
        flow = orch.load(flow_for(fields, f"model/{spec.name}"))
        accuracy, cost, _ = await score(orch, flow, test)
        rows.append(
            {
                "scenario": scenario,
                "router": f"only {spec.name}",
                "accuracy": accuracy,
                "cost": cost,
            }
        )
    best = max(rows, key=lambda r: (r["accuracy"], -r["cost"]))
    best["router"] += " (best)"
    cheapest = orch.load(flow_for(fields, f"capability/{capability}", {"policy": "cheapest"}))
    cascade = orch.load(flow_for(fields, f"capability/{capability}", {"policy": "cascade"}))
    for name, flow, feedback in (
        ("cheapest", cheapest, False),
        ("cascade " + " -> ".join(s.name for s in stages), cascade, False),
        ("learned (online)", learned, True),
    ):
        accuracy, cost, used = await score(orch, flow, test, feedback=feedback)
        rows.append(
            {
                "scenario": scenario,
                "router": name,
                "accuracy": accuracy,
                "cost": cost,
                "models": used,
            }
        )
    for row in rows:
        row["accuracy_vs_best"] = row["accuracy"] / best["accuracy"]
        row["cost_vs_best"] = row["cost"] / best["cost"]
        row["cases"] = len(test)
    rows[-2]["thresholds"] = [round(t, 4) for t in thresholds]
    await orch.adapters.env.close_http()
    orch.close()
    return rows


# --------------------------------------------------------------------- HTTP instances
SLOW: dict[str, tuple[float, float]] = {}  # instance -> (probability, seconds)
FAIL: dict[str, float] = {}  # instance -> probability of a 503
_server_rng = random.Random(42)


def http_app() -> FastAPI:
    """Instances ``/x/NAME`` that echo, are slow or fail as ``/config`` says."""
    app = FastAPI()

    @app.post("/config")
    async def config(request: Request) -> Response:
        body = await request.json()
        SLOW.clear()
        SLOW.update({k: (float(v[0]), float(v[1])) for k, v in body.get("slow", {}).items()})
        FAIL.clear()
        FAIL.update({k: float(v) for k, v in body.get("fail", {}).items()})
        return JSONResponse({})

    @app.post("/x/{name}")
    async def instance(name: str, request: Request) -> Response:
        body = await request.json()
        chance, seconds = SLOW.get(name, (0.0, 0.0))
        if chance and _server_rng.random() < chance:
            await asyncio.sleep(seconds)
        if _server_rng.random() < FAIL.get(name, 0.0):
            return PlainTextResponse("injected failure", status_code=503)
        return JSONResponse({"text": body["text"], "by": name})

    return app


def run_server() -> None:
    """The server process: bind a free port, print it, serve until killed."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        http_app(),
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def serve() -> Iterator[str]:
    """The instances in their own process (so they do not share the client's GIL)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        base = f"http://127.0.0.1:{int(process.stdout.readline())}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.post(f"{base}/config", json={}, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def configure(
    base: str, slow: dict[str, Any] | None = None, fail: dict[str, float] | None = None
) -> None:
    httpx.post(f"{base}/config", json={"slow": slow or {}, "fail": fail or {}}, timeout=5)


def http_model(name: str, base: str, instances: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "capabilities": ["bench.echo"],
        "input": {"text": "string"},
        "output": {"text": "string", "by": "string"},
        "runtime": {"kind": "http", "timeout_s": 5},
        "instances": [{"url": f"{base}/x/{i}"} for i in instances],
    }


def echo_flow(step: dict[str, Any]) -> dict[str, Any]:
    return {"name": "echo", "steps": {"s": {"with": {"text": "hi"}, **step}}}


async def drive(
    orch: podium.Orchestrator, flow: Any, calls: int, concurrency: int
) -> tuple[list[float], list[Any]]:
    """Run ``calls`` runs, ``concurrency`` at a time; latencies (ms) and results."""
    latencies: list[float] = []
    results: list[Any] = []
    queue = iter(range(calls))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            result = await orch.arun(flow, {})
            latencies.append((time.perf_counter() - started) * 1000)
            results.append(result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, results


def bench_orchestrator(breaker: BreakerConfig | None = None) -> podium.Orchestrator:
    config = RoutingConfig(seed=0, breaker=breaker or BreakerConfig())
    return podium.Orchestrator(
        home=tempfile.mkdtemp(prefix="podium-bench-"),
        durable=False,
        discover=False,
        router=lambda registry: AdaptiveRouter(registry, config),
    )


# ------------------------------------------------------------------------ (c) tail latency
async def tail_latency(base: str, calls: int) -> list[dict[str, Any]]:
    configure(base, slow={"c2": (0.10, 0.25)})  # one instance is 250 ms slow 10% of the time
    rows = []
    for label, route in (
        ("no hedging", {"policy": "best"}),
        ("hedge_after_ms: 20", {"policy": "best", "hedge_after_ms": 20}),
    ):
        orch = bench_orchestrator()
        orch.register(http_model("echo", base, ["c0", "c1", "c2"]))
        flow = orch.load(echo_flow({"uses": "model/echo", "route": route}))
        await drive(orch, flow, 50, 1)  # warm up connections
        latencies, results = await drive(orch, flow, calls, 1)  # one at a time: no queueing
        hedged = 0
        for result in results:
            events = orch.store.events(result.run_id)
            hedged += any(e.type == "step_succeeded" and e.data.get("hedged") for e in events)
        rows.append(
            {
                "setup": label,
                "calls": calls,
                "p50_ms": statistics.median(latencies),
                "p95_ms": pct(latencies, 0.95),
                "p99_ms": pct(latencies, 0.99),
                "max_ms": max(latencies),
                "hedged_share": hedged / calls,
            }
        )
        await orch.adapters.env.close_http()
        orch.close()
    return rows


# ---------------------------------------------------------------------- (d) failures
async def failures(base: str, calls: int) -> list[dict[str, Any]]:
    rows = []
    scenarios: list[tuple[str, dict[str, float], list[str], dict[str, Any]]] = [
        (
            "every instance fails 30% of requests; retry 3",
            {"r0": 0.3, "r1": 0.3, "r2": 0.3},
            ["r0", "r1", "r2"],
            {"retry": {"attempts": 3}},
        ),
        (
            "same, plus a fallback model (3 more such instances)",
            {"r0": 0.3, "r1": 0.3, "r2": 0.3, "s0": 0.3, "s1": 0.3, "s2": 0.3},
            ["r0", "r1", "r2"],
            {"retry": {"attempts": 3}, "fallback": ["model/spare"]},
        ),
        (
            "2 of 3 instances fail 45% (30% of requests), 1 healthy; retry 3",
            {"h0": 0.45, "h1": 0.45},
            ["h0", "h1", "h2"],
            {"retry": {"attempts": 3}},
        ),
        (
            "3 of 10 instances down (30%); retry 3",
            {f"d{i}": 1.0 for i in range(3)},
            [f"d{i}" for i in range(10)],
            {"retry": {"attempts": 3}},
        ),
    ]
    for label, fail, instances, step in scenarios:
        configure(base, fail=fail)
        orch = bench_orchestrator()
        orch.register(http_model("svc", base, instances))
        orch.register(http_model("spare", base, ["s0", "s1", "s2"]))
        flow = orch.load(echo_flow({"uses": "model/svc", **step}))
        _, results = await drive(orch, flow, calls, 4)
        ok = sum(r.ok for r in results)
        attempts = [r.steps[0]["attempts"] for r in results]
        router = orch.router
        assert isinstance(router, AdaptiveRouter)
        opened = sum(i["circuit"] != "closed" for i in router.instances("svc@1.0.0"))
        rows.append(
            {
                "scenario": label,
                "calls": calls,
                "succeeded": ok / calls,
                "mean_attempts": statistics.mean(attempts),
                "open_circuits_at_end": opened,
                "errors": sorted({str(r.error) for r in results if not r.ok})[:3],
            }
        )
        await orch.adapters.env.close_http()
        orch.close()
    return rows


# ---------------------------------------------------------------------------- report
def table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A plain text table; ``columns`` are (key, heading, format)."""
    cells = [[format(row[k], f) if f else str(row[k]) for k, _, f in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(columns)]
    lines = [title, "  ".join(h.ljust(w) for (_, h, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=["a", "b", "c", "d"], action="append")
    parser.add_argument("--quick", action="store_true", help="fewer decisions, cases and calls")
    parser.add_argument("--home", type=Path, help="where the demo models are trained (reused)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server()
        return
    parts = args.part or ["a", "b", "c", "d"]
    report: dict[str, Any] = {}
    if "a" in parts:
        report["a"] = decision_latency([10, 1_000, 10_000], 2_000 if args.quick else 20_000)
    if "b" in parts:
        home = args.home or Path(tempfile.mkdtemp(prefix="podium-bench-home-"))
        limit = 300 if args.quick else None
        report["b"] = [
            row
            for scenario in SCENARIOS
            for row in asyncio.run(cost_quality(home, scenario, limit))
        ]
    if "c" in parts or "d" in parts:
        with serve() as base:
            if "c" in parts:
                report["c"] = asyncio.run(tail_latency(base, 300 if args.quick else 2_000))
            if "d" in parts:
                report["d"] = asyncio.run(failures(base, 200 if args.quick else 1_000))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return
    if "a" in report:
        print(
            table(
                "(a) decision latency (route + acquire, warm; observe between decisions)",
                report["a"],
                [
                    ("models", "models", ","),
                    ("policy", "policy", ""),
                    ("p50_us", "p50 µs", ".2f"),
                    ("p99_us", "p99 µs", ".2f"),
                    ("observe_p50_us", "observe p50 µs", ".2f"),
                    ("cold_ms", "cold decision ms", ".2f"),
                ],
            ),
            end="\n\n",
        )
    if "b" in report:
        print(
            table(
                "(b) cost and quality on the second half of the held-out set",
                report["b"],
                [
                    ("scenario", "scenario", ""),
                    ("router", "router", ""),
                    ("cases", "cases", ""),
                    ("accuracy", "accuracy", ".4f"),
                    ("accuracy_vs_best", "vs best", ".1%"),
                    ("cost", "total cost", ".4f"),
                    ("cost_vs_best", "cost vs best", ".1%"),
                ],
            ),
            end="\n\n",
        )
    if "c" in report:
        print(
            table(
                "(c) tail latency: 3 HTTP instances, one 250 ms slow 10% of the time",
                report["c"],
                [
                    ("setup", "setup", ""),
                    ("calls", "runs", ""),
                    ("p50_ms", "p50 ms", ".1f"),
                    ("p95_ms", "p95 ms", ".1f"),
                    ("p99_ms", "p99 ms", ".1f"),
                    ("max_ms", "max ms", ".1f"),
                    ("hedged_share", "hedged", ".1%"),
                ],
            ),
            end="\n\n",
        )
    if "d" in report:
        print(
            table(
                "(d) injected instance failures",
                report["d"],
                [
                    ("scenario", "scenario", ""),
                    ("calls", "runs", ""),
                    ("succeeded", "succeeded", ".2%"),
                    ("mean_attempts", "mean attempts", ".2f"),
                    ("open_circuits_at_end", "open circuits", ""),
                ],
            )
        )


if __name__ == "__main__":
    main()
