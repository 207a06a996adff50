"""Choosing an instance of a model: least outstanding requests by power of two choices.

Each call samples two eligible instances (with probability proportional to their
``weight``) and takes the one with fewer outstanding requests per unit of weight (scaled
up by the instance's recent failure rate, so a failing instance loses ties). Eligible
means: its circuit lets the call through, it is under its ``max_concurrency``, and the
caller has not already tried it for this step (retries move to another instance; once all
have been tried, any may be used again). A model's rate limit is checked last, so a call
that has to wait spends no token.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection

from podium.registry import ModelSpec
from podium.routing._breaker import BreakerConfig, BreakerState, CircuitBreaker
from podium.routing._protocol import CallOutcome, Lease
from podium.routing._ratelimit import RateLimit, SharedBucket, TokenBucket

#: How long a caller waits before asking again when every instance is at its cap.
CAP_WAIT_S = 0.002

_CLOSED = BreakerState.CLOSED


class InstancePool:
    """The instances of one model version: load, caps, breakers and the rate limit."""

    __slots__ = (
        "breakers",
        "caps",
        "key",
        "leases",
        "limiter",
        "on_change",
        "outstanding",
        "rng",
        "size",
        "weights",
    )

    def __init__(
        self,
        spec: ModelSpec,
        breaker: BreakerConfig,
        rng: random.Random,
        on_change: Callable[[], None],
        limit: RateLimit | None = None,
        now: float = 0.0,
        *,
        limiter: TokenBucket | SharedBucket | None = None,
    ) -> None:
        instances = spec.instance_list()
        self.key = spec.key
        self.size = len(instances)
        self.weights = [i.weight for i in instances]
        self.caps = [i.max_concurrency for i in instances]
        self.outstanding = [0] * self.size
        self.breakers = [CircuitBreaker(breaker) for _ in instances]
        self.leases = [Lease(i) for i in range(self.size)]
        if limiter is None and limit is not None:
            limiter = TokenBucket(limit, now)
        self.limiter = limiter
        self.rng = rng
        self.on_change = on_change

    # choosing ------------------------------------------------------------------------------
    def acquire(self, now: float, avoid: Collection[int] = ()) -> Lease:
        """A lease on the best instance now, or how long to wait, or why not at all."""
        if self.size == 1:
            if self.breakers[0].state is _CLOSED and self.caps[0] is None and not self.limiter:
                self.outstanding[0] += 1  # the common case: one healthy, unlimited instance
                return self.leases[0]
            return self._single(now)
        eligible, capped = self._eligible(now, avoid)
        if not eligible and avoid:
            eligible, capped = self._eligible(now, ())
        if not eligible:
            if capped:
                return Lease(wait_s=CAP_WAIT_S)
            return Lease(refused=self._refusal(now))
        choice = eligible[0] if len(eligible) == 1 else self._two_choices(eligible)
        return self._grant(choice, now)

    def _single(self, now: float) -> Lease:
        breaker = self.breakers[0]
        if breaker.state is not _CLOSED:
            before = breaker.transitions
            allowed = breaker.allow(now)
            if breaker.transitions != before:
                self.on_change()
            if not allowed:
                if breaker.state is BreakerState.HALF_OPEN:
                    return Lease(wait_s=CAP_WAIT_S)  # the probe is out; its verdict comes soon
                return Lease(refused=self._refusal(now))
        cap = self.caps[0]
        if cap is not None and self.outstanding[0] >= cap:
            return Lease(wait_s=CAP_WAIT_S)
        return self._grant(0, now)

    def _eligible(self, now: float, avoid: Collection[int]) -> tuple[list[int], bool]:
        eligible: list[int] = []
        capped = False
        changed = False
        for i, breaker in enumerate(self.breakers):
            if i in avoid:
                continue
            if breaker.state is not _CLOSED:
                before = breaker.transitions
                allowed = breaker.allow(now)
                changed |= breaker.transitions != before
                if not allowed:
                    capped |= breaker.state is BreakerState.HALF_OPEN
                    continue
            cap = self.caps[i]
            if cap is not None and self.outstanding[i] >= cap:
                capped = True
                continue
            eligible.append(i)
        if changed:
            self.on_change()
        return eligible, capped

    def _two_choices(self, eligible: list[int]) -> int:
        first = self._weighted(eligible, -1)
        second = self._weighted(eligible, first)
        return second if self._load(second) < self._load(first) else first

    def _load(self, i: int) -> float:
        """Outstanding requests per unit of weight, raised by the recent failure rate (an
        instance failing half its calls counts double), so retries favour healthy ones."""
        health = max(0.05, 1.0 - self.breakers[i].failure_rate)
        return (self.outstanding[i] + 1) / (self.weights[i] * health)

    def _weighted(self, eligible: list[int], skip: int) -> int:
        weights = self.weights
        total = sum(weights[i] for i in eligible if i != skip)
        point = self.rng.random() * total
        last = skip
        for i in eligible:
            if i == skip:
                continue
            last = i
            point -= weights[i]
            if point < 0:
                return i
        return last

    def _grant(self, instance: int, now: float) -> Lease:
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.take(now)
            if wait > 0.0:
                return Lease(wait_s=wait)
        self.outstanding[instance] += 1
        breaker = self.breakers[instance]
        if breaker.state is not _CLOSED:
            breaker.start()
        return self.leases[instance]

    def _refusal(self, now: float) -> str:
        soonest = min(b.reopen_at for b in self.breakers)
        which = "its instance" if self.size == 1 else f"all {self.size} instances"
        return f"{self.key}: circuit open on {which}; next probe in {max(soonest - now, 0.0):.1f} s"

    # reporting -----------------------------------------------------------------------------
    def release(self, outcome: CallOutcome, now: float) -> None:
        """Free the instance and give its breaker the verdict."""
        instance = outcome.instance
        if instance is None or instance >= self.size:
            return
        if self.outstanding[instance]:
            self.outstanding[instance] -= 1
        breaker = self.breakers[instance]
        if outcome.cancelled:
            breaker.abandon()
        elif breaker.record(not outcome.ok and outcome.fault, now):
            self.on_change()

    # health --------------------------------------------------------------------------------
    def blocked_until(self, now: float) -> float:
        """``0.0`` if some instance can take a call now, else when the first one reopens."""
        soonest = 0.0
        for breaker in self.breakers:
            until = breaker.blocked_until(now)
            if until == 0.0:
                return 0.0
            soonest = until if soonest == 0.0 else min(soonest, until)
        return soonest

    def note(self) -> str:
        """A short health note for explanations ("" when all is well)."""
        unhealthy = [b for b in self.breakers if b.state is not _CLOSED]
        if not unhealthy:
            return ""
        states = ", ".join(
            f"#{i} {b.state}" for i, b in enumerate(self.breakers) if b.state is not _CLOSED
        )
        return f"circuit {states}"

    def describe(self) -> list[dict[str, object]]:
        """Per instance: weight, cap, outstanding requests, breaker state and failure rate."""
        return [
            {
                "instance": i,
                "weight": self.weights[i],
                "max_concurrency": self.caps[i],
                "outstanding": self.outstanding[i],
                "circuit": str(b.state),
                "failure_rate": round(b.failure_rate, 3),
            }
            for i, b in enumerate(self.breakers)
        ]
