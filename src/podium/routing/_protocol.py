"""The router contract the engine calls through."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

from podium._types import JSONObject
from podium.registry import ModelRef, ModelSpec
from podium.routing._policy import RoutePolicy


@dataclass(frozen=True)
class Candidate:
    """One model considered for a call, with its score under the policy."""

    spec: ModelSpec
    score: float
    note: str = ""


@dataclass(frozen=True)
class RouteDecision:
    """The router's choice and why: every candidate, its score, the reason."""

    ref: str
    policy: str
    ranked: tuple[Candidate, ...]
    rejected: tuple[tuple[str, str], ...]
    reason: str

    @property
    def chosen(self) -> ModelSpec:
        return self.ranked[0].spec

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "policy": self.policy,
            "chosen": self.chosen.key,
            "reason": self.reason,
            "candidates": [
                {"model": c.spec.key, "score": round(c.score, 6), "note": c.note}
                for c in self.ranked
            ],
            "rejected": [{"model": m, "why": why} for m, why in self.rejected],
        }

    def to_json(self) -> dict[str, Any]:
        """Candidates, scores, the choice and the reason, as JSON (computed once)."""
        return self._json


@dataclass(frozen=True)
class CallOutcome:
    """What happened on one model call, reported back so routing can learn."""

    capability: str | None
    latency_ms: float
    ok: bool
    cost: float = 0.0


class Router(Protocol):
    """Picks models for references under a policy; learns from call outcomes."""

    def route(self, ref: ModelRef, policy: RoutePolicy, inputs: JSONObject) -> RouteDecision: ...

    def observe(self, spec: ModelSpec, outcome: CallOutcome) -> None: ...
