"""A dead HTTP instance gets a handful of a map's calls, not a share of them; a flaky one
keeps its circuit closed. Real HTTP instances on 127.0.0.1, the router's default breaker."""

from __future__ import annotations

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

HITS: Counter[str] = Counter()
#: the flaky instance fails these of every ten calls it gets (30%, never twice in a row)
FLAKY_FAILS = {2, 5, 8}
app = FastAPI()


@app.post("/i/{name}")
async def instance(name: str, request: Request) -> Response:
    HITS[name] += 1
    if name == "dead" or (name == "flaky" and HITS[name] % 10 in FLAKY_FAILS):
        return PlainTextResponse("internal error", status_code=500)
    body = await request.json()
    return JSONResponse({"text": body["text"], "by": name})


@pytest.fixture
def base_url(asgi_server: Callable[[Any], AbstractContextManager[str]]) -> Iterator[str]:
    HITS.clear()
    with asgi_server(app) as url:
        yield url


def _router(registry: Registry) -> AdaptiveRouter:
    return AdaptiveRouter(registry, RoutingConfig(seed=3))  # the default BreakerConfig


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False, router=_router) as o:
        yield o


CONCURRENCY = 4


def _model(name: str, base: str, instance: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "capabilities": ["t.echo"],
        "input": {"text": "string"},
        "output": {"text": "string", "by": "string"},
        "runtime": {"kind": "http", "timeout_s": 5},
        "instances": [{"url": f"{base}/i/{instance}"}],
    }


def _map_over(orch: Orchestrator, base: str, instance: str, items: int) -> Any:
    """A map of ``items`` calls to ``svc`` (one instance), falling back to ``spare``."""
    orch.register(_model("svc", base, instance))
    orch.register(_model("spare", base, "spare"))
    flow = {
        "inputs": {"lines": "array"},
        "steps": {
            "each": {
                "map": "${{ inputs.lines }}",
                "concurrency": CONCURRENCY,
                "step": {
                    "uses": "model/svc",
                    "with": {"text": "${{ item }}"},
                    "fallback": ["model/spare"],
                },
            }
        },
        "outputs": {"by": "${{ steps.each.output }}"},
    }
    return orch.run(flow, inputs={"lines": [f"line {i}" for i in range(items)]})


def _circuit(orch: Orchestrator) -> str:
    router = orch.router
    assert isinstance(router, AdaptiveRouter)
    return str(router.instances("svc@1.0.0")[0]["circuit"])


def test_a_dead_instance_sees_a_handful_of_calls_in_a_map(
    orch: Orchestrator, base_url: str
) -> None:
    result = _map_over(orch, base_url, "dead", 60)
    assert result.ok and len(result.outputs["by"]) == 60
    # a handful: the failures in a row that open it, plus the calls already on their way
    # (with the share rule alone it took 20 of the 60)
    assert HITS["dead"] <= BreakerConfig().consecutive_failures + CONCURRENCY, HITS
    assert HITS["spare"] == 60
    assert _circuit(orch) == "open"


def test_a_flaky_instance_keeps_its_circuit_closed(orch: Orchestrator, base_url: str) -> None:
    result = _map_over(orch, base_url, "flaky", 60)
    assert result.ok and len(result.outputs["by"]) == 60
    assert HITS["flaky"] == 60, HITS  # every item tried it first: it never left the rotation
    assert HITS["spare"] == 18  # 3 of every 10 fell back
    assert _circuit(orch) == "closed"
