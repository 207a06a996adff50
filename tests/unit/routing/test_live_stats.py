"""Live statistics: the streaming histogram, EWMA, persistence across a restart, feedback."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podium import Orchestrator
from podium.errors import InvalidStateError, UserError
from podium.routing import AdaptiveRouter, ModelStats, StreamingHistogram


@given(st.lists(st.floats(min_value=0.01, max_value=1e5), min_size=1, max_size=400))
@settings(max_examples=60)
def test_histogram_quantiles_are_within_a_few_percent(values: list[float]) -> None:
    hist = StreamingHistogram()
    for v in values:
        hist.add(v)
    ordered = sorted(values)
    for q in (0.5, 0.95):
        exact = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
        estimate = hist.quantile(q)
        assert estimate is not None
        assert estimate == pytest.approx(exact, rel=0.05)
    assert StreamingHistogram.from_json(hist.to_json()).counts == hist.counts


def test_histogram_memory_does_not_grow_with_calls() -> None:
    hist = StreamingHistogram()
    rng = random.Random(1)
    for _ in range(50_000):
        hist.add(rng.lognormvariate(2.0, 0.5))
    assert hist.total == 50_000 and len(hist.counts) < 200
    assert StreamingHistogram().quantile(0.5) is None


def test_model_stats_track_errors_latency_cost_and_availability() -> None:
    stats = ModelStats()
    for latency in (10.0, 20.0, 30.0):
        stats.record(True, latency, 0.01, alpha=0.5)
    stats.record(False, 999.0, 0.0, alpha=0.5)
    assert stats.ewma_ms == pytest.approx(22.5)  # 10 -> 15 -> 22.5; failures are not speed
    summary = stats.summary()
    assert summary["calls"] == 4 and summary["errors"] == 1 and summary["error_rate"] == 0.25
    assert summary["cost"] == pytest.approx(0.03)
    assert summary["availability"] == pytest.approx(0.9)
    assert ModelStats.from_json(stats.to_json()).summary() == summary


def register(orch: Orchestrator) -> None:
    @orch.model(capabilities=["t.echo"], quality={"t.echo": 0.7})
    def echo(text: str) -> dict[str, Any]:
        return {"text": text}


FLOW = {"steps": {"e": {"uses": "capability/t.echo", "with": {"text": "hi"}}}}


def router_of(orch: Orchestrator) -> AdaptiveRouter:
    assert isinstance(orch.router, AdaptiveRouter)
    return orch.router


def test_statistics_survive_a_restart_without_double_counting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Orchestrator(home=home, discover=False) as first:
        register(first)
        for _ in range(3):
            assert first.run(FLOW).ok
        router_of(first).flush()  # a snapshot and its watermark...
        for _ in range(2):
            assert first.run(FLOW).ok  # ...then two calls only the event log knows about
        before = router_of(first).model_stats("echo@0.1.0")
    assert before is not None and before["calls"] == 5
    with Orchestrator(home=home, discover=False) as second:
        register(second)
        after = router_of(second).model_stats("echo@0.1.0", "t.echo")
    assert after is not None and after["calls"] == 5 and after["errors"] == 0
    assert after["latency_p50_ms"] is not None


def test_feedback_is_kept_replaced_and_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Orchestrator(home=home, discover=False) as orch:
        register(orch)
        run = orch.run(FLOW)
        orch.feedback(run.run_id, "e", 0.0)
        orch.feedback(run.run_id, "e", 1.0)  # a second judgement replaces the first
        stats = router_of(orch).model_stats("echo@0.1.0")
        assert stats is not None and stats["feedback_n"] == 1 and stats["feedback_mean"] == 1.0
        with pytest.raises(UserError, match="from 0 to 1"):
            orch.feedback(run.run_id, "e", 1.5)
        with pytest.raises(InvalidStateError, match="no model's answer"):
            orch.feedback(run.run_id, "nope", 1.0)
    with Orchestrator(home=home, discover=False) as again:
        register(again)
        stats = router_of(again).model_stats("echo@0.1.0")
        assert stats is not None and stats["feedback_n"] == 1
