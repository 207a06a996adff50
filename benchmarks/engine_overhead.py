"""Engine overhead per step against plain asyncio, with the durable store on and off.

W1: a chain of 1,000 steps. W2: a fan-out of 1,000 parallel steps into one reducer.
W3: 200 runs of a 5-step chain. Every step is a trivial async Python model; the baseline
calls the same functions with plain asyncio in the same process. Run:

    python benchmarks/engine_overhead.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import podium


async def inc(x: int) -> dict[str, Any]:
    return {"x": x + 1}


async def total(xs: list[Any]) -> dict[str, Any]:
    return {"x": sum(v["x"] for v in xs)}


def chain(n: int) -> dict[str, Any]:
    steps: dict[str, Any] = {"s0": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"uses": "model/inc", "with": {"x": f"${{{{ steps.s{i - 1}.output.x }}}}"}}
    return {
        "name": f"chain{n}",
        "inputs": {"x": "integer"},
        "steps": steps,
        "outputs": {"x": f"${{{{ steps.s{n - 1}.output.x }}}}"},
    }


def fan(n: int) -> dict[str, Any]:
    steps: dict[str, Any] = {
        f"p{i}": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}} for i in range(n)
    }
    refs = ", ".join(f"steps.p{i}.output" for i in range(n))
    steps["reduce"] = {"uses": "model/total", "with": {"xs": f"${{{{ [{refs}] }}}}"}}
    return {
        "name": f"fan{n}",
        "inputs": {"x": "integer"},
        "steps": steps,
        "outputs": {"x": "${{ steps.reduce.output.x }}"},
    }


async def baseline_chain(n: int) -> int:
    value = 0
    for _ in range(n):
        value = (await inc(value))["x"]
    return value


async def baseline_fan(n: int) -> int:
    outs = await asyncio.gather(*(inc(0) for _ in range(n)))
    return int((await total(list(outs)))["x"])


def orchestrator(durable: bool, home: str) -> podium.Orchestrator:
    orch = podium.Orchestrator(home=home, durable=durable, discover=False)
    orch.model(capabilities=["bench.inc"])(inc)
    orch.model(capabilities=["bench.total"])(total)
    return orch


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def measure(durable: bool, repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as home:
        orch = orchestrator(durable, home)
        w1, w2, w3 = orch.load(chain(1000)), orch.load(fan(1000)), orch.load(chain(5))

        async def run_w3() -> None:
            for _ in range(200):
                await orch.arun(w3, {"x": 0})

        async def base_w3() -> None:
            for _ in range(200):
                await baseline_chain(5)

        workloads = {
            "W1 chain x1000": (lambda: orch.arun(w1, {"x": 0}), lambda: baseline_chain(1000), 1000),
            "W2 fan-out x1000": (lambda: orch.arun(w2, {"x": 0}), lambda: baseline_fan(1000), 1001),
            "W3 200 runs x5": (run_w3, base_w3, 1000),
        }
        await orch.arun(w3, {"x": 0})  # warm up imports and caches
        for name, (engine, base, steps) in workloads.items():
            # the minimum of the repeats: the least disturbed by other work on the machine
            engine_s = min([await timed(engine) for _ in range(repeat)])
            base_s = min([await timed(base) for _ in range(repeat)])
            results[name] = {
                "steps": steps,
                "podium_ms": engine_s * 1000,
                "baseline_ms": base_s * 1000,
                "overhead_us_per_step": (engine_s - base_s) / steps * 1e6,
            }
        await orch.adapters.env.close_http()
        orch.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {
        "durable off (memory)": asyncio.run(measure(False, args.repeat)),
        "durable on (SQLite WAL)": asyncio.run(measure(True, args.repeat)),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'mode':<26}{'workload':<20}{'podium ms':>11}{'asyncio ms':>12}{'overhead us/step':>18}"
    )
    for mode, rows in report.items():
        for name, row in rows.items():
            print(
                f"{mode:<26}{name:<20}{row['podium_ms']:>11.1f}{row['baseline_ms']:>12.2f}"
                f"{row['overhead_us_per_step']:>18.1f}"
            )


if __name__ == "__main__":
    main()
