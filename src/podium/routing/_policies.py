"""Route policies as classes: each scores a candidate and turns a ranking into a decision.

A policy object is made once per ``(reference, route)`` from the step's ``route:`` options
(which are checked then, so a typo fails when the workflow loads). The static policies
(``best``, ``cheapest``, ``fastest``, ``balanced``) only score; the ranking, health checks
and the explanation are shared here. ``learned`` and ``cascade`` live in their own modules
and override :meth:`Policy.decide`.

Options every policy takes:

* ``hedge_after_ms``: when a call has not answered after this long, send the same request
  to another instance and take the first answer (the other is cancelled);
* ``failover``: how many runner-ups to try, in order, if the chosen model fails for good
  (before the step's own ``fallback`` list).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from podium._types import JSONObject
from podium.registry import ModelSpec
from podium.routing._candidates import INF, Norms, Signals, Table
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import Candidate, RouteDecision

if TYPE_CHECKING:
    from podium.routing._bandit import Bandit
    from podium.routing._cascade import CascadeBook


class OptionError(ValueError):
    """A ``route:`` option has a bad value; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class Env(Protocol):
    """What policies may ask of the router."""

    explain_top: int
    epoch: int
    rng: random.Random
    bandit: Bandit
    cascades: CascadeBook

    def now(self) -> float: ...

    def signals(self, spec: ModelSpec, capability: str) -> Signals: ...

    def health(self, spec: ModelSpec, now: float) -> tuple[float, str]: ...


def number(
    options: Mapping[str, Any],
    key: str,
    default: float,
    *,
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    """A numeric option within ``[low, high]``."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(key, "must be a number")
    if not low <= value <= high:
        raise OptionError(key, f"must be between {low:g} and {high:g}")
    return float(value)


def whole(options: Mapping[str, Any], key: str, default: int, *, low: int = 0) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionError(key, f"must be a whole number, at least {low}")
    return value


class Policy:
    """Scores candidates; the base class ranks by score and explains the choice."""

    name: ClassVar[str] = ""
    #: whether the score reads live latency (so a latency change must re-rank)
    uses_latency: bool = False
    #: the options this policy reads beyond the common ones
    accepts: ClassVar[frozenset[str]] = frozenset()
    common: ClassVar[frozenset[str]] = frozenset({"hedge_after_ms", "failover"})
    cacheable: ClassVar[bool] = True

    def __init__(self, route: RoutePolicy) -> None:
        options = route.options
        unknown = sorted(set(options) - self.common - self.accepts)
        if unknown:
            known = ", ".join(sorted(self.common | self.accepts))
            raise OptionError(unknown[0], f"unknown option for policy '{self.name}' ({known})")
        hedge = options.get("hedge_after_ms")
        self.hedge_after_s = (
            None if hedge is None else number(options, "hedge_after_ms", 0, low=0.001) / 1000.0
        )
        self.failover = whole(options, "failover", 0)

    def prepare(self, table: Table, env: Env) -> None:
        """Called once when a table is built (policies may keep state on it)."""

    def score(self, s: Signals, norms: Norms) -> float:
        raise NotImplementedError

    def describe(self, s: Signals) -> str:
        return (
            f"quality {s.quality:.3f}"
            + (f" x availability {s.availability:.2f}" if s.availability < 0.995 else "")
            + f", cost {s.cost:g}, latency {s.latency_ms:.3g} ms"
        )

    # deciding ------------------------------------------------------------------------------
    def decide(self, table: Table, env: Env, inputs: JSONObject) -> RouteDecision:
        """The top of the ranking, skipping models whose every circuit is open."""
        now = env.now()
        ranked, valid_until, skipped = healthy_top(table, env, now, env.explain_top)
        top = ranked[0]
        signals = env.signals(top.spec, table.capability)
        reason = f"{self.name}: {top.spec.key} scored {top.score:.4f} ({self.describe(signals)})"
        if len(ranked) > 1:
            reason += f" over {ranked[1].spec.key} ({ranked[1].score:.4f})"
        reason += f" among {len(table.members)} candidate(s)" + skipped
        decision = RouteDecision(
            str(table.ref),
            self.name,
            tuple(ranked),
            tuple(table.rejected),
            reason,
            considered=len(table.members),
            failover=tuple(c.spec for c in ranked[1 : 1 + self.failover]),
            hedge_after_s=self.hedge_after_s,
        )
        return table.keep(decision, env.epoch, valid_until)


def healthy_top(
    table: Table, env: Env, now: float, limit: int
) -> tuple[list[Candidate], float, str]:
    """The best ``limit`` candidates with a usable instance, when the decision expires
    (the soonest an excluded model may be probed again), and a note on what was skipped.

    If every candidate is excluded, they are all kept (each call then fails fast or probes).
    """
    ranked: list[Candidate] = []
    valid_until = INF
    excluded = 0
    members = table.members
    for negative, _, index in table.order:
        spec = members[index]
        blocked, note = env.health(spec, now)
        if blocked:
            excluded += 1
            valid_until = min(valid_until, blocked)
            continue
        ranked.append(Candidate(spec, -negative, note))
        if len(ranked) >= limit:
            break
    if not ranked:
        ranked = [
            Candidate(members[i], -neg, env.health(members[i], now)[1])
            for neg, _, i in table.order[:limit]
        ]
        return ranked, valid_until, "; every candidate's circuit is open"
    skipped = f"; skipped {excluded} with every circuit open" if excluded else ""
    return ranked, valid_until, skipped


class Best(Policy):
    """Highest quality (times availability); cost breaks ties."""

    name = "best"

    def score(self, s: Signals, norms: Norms) -> float:
        return s.useful_quality - 1e-6 * s.cost


class Cheapest(Policy):
    """Lowest cost per call; quality breaks ties."""

    name = "cheapest"

    def score(self, s: Signals, norms: Norms) -> float:
        return -s.cost + 1e-9 * s.useful_quality


class Fastest(Policy):
    """Lowest latency (measured EWMA once there are calls, else the manifest's)."""

    name = "fastest"
    uses_latency = True

    def score(self, s: Signals, norms: Norms) -> float:
        return -s.latency_ms + 1e-6 * s.useful_quality


class Balanced(Policy):
    """``quality_weight * quality - cost_weight * cost / C - latency_weight * latency / L``.

    ``C`` and ``L`` are the highest manifest cost and latency among the step's candidates,
    so both terms are about 0..1. Weights default to 0.6, 0.25 and 0.15.
    """

    name = "balanced"
    uses_latency = True
    accepts = frozenset({"quality_weight", "cost_weight", "latency_weight"})

    def __init__(self, route: RoutePolicy) -> None:
        super().__init__(route)
        options = route.options
        self.wq = number(options, "quality_weight", 0.6, low=0.0)
        self.wc = number(options, "cost_weight", 0.25, low=0.0)
        self.wl = number(options, "latency_weight", 0.15, low=0.0)

    def score(self, s: Signals, norms: Norms) -> float:
        return (
            self.wq * s.useful_quality
            - self.wc * s.cost / norms.cost
            - self.wl * s.latency_ms / norms.latency_ms
        )
