"""The circuit breaker's state machine, driven by an explicit clock."""

from __future__ import annotations

import random

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
    [
        {"min_calls": 0},
        {"window": 3, "min_calls": 4},
        {"failure_rate": 0.0},
        {"probes": 0},
        {"consecutive_failures": -1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


@given(st.lists(st.booleans(), max_size=200))
def test_the_window_counts_exactly_the_last_results(results: list[bool]) -> None:
    config = BreakerConfig(window=7, min_calls=7, failure_rate=1.0, consecutive_failures=0)
    breaker = CircuitBreaker(config)
    for i, failed in enumerate(results):
        breaker.record(failed, float(i))
        if breaker.state is not BreakerState.CLOSED:
            assert results[max(0, i - 6) : i + 1] == [True] * 7
            return
        tail = results[max(0, i - 6) : i + 1]
        assert breaker.failure_rate == pytest.approx(sum(tail) / len(tail))


@given(st.lists(st.booleans(), max_size=300), st.integers(min_value=1, max_value=9))
def test_it_opens_exactly_when_the_last_window_fails_enough(
    results: list[bool], window: int
) -> None:
    # Long runs of successes (a healthy instance's window is all False) are followed by
    # failures: the share is always that of the last `window` results.
    config = BreakerConfig(
        window=window, min_calls=window, failure_rate=0.5, consecutive_failures=0
    )
    breaker = CircuitBreaker(config)
    for i, failed in enumerate(results):
        breaker.record(failed, float(i))
        tail = results[max(0, i - window + 1) : i + 1]
        # (a failure is what opens it: the share is checked as one is recorded)
        should_open = failed and len(tail) >= window and sum(tail) >= 0.5 * len(tail)
        assert (breaker.state is BreakerState.OPEN) is should_open
        if should_open:
            return
        assert breaker.failure_rate == pytest.approx(sum(tail) / len(tail))


# --------------------------------------------------------------------------- failures in a row


def test_a_dead_instance_opens_after_a_handful_of_failures_in_a_row() -> None:
    config = BreakerConfig()  # the defaults: 20 calls before the share rule may speak
    breaker = CircuitBreaker(config)
    calls = 0
    while breaker.allow(0.0):
        calls += 1
        breaker.record(True, 0.0)
    assert calls == config.consecutive_failures == 6
    assert breaker.state is BreakerState.OPEN


def test_failures_in_a_row_open_it_even_when_the_share_is_low() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=4))
    for _ in range(30):
        breaker.record(False, 0.0)
    for _ in range(3):
        assert not breaker.record(True, 1.0)
    assert breaker.record(True, 1.0)  # 4 of 34 failed, but 4 in a row
    assert breaker.state is BreakerState.OPEN and breaker.reopen_at == 6.0


def test_a_success_ends_the_run_of_failures() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=3, failure_rate=0.9))
    for failed in [True, True, False] * 10 + [True, True]:
        assert not breaker.record(failed, 0.0)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.record(True, 0.0)


def test_a_closed_circuit_counts_failures_in_a_row_afresh() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=3, cooldown_s=1.0))
    for _ in range(3):
        breaker.record(True, 0.0)
    assert breaker.allow(1.0)
    breaker.start()
    assert breaker.record(False, 1.0)  # the probe closes it
    assert not breaker.record(True, 1.1) and not breaker.record(True, 1.2)
    assert breaker.record(True, 1.3)


def test_zero_turns_the_rule_off() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=0))
    for _ in range(19):
        assert not breaker.record(True, 0.0)
    assert breaker.record(True, 0.0)  # only the share rule, after min_calls (20)


def _trips(failure_share: float, calls: int, rng: random.Random) -> bool:
    breaker = CircuitBreaker(BreakerConfig())
    for _ in range(calls):
        breaker.record(rng.random() < failure_share, 0.0)
        if breaker.state is not BreakerState.CLOSED:
            return True
    return False


def test_a_flaky_instance_rarely_trips() -> None:
    rng = random.Random(20240601)
    runs = 2000
    share_60 = sum(_trips(0.3, 60, rng) for _ in range(runs)) / runs
    share_20 = sum(_trips(0.3, 20, rng) for _ in range(runs)) / runs
    # exact values for runs of 6 at p=0.3: 2.8% within 60 calls, 0.8% within 20
    assert share_60 < 0.05, share_60
    assert share_20 < 0.02, share_20
    assert sum(_trips(1.0, 60, rng) for _ in range(100)) == 100
