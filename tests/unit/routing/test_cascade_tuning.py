"""Cascade decisions (stage order, thresholds) and tuning thresholds from labelled data."""

from __future__ import annotations

import math
import random

import pytest

from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing import AdaptiveRouter, RoutePolicy, tune_thresholds
from podium.store import MemoryStore

CAP = ModelRef.parse("capability/t.c")


def make(name: str, cost: float, quality: float) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "capabilities": ["t.c"],
            "output": {"label": "string", "confidence": "number"},
            "cost": cost,
            "quality": {"t.c": quality},
        }
    )


@pytest.fixture
def router() -> AdaptiveRouter:
    registry = Registry(MemoryStore())
    for spec in (
        make("tiny", 0.001, 0.70),
        make("tiny-twin", 0.002, 0.70),  # dearer and no better: never a stage
        make("mid", 0.01, 0.85),
        make("worse-big", 0.05, 0.80),  # dearer and worse than mid: never a stage
        make("big", 0.1, 0.95),
    ):
        registry.register(spec)
    return AdaptiveRouter(registry)


def test_stages_are_cheapest_first_and_each_better_than_the_last(router: AdaptiveRouter) -> None:
    decision = router.route(CAP, RoutePolicy("cascade"), {})
    assert [s.name for s in decision.stages] == ["tiny", "mid", "big"]
    assert decision.thresholds == (0.8, 0.8)
    assert decision.chosen.name == "tiny"
    assert decision.reason.startswith("cascade: tiny@1.0.0 (cost 0.001, answers at confidence")
    assert [c["model"] for c in decision.to_json()["cascade"]] == [
        "tiny@1.0.0",
        "mid@1.0.0",
        "big@1.0.0",
    ]
    two = router.route(CAP, RoutePolicy("cascade", options={"max_stages": 2, "threshold": 0.6}), {})
    assert [s.name for s in two.stages] == ["tiny", "mid"] and two.thresholds == (0.6,)
    alone = router.route(CAP, RoutePolicy("cascade", min_quality=0.9), {})
    assert alone.stages == () and alone.chosen.name == "big"


def test_tuned_thresholds_are_used_when_the_threshold_is_auto(router: AdaptiveRouter) -> None:
    policy = RoutePolicy("cascade")
    assert router.route(CAP, policy, {}).thresholds == (0.8, 0.8)
    router.set_cascade_thresholds("t.c", {"tiny@1.0.0": 0.93})
    assert router.route(CAP, policy, {}).thresholds == (0.93, 0.8)


def test_tuning_escalates_only_the_unsure_cases() -> None:
    rng = random.Random(0)
    cases = []
    for _ in range(1000):
        confidence = rng.random()
        cheap_right = rng.random() < (0.98 if confidence >= 0.7 else 0.5)
        cases.append([(confidence, cheap_right), (0.99, rng.random() < 0.97)])
    [threshold] = tune_thresholds(cases, costs=[1.0, 20.0], target=0.99)
    assert 0.55 < threshold < 0.8
    answered = [c for c in cases if c[0][0] >= threshold]
    accuracy = (
        sum(c[0][1] for c in answered) + sum(c[1][1] for c in cases if c[0][0] < threshold)
    ) / len(cases)
    always = sum(c[1][1] for c in cases) / len(cases)
    assert accuracy >= 0.99 * always


def test_tuning_edge_cases() -> None:
    assert tune_thresholds([[(0.5, True)]], costs=[1.0]) == []
    # the cheap model is never right: always escalate (a threshold above every confidence)
    [never] = tune_thresholds([[(0.9, False), (0.9, True)]] * 10, costs=[1, 5], target=0.99)
    assert never > 1.0
    # the cheap model is always right: never escalate
    [lowest] = tune_thresholds([[(c / 10, True), (1.0, True)] for c in range(10)], costs=[1, 5])
    assert lowest == 0.0
    # answers without a confidence are always accepted, as at run time
    [t] = tune_thresholds([[(None, True), (1.0, True)], [(0.2, False), (1.0, True)]], [1, 5])
    assert t > 0.2
    with pytest.raises(ValueError, match="every case needs"):
        tune_thresholds([[(0.5, True)]], costs=[1.0, 2.0])
    three = tune_thresholds([[(0.9, True), (0.8, True), (1.0, True)]] * 5, costs=[1, 2, 3])
    assert len(three) == 2 and all(not math.isnan(t) for t in three)
