"""Candidates for one reference under one policy: filtered once, then ranked incrementally.

A :class:`Table` holds the models of a ``(reference, policy)`` pair that pass the static
constraints (version range, status, cost, latency, quality, tags). Their scores live in a
sorted list, so when live statistics change one model's score the table moves that one
entry (a binary search) instead of re-sorting every candidate; a decision then reads only
the top of the list. Health (open circuits) is applied when a decision is made.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium.registry import ModelRef, ModelSpec
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import RouteDecision

if TYPE_CHECKING:
    from podium.routing._policies import Policy

INF = math.inf


@dataclass(frozen=True, slots=True)
class Signals:
    """What a policy scores: priors refined by live statistics.

    ``quality`` is the prior, moved towards the quality feedback received; ``availability``
    the recent share of calls that did not fail (an EWMA, 1.0 with no failures);
    ``latency_ms`` the EWMA of measured latency once there are enough calls, else the prior;
    ``cost`` the prior per-call cost, or the measured average for token-priced models.
    """

    quality: float
    cost: float
    latency_ms: float
    availability: float = 1.0

    @property
    def useful_quality(self) -> float:
        """Quality times availability: the expected quality of an answer, failures counted."""
        return self.quality * self.availability


@dataclass(frozen=True, slots=True)
class Norms:
    """Scales that make cost and latency comparable across one table's candidates."""

    cost: float
    latency_ms: float


def violation(spec: ModelSpec, capability: str, policy: RoutePolicy) -> str | None:
    """Why ``spec`` breaks the hard constraints of ``policy`` (``None`` if it does not)."""
    if policy.max_cost is not None and spec.cost.per_call > policy.max_cost:
        return f"cost {spec.cost.per_call:g} > max_cost {policy.max_cost:g}"
    if policy.max_latency_ms is not None and spec.latency_ms > policy.max_latency_ms:
        return f"latency {spec.latency_ms:g} ms > max_latency_ms {policy.max_latency_ms:g}"
    if policy.min_quality is not None and spec.quality_for(capability) < policy.min_quality:
        return f"quality {spec.quality_for(capability):.3f} < min_quality {policy.min_quality:g}"
    missing = [t for t in policy.require_tags if t not in spec.tags]
    if missing:
        return f"lacks tag(s) {', '.join(missing)}"
    forbidden = [t for t in policy.forbid_tags if t in spec.tags]
    if forbidden:
        return f"has forbidden tag(s) {', '.join(forbidden)}"
    return None


class Table:
    """The candidates of one ``(ref, policy)`` and their ranking under the policy."""

    __slots__ = (
        "capability",
        "decision",
        "epoch",
        "members",
        "norms",
        "order",
        "policy",
        "ref",
        "rejected",
        "route",
        "scores",
        "state",
        "tiebreak",
        "valid_until",
        "version",
    )

    def __init__(
        self,
        ref: ModelRef,
        route: RoutePolicy,
        policy: Policy,
        capability: str,
        members: list[ModelSpec],
        rejected: list[tuple[str, str]],
    ) -> None:
        self.ref = ref
        self.route = route
        self.policy = policy
        self.capability = capability
        self.members = members
        self.rejected = rejected
        self.norms = Norms(
            max((m.cost.per_call for m in members), default=0.0) or 1.0,
            max((m.latency_ms for m in members), default=0.0) or 1.0,
        )
        by_name = sorted(range(len(members)), key=lambda i: (members[i].name, members[i].semver))
        self.tiebreak = [0] * len(members)
        for rank, index in enumerate(by_name):
            self.tiebreak[index] = rank
        self.scores: list[float] = [0.0] * len(members)
        self.order: list[tuple[float, int, int]] = []
        self.version = 0
        self.decision: RouteDecision | None = None
        self.epoch = -1
        self.valid_until = INF
        self.state: Any = None  # per-table state a policy may keep (e.g. a featurizer)

    def rank(self, scores: list[float]) -> None:
        """Set every score at once (a full sort; used when the table is built)."""
        self.scores = scores
        self.order = sorted((-s, self.tiebreak[i], i) for i, s in enumerate(scores))
        self.version += 1

    def rescore(self, index: int, score: float, shown: int) -> None:
        """Move one candidate to its new score (two binary searches).

        The cached decision is dropped only when the candidate was or becomes one of the
        ``shown`` best, since a decision reads (and explains) only those.
        """
        old = self.scores[index]
        if score == old:
            return
        tiebreak = self.tiebreak[index]
        order = self.order
        before = bisect.bisect_left(order, (-old, tiebreak, index))
        del order[before]
        entry = (-score, tiebreak, index)
        after = bisect.bisect_left(order, entry)
        order.insert(after, entry)
        self.scores[index] = score
        self.version += 1
        if before < shown or after < shown:
            self.decision = None

    def keep(self, decision: RouteDecision, epoch: int, valid_until: float) -> RouteDecision:
        """Cache ``decision`` until the router's ``epoch`` moves on or ``valid_until``."""
        self.decision, self.epoch, self.valid_until = decision, epoch, valid_until
        return decision
