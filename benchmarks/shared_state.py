"""What sharing routing state across processes costs, on SQLite and PostgreSQL.

1. The hot path: ``route`` + ``acquire`` + ``observe`` of one call, with the router's
   state local (an in-memory store: nothing shared) and shared through each database
   (the same calls, plus the lock the background sync also takes).
2. One sync round (push the deltas of N models' statistics, read back what changed) with
   10 and 200 models called since the last round.

PostgreSQL is ``--postgres`` (default ``$PODIUM_TEST_POSTGRES_URL``), in a new schema. Run:

    python benchmarks/shared_state.py [--postgres URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from typing import Any

from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing import AdaptiveRouter, CallOutcome, RoutePolicy, RoutingConfig
from podium.store import MemoryStore, Store, open_store
from store_backends import postgres_schema


def router_over(store: Store, models: int) -> tuple[AdaptiveRouter, list[ModelSpec]]:
    registry = Registry(store)
    rng = random.Random(1)
    for i in range(models):
        registry.register(
            ModelSpec(
                name=f"m{i}",
                version="1.0.0",
                capabilities=["bench.x"],
                input={"text": "string"},
                output={"label": "string"},
                cost={"per_call": round(rng.uniform(0.001, 0.01), 4)},
                quality={"bench.x": round(rng.uniform(0.5, 0.99), 4)},
            )
        )
    # a long interval: the rounds are timed on their own below, not mixed into the calls
    router = AdaptiveRouter(registry, RoutingConfig(flush_interval_s=3600.0, seed=1))
    router.attach(store)
    return router, [registry.versions(f"m{i}")[0] for i in range(models)]


def hot_path_ns(store: Store, calls: int = 20_000) -> float:
    """Median nanoseconds of route + acquire + observe."""
    router, _ = router_over(store, 10)
    ref, policy = ModelRef.parse("capability/bench.x"), RoutePolicy("best")
    samples = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(calls):
            decision = router.route(ref, policy, {})
            spec = decision.ranked[0].spec
            lease = router.acquire(spec)
            router.observe(spec, CallOutcome("bench.x", 5.0, True, 0.001, lease.instance))
        samples.append((time.perf_counter_ns() - start) / calls)
    router.close()
    return statistics.median(samples)


def sync_ms(store: Store, models: int, rounds: int = 20) -> float:
    """Median milliseconds of one sync round after a call of each of ``models`` models."""
    router, specs = router_over(store, models)
    router.flush()
    samples = []
    for r in range(rounds):
        for spec in specs:
            lease = router.acquire(spec)
            router.observe(spec, CallOutcome("bench.x", 3.0 + r, True, 0.001, lease.instance))
        start = time.perf_counter()
        router.flush()
        samples.append((time.perf_counter() - start) * 1000)
    router.close()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PODIUM_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {"memory (not shared)": {}}
    results["memory (not shared)"]["hot_path_ns"] = hot_path_ns(MemoryStore())
    with tempfile.TemporaryDirectory() as folder:
        backends: list[tuple[str, Any]] = [("sqlite", None)]
        if args.postgres:
            backends.append(("postgresql", args.postgres))
        for name, server in backends:
            row: dict[str, Any] = {}
            for label, work in (
                ("hot_path_ns", hot_path_ns),
                ("sync_10_models_ms", lambda s: sync_ms(s, 10)),
                ("sync_200_models_ms", lambda s: sync_ms(s, 200)),
            ):
                if server is None:
                    store = open_store(f"sqlite:///{folder}/{label}.db")
                    try:
                        row[label] = work(store)
                    finally:
                        store.close()
                else:
                    with postgres_schema(server) as url:
                        store = open_store(url)
                        try:
                            row[label] = work(store)
                        finally:
                            store.close()
            results[name] = row
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, row in results.items():
        print(name, {k: round(v, 2) for k, v in row.items()})


if __name__ == "__main__":
    main()
