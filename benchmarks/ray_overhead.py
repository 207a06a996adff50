"""Step overhead on Ray against the in-process executor, beside Ray's own overhead.

One local Ray instance (``--cpus``, no dashboard) serves every measurement of the run.
The model is a trivial Python function (``inc``: x + 1) loaded from a manifest, so Ray
workers import it by name like any shipped model. Workloads:

- chain: ``--chain`` steps one after another (each waits for the previous: latency);
- map: one ``map`` step over ``--items`` items, ``concurrency: 16`` (throughput).

Each runs in-process (``executor: local``), on Ray actors (``executor: ray``) and as Ray
tasks (``executor: {kind: ray, mode: tasks}``), with the durable SQLite store. Beside
them, in the same run: the plain function called in a loop, and Ray alone on the same
function: ``ray.get(f.remote(x))`` one after another and ``ray.get([f.remote(x) ...])``
at once, for a task and for an actor method, and an async actor awaited from asyncio
(the path Podium's actors take). Time per step is the best of ``--repeat``
(after one warm-up that starts the actors and workers). Run:

    python benchmarks/ray_overhead.py [--chain 200] [--items 500] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import podium

MODULE = """
def inc(x: int) -> dict:
    return {"x": x + 1}


class Inc:
    def inc(self, x: int) -> dict:
        return {"x": x + 1}
"""


def inc(x: int) -> dict[str, Any]:
    """The same model, for Ray alone (defined in ``__main__``: Ray ships it by value)."""
    return {"x": x + 1}


class Inc:
    def inc(self, x: int) -> dict[str, Any]:
        return {"x": x + 1}


class AsyncInc:
    """An async actor awaited from asyncio: the path Podium's actors take."""

    async def inc(self, x: int) -> dict[str, Any]:
        return {"x": x + 1}


MANIFEST = """
name: inc
version: 1.0.0
capabilities: [bench.inc]
input: {x: integer}
output: {x: integer}
runtime: {kind: python, target: "ray_bench_models:inc"}
"""

EXECUTORS: dict[str, Any] = {
    "in-process": "local",
    "ray actors": "ray",
    "ray tasks": {"kind": "ray", "mode": "tasks"},
}


def chain(n: int, executor: Any) -> dict[str, Any]:
    steps: dict[str, Any] = {"s0": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"uses": "model/inc", "with": {"x": f"${{{{ steps.s{i - 1}.output.x }}}}"}}
    return {
        "name": f"chain{n}",
        "executor": executor,
        "inputs": {"x": "integer"},
        "steps": steps,
        "outputs": {"x": f"${{{{ steps.s{n - 1}.output.x }}}}"},
    }


def fan(n: int, executor: Any) -> dict[str, Any]:
    return {
        "name": f"map{n}",
        "executor": executor,
        "inputs": {"xs": "array"},
        "steps": {
            "each": {
                "map": "${{ inputs.xs }}",
                "concurrency": 16,
                "step": {"uses": "model/inc", "with": {"x": "${{ item }}"}},
            }
        },
        "outputs": {"n": "${{ len(steps.each.output) }}"},
    }


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: actors, workers, imports, the workflow cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - started
    n, m, repeat = args.chain, args.items, args.repeat
    rows: dict[str, dict[str, float]] = {}
    try:
        task = ray.remote(inc)
        actor = ray.remote(Inc).remote()

        def plain_chain() -> None:
            x = 0
            for _ in range(n):
                x = inc(x)["x"]

        def ray_task_chain() -> None:
            x = 0
            for _ in range(n):
                x = ray.get(task.remote(x))["x"]

        def ray_actor_chain() -> None:
            x = 0
            for _ in range(n):
                x = ray.get(actor.inc.remote(x))["x"]

        rows["plain function"] = {
            "chain": best(plain_chain, repeat) / n,
            "map": best(lambda: [inc(i) for i in range(m)], repeat) / m,
        }
        rows["Ray alone: task"] = {
            "chain": best(ray_task_chain, repeat) / n,
            "map": best(lambda: ray.get([task.remote(i) for i in range(m)]), repeat) / m,
        }
        rows["Ray alone: actor"] = {
            "chain": best(ray_actor_chain, repeat) / n,
            "map": best(lambda: ray.get([actor.inc.remote(i) for i in range(m)]), repeat) / m,
        }
        async_actor = ray.remote(AsyncInc).remote()

        async def awaited_chain() -> None:
            x = 0
            for _ in range(n):
                x = (await async_actor.inc.remote(x))["x"]

        async def awaited_map() -> None:
            await asyncio.gather(*(async_actor.inc.remote(i) for i in range(m)))

        rows["Ray alone: async actor, awaited"] = {
            "chain": best(lambda: asyncio.run(awaited_chain()), repeat) / n,
            "map": best(lambda: asyncio.run(awaited_map()), repeat) / m,
        }
        with podium.Orchestrator(folder / "home", discover=False) as orch:
            orch.register(folder / "inc.yaml")
            for label, executor in EXECUTORS.items():
                flow, items = chain(n, executor), fan(m, executor)
                loaded_chain, loaded_map = orch.load(flow), orch.load(items)

                def run_chain(wf: Any = loaded_chain) -> None:
                    result = orch.run(wf, {"x": 0})
                    assert result.outputs == {"x": n}, result.error

                def run_map(wf: Any = loaded_map) -> None:
                    result = orch.run(wf, {"xs": list(range(m))})
                    assert result.outputs == {"n": m}, result.error

                rows[f"Podium {label}"] = {
                    "chain": best(run_chain, repeat) / n,
                    "map": best(run_map, repeat) / m,
                }
    finally:
        ray.shutdown()
    return {"init_s": init_s, "chain_steps": n, "map_items": m, "per_step_s": rows}


def report(found: dict[str, Any]) -> str:
    rows = found["per_step_s"]
    plain = rows["plain function"]
    task, actor = rows["Ray alone: task"], rows["Ray alone: actor"]
    lines = [
        f"ray.init: {found['init_s']:.1f} s; chain of {found['chain_steps']} steps, "
        f"map of {found['map_items']} items",
        f"{'':32} {'chain ms/step':>14} {'map ms/item':>12}",
    ]
    for name, row in rows.items():
        lines.append(f"{name:32} {row['chain'] * 1e3:14.3f} {row['map'] * 1e3:12.3f}")
    local = rows["Podium in-process"]
    lines.append("Podium's own cost per step (ms), beside the same work without Podium:")
    for name, base, podium_row in [
        ("in-process vs plain function", plain, local),
        ("ray actors vs Ray actor alone", actor, rows["Podium ray actors"]),
        (
            "ray actors vs async actor, awaited",
            rows["Ray alone: async actor, awaited"],
            rows["Podium ray actors"],
        ),
        ("ray tasks vs Ray task alone", task, rows["Podium ray tasks"]),
    ]:
        chain_extra = (podium_row["chain"] - base["chain"]) * 1e3
        map_extra = (podium_row["map"] - base["map"]) * 1e3
        lines.append(f"  {name:38} chain {chain_extra:+.3f}  map {map_extra:+.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ray_bench_models.py").write_text(MODULE)
        (folder / "inc.yaml").write_text(MANIFEST)
        found = measure(args, folder)
    print(json.dumps(found, indent=2) if args.json else report(found))


if __name__ == "__main__":
    main()
