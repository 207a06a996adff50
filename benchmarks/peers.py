"""W1-W3 of ``benchmarks/public_api.py`` in peer engines, against the same plain-Python baseline.

LangGraph (no checkpointer; ``SqliteSaver`` on a file, ``durability`` "async" (its default)
and "sync"), dask (``delayed``, threads scheduler) and Ray (local, ``ray.init(num_cpus=2)``),
and Podium through its public API when it is importable, all in one process so that the
ratios come from one run. Every engine calls the same sync step functions; a peer that is
not installed is skipped with a note. The peers live in their own environment:

    python3.11 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install langgraph langgraph-checkpoint-sqlite dask ray
    /work/peers-venv/bin/pip install -e .            # optional: Podium in the same run
    /work/peers-venv/bin/python benchmarks/peers.py [--repeat 3] [--json] [--only ray,dask]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import operator
import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypedDict

from public_api import (
    CHAIN,
    FAN,
    RUN_STEPS,
    RUNS,
    Out,
    Row,
    Workload,
    baseline_chain,
    baseline_fan,
    baseline_runs,
    best_ms,
    inc,
    machine,
    measure,
    measure_podium,
    print_table,
    timed,
    total,
)

PEERS = ("podium", "langgraph", "dask", "ray")
PODIUM_CONFIGS = ("manifest-durable", "manifest-memory")
IMPORTS = {
    "podium": "import podium",
    "langgraph": "import langgraph.graph",
    "dask": "import dask",
    "ray": "import ray",
}
MODULES = {
    "podium": "podium",
    "langgraph": "langgraph",
    "dask": "dask",
    "ray": "ray",
}


def step(prev: Out) -> Out:
    """The next link of a chain: the previous step's output in, ``inc`` of it out."""
    return inc(prev["x"])


def total_of(*outs: Out) -> Out:
    """``total`` over positional outputs (how Ray and dask hand over a list of results)."""
    return total(list(outs))


def baselines() -> dict[str, Callable[[], Any]]:
    return {
        "W1": lambda: baseline_chain(inc),
        "W2": lambda: baseline_fan(inc, total),
        "W3": lambda: baseline_runs(inc),
    }


def workloads(
    run_chain: Callable[[], Any],
    run_fan: Callable[[], Any],
    run_once: Callable[[], Any],
    prep_ms: float | None = None,
) -> list[Workload]:
    """The three workloads from engine callables that return the final ``x``."""
    base = baselines()
    return [
        Workload("W1 chain x1000", CHAIN, run_chain, lambda v: v == CHAIN, base["W1"], 1, prep_ms),
        Workload("W2 fan-out x1000", FAN + 1, run_fan, lambda v: v == FAN, base["W2"]),
        Workload(
            "W3 200 runs x5",
            RUNS * RUN_STEPS,
            lambda: [run_once() for _ in range(RUNS)],
            lambda vs: vs == [RUN_STEPS] * RUNS,
            base["W3"],
            RUNS,
        ),
    ]


# LangGraph ----------------------------------------------------------------------------------------
class ChainState(TypedDict):
    x: int


class FanState(TypedDict):
    x: int
    outs: Annotated[list[Out], operator.add]


def chain_node(state: ChainState) -> Out:
    return inc(state["x"])


def fan_worker(state: ChainState) -> dict[str, list[Out]]:
    return {"outs": [inc(state["x"])]}


def fan_reduce(state: FanState) -> Out:
    return total(state["outs"])


def langgraph_graphs(checkpointer: Any) -> tuple[Any, Any, Any]:
    """Chain of 1,000 (``add_sequence``), map-reduce fan-out (``Send``), chain of 5."""
    from langgraph.graph import START, StateGraph
    from langgraph.types import Send

    def chain(n: int) -> Any:
        builder = StateGraph(ChainState)
        builder.add_sequence([(f"s{i}", chain_node) for i in range(n)])
        builder.add_edge(START, "s0")
        return builder.compile(checkpointer=checkpointer)

    def spread(state: FanState) -> list[Any]:
        return [Send("inc", {"x": state["x"]}) for _ in range(FAN)]

    builder = StateGraph(FanState)
    builder.add_node("inc", fan_worker)
    builder.add_node("reduce", fan_reduce)
    builder.add_conditional_edges(START, spread, ["inc"])
    builder.add_edge("inc", "reduce")
    fan = builder.compile(checkpointer=checkpointer)
    return chain(CHAIN), fan, chain(RUN_STEPS)


def langgraph_jobs(checkpointer: Any, options: dict[str, Any]) -> list[Workload]:
    """Compiled once (timed as prep); each run is ``app.invoke`` with its own thread id."""
    compile_ms = best_ms(lambda: langgraph_graphs(checkpointer), 2)
    chain, fan, small = langgraph_graphs(checkpointer)

    def invoke(app: Any) -> int:
        config: dict[str, Any] = {"recursion_limit": CHAIN + 10}
        if checkpointer is not None:
            config["configurable"] = {"thread_id": uuid.uuid4().hex}
        return int(app.invoke({"x": 0}, config, **options)["x"])

    invoke(small)  # warm up
    jobs = workloads(lambda: invoke(chain), lambda: invoke(fan), lambda: invoke(small))
    jobs[0].prep_ms = compile_ms  # builds and compiles all three graphs
    return jobs


def langgraph_rows(repeat: int, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    conn = sqlite3.connect(tmp / "langgraph.db", check_same_thread=False)
    # WAL (SqliteSaver sets it) with synchronous=NORMAL: what Podium's store uses
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver

        saver = SqliteSaver(conn)
        saver.setup()
        setups: list[tuple[str, Any, dict[str, Any]]] = [
            ("LangGraph, no checkpointer", None, {}),
            ("LangGraph + SqliteSaver, durability=async", saver, {"durability": "async"}),
            ("LangGraph + SqliteSaver, durability=sync", saver, {"durability": "sync"}),
        ]
        for label, checkpointer, options in setups:
            rows += measure(label, "", langgraph_jobs(checkpointer, options), repeat)
    finally:
        conn.close()
    return rows


# dask ---------------------------------------------------------------------------------------------
def dask_rows(repeat: int) -> list[Row]:
    import dask

    dinc, dstep, dtotal = dask.delayed(inc), dask.delayed(step), dask.delayed(total)

    def chain(n: int) -> int:
        value = dinc(0)
        for _ in range(n - 1):
            value = dstep(value)
        return int(value.compute(scheduler="threads")["x"])

    def fan() -> int:
        return int(dtotal([dinc(0) for _ in range(FAN)]).compute(scheduler="threads")["x"])

    chain(RUN_STEPS)  # warm up
    jobs = workloads(lambda: chain(CHAIN), fan, lambda: chain(RUN_STEPS))
    return measure("dask delayed, threads", "", jobs, repeat)


# Ray ----------------------------------------------------------------------------------------------
def ray_rows(repeat: int) -> list[Row]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports over the network
    import ray

    here = str(Path(__file__).resolve().parent)
    init_s, _ = timed(
        lambda: ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": here}},
        )
    )
    try:
        rinc, rstep, rtotal = ray.remote(inc), ray.remote(step), ray.remote(total_of)

        def chain(n: int) -> int:
            ref = rinc.remote(0)
            for _ in range(n - 1):
                ref = rstep.remote(ref)
            return int(ray.get(ref)["x"])

        def fan() -> int:
            return int(ray.get(rtotal.remote(*[rinc.remote(0) for _ in range(FAN)]))["x"])

        for _ in range(3):  # warm up the worker processes
            fan()
        jobs = workloads(lambda: chain(CHAIN), fan, lambda: chain(RUN_STEPS), init_s * 1e3)
        return measure("Ray local, num_cpus=2", "", jobs, repeat)
    finally:
        ray.shutdown()


# Main ---------------------------------------------------------------------------------------------
def print_ratios(rows: list[Row], reference: str) -> None:
    """Each engine's overhead over the reference engine's, workload by workload, one run."""
    ref = {r.workload: r.overhead_us_per_step for r in rows if r.engine == reference}
    if not ref:
        return
    names = list(ref)
    print(f"\noverhead relative to {reference} (same run; >1 is slower)")
    print(f"{'engine':<44}" + "".join(f"{n.split()[0]:>8}" for n in names))
    engines = list(dict.fromkeys(r.engine for r in rows))
    for engine in engines:
        mine = {r.workload: r.overhead_us_per_step for r in rows if r.engine == engine}
        cells = [
            f"{mine[n] / ref[n]:>8.2f}" if n in mine and ref[n] > 0 else " " * 8 for n in names
        ]
        print(f"{engine:<44}" + "".join(cells))


def import_times(names: list[str], repeat: int) -> dict[str, float]:
    """Wall seconds of ``python -c "import X"`` in a fresh process, best of ``repeat``."""
    from startup import wall

    found = {"python -c pass": wall([sys.executable, "-c", "pass"], repeat)[0]}
    for name in names:
        found[IMPORTS[name]] = wall([sys.executable, "-c", IMPORTS[name]], repeat)[0]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", default=",".join(PEERS), help=f"of {', '.join(PEERS)}")
    parser.add_argument("--podium-configs", default=",".join(PODIUM_CONFIGS))
    parser.add_argument(
        "--reference",
        default="Podium manifest, in memory",
        help="the engine that the ratios divide by (default: Podium in memory, else the first)",
    )
    args = parser.parse_args()
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    present = [p for p in wanted if importlib.util.find_spec(MODULES[p]) is not None]
    notes = [f"{p}: not installed in {sys.prefix}, skipped" for p in wanted if p not in present]
    before = machine()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as tmp:
        for peer in present:
            try:
                if peer == "podium":
                    for config in args.podium_configs.split(","):
                        rows += measure_podium(config.strip(), args.repeat)
                elif peer == "langgraph":
                    rows += langgraph_rows(args.repeat, Path(tmp))
                elif peer == "dask":
                    rows += dask_rows(args.repeat)
                else:
                    rows += ray_rows(args.repeat)
            except Exception as exc:  # one broken engine must not hide the others
                notes.append(f"{peer}: failed: {type(exc).__name__}: {exc}")
    imports = import_times(present, args.repeat)
    report = {
        "python": sys.version.split()[0],
        "machine_before": before,
        "machine_after": machine(),
        "rows": [asdict(r) for r in rows],
        "import_seconds": imports,
        "notes": notes,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {before['cpus']} cores, load average {before['loadavg']} (before)")
    print_table(rows)
    print("prep ms for Ray: ray.init (once, outside the timings).")
    engines = [r.engine for r in rows]
    print_ratios(rows, args.reference if args.reference in engines else engines[0] if rows else "")
    print("\n" + "  ".join(f"{name}: {s:.3f} s" for name, s in imports.items()))
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
