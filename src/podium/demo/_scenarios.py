"""The three demo scenarios: each specialist alone, then the orchestrated workflow, held out.

Every number is measured by running the models now: specialists are called one case at a
time through their adapters, workflows through the engine, exactly as a user would.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from podium.adapters import CallContext

WORKFLOWS = Path(__file__).resolve().parent / "workflows"
CONCURRENCY = 4


@dataclass(frozen=True)
class Scenario:
    """A scenario: its workflow, the specialists it is compared with, how to read a case."""

    key: str
    title: str
    workflow: str
    specialists: tuple[str, ...]
    truth: Callable[[dict[str, Any]], str]
    specialist_inputs: Callable[[dict[str, Any]], dict[str, Any]]
    limit: int | None = None

    @property
    def path(self) -> Path:
        return WORKFLOWS / self.workflow


SCENARIOS = (
    Scenario(
        key="diagnostics",
        title="diagnostics (breast cancer, malignancy)",
        workflow="diagnostics.yaml",
        specialists=("dx-size", "dx-texture", "dx-shape", "dx-full"),
        truth=lambda case: case["expected"]["label"],
        specialist_inputs=lambda case: case["inputs"],
    ),
    Scenario(
        key="support",
        title="support (message intent)",
        workflow="support.yaml",
        specialists=("intent-classifier", "keyword-intent"),
        truth=lambda case: case["expected"]["intent"],
        specialist_inputs=lambda case: {"text": case["inputs"]["message"]},
    ),
    Scenario(
        key="risk",
        title="risk (card fraud)",
        workflow="risk.yaml",
        specialists=("risk-logistic", "risk-gbm", "risk-forest-large"),
        truth=lambda case: case["expected"]["label"],
        specialist_inputs=lambda case: case["inputs"],
        limit=600,
    ),
)

#: the workflow output that answers the scenario's question
ANSWER = {"diagnostics": "label", "support": "intent", "risk": "label"}


def score(truth: list[str], predicted: list[str | None]) -> dict[str, float]:
    """Accuracy and macro-F1; a missing prediction counts as wrong."""
    guesses = [p if p is not None else "(none)" for p in predicted]
    return {
        "accuracy": round(float(accuracy_score(truth, guesses)), 4),
        "f1_macro": round(
            float(f1_score(truth, guesses, average="macro", labels=sorted(set(truth)))), 4
        ),
    }


async def _bounded(
    items: list[Any], work: Callable[[Any], Any], tick: Callable[[], None]
) -> list[Any]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> Any:
        async with limit:
            result = await work(item)
            tick()
            return result

    return list(await asyncio.gather(*(one(item) for item in items)))


async def evaluate_specialist(
    orch: Any, name: str, scenario: Scenario, cases: list[dict[str, Any]], tick: Callable[[], None]
) -> dict[str, Any]:
    """One model alone on every case, through its adapter."""
    spec = orch.registry.get(name)

    async def call(case: dict[str, Any]) -> tuple[str | None, float]:
        started = time.perf_counter()
        output = await orch.adapters.invoke(spec, scenario.specialist_inputs(case), CallContext())
        return output.get("label"), (time.perf_counter() - started) * 1000

    results = await _bounded(cases, call, tick)
    truth = [scenario.truth(c) for c in cases]
    return {
        "name": spec.name,
        "kind": "specialist",
        **score(truth, [label for label, _ in results]),
        "median_latency_ms": round(statistics.median(ms for _, ms in results), 3),
        "cost_per_case": spec.cost.per_call,
    }


async def evaluate_workflow(
    orch: Any, scenario: Scenario, cases: list[dict[str, Any]], tick: Callable[[], None]
) -> dict[str, Any]:
    """The scenario's workflow on every case, through the engine (each case is a run)."""
    workflow = orch.load(scenario.path)
    accepted = set(workflow.inputs)

    async def run(case: dict[str, Any]) -> tuple[Any, float, float, str]:
        started = time.perf_counter()
        inputs = {k: v for k, v in case["inputs"].items() if k in accepted}
        result = await orch.arun(workflow, inputs)
        elapsed = (time.perf_counter() - started) * 1000
        answer = (result.outputs or {}).get(ANSWER[scenario.key])
        return answer, elapsed, result.cost, str(result.status)

    results = await _bounded(cases, run, tick)
    truth = [scenario.truth(c) for c in cases]
    failed = sum(1 for *_, status in results if status != "succeeded")
    return {
        "name": workflow.name,
        "kind": "orchestrated",
        **score(truth, [answer for answer, *_ in results]),
        "median_latency_ms": round(statistics.median(ms for _, ms, _, _ in results), 3),
        "cost_per_case": round(statistics.fmean(cost for _, _, cost, _ in results), 8),
        "failed_runs": failed,
    }


def verdict(rows: list[dict[str, Any]]) -> str:
    """Plain words: does the orchestrated workflow beat the best specialist, and at what cost."""
    specialists = [r for r in rows if r["kind"] == "specialist"]
    ours = next(r for r in rows if r["kind"] == "orchestrated")
    best = max(specialists, key=lambda r: (r["f1_macro"], r["accuracy"]))
    delta = ours["f1_macro"] - best["f1_macro"]
    cost = ours["cost_per_case"] / best["cost_per_case"] if best["cost_per_case"] else 0.0
    price = f"{cost:.0%} of its cost per case"
    if delta > 0:
        return f"beats the best specialist, {best['name']}, by {delta:+.4f} macro-F1 ({price})"
    if delta == 0:
        return f"ties the best specialist, {best['name']} ({price})"
    share = ours["f1_macro"] / best["f1_macro"]
    return (
        f"does not beat the best specialist, {best['name']}: {share:.1%} of its macro-F1 at {price}"
    )
