"""The router contract the engine calls through.

Per model call the engine asks, in order: :meth:`Router.route` (which model, and why),
:meth:`Router.acquire` (which instance, or wait, or refuse while every circuit is open),
then reports :meth:`Router.observe` (how the call went, which also releases the instance).
Quality judgements arrive later through :meth:`Router.feedback`.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from podium._types import JSONObject
from podium.registry import ModelRef, ModelSpec
from podium.routing._policy import RoutePolicy
from podium.store import Store


@dataclass(frozen=True)
class Candidate:
    """One model considered for a call, with its score under the policy."""

    spec: ModelSpec
    score: float
    note: str = ""


@dataclass(frozen=True)
class RouteDecision:
    """The router's choice and why: the candidates, their scores, the reason.

    ``ranked`` holds the best candidates (all of them when there are few; the top ones of a
    large capability, with ``considered`` counting every candidate that passed the
    constraints). The engine also reads how to carry the call out:

    * ``failover``: runner-ups to try, in order, when the chosen model fails for good;
    * ``stages`` and ``thresholds``: a cascade, cheapest first; stage ``i`` answers when its
      output's ``confidence_field`` is at least ``thresholds[i]``, else the next is asked;
    * ``hedge_after_s``: send a second request to another instance when the first is slow;
    * ``context``: the request's context under a learned policy (so feedback can find it).
    """

    ref: str
    policy: str
    ranked: tuple[Candidate, ...]
    rejected: tuple[tuple[str, str], ...]
    reason: str
    considered: int = 0
    failover: tuple[ModelSpec, ...] = ()
    stages: tuple[ModelSpec, ...] = ()
    thresholds: tuple[float, ...] = ()
    confidence_field: str = "confidence"
    hedge_after_s: float | None = None
    context: str | None = None

    @property
    def chosen(self) -> ModelSpec:
        return self.ranked[0].spec

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
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
        if self.considered > len(self.ranked):
            data["considered"] = self.considered
        if self.failover:
            data["failover"] = [s.key for s in self.failover]
        if self.stages:
            data["cascade"] = [
                {"model": s.key, "threshold": t}
                for s, t in zip(self.stages, (*self.thresholds, None), strict=False)
            ]
        if self.hedge_after_s is not None:
            data["hedge_after_ms"] = round(self.hedge_after_s * 1000.0, 3)
        if self.context is not None:
            data["context"] = self.context
        return data

    def to_json(self) -> dict[str, Any]:
        """Candidates, scores, the choice and the reason, as JSON (computed once)."""
        return self._json


class CallOutcome(NamedTuple):
    """What happened on one model call, reported back so routing can learn.

    ``instance`` is the one :meth:`Router.acquire` granted (reporting releases it).
    ``fault`` says whether a failure speaks about the instance's health (timeouts,
    unreachable, 5xx) rather than about the request (bad input, refused content).
    ``cancelled`` calls were abandoned without an answer (the slower of a hedged pair).
    (A named tuple: one is made per call, and tuples are the cheapest immutable record.)
    """

    capability: str | None
    latency_ms: float
    ok: bool
    cost: float = 0.0
    instance: int | None = None
    fault: bool = True
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Lease:
    """The answer to :meth:`Router.acquire`.

    Granted: call ``instance`` (``None``: let the adapter pick). Otherwise either wait
    ``wait_s`` seconds and ask again (rate limit, or every instance at its concurrency cap),
    or give up on this model because ``refused`` (every instance's circuit is open).
    """

    instance: int | None = None
    wait_s: float = 0.0
    refused: str | None = None

    @property
    def granted(self) -> bool:
        return self.refused is None and self.wait_s <= 0.0


#: A lease that lets the adapter choose the instance.
ANY_INSTANCE = Lease()


class Router(Protocol):
    """Picks models and instances under a policy; learns from outcomes and feedback."""

    def route(self, ref: ModelRef, policy: RoutePolicy, inputs: JSONObject) -> RouteDecision: ...

    def acquire(self, spec: ModelSpec, avoid: Collection[int] = ()) -> Lease: ...

    def observe(self, spec: ModelSpec, outcome: CallOutcome) -> None: ...

    def feedback(
        self,
        model: str,
        capability: str | None,
        score: float,
        *,
        context: str | None = None,
        replaces: float | None = None,
    ) -> None: ...

    def attach(self, store: Store) -> None: ...

    def close(self) -> None:
        """Push what is still unshared and stop any background work."""
        ...
