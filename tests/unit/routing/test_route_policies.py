"""Each route policy, the candidate filters, health exclusion, caching and explanations."""

from __future__ import annotations

import random
from typing import Any

import pytest

from podium.engine import workflow_from_mapping
from podium.errors import NoCandidateError, WorkflowError
from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing import (
    AdaptiveRouter,
    BreakerConfig,
    CallOutcome,
    RoutePolicy,
    RoutingConfig,
    check_route,
)
from podium.store import MemoryStore

CAP = ModelRef.parse("capability/t.x")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(
    name: str,
    *,
    cost: float = 0.0,
    latency: float = 10.0,
    quality: float = 0.5,
    tags: tuple[str, ...] = (),
    status: str = "active",
    instances: int = 1,
) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "capabilities": ["t.x"],
            "input": {"text": "string"},
            "output": {"label": "string"},
            "cost": cost,
            "latency_ms": latency,
            "quality": {"t.x": quality},
            "tags": list(tags),
            "status": status,
            "instances": instances,
        }
    )


TRIO = (
    make("premium", cost=0.5, latency=50, quality=0.9, tags=("gpu",)),
    make("budget", cost=0.01, latency=20, quality=0.4, tags=("pii-safe",)),
    make("quick", cost=0.1, latency=5, quality=0.6, tags=("pii-safe",)),
)


def registry_of(*specs: ModelSpec) -> Registry:
    registry = Registry(MemoryStore())
    for spec in specs:
        registry.register(spec)
    return registry


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def router(clock: Clock) -> AdaptiveRouter:
    config = RoutingConfig(breaker=BreakerConfig(min_calls=2, window=4, cooldown_s=10), seed=1)
    return AdaptiveRouter(registry_of(*TRIO), config, clock=clock)


def chosen(router: AdaptiveRouter, policy: str = "best", **kw: Any) -> str:
    options = kw.pop("options", {})
    decision = router.route(CAP, RoutePolicy(policy, options=options, **kw), {"text": "hi"})
    return decision.chosen.name


def test_best_cheapest_fastest_choose_by_their_measure(router: AdaptiveRouter) -> None:
    assert chosen(router, "best") == "premium"
    assert chosen(router, "cheapest") == "budget"
    assert chosen(router, "fastest") == "quick"


def test_balanced_is_a_weighted_score_with_weights_per_step(router: AdaptiveRouter) -> None:
    # default 0.6 q - 0.25 c/0.5 - 0.15 l/50: premium .29, budget .17, quick .295
    assert chosen(router, "balanced") == "quick"
    assert chosen(router, "balanced", options={"cost_weight": 0.0, "latency_weight": 0.0}) == (
        "premium"
    )
    heavy_cost = {"quality_weight": 0.1, "cost_weight": 1.0, "latency_weight": 0.0}
    assert chosen(router, "balanced", options=heavy_cost) == "budget"
    decision = router.route(CAP, RoutePolicy("balanced"), {})
    scores = {c.spec.name: c.score for c in decision.ranked}
    assert scores["premium"] == pytest.approx(0.6 * 0.9 - 0.25 * 1.0 - 0.15 * 1.0)
    assert scores["quick"] == pytest.approx(0.6 * 0.6 - 0.25 * 0.2 - 0.15 * 0.1)


def test_constraints_filter_candidates_and_are_explained(router: AdaptiveRouter) -> None:
    assert chosen(router, "best", max_cost=0.2) == "quick"
    assert chosen(router, "best", max_latency_ms=10) == "quick"
    assert chosen(router, "cheapest", min_quality=0.5) == "quick"
    assert chosen(router, "best", require_tags=("pii-safe",)) == "quick"
    assert chosen(router, "best", forbid_tags=("pii-safe",)) == "premium"
    decision = router.route(CAP, RoutePolicy("best", max_cost=0.2), {})
    assert decision.to_json()["rejected"] == [
        {"model": "premium@1.0.0", "why": "cost 0.5 > max_cost 0.2"}
    ]
    with pytest.raises(NoCandidateError, match="satisfies the route constraints") as refused:
        chosen(router, "best", max_cost=0.001)
    assert "budget@1.0.0: cost 0.01 > max_cost 0.001" in str(refused.value)


def test_deprecated_and_disabled_models_are_not_candidates(clock: Clock) -> None:
    registry = registry_of(
        make("old", quality=0.99, status="deprecated"),
        make("off", quality=0.98, status="disabled"),
        make("live", quality=0.5),
    )
    router = AdaptiveRouter(registry, clock=clock)
    decision = router.route(CAP, RoutePolicy("best"), {})
    assert [c.spec.name for c in decision.ranked] == ["live"]


def fail(router: AdaptiveRouter, name: str, times: int) -> None:
    spec = router.registry.get(name)
    for _ in range(times):
        lease = router.acquire(spec)
        assert lease.granted
        router.observe(spec, CallOutcome("t.x", 1.0, ok=False, instance=lease.instance))


def test_an_open_circuit_excludes_a_model_until_its_cooldown(
    router: AdaptiveRouter, clock: Clock
) -> None:
    first = router.route(CAP, RoutePolicy("best"), {})
    assert first.chosen.name == "premium"
    fail(router, "premium", 2)
    decision = router.route(CAP, RoutePolicy("best"), {})
    assert decision.chosen.name == "quick"
    assert "skipped 1 with every circuit open" in decision.reason
    assert "premium" not in [c.spec.name for c in decision.ranked]
    clock.t += 10.0  # the cooldown has passed: premium may be probed again
    assert chosen(router) == "premium"
    premium = router.registry.get("premium")
    lease = router.acquire(premium)
    assert lease.granted  # the half-open probe
    router.observe(premium, CallOutcome("t.x", 1.0, ok=True, instance=lease.instance))
    assert router.instances("premium@1.0.0")[0]["circuit"] == "closed"


def test_bad_requests_do_not_open_a_circuit(router: AdaptiveRouter) -> None:
    spec = router.registry.get("premium")
    for _ in range(5):
        lease = router.acquire(spec)
        router.observe(
            spec, CallOutcome("t.x", 1.0, ok=False, instance=lease.instance, fault=False)
        )
    assert router.instances(spec.key)[0]["circuit"] == "closed"


def test_fastest_follows_measured_latency(router: AdaptiveRouter) -> None:
    assert chosen(router, "fastest") == "quick"
    quick = router.registry.get("quick")
    for _ in range(5):
        router.observe(quick, CallOutcome("t.x", 80.0, ok=True))
    decision = router.route(CAP, RoutePolicy("fastest"), {})
    assert decision.chosen.name == "budget"
    assert "latency 20 ms" in decision.reason
    stats = router.model_stats("quick@1.0.0")
    assert stats is not None and stats["calls"] == 5
    assert stats["latency_p50_ms"] == pytest.approx(80.0, rel=0.03)


def test_failures_lower_a_models_useful_quality(router: AdaptiveRouter) -> None:
    premium = router.registry.get("premium")
    for _ in range(6):  # failures that are not the instance's fault keep the circuit closed
        router.observe(premium, CallOutcome("t.x", 1.0, ok=False, fault=False))
    assert chosen(router, "best") == "quick"


def test_feedback_refines_quality(router: AdaptiveRouter) -> None:
    for _ in range(40):
        router.feedback("premium@1.0.0", "t.x", 0.2)
    assert chosen(router, "best") == "quick"
    stats = router.model_stats("premium@1.0.0", "t.x")
    assert stats is not None and stats["feedback_n"] == 40


def test_decisions_are_cached_until_an_input_changes(router: AdaptiveRouter) -> None:
    policy = RoutePolicy("best")
    first = router.route(CAP, policy, {"text": "a"})
    assert router.route(CAP, RoutePolicy("best"), {"text": "b"}) is first
    router.registry.register(make("newcomer", quality=0.95))
    second = router.route(CAP, policy, {})
    assert second is not first and second.chosen.name == "newcomer"


def test_explanation_names_policy_choice_runner_up_and_scores(router: AdaptiveRouter) -> None:
    decision = router.route(CAP, RoutePolicy("cheapest", options={"failover": 1}), {})
    assert decision.reason.startswith("cheapest: budget@1.0.0 scored -0.0100")
    assert "over quick@1.0.0 (-0.1000)" in decision.reason
    assert "among 3 candidate(s)" in decision.reason
    data = decision.to_json()
    assert data["policy"] == "cheapest" and data["chosen"] == "budget@1.0.0"
    assert [c["model"] for c in data["candidates"]] == [
        "budget@1.0.0",
        "quick@1.0.0",
        "premium@1.0.0",
    ]
    assert data["failover"] == ["quick@1.0.0"]


def test_invalid_policies_and_options_are_refused_when_the_workflow_loads() -> None:
    assert check_route(RoutePolicy("cheapest")) is None
    assert check_route(RoutePolicy("nope")) == (
        "policy",
        "unknown policy; expected one of best, cheapest, fastest, balanced, learned, cascade",
    )
    assert check_route(RoutePolicy("balanced", options={"cost_weight": "x"})) == (
        "cost_weight",
        "must be a number",
    )
    bad_hedge = check_route(RoutePolicy("best", options={"hedge_after_ms": 0}))
    assert bad_hedge is not None and bad_hedge[0] == "hedge_after_ms"
    unknown = check_route(RoutePolicy("best", options={"colour": "red"}))
    assert unknown is not None and unknown[0] == "colour"
    assert "unknown option for policy 'best'" in unknown[1]
    cascade = check_route(RoutePolicy("cascade", options={"threshold": 2}))
    assert cascade == ("threshold", "must be between 0 and 1")
    learned = check_route(RoutePolicy("learned", options={"context": "moon"}))
    assert learned == ("context", "must be one of none, length, cluster")
    flow = {
        "steps": {
            "a": {"uses": "capability/t.x", "route": {"policy": "balanced", "cost_weight": "x"}}
        }
    }
    with pytest.raises(WorkflowError) as refused:
        workflow_from_mapping(flow)
    assert refused.value.field == "steps.a.route.cost_weight"
    assert "must be a number" in refused.value.message


def test_rankings_stay_sorted_as_scores_change_one_at_a_time(clock: Clock) -> None:
    rng = random.Random(5)
    specs = [make(f"m{i:04d}", latency=rng.uniform(1, 100), quality=0.5) for i in range(300)]
    router = AdaptiveRouter(registry_of(*specs), RoutingConfig(explain_top=5), clock=clock)
    policy = RoutePolicy("fastest")
    decision = router.route(CAP, policy, {})
    assert len(decision.ranked) == 5 and decision.considered == 300
    assert decision.to_json()["considered"] == 300
    for _ in range(400):
        spec = specs[rng.randrange(len(specs))]
        router.observe(spec, CallOutcome("t.x", rng.uniform(1, 100), ok=True))
    decision = router.route(CAP, policy, {})
    expected = sorted(specs, key=lambda s: (router.signals(s, "t.x").latency_ms, s.name))
    assert [c.spec.name for c in decision.ranked] == [s.name for s in expected[:5]]
