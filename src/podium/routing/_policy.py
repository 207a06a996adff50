"""Route policies: how a step asks the router to choose among a capability's models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RoutePolicy:
    """A policy name and hard constraints, from a step's ``route:``."""

    policy: str = "best"
    max_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    require_tags: tuple[str, ...] = ()
    forbid_tags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
