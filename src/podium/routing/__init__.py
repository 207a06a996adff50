"""Layer 3: choosing a model (and instance) for each call, and explaining the choice.

The engine calls a :class:`Router`; :class:`AdaptiveRouter` is the default. Per call it
filters a capability's candidates by the step's constraints and their health, scores them
under a policy (``best``, ``cheapest``, ``fastest``, ``balanced``, ``learned``, ``cascade``;
see :data:`POLICIES`), picks an instance by least outstanding requests (power of two
choices, weights, concurrency caps, rate limits), trips circuit breakers on failing
instances, and learns from live statistics and quality feedback. ``docs/routing.md`` is
the reference for ``route:`` options.
"""

from podium.routing._bandit import Bandit
from podium.routing._breaker import BreakerConfig, BreakerState, CircuitBreaker
from podium.routing._candidates import Signals, violation
from podium.routing._cascade import tune_thresholds
from podium.routing._catalog import POLICIES, check_route, make_policy
from podium.routing._config import RoutingConfig
from podium.routing._instances import InstancePool
from podium.routing._policies import Policy
from podium.routing._policy import RoutePolicy, for_tenant
from podium.routing._prior import SCORERS, PriorRouter
from podium.routing._protocol import (
    ANY_INSTANCE,
    CallOutcome,
    Candidate,
    Lease,
    RouteDecision,
    Router,
)
from podium.routing._ratelimit import RateLimit, TokenBucket
from podium.routing._router import AdaptiveRouter
from podium.routing._stats import ModelStats, StreamingHistogram

__all__ = [
    "ANY_INSTANCE",
    "POLICIES",
    "SCORERS",
    "AdaptiveRouter",
    "Bandit",
    "BreakerConfig",
    "BreakerState",
    "CallOutcome",
    "Candidate",
    "CircuitBreaker",
    "InstancePool",
    "Lease",
    "ModelStats",
    "Policy",
    "PriorRouter",
    "RateLimit",
    "RouteDecision",
    "RoutePolicy",
    "Router",
    "RoutingConfig",
    "Signals",
    "StreamingHistogram",
    "TokenBucket",
    "check_route",
    "for_tenant",
    "make_policy",
    "tune_thresholds",
    "violation",
]
