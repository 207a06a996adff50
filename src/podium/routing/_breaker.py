"""A circuit breaker per instance: a small state machine with no I/O and no clock of its own.

::

    CLOSED ---- failure share >= failure_rate in the last `window` calls ----> OPEN
                (once there are at least `min_calls` of them),
                or `consecutive_failures` failures in a row
    OPEN ------ `cooldown_s` has passed, at the next allow() ---------------> HALF_OPEN
    HALF_OPEN - `probe_successes` probes succeed ----------------------------> CLOSED
    HALF_OPEN - a probe fails (the cooldown doubles, up to max_cooldown_s) -> OPEN

While open, calls are refused; half-open lets ``probes`` calls through at a time to test
recovery. Only failures that speak about the instance's health count (the caller decides:
timeouts, unreachable hosts and 5xx do; a bad request does not). Time is passed in, so the
machine is tested without sleeping.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerConfig:
    """When a circuit opens and how it recovers.

    Two rules open it. ``consecutive_failures`` failures in a row (0 turns the rule off)
    stop a dead instance after a handful of calls. The failure share over the last
    ``window`` calls catches an instance that fails most of the time without long runs.
    Both spare a merely flaky one: with 30% of requests failing at random, an instance
    trips within 20 / 60 / 300 calls with probability 0.8% / 2.8% / 14% (runs of 6 are
    rare; at 5 it would be 2.8% / 9.2% / 40%), and the share rule alone 0.4% within 300
    (with the common ``window=20, min_calls=5, failure_rate=0.5``, 92% would), since
    retries on other instances already absorb random failures.
    """

    window: int = 50
    min_calls: int = 20
    failure_rate: float = 0.6
    consecutive_failures: int = 6
    cooldown_s: float = 5.0
    max_cooldown_s: float = 60.0
    probes: int = 1
    probe_successes: int = 1

    def __post_init__(self) -> None:
        if self.window < 1 or not 1 <= self.min_calls <= self.window:
            raise ValueError("need 1 <= min_calls <= window")
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.consecutive_failures < 0:
            raise ValueError("consecutive_failures must be 0 (off) or more")
        if self.probes < 1 or self.probe_successes < 1:
            raise ValueError("probes and probe_successes must be at least 1")


class CircuitBreaker:
    """One instance's breaker. ``allow`` asks, ``start`` takes a slot, ``record`` reports."""

    __slots__ = (
        "_failures",
        "_next",
        "_outcomes",
        "_streak",
        "config",
        "cooldown_s",
        "in_flight",
        "reopen_at",
        "state",
        "successes",
        "transitions",
    )

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state = BreakerState.CLOSED
        self._outcomes: list[bool] = []  # ring buffer of the last `window` results (True: failed)
        self._next = 0
        self._failures = 0
        self._streak = 0  # failures in a row, up to the latest result
        self.reopen_at = 0.0
        self.cooldown_s = config.cooldown_s
        self.in_flight = 0
        self.successes = 0
        self.transitions = 0

    @property
    def failure_rate(self) -> float:
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    def allow(self, now: float) -> bool:
        """Whether a call may go to this instance now (may move OPEN to HALF_OPEN)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            if now < self.reopen_at:
                return False
            self._move(BreakerState.HALF_OPEN)
        return self.in_flight < self.config.probes

    def blocked_until(self, now: float) -> float:
        """When this instance may next take a call (``0.0``: now)."""
        if self.state is BreakerState.OPEN and now < self.reopen_at:
            return self.reopen_at
        return 0.0

    def start(self) -> None:
        """A call was sent (counts as a probe while half-open)."""
        if self.state is BreakerState.HALF_OPEN:
            self.in_flight += 1

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled): free its probe slot."""
        if self.state is BreakerState.HALF_OPEN and self.in_flight:
            self.in_flight -= 1

    def record(self, failed: bool, now: float) -> bool:
        """A call's verdict; returns whether the state changed."""
        state = self.state
        if state is BreakerState.CLOSED:
            outcomes = self._outcomes
            config = self.config
            if not failed and not self._failures:
                # A success while the window holds none: only its length can change (which
                # slot the ring overwrites next does not matter while every slot is False).
                if len(outcomes) < config.window:
                    outcomes.append(False)
                self._streak = 0
                return False
            if len(outcomes) < config.window:
                outcomes.append(failed)
            else:
                self._failures -= outcomes[self._next]
                outcomes[self._next] = failed
                self._next = (self._next + 1) % config.window
            if not failed:
                self._streak = 0
                return False
            self._failures += 1
            self._streak += 1
            if (
                len(outcomes) >= config.min_calls
                and self._failures >= config.failure_rate * len(outcomes)
            ) or 0 < config.consecutive_failures <= self._streak:
                self._open(now, config.cooldown_s)
                return True
            return False
        if state is BreakerState.OPEN:
            return False  # a call from before the circuit opened: it changes nothing
        if self.in_flight:
            self.in_flight -= 1
        if failed:
            self._open(now, min(self.cooldown_s * 2.0, self.config.max_cooldown_s))
            return True
        self.successes += 1
        if self.successes >= self.config.probe_successes:
            self._close()
            return True
        return False

    def adopt(self, is_open: bool, reopen_at: float, cooldown_s: float) -> bool:
        """Take the state another process's breaker of this instance reached: open until
        ``reopen_at`` (this breaker's clock), or closed. Returns whether the state changed."""
        if is_open:
            if self.state is BreakerState.OPEN and self.reopen_at >= reopen_at:
                return False
            self._open(reopen_at - cooldown_s, cooldown_s)
            return True
        if self.state is BreakerState.CLOSED:
            return False
        self._close()
        return True

    def _open(self, now: float, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self.reopen_at = now + cooldown_s
        self.in_flight = 0
        self.successes = 0
        self._streak = 0
        self._move(BreakerState.OPEN)

    def _close(self) -> None:
        self._outcomes.clear()
        self._next = 0
        self._failures = 0
        self.cooldown_s = self.config.cooldown_s
        self.in_flight = 0
        self.successes = 0
        self._move(BreakerState.CLOSED)

    def _move(self, state: BreakerState) -> None:
        self.state = state
        self.transitions += 1
