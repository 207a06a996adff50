"""The built-in triage scenario: rule-based intent, VADER tone and regex entities, in parallel."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from podium.registry import ModelSpec, spec_from_mapping

WORKFLOW = Path(__file__).resolve().parent / "workflows" / "support_triage.yaml"


def triage_models() -> list[ModelSpec]:
    """The python-runtime models the triage workflow needs (no training)."""
    return [
        spec_from_mapping(
            dict(
                name="keyword-intent",
                version="1.0.0",
                description="Rule-based intent from keyword hits: billing, technical, cancellation, "
                "shipping, account.",
                capabilities=["text.intent"],
                input={"text": "string"},
                output={"label": "string", "confidence": "number", "probabilities": "object"},
                runtime={
                    "kind": "python",
                    "target": "podium.demo.support:KeywordIntent",
                    "inline": True,
                },
                cost=0.00001,
                latency_ms=0.1,
                quality={"text.intent": 0.5},
                tags=["pii-safe"],
            )
        ),
        spec_from_mapping(
            dict(
                name="vader-sentiment",
                version="1.0.0",
                description="VADER lexicon sentiment: compound score in [-1, 1] and a label.",
                capabilities=["text.sentiment"],
                input={"text": "string"},
                output={"score": "number", "label": "string"},
                runtime={"kind": "python", "target": "podium.demo.sentiment:VaderSentiment"},
                cost=0.00001,
                latency_ms=0.2,
                quality={"text.sentiment": 0.7},
            )
        ),
        spec_from_mapping(
            dict(
                name="entity-extractor",
                version="1.0.0",
                description="Regex entities: order ids, amounts with currency, dates, e-mails.",
                capabilities=["text.entities"],
                input={"text": "string"},
                output={
                    "order_ids": "array",
                    "amounts": "array",
                    "dates": "array",
                    "emails": "array",
                },
                runtime={
                    "kind": "python",
                    "target": "podium.demo.entities:extract",
                    "inline": True,
                },
                cost=0.00001,
                latency_ms=0.1,
                quality={"text.entities": 0.9},
            )
        ),
    ]


async def run_triage(orch: Any, cases: list[dict[str, str]]) -> dict[str, Any]:
    """Run the triage workflow once per held-out message; score it against the labels."""
    workflow = orch.load(WORKFLOW)
    latencies, correct, tone_agree, cost, failed = [], 0, 0, 0.0, 0
    for case in cases:
        started = time.perf_counter()
        result = await orch.arun(workflow, {"message": case["text"]})
        latencies.append((time.perf_counter() - started) * 1000)
        if not result.ok:
            failed += 1
            continue
        cost += result.cost
        correct += result.outputs["intent"] == case["intent"]
        tone_agree += result.outputs["tone"] == case["sentiment"]
    n = len(cases)
    return {
        "scenario": "support triage",
        "workflow": workflow.name,
        "cases": n,
        "failed": failed,
        "intent_accuracy": round(correct / n, 4),
        "tone_agreement": round(tone_agree / n, 4),
        "median_latency_ms": round(statistics.median(latencies), 3),
        "cost_per_case": round(cost / n, 8),
    }


def run_triage_sync(orch: Any, cases: list[dict[str, str]]) -> dict[str, Any]:
    return asyncio.run(run_triage(orch, cases))
