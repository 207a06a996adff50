"""Layer 3: choosing a model (and instance) for each call, and explaining the choice."""

from podium.routing._policy import RoutePolicy
from podium.routing._prior import SCORERS, PriorRouter
from podium.routing._protocol import CallOutcome, Candidate, RouteDecision, Router

__all__ = [
    "SCORERS",
    "CallOutcome",
    "Candidate",
    "PriorRouter",
    "RouteDecision",
    "RoutePolicy",
    "Router",
]
