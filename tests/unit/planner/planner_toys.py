"""Toys for the planner tests: operators, graphs, registries and a support orchestrator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import podium
from podium.planner import Operator, PlanOptions, SignatureGraph
from podium.registry import Field, ModelSpec, Registry
from podium.store import MemoryStore


def op(name: str, consumes: Sequence[str], produces: Sequence[str]) -> Operator:
    """A bare operator (fields named after its types)."""
    return Operator(
        ref=f"capability/{name}",
        kind="capability",
        name=name,
        consumes=tuple(consumes),
        produces=tuple(produces),
        inputs={t: Field(t, "string") for t in consumes},
        outputs={t: Field(t, "string") for t in produces},
        uses=f"capability/{name}",
        capability=name,
    )


def graph(*ops: Operator) -> SignatureGraph:
    return SignatureGraph(list(ops))


def spec(
    name: str,
    consumes: Sequence[str],
    produces: Sequence[str],
    *,
    cost: float = 0.001,
    capability: str | None = None,
    **extra: Any,
) -> ModelSpec:
    """A model whose input and output fields are named after its types."""
    cap = capability or f"toy.{name.replace('-', '_')}"
    fields = {
        "input": dict.fromkeys(consumes, "string"),
        "output": dict.fromkeys(produces, "string"),
    }
    return ModelSpec(
        name=name,
        version="1.0.0",
        capabilities=[cap],
        cost={"per_call": cost},
        **{**fields, **extra},
    )


def registry(*specs: ModelSpec) -> Registry:
    found = Registry(MemoryStore())
    for s in specs:
        found.register(s)
    return found


LEXICAL = PlanOptions(matcher="lexical", llm=False)


def support(tmp_path: Path) -> podium.Orchestrator:
    """Toy support models: two intent classifiers, tone, language, a CRM and a drafter."""
    orch = podium.Orchestrator(tmp_path, durable=False, discover=False)

    def intent(text: str) -> dict[str, Any]:
        return {"label": "billing" if "charge" in text else "other", "confidence": 0.9}

    def cheap_intent(text: str) -> dict[str, Any]:
        return {"label": "other", "confidence": 0.5}

    def tone(text: str) -> dict[str, Any]:
        return {"label": "negative" if "angry" in text else "neutral", "score": -0.5}

    def language(text: str) -> dict[str, Any]:
        return {"lang": "en"}

    def crm(customer_id: str) -> dict[str, Any]:
        return {"tier": "gold", "name": "Ada"}

    def drafter(
        intent: str, sentiment: str | None = None, tier: str | None = None
    ) -> dict[str, Any]:
        return {"reply": f"{intent}/{sentiment}/{tier}"}

    text_in = {"text": "string"}
    orch.register_callable(
        intent,
        name="intent-model",
        capabilities=["text.intent"],
        description="Classifies a customer message by intent: billing, technical, other.",
        input=text_in,
        output={"label": "string", "confidence": "number"},
        consumes=["text"],
        produces=["intent"],
        cost=0.002,
        quality={"text.intent": 0.9},
    )
    orch.register_callable(
        cheap_intent,
        name="cheap-intent",
        capabilities=["text.intent"],
        description="Keyword rules for intent.",
        input=text_in,
        output={"label": "string", "confidence": "number"},
        consumes=["text"],
        produces=["intent"],
        cost=0.0001,
        quality={"text.intent": 0.6},
        tags=["rules"],
    )
    orch.register_callable(
        tone,
        capabilities=["text.sentiment"],
        description="Sentiment of a text: positive, neutral or negative.",
        input=text_in,
        output={"label": "string", "score": "number"},
        consumes=["text"],
        produces=["sentiment"],
        cost=0.0005,
    )
    orch.register_callable(
        language,
        capabilities=["text.language"],
        description="Detects the language a text is written in.",
        input=text_in,
        output={"lang": "string"},
        consumes=["text"],
        produces=["language"],
        cost=0.0001,
    )
    orch.register_callable(
        crm,
        capabilities=["crm.lookup"],
        description="Looks a customer up by id in the CRM: name and tier.",
        input={"customer_id": "string"},
        output={"tier": "string", "name": "string"},
        consumes=["customer_id"],
        produces=["customer"],
        cost=0.0001,
    )
    orch.register_callable(
        drafter,
        capabilities=["text.reply"],
        description="Drafts a reply to a customer from the intent.",
        input={"intent": "string", "sentiment": "string?", "tier": "string?"},
        output={"reply": "string"},
        consumes=["intent"],
        produces=["reply"],
        cost=0.001,
    )
    return orch


GIVEN = {"message": "text", "customer_id": "customer_id"}
