"""Cascade and learned routing on the real shipped risk models (trained once per session).

The held-out transactions are shuffled once; thresholds are tuned and the bandit warmed up
on the first 600, and both are judged on the next 400 against the most accurate single
model (``risk-gbm``) on the same cases.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")

from podium import Orchestrator
from podium.adapters import CallContext
from podium.demo.catalog import demo_models, held_out
from podium.registry import ModelRef, ModelSpec
from podium.routing import AdaptiveRouter, RoutePolicy, RoutingConfig, tune_thresholds

pytestmark = pytest.mark.slow

CAPABILITY = "risk.score"


@dataclass
class Risk:
    specs: list[ModelSpec]
    tune: list[dict[str, Any]]
    test: list[dict[str, Any]]
    fields: list[str]


@pytest.fixture(scope="session")
def risk(tmp_path_factory: pytest.TempPathFactory) -> Risk:
    home = tmp_path_factory.getbasetemp() / "shared-demo-home"  # trained once per session
    specs = [s for s in demo_models(home) if CAPABILITY in s.capabilities]
    cases = held_out(home, "risk")
    random.Random(0).shuffle(cases)
    return Risk(specs, cases[:600], cases[600:1000], sorted(cases[0]["inputs"]))


@pytest.fixture
def orch(risk: Risk, tmp_path: Path) -> Iterator[Orchestrator]:
    def router(registry: Any) -> AdaptiveRouter:
        return AdaptiveRouter(registry, RoutingConfig(seed=0))

    with Orchestrator(home=tmp_path / "home", durable=False, discover=False, router=router) as o:
        for spec in risk.specs:
            o.register(spec)
        yield o


def flow(risk: Risk, uses: str, route: dict[str, Any] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "uses": uses,
        "with": {f: f"${{{{ inputs.{f} }}}}" for f in risk.fields},
    }
    if route:
        step["route"] = route
    return {
        "inputs": dict.fromkeys(risk.fields, "number"),
        "steps": {"s": step},
        "outputs": {"label": "${{ steps.s.output.label }}"},
    }


def score(
    orch: Orchestrator, workflow: Any, cases: list[dict[str, Any]], *, feedback: bool = False
) -> tuple[float, float, list[Any]]:
    loaded = orch.load(workflow)
    right, cost, results = 0, 0.0, []
    for case in cases:
        result = orch.run(loaded, case["inputs"])
        assert result.ok, result.error
        correct = (result.outputs or {}).get("label") == case["expected"]["label"]
        right += correct
        cost += result.cost
        results.append(result)
        if feedback:
            orch.feedback(result.run_id, "s", 1.0 if correct else 0.0)
    return right / len(cases), cost, results


def test_a_tuned_cascade_keeps_the_best_accuracy_at_a_fraction_of_its_cost(
    orch: Orchestrator, risk: Risk
) -> None:
    router = orch.router
    assert isinstance(router, AdaptiveRouter)
    ref = ModelRef.parse(f"capability/{CAPABILITY}")
    stages = router.route(ref, RoutePolicy("cascade"), {}).stages
    assert [s.name for s in stages] == ["risk-logistic", "risk-gbm"]  # the forest is no better

    async def stage_results() -> list[list[tuple[float | None, bool]]]:
        rows = []
        for case in risk.tune:
            row: list[tuple[float | None, bool]] = []
            for spec in stages:
                out = await orch.adapters.invoke(spec, case["inputs"], CallContext())
                row.append((float(out["confidence"]), out["label"] == case["expected"]["label"]))
            rows.append(row)
        return rows

    import asyncio

    thresholds = tune_thresholds(
        asyncio.run(stage_results()), [s.cost.per_call for s in stages], target=0.985
    )
    router.set_cascade_thresholds(CAPABILITY, {stages[0].key: thresholds[0]})

    best_accuracy, best_cost, _ = score(orch, flow(risk, "model/risk-gbm"), risk.test)
    accuracy, cost, results = score(
        orch, flow(risk, f"capability/{CAPABILITY}", {"policy": "cascade"}), risk.test
    )
    assert accuracy >= 0.97 * best_accuracy
    assert cost <= 0.4 * best_cost
    escalated = [r for r in results if r.steps[0]["model"] == "risk-gbm@1.0.0"]
    assert 0 < len(escalated) < len(results) / 2
    [done] = [e for e in orch.store.events(escalated[0].run_id) if e.type == "step_succeeded"]
    first, second = done.data["cascade"]
    assert first["model"] == "risk-logistic@1.0.0" and not first["answered"]
    assert first["confidence"] < first["threshold"] == pytest.approx(thresholds[0])
    assert second == {
        "model": "risk-gbm@1.0.0",
        "confidence": second["confidence"],
        "threshold": None,
        "answered": True,
    }
    assert done.data["cost"] == pytest.approx(0.00055)  # both stages are paid for
    assert "cascade: risk-logistic@1.0.0" in (escalated[0].lineage[0]["why"] or "")


def test_learned_routing_learns_which_model_suits_which_request(
    orch: Orchestrator, risk: Risk
) -> None:
    route = {
        "policy": "learned",
        "context": "cluster",
        "clusters": 12,
        "cost_weight": 0.9,
        "explore_top": 3,
        "max_explore": 0.05,
    }
    learned = flow(risk, f"capability/{CAPABILITY}", route)
    score(orch, learned, risk.tune, feedback=True)  # warm up: feedback is whether it was right
    best_accuracy, best_cost, _ = score(orch, flow(risk, "model/risk-gbm"), risk.test)
    accuracy, cost, results = score(orch, learned, risk.test, feedback=True)
    # seeds 0..3 give 97.1-97.9% of the best accuracy at 35-55% of its cost
    assert accuracy >= 0.96 * best_accuracy
    assert cost <= 0.6 * best_cost
    chosen = {r.steps[0]["model"] for r in results}
    assert {"risk-logistic@1.0.0", "risk-gbm@1.0.0"} <= chosen  # it depends on the request
    reasons = [r.lineage[0]["why"] or "" for r in results]
    assert all(w.startswith("learned: context cluster12:") for w in reasons)
    assert sum(", exploring" in w for w in reasons) <= 0.05 * len(reasons) + 2
    router = orch.router
    assert isinstance(router, AdaptiveRouter)
    context = results[0].lineage[0]["why"].split()[2].rstrip(":")
    good, bad = router.bandit.posterior(CAPABILITY, context, results[0].steps[0]["model"])
    assert good + bad > 0
