"""Per-model rate limits: a token bucket that refills continuously, in this process
(:class:`TokenBucket`) or in the database, shared by every process (:class:`SharedBucket`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

#: A shared bucket takes this many seconds' worth of tokens from the database at a time.
BATCH_S = 0.1
#: How long a caller waits when a shared bucket has asked the database for tokens.
ASK_WAIT_S = 0.002


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


class SharedBucket:
    """A rate limit kept in the database's bucket ``key`` (see ``Store.take_tokens``), so that
    every process together makes at most ``per_s`` calls a second (bursts up to ``burst``).

    The hot path spends tokens held here; when they run low it asks (through ``ask``, which
    wakes the background sync) for a batch of about ``BATCH_S`` seconds' worth, never more
    than the bucket gave, so the total across processes never exceeds the limit. A call
    that finds none waits for the batch (or for the time the database said the next token
    needs), then asks again.
    """

    __slots__ = ("ask", "asked", "batch", "burst", "hint_s", "key", "per_s", "tokens")

    def __init__(self, key: str, limit: RateLimit, ask: Callable[[SharedBucket], None]) -> None:
        self.key = key
        self.per_s = limit.per_s
        self.burst = limit.burst if limit.burst is not None else max(1.0, limit.per_s)
        self.batch = max(1, min(int(self.burst), math.ceil(self.per_s * BATCH_S)))
        self.tokens = 0
        self.asked = False
        self.hint_s = ASK_WAIT_S
        self.ask = ask

    def take(self, now: float) -> float:
        """Spend a token and return ``0.0``, or return how long to wait for one."""
        if self.tokens >= 1:
            self.tokens -= 1
            if self.tokens * 2 < self.batch and not self.asked:
                self._ask()
            return 0.0
        if not self.asked:
            self._ask()
        return max(self.hint_s, ASK_WAIT_S)

    def _ask(self) -> None:
        self.asked = True
        self.ask(self)

    def granted(self, tokens: int, wait_s: float) -> None:
        """The database's answer to the last ask."""
        self.tokens += tokens
        self.asked = False
        self.hint_s = wait_s if tokens == 0 else ASK_WAIT_S
