"""Routing against real HTTP instances on 127.0.0.1: hedging, retries that move to another
instance, fallback chains, circuit breakers that open and recover."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from podium import Orchestrator
from podium.registry import Registry
from podium.routing import AdaptiveRouter, BreakerConfig, RoutingConfig

DELAY: dict[str, float] = {}
DOWN: set[str] = set()
HITS: Counter[str] = Counter()
app = FastAPI()


@app.post("/i/{name}")
async def instance(name: str, request: Request) -> Response:
    HITS[name] += 1
    await asyncio.sleep(DELAY.get(name, 0.0))
    if name in DOWN:
        return PlainTextResponse(f"{name} is down", status_code=503)
    body = await request.json()
    return JSONResponse({"text": body["text"], "by": name})


@pytest.fixture
def base_url(
    asgi_server: Callable[[Any], AbstractContextManager[str]],
) -> Iterator[str]:
    DELAY.clear()
    DOWN.clear()
    HITS.clear()
    with asgi_server(app) as url:
        yield url


def fast_breakers(registry: Registry) -> AdaptiveRouter:
    breaker = BreakerConfig(window=4, min_calls=2, failure_rate=0.5, cooldown_s=0.3)
    return AdaptiveRouter(registry, RoutingConfig(breaker=breaker, seed=7))


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False, router=fast_breakers) as o:
        yield o


def http_model(
    orch: Orchestrator, name: str, base: str, instances: list[dict[str, Any]], **extra: Any
) -> None:
    orch.register(
        {
            "name": name,
            "version": "1.0.0",
            "capabilities": ["t.echo"],
            "input": {"text": "string"},
            "output": {"text": "string", "by": "string"},
            "runtime": {"kind": "http", "timeout_s": 5},
            "instances": [{**i, "url": f"{base}/i/{i['url']}"} for i in instances],
            **extra,
        }
    )


def flow(uses: str = "model/svc", **step: Any) -> dict[str, Any]:
    return {
        "steps": {"s": {"uses": uses, "with": {"text": "hi"}, **step}},
        "outputs": {"by": "${{ steps.s.output.by }}"},
    }


def succeeded(orch: Orchestrator, run_id: str) -> dict[str, Any]:
    [event] = [e for e in orch.store.events(run_id) if e.type == "step_succeeded"]
    return dict(event.data)


def test_hedging_takes_the_fast_answer_and_cancels_the_slow_one(
    orch: Orchestrator, base_url: str
) -> None:
    # the slow instance has the most weight, so every first request goes there
    http_model(orch, "svc", base_url, [{"url": "slow", "weight": 10}, {"url": "fast"}])
    DELAY["slow"] = 3.0
    started = time.perf_counter()
    hedged = orch.run(flow(route={"policy": "best", "hedge_after_ms": 60}))
    took = time.perf_counter() - started
    assert hedged.ok and hedged.outputs == {"by": "fast"}
    assert took < 2.0
    data = succeeded(orch, hedged.run_id)
    assert data["hedged"] is True and data["instance"] == 1
    assert HITS == {"slow": 1, "fast": 1}
    router = orch.router
    assert isinstance(router, AdaptiveRouter)
    assert [i["outstanding"] for i in router.instances("svc@1.0.0")] == [0, 0]

    started = time.perf_counter()
    plain = orch.run(flow())  # without hedging, the slow instance's answer is awaited
    assert plain.ok and plain.outputs == {"by": "slow"}
    assert time.perf_counter() - started >= 2.9


def test_hedging_does_nothing_when_the_first_answer_is_quick(
    orch: Orchestrator, base_url: str
) -> None:
    http_model(orch, "svc", base_url, [{"url": "a"}, {"url": "b"}])
    result = orch.run(flow(route={"policy": "best", "hedge_after_ms": 500}))
    assert result.ok and "hedged" not in succeeded(orch, result.run_id)
    assert sum(HITS.values()) == 1


def test_retries_move_to_another_instance(orch: Orchestrator, base_url: str) -> None:
    http_model(orch, "svc", base_url, [{"url": "d1"}, {"url": "d2"}, {"url": "ok"}])
    DOWN.update({"d1", "d2"})
    result = orch.run(flow(retry={"attempts": 3}))
    assert result.ok and result.outputs == {"by": "ok"}
    assert HITS["ok"] == 1 and HITS["d1"] <= 1 and HITS["d2"] <= 1  # no instance twice
    failures = [e.data for e in orch.store.events(result.run_id) if e.type == "attempt_failed"]
    assert len(failures) == HITS["d1"] + HITS["d2"]
    assert all("HTTP 503" in f["error"] for f in failures)


def test_fallback_chain_then_the_circuit_skips_a_dead_model(
    orch: Orchestrator, base_url: str
) -> None:
    http_model(orch, "svc", base_url, [{"url": "dead"}])
    http_model(orch, "spare", base_url, [{"url": "spare"}])
    DOWN.add("dead")
    step = {"fallback": ["model/spare"]}
    for _ in range(2):  # two failures open svc's circuit (min_calls 2, 50%)
        result = orch.run(flow(**step))
        assert result.ok and result.outputs == {"by": "spare"}
        assert result.lineage[0]["fallback_from"] == "svc@1.0.0"
    assert HITS["dead"] == 2
    skipped = orch.run(flow(**step))
    assert skipped.ok and skipped.outputs == {"by": "spare"}
    assert HITS["dead"] == 2  # not called: its circuit is open
    [failure] = [e.data for e in orch.store.events(skipped.run_id) if e.type == "attempt_failed"]
    assert "circuit open on its instance" in failure["error"]

    DOWN.clear()  # it recovers; after the cooldown a probe finds out and closes the circuit
    time.sleep(0.35)
    probed = orch.run(flow(**step))
    assert probed.ok and probed.outputs == {"by": "dead"}
    router = orch.router
    assert isinstance(router, AdaptiveRouter)
    assert router.instances("svc@1.0.0")[0]["circuit"] == "closed"


def test_capability_routing_skips_a_model_whose_circuit_is_open(
    orch: Orchestrator, base_url: str
) -> None:
    http_model(orch, "svc", base_url, [{"url": "dead"}], quality={"t.echo": 0.9})
    http_model(orch, "spare", base_url, [{"url": "spare"}], quality={"t.echo": 0.5})
    DOWN.add("dead")
    route = {"policy": "best", "failover": 1}
    for _ in range(2):
        assert orch.run(flow("capability/t.echo", route=route)).outputs == {"by": "spare"}
    result = orch.run(flow("capability/t.echo", route=route))
    assert result.outputs == {"by": "spare"} and HITS["dead"] == 2
    why = result.lineage[0]["why"]
    assert why.startswith("best: spare@1.0.0") and "skipped 1 with every circuit open" in why
