"""Fairness between runs: one run's 10,000-item map against 20 small runs started after it.

Every call goes to one model with ``resources: {max_concurrency: 4}`` that sleeps 1 ms.
The big run maps it over 10,000 items, 256 at a time; half a second later 20 small runs
(3 chained calls each) start. Reported: the big run's time, the small runs' latencies,
and the most calls the model ever had in flight (counted inside the model). Beside it,
the same with every call in one line (first come, first served), which is what the
admission would do without its round-robin between runs.

    python benchmarks/fairness.py [--items 10000] [--small 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import podium
from podium.engine._admission import Admission, Capacity
from podium.registry import ModelSpec

LIMIT = 4


class OneLine(Admission):
    """The admission without fairness: every call waits in the same line."""

    async def enter(self, spec: ModelSpec, run: str | None, deadline: float | None) -> None:
        await super().enter(spec, None, deadline)


def scenario(home: Path, items: int, small: int, fair: bool, width: int = 256) -> dict[str, Any]:
    inside = {"now": 0, "most": 0}
    with podium.Orchestrator(home=home, discover=False) as orch:
        desk = Admission if fair else OneLine
        orch.caller.admission = desk(Capacity.machine())

        @orch.model(capabilities=["bench.work"], resources={"max_concurrency": LIMIT})
        async def work(n: int) -> dict[str, Any]:
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
            try:
                await asyncio.sleep(0.001)
            finally:
                inside["now"] -= 1
            return {"n": n + 1}

        big_flow = orch.load(
            {
                "name": "big",
                "inputs": {"xs": "array"},
                "steps": {
                    "each": {
                        "map": "${{ inputs.xs }}",
                        "concurrency": width,
                        "step": {"uses": "model/work", "with": {"n": "${{ item }}"}},
                    }
                },
                "outputs": {"count": "${{ len(steps.each.output) }}"},
            }
        )
        small_flow = orch.load(
            {
                "name": "small",
                "steps": {
                    "a": {"uses": "model/work", "with": {"n": 1}},
                    "b": {"uses": "model/work", "with": {"n": "${{ steps.a.output.n }}"}},
                    "c": {"uses": "model/work", "with": {"n": "${{ steps.b.output.n }}"}},
                },
                "outputs": {"n": "${{ steps.c.output.n }}"},
            }
        )

        async def drive() -> tuple[float, list[float]]:
            began = time.perf_counter()
            big = asyncio.ensure_future(orch.arun(big_flow, {"xs": list(range(items))}))
            await asyncio.sleep(0.5)

            async def one() -> float:
                started = time.perf_counter()
                result = await orch.arun(small_flow)
                assert result.outputs == {"n": 4}, result.error
                return time.perf_counter() - started

            latencies = await asyncio.gather(*(one() for _ in range(small)))
            result = await big
            assert result.outputs == {"count": items}, result.error
            return time.perf_counter() - began, list(latencies)

        big_s, latencies = orch._sync(drive())
        peak = orch.caller.admission.peak.get("work@0.1.0", 0)
    latencies.sort()
    return {
        "admission": "round-robin between runs" if fair else "one line (first come)",
        "big_run_s": round(big_s, 2),
        "small_p50_s": round(statistics.median(latencies), 3),
        "small_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "small_max_s": round(latencies[-1], 3),
        "most_in_flight": inside["most"],
        "admission_peak": peak,
        "limit": LIMIT,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--width", type=int, default=256, help="the big map's concurrency")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for fair in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(scenario(Path(tmp), args.items, args.small, fair, args.width))
        assert rows[-1]["most_in_flight"] <= LIMIT
    if args.json:
        print(json.dumps({"rows": rows, "load_average": os.getloadavg()}, indent=2))
        return
    print(f"{args.items}-item map + {args.small} small runs; load {os.getloadavg()}")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
