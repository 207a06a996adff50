"""Requests per minute per key: a token bucket per principal, refilled continuously."""

from __future__ import annotations

import time


class RateLimiter:
    """``per_minute`` requests per principal, with bursts up to the same number.
    0 turns the limit off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, principal: str, now: float | None = None) -> float | None:
        """Spend one request: ``None`` if allowed, else the seconds until one is."""
        if self.per_minute <= 0:
            return None
        moment = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(principal, (float(self.per_minute), moment))
        tokens = min(float(self.per_minute), tokens + (moment - last) * self._rate)
        if tokens < 1.0:
            self._buckets[principal] = (tokens, moment)
            return (1.0 - tokens) / self._rate
        self._buckets[principal] = (tokens - 1.0, moment)
        return None
