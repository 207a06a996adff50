"""Per-model rate limits: a token bucket that refills continuously."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most ``per_s`` calls a second on average, with bursts of up to ``burst`` calls."""

    per_s: float
    burst: float | None = None

    def __post_init__(self) -> None:
        if self.per_s <= 0:
            raise ValueError("per_s must be positive")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")


class TokenBucket:
    """Holds up to ``burst`` tokens, gains ``per_s`` a second; each call spends one.

    Time is passed in, so the bucket is tested without sleeping.
    """

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.rate = limit.per_s
        self.burst = limit.burst if limit.burst is not None else max(1.0, limit.per_s)
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token is there (``0.0``: one is there now); spends nothing."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Spend a token and return ``0.0``, or return how long to wait for one."""
        wait = self.wait_time(now)
        if wait == 0.0:
            self.tokens -= 1.0
        return wait
