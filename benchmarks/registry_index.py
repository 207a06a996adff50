"""Capability-index lookups and model resolution with 10, 1,000 and 10,000 registered models.

    python benchmarks/registry_index.py

Each registry holds N models spread over N/10 capabilities (10 providers each) in the
in-memory store; we time `provides(capability)` and `resolve("model/NAME@^1")`.
"""

from __future__ import annotations

import random
import statistics
import time

from podium.registry import ModelRef, ModelSpec, Registry
from podium.store import MemoryStore


def build(n: int) -> Registry:
    registry = Registry(MemoryStore())
    for i in range(n):
        registry.register(
            ModelSpec(
                name=f"model-{i}",
                version="1.0.0",
                capabilities=[f"cap.c{i % max(1, n // 10)}"],
                input={"text": "string"},
                output={"label": "string"},
            )
        )
    return registry


def per_call_us(fn: object, args: list[object], repeat: int = 20000) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        arg = random.choice(args)
        start = time.perf_counter_ns()
        fn(arg)  # type: ignore[operator]
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    print(
        f"{'models':>8}{'register s':>12}{'provides p50 us':>17}{'p99':>8}"
        f"{'resolve p50 us':>16}{'p99':>8}"
    )
    for n in (10, 1_000, 10_000):
        start = time.perf_counter()
        registry = build(n)
        built = time.perf_counter() - start
        caps = registry.capabilities()
        refs = [ModelRef.parse(f"model/model-{i}@^1") for i in range(n)]
        p50, p99 = per_call_us(registry.provides, caps)
        r50, r99 = per_call_us(registry.resolve_model, refs)
        print(f"{n:>8}{built:>12.2f}{p50:>17.2f}{p99:>8.2f}{r50:>16.2f}{r99:>8.2f}")


if __name__ == "__main__":
    main()
