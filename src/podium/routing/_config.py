"""The router's settings, as one frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podium.routing._breaker import BreakerConfig
from podium.routing._ratelimit import RateLimit


@dataclass(frozen=True)
class RoutingConfig:
    """How the :class:`AdaptiveRouter` behaves.

    ``rate_limits`` maps a model name (or ``name@version``) to its :class:`RateLimit`.
    ``flush_interval_s`` is how often live statistics are written to the store at most.
    ``explain_top`` is how many candidates a decision records (all of them when fewer).
    Measured latency replaces the manifest's after ``min_latency_samples`` answers; quality
    feedback counts as much as the manifest's prior after ``quality_prior_weight``
    judgements. ``seed`` makes instance sampling and learned routing repeatable.
    """

    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    flush_interval_s: float = 1.0
    explain_top: int = 8
    min_latency_samples: int = 3
    ewma_alpha: float = 0.2
    quality_prior_weight: float = 20.0
    seed: int | None = None
