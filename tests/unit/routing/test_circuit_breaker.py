"""The circuit breaker's state machine, driven by an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.routing import BreakerConfig, BreakerState, CircuitBreaker

CONFIG = BreakerConfig(window=10, min_calls=4, failure_rate=0.5, cooldown_s=5.0, max_cooldown_s=12)


def test_stays_closed_below_the_failure_rate_or_the_minimum_calls() -> None:
    breaker = CircuitBreaker(CONFIG)
    for failed in (True, True, True):  # 3 failures but fewer than min_calls results
        assert not breaker.record(failed, 0.0)
    assert breaker.state is BreakerState.CLOSED
    for _ in range(5):
        breaker.record(False, 0.0)
    assert not breaker.record(True, 0.0)  # 4 failures of 9 < 50%
    assert breaker.state is BreakerState.CLOSED and breaker.allow(0.0)


def test_opens_at_the_failure_rate_and_refuses_until_the_cooldown() -> None:
    breaker = CircuitBreaker(CONFIG)
    for failed in (False, True, False):
        breaker.record(failed, 0.0)
    assert breaker.record(True, 1.0)  # 2 of 4 failed: open
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(1.0) and not breaker.allow(5.99)
    assert breaker.blocked_until(2.0) == 6.0
    assert breaker.allow(6.0)  # cooldown over: half-open, one probe may go
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.start()
    assert not breaker.allow(6.1)  # the probe is out; nobody else
    assert breaker.record(False, 6.2)  # the probe succeeded
    assert breaker.state is BreakerState.CLOSED and breaker.allow(6.2)
    assert breaker.failure_rate == 0.0  # a closed circuit starts a fresh window


def test_a_failed_probe_reopens_with_a_longer_cooldown_up_to_the_maximum() -> None:
    breaker = CircuitBreaker(CONFIG)
    for _ in range(4):
        breaker.record(True, 0.0)
    assert breaker.state is BreakerState.OPEN and breaker.reopen_at == 5.0
    now = 5.0
    for expected in (10.0, 12.0, 12.0):
        assert breaker.allow(now)
        breaker.start()
        assert breaker.record(True, now)
        assert breaker.state is BreakerState.OPEN
        assert breaker.cooldown_s == expected
        now = breaker.reopen_at
    assert breaker.allow(now)
    breaker.start()
    breaker.record(False, now)
    assert breaker.state is BreakerState.CLOSED and breaker.cooldown_s == 5.0


def test_an_abandoned_probe_frees_its_slot_and_late_results_change_nothing() -> None:
    breaker = CircuitBreaker(CONFIG)
    for _ in range(4):
        breaker.record(True, 0.0)
    assert not breaker.record(False, 1.0)  # a call from before it opened: ignored
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow(5.0)
    breaker.start()
    assert not breaker.allow(5.0)
    breaker.abandon()
    assert breaker.allow(5.0)


def test_several_probe_successes_may_be_required() -> None:
    breaker = CircuitBreaker(BreakerConfig(min_calls=1, window=1, probes=2, probe_successes=2))
    breaker.record(True, 0.0)
    assert breaker.allow(5.0)
    breaker.start()
    assert breaker.allow(5.0)  # two probes may be out at once
    breaker.start()
    assert not breaker.allow(5.0)
    assert not breaker.record(False, 5.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.record(False, 5.2)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "kwargs",
    [{"min_calls": 0}, {"window": 3, "min_calls": 4}, {"failure_rate": 0.0}, {"probes": 0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


@given(st.lists(st.booleans(), max_size=200))
def test_the_window_counts_exactly_the_last_results(results: list[bool]) -> None:
    config = BreakerConfig(window=7, min_calls=7, failure_rate=1.0)
    breaker = CircuitBreaker(config)
    for i, failed in enumerate(results):
        breaker.record(failed, float(i))
        if breaker.state is not BreakerState.CLOSED:
            assert results[max(0, i - 6) : i + 1] == [True] * 7
            return
        tail = results[max(0, i - 6) : i + 1]
        assert breaker.failure_rate == pytest.approx(sum(tail) / len(tail))
