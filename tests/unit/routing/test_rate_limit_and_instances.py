"""Token buckets, and picking instances: power of two choices, weights, caps, retries."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from podium.registry import ModelSpec, Registry
from podium.routing import (
    AdaptiveRouter,
    BreakerConfig,
    CallOutcome,
    InstancePool,
    RateLimit,
    RoutingConfig,
    TokenBucket,
)
from podium.store import MemoryStore


def spec_with(instances: list[dict[str, object]] | int) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "svc",
            "version": "1.0.0",
            "capabilities": ["t.x"],
            "runtime": {"kind": "http", "url": "http://127.0.0.1:9/"},
            "instances": instances,
        }
    )


def pool_of(spec: ModelSpec, seed: int = 3, **kw: object) -> InstancePool:
    return InstancePool(
        spec,
        BreakerConfig(min_calls=2, window=2, cooldown_s=10),
        random.Random(seed),
        lambda: None,
        **kw,  # type: ignore[arg-type]
    )


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(RateLimit(per_s=10, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)  # empty: a token in 0.1 s
    assert bucket.take(0.05) == pytest.approx(0.05)
    assert bucket.take(0.1) == 0.0
    assert bucket.wait_time(10.0) == 0.0 and bucket.tokens == 3  # refills up to the burst
    with pytest.raises(ValueError):
        RateLimit(per_s=0)


def test_rate_limited_models_make_callers_wait() -> None:
    clock = [0.0]
    registry = Registry(MemoryStore())
    spec = registry.register(spec_with(1))
    config = RoutingConfig(rate_limits={"svc": RateLimit(per_s=2, burst=1)})
    router = AdaptiveRouter(registry, config, clock=lambda: clock[0])
    assert router.acquire(spec).granted
    waiting = router.acquire(spec)
    assert not waiting.granted and waiting.wait_s == pytest.approx(0.5)
    clock[0] = 0.5
    assert router.acquire(spec).granted
    router.set_rate_limit("svc", None)
    assert all(router.acquire(spec).granted for _ in range(10))


def test_power_of_two_choices_prefers_the_less_loaded_instance() -> None:
    pool = pool_of(spec_with(3))
    picks: Counter[int | None] = Counter()
    for _ in range(600):
        pool.outstanding[:] = [5, 0, 5]
        picks[pool.acquire(0.0).instance] += 1
    # instance 1 wins every pair it is sampled into: two pairs of three
    assert 0.58 < picks[1] / 600 < 0.75
    assert picks[0] > 0 and picks[2] > 0  # the (0, 2) pair still happens: no herd


def test_weights_shape_the_traffic_under_load() -> None:
    spec = spec_with([{"url": "http://a"}, {"url": "http://b", "weight": 3}])
    pool = pool_of(spec)
    for _ in range(40):  # 40 requests in flight at once
        assert pool.acquire(0.0).granted
    assert pool.outstanding == [10, 30]


def test_concurrency_caps_are_honoured() -> None:
    spec = spec_with([{"url": "http://a", "max_concurrency": 1}, {"url": "http://b"}])
    pool = pool_of(spec)
    first = pool.acquire(0.0, avoid=(1,))
    assert first.instance == 0
    for _ in range(20):  # instance 0 is at its cap: everyone else goes to 1
        assert pool.acquire(0.0).instance == 1
    single = pool_of(spec_with([{"url": "http://a", "max_concurrency": 2}]))
    assert single.acquire(0.0).granted and single.acquire(0.0).granted
    capped = single.acquire(0.0)
    assert not capped.granted and capped.wait_s > 0 and capped.refused is None
    single.release(CallOutcome(None, 1.0, True, instance=0), 0.0)
    assert single.acquire(0.0).granted


def test_retries_avoid_instances_already_tried_until_all_were() -> None:
    pool = pool_of(spec_with(3))
    tried: set[int] = set()
    for _ in range(3):
        lease = pool.acquire(0.0, tried)
        assert lease.instance not in tried
        assert lease.instance is not None
        tried.add(lease.instance)
    assert pool.acquire(0.0, tried).granted  # all tried: any will do again


def test_open_circuits_take_instances_out_and_all_open_refuses() -> None:
    pool = pool_of(spec_with(2))
    for instance in (0, 0):
        pool.acquire(0.0)
        pool.release(CallOutcome(None, 1.0, False, instance=instance), 1.0)
    assert pool.breakers[0].state == "open"
    assert {pool.acquire(2.0).instance for _ in range(10)} == {1}
    assert pool.blocked_until(2.0) == 0.0
    for _ in range(2):
        pool.release(CallOutcome(None, 1.0, False, instance=1), 2.0)
    assert pool.blocked_until(3.0) == 11.0
    refused = pool.acquire(3.0)
    assert refused.refused is not None and "circuit open on all 2 instances" in refused.refused
    assert "#0 open" in pool.note()
    assert pool.acquire(11.0).granted  # cooled down: a probe may go
