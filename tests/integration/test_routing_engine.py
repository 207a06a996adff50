"""Routing as the engine uses it, with in-process models: cascades, caps, rate limits,
failover, ensembles, and the explanation ``podium runs show`` prints."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from podium import Orchestrator, RunStatus
from podium.cli._render import steps_table
from podium.routing import AdaptiveRouter, RateLimit


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(home=tmp_path / "home", discover=False) as o:
        yield o


def router_of(orch: Orchestrator) -> AdaptiveRouter:
    assert isinstance(orch.router, AdaptiveRouter)
    return orch.router


def classifiers(orch: Orchestrator, calls: list[str], *, big_fails: bool = False) -> None:
    out = {"label": "string", "confidence": "number"}

    @orch.model(capabilities=["t.cls"], cost=0.001, quality={"t.cls": 0.7}, output=out)
    def small(text: str) -> dict[str, Any]:
        calls.append("small")
        return {"label": "short", "confidence": 0.95 if len(text) < 5 else 0.4}

    @orch.model(capabilities=["t.cls"], cost=0.01, quality={"t.cls": 0.8}, output=out)
    def medium(text: str) -> dict[str, Any]:
        calls.append("medium")
        return {"label": "medium", "confidence": 0.9 if len(text) < 10 else 0.5}

    @orch.model(capabilities=["t.cls"], cost=0.1, quality={"t.cls": 0.95}, output=out)
    def large(text: str) -> dict[str, Any]:
        calls.append("large")
        if big_fails:
            raise RuntimeError("large is down")
        return {"label": "long", "confidence": 0.99}


def cascade_flow(**route: Any) -> dict[str, Any]:
    return {
        "inputs": {"text": "string"},
        "steps": {
            "c": {
                "uses": "capability/t.cls",
                "with": {"text": "${{ inputs.text }}"},
                "route": {"policy": "cascade", **route},
            }
        },
        "outputs": {"label": "${{ steps.c.output.label }}"},
    }


def succeeded(orch: Orchestrator, run_id: str) -> dict[str, Any]:
    [event] = [e for e in orch.store.events(run_id) if e.type == "step_succeeded"]
    return dict(event.data)


def test_a_cascade_escalates_while_unsure_and_pays_for_every_stage(orch: Orchestrator) -> None:
    calls: list[str] = []
    classifiers(orch, calls)
    flow = cascade_flow(threshold=0.85)
    for text, label, asked, cost in (
        ("hi", "short", ["small"], 0.001),
        ("hello you", "medium", ["small", "medium"], 0.011),
        ("a much longer message", "long", ["small", "medium", "large"], 0.111),
    ):
        calls.clear()
        result = orch.run(flow, {"text": text})
        assert result.ok and result.outputs == {"label": label}
        assert calls == asked
        assert result.cost == pytest.approx(cost)
    data = succeeded(orch, result.run_id)
    assert [s["model"] for s in data["cascade"]] == ["small@0.1.0", "medium@0.1.0", "large@0.1.0"]
    assert [s["answered"] for s in data["cascade"]] == [False, False, True]
    assert "fallback_from" not in data


def test_a_failing_last_stage_falls_back_to_the_latest_answer(orch: Orchestrator) -> None:
    calls: list[str] = []
    classifiers(orch, calls, big_fails=True)
    result = orch.run(cascade_flow(threshold=0.85), {"text": "a much longer message"})
    assert result.ok and result.outputs == {"label": "medium"}
    trail = succeeded(orch, result.run_id)["cascade"]
    assert trail[-1]["model"] == "large@0.1.0" and "large is down" in trail[-1]["error"]


def test_concurrency_caps_hold_across_parallel_steps(orch: Orchestrator) -> None:
    busy: list[int] = []
    peak: list[int] = []

    @orch.model(capabilities=["t.slow"], instances=[{"max_concurrency": 2}])
    async def capped(x: int) -> dict[str, Any]:
        busy.append(x)
        peak.append(len(busy))
        await asyncio.sleep(0.02)
        busy.remove(x)
        return {"x": x}

    flow = {
        "steps": {
            "m": {
                "map": "${{ [1, 2, 3, 4, 5, 6] }}",
                "concurrency": 6,
                "step": {"uses": "model/capped", "with": {"x": "${{ item }}"}},
            }
        }
    }
    assert orch.run(flow).ok
    assert max(peak) == 2


def test_rate_limits_pace_calls(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.limited"])
    def limited(x: int) -> dict[str, Any]:
        return {"x": x}

    router_of(orch).set_rate_limit("limited", RateLimit(per_s=20, burst=1))
    flow = {"steps": {"a": {"uses": "model/limited", "with": {"x": 1}}}}
    started = time.perf_counter()
    for _ in range(5):
        assert orch.run(flow).ok
    assert time.perf_counter() - started >= 0.19  # 4 waits of 1/20 s after the first token


def test_failover_tries_the_runner_up(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.f"], quality={"t.f": 0.9})
    def shaky(text: str) -> dict[str, Any]:
        raise ConnectionError("shaky is down")

    @orch.model(capabilities=["t.f"], quality={"t.f": 0.5})
    def steady(text: str) -> dict[str, Any]:
        return {"by": "steady"}

    def run(route: dict[str, Any]) -> Any:
        flow = {"steps": {"s": {"uses": "capability/t.f", "with": {"text": "x"}, "route": route}}}
        return orch.run(flow)

    assert run({"policy": "best"}).status is RunStatus.FAILED
    rescued = run({"policy": "best", "failover": 1})
    assert rescued.ok and rescued.lineage[0]["fallback_from"] == "shaky@0.1.0"


def test_a_routed_ensemble_records_its_decision(orch: Orchestrator) -> None:
    for name, quality in (("a", 0.9), ("b", 0.8), ("c", 0.1)):

        def member(text: str, _name: str = name) -> dict[str, Any]:
            return {"label": "yes", "confidence": 0.9}

        orch.register_callable(
            member, name=name, capabilities=["t.vote"], quality={"t.vote": quality}
        )
    flow = {"steps": {"v": {"ensemble": "capability/t.vote", "models": 2, "with": {"text": "x"}}}}
    result = orch.run(flow)
    assert result.ok
    [started] = [e for e in orch.store.events(result.run_id) if e.type == "step_started"]
    assert started.data["models"] == ["a@0.1.0", "b@0.1.0"]
    assert started.data["decision"]["policy"] == "best"


def test_runs_show_explains_each_routing_decision(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.n"], cost=0.5, quality={"t.n": 0.9})
    def premium(text: str) -> dict[str, Any]:
        return {"by": "premium"}

    @orch.model(capabilities=["t.n"], cost=0.01, quality={"t.n": 0.4})
    def budget(text: str) -> dict[str, Any]:
        return {"by": "budget"}

    flow = {"steps": {"a": {"uses": "capability/t.n", "with": {"text": "x"}, "route": "cheapest"}}}
    result = orch.get_run(orch.run(flow).run_id)
    console = Console(file=io.StringIO(), width=300)
    console.print(steps_table(result, why=True))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "why (routing)" in text
    assert "cheapest: budget@0.1.0 scored -0.0100" in text
    assert "over premium@0.1.0 (-0.5000) among 2 candidate(s)" in text
