"""Routing on manifest priors: filter by constraints, then score by a named policy."""

from __future__ import annotations

from collections.abc import Callable, Collection

from podium._types import JSONObject
from podium.errors import NoCandidateError
from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing._candidates import violation
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import ANY_INSTANCE, CallOutcome, Candidate, Lease, RouteDecision
from podium.store import Store

Scorer = Callable[[ModelSpec, str, RoutePolicy, list[ModelSpec]], float]


def _best(spec: ModelSpec, cap: str, _p: RoutePolicy, _all: list[ModelSpec]) -> float:
    return spec.quality_for(cap) - 1e-6 * spec.cost.per_call


def _cheapest(spec: ModelSpec, cap: str, _p: RoutePolicy, _all: list[ModelSpec]) -> float:
    return -spec.cost.per_call + 1e-9 * spec.quality_for(cap)


def _fastest(spec: ModelSpec, cap: str, _p: RoutePolicy, _all: list[ModelSpec]) -> float:
    return -spec.latency_ms + 1e-6 * spec.quality_for(cap)


def _balanced(spec: ModelSpec, cap: str, policy: RoutePolicy, peers: list[ModelSpec]) -> float:
    """``wq * quality - wc * cost / max cost - wl * latency / max latency``.

    Weights come from the step's ``route`` options ``quality_weight`` (default 0.6),
    ``cost_weight`` (0.25) and ``latency_weight`` (0.15).
    """
    max_cost = max((p.cost.per_call for p in peers), default=0.0) or 1.0
    max_latency = max((p.latency_ms for p in peers), default=0.0) or 1.0
    wq = float(policy.options.get("quality_weight", 0.6))
    wc = float(policy.options.get("cost_weight", 0.25))
    wl = float(policy.options.get("latency_weight", 0.15))
    return (
        wq * spec.quality_for(cap)
        - wc * spec.cost.per_call / max_cost
        - wl * spec.latency_ms / max_latency
    )


#: policy name -> scorer. Policies that need live statistics fall back to ``best`` here.
SCORERS: dict[str, Scorer] = {
    "best": _best,
    "cheapest": _cheapest,
    "fastest": _fastest,
    "balanced": _balanced,
}


class PriorRouter:
    """Chooses by manifest priors (quality, cost, latency); deterministic and explainable.

    It neither balances instances (the adapter round-robins) nor learns from outcomes.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._decisions: dict[tuple[ModelRef, RoutePolicy], RouteDecision] = {}
        self._revision = registry.revision

    def route(self, ref: ModelRef, policy: RoutePolicy, inputs: JSONObject) -> RouteDecision:
        """Priors do not depend on the request, so a decision is reused until the registry
        changes."""
        if self._revision != self.registry.revision:
            self._decisions.clear()
            self._revision = self.registry.revision
        key = (ref, policy)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self._decide(ref, policy)
        return decision

    def _decide(self, ref: ModelRef, policy: RoutePolicy) -> RouteDecision:
        models = self.registry.resolve(ref, tenant=policy.tenant)
        capability = ref.name if ref.kind == "capability" else models[0].capabilities[0]
        kept, rejected = [], []
        for spec in models:
            why = violation(spec, capability, policy)
            if why:
                rejected.append((spec.key, why))
            else:
                kept.append(spec)
        if not kept:
            reasons = "; ".join(f"{m}: {w}" for m, w in rejected)
            raise NoCandidateError(
                f"no model for {ref} satisfies the route constraints ({reasons})"
            )
        scorer = SCORERS.get(policy.policy, _best)
        ranked = sorted(
            (Candidate(s, scorer(s, capability, policy, kept)) for s in kept),
            key=lambda c: (-c.score, c.spec.name, str(c.spec.semver)),
        )
        used = policy.policy if policy.policy in SCORERS else "best"
        note = "" if used == policy.policy else f" ('{policy.policy}' needs live stats; used best)"
        top = ranked[0].spec
        reason = (
            f"{used}: {top.key} scored {ranked[0].score:.4f} "
            f"(quality {top.quality_for(capability):.3f}, cost {top.cost.per_call:g}, "
            f"latency {top.latency_ms:g} ms) among {len(ranked)} candidate(s){note}"
        )
        return RouteDecision(str(ref), used, tuple(ranked), tuple(rejected), reason)

    def acquire(self, spec: ModelSpec, avoid: Collection[int] = ()) -> Lease:
        """The adapter chooses the instance."""
        return ANY_INSTANCE

    def observe(self, spec: ModelSpec, outcome: CallOutcome) -> None:
        """Priors do not change with outcomes."""

    def feedback(
        self,
        model: str,
        capability: str | None,
        score: float,
        *,
        context: str | None = None,
        replaces: float | None = None,
    ) -> None:
        """Priors do not change with feedback."""

    def attach(self, store: Store) -> None:
        """Nothing to persist."""

    def close(self) -> None:
        """Nothing to release."""
