"""Per-step overhead of Podium through its public API, called the way users call it.

W1: a chain of 1,000 steps. W2: a fan-out of 1,000 steps into one reducer (W2m: the same
as one ``map`` step over 1,000 items). W3: 200 runs of a 5-step chain. The workflows are
YAML files in a temporary folder; the models are trivial sync Python functions, registered
from a manifest (``runtime: {kind: python, target: "module:fn"}``, the module on a
temporary ``sys.path``) or with the ``@orch.model`` decorator; every run is
``orch.run(path, inputs=...)``, durable (SQLite in a temporary home) or not. Overhead per
step is (time - the same calls in plain Python in the same process) / steps, the best of
``--repeat``. Then the CLI and import times of ``benchmarks/startup.py``. Run:

    python benchmarks/public_api.py [--repeat 3] [--json] [--verbose] [--no-startup]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict

CHAIN, FAN, RUNS, RUN_STEPS = 1000, 1000, 200, 5
MODULE = "podium_bench_steps"
CONFIGS = ("manifest-durable", "manifest-memory", "decorator-durable", "decorator-memory")
EXTRA_CONFIGS = ("inline-durable", "inline-memory")

# Targets: microseconds of overhead per step (W1, W2) and milliseconds per run (W3).
TARGETS: dict[str, dict[str, float]] = {
    "memory": {"step_us": 30.0, "run_ms": 0.3},
    "durable": {"step_us": 100.0, "run_ms": 0.6},
}


# The steps. The manifest's module file holds the same source (see write_models).
class Out(TypedDict):
    x: int


def inc(x: int) -> Out:
    """Add one."""
    return {"x": x + 1}


def total(xs: list[Out]) -> Out:
    """Sum the ``x`` of every item."""
    return {"x": sum(v["x"] for v in xs)}


Inc = Callable[[int], Out]
Total = Callable[[list[Out]], Out]


# Plain-Python baselines: the same calls, no engine.
def baseline_chain(step: Inc, n: int = CHAIN) -> int:
    value = 0
    for _ in range(n):
        value = step(value)["x"]
    return value


def baseline_fan(step: Inc, reduce: Total, n: int = FAN) -> int:
    return reduce([step(0) for _ in range(n)])["x"]


def baseline_runs(step: Inc, runs: int = RUNS, n: int = RUN_STEPS) -> list[int]:
    return [baseline_chain(step, n) for _ in range(runs)]


# Measuring --------------------------------------------------------------------------------------
@dataclass
class Workload:
    """One workload for one engine: how to run it, check it, and its plain-Python twin."""

    name: str
    steps: int
    run: Callable[[], Any]
    check: Callable[[Any], bool]
    baseline: Callable[[], Any]
    runs: int = 1
    prep_ms: float | None = None  # parse/validate (in the timed call) or build/compile (not)
    prep_timed: bool = False


@dataclass
class Row:
    """One measured line of the table."""

    engine: str
    workload: str
    steps: int
    runs: int
    engine_ms: float
    baseline_ms: float
    overhead_us_per_step: float
    overhead_ms_per_run: float
    prep_ms: float | None
    overhead_us_per_step_excl_prep: float | None  # only where prep is inside the timed call
    prep_timed: bool
    kind: str  # "memory", "durable" or "" (no target)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(engine: str, kind: str, workloads: Iterable[Workload], repeat: int) -> list[Row]:
    """Best of ``repeat`` for each workload and its baseline, interleaved on the same process."""
    rows: list[Row] = []
    for w in workloads:
        engine_times, base_times = [], []
        for _ in range(repeat):
            seconds, value = timed(w.run)
            if not w.check(value):
                raise RuntimeError(f"{engine} {w.name}: wrong result {value!r:.200}")
            engine_times.append(seconds)
            base_times.append(timed(w.baseline)[0])
        # the minimum: the repeat least disturbed by other work on the machine
        engine_s, base_s = min(engine_times), min(base_times)
        overhead = engine_s - base_s
        excl = None
        if w.prep_timed and w.prep_ms is not None:
            excl = (overhead - w.prep_ms / 1e3 * w.runs) / w.steps * 1e6
        rows.append(
            Row(
                engine=engine,
                workload=w.name,
                steps=w.steps,
                runs=w.runs,
                engine_ms=engine_s * 1e3,
                baseline_ms=base_s * 1e3,
                overhead_us_per_step=overhead / w.steps * 1e6,
                overhead_ms_per_run=overhead / w.runs * 1e3,
                prep_ms=w.prep_ms,
                overhead_us_per_step_excl_prep=excl,
                prep_timed=w.prep_timed,
                kind=kind,
            )
        )
    return rows


def best_ms(fn: Callable[[], Any], repeat: int) -> float:
    return min(timed(fn)[0] for _ in range(repeat)) * 1e3


# Files --------------------------------------------------------------------------------------------
def write_models(folder: Path, *, inline: bool = False) -> Path:
    """The steps' module and a manifest naming ``module:fn``; returns the manifest path."""
    source = ['"""Trivial steps for the public-API benchmark."""', ""]
    source += ["from typing import TypedDict", "", ""]
    source += [inspect.getsource(obj) for obj in (Out, inc, total)]
    (folder / f"{MODULE}.py").write_text("\n\n".join(source))
    extra = ", inline: true" if inline else ""
    manifest = f"""\
- name: inc
  version: 1.0.0
  description: Add one.
  capabilities: [bench.inc]
  input: {{x: integer}}
  output: {{x: integer}}
  runtime: {{kind: python, target: "{MODULE}:inc"{extra}}}
- name: total
  version: 1.0.0
  description: Sum the x of every item.
  capabilities: [bench.total]
  input: {{xs: array}}
  output: {{x: integer}}
  runtime: {{kind: python, target: "{MODULE}:total"{extra}}}
"""
    path = folder / "models.yaml"
    path.write_text(manifest)
    return path


def _step(uses: str, arg: str, value: str) -> list[str]:
    return [f"    uses: {uses}", f'    with: {{{arg}: "${{{{ {value} }}}}"}}']


def chain_yaml(n: int) -> str:
    lines = [f"name: chain{n}", "inputs: {x: integer}", "steps:"]
    for i in range(n):
        lines += [
            f"  s{i}:",
            *_step("model/inc", "x", f"steps.s{i - 1}.output.x" if i else "inputs.x"),
        ]
    lines += ["outputs:", f'  x: "${{{{ steps.s{n - 1}.output.x }}}}"']
    return "\n".join(lines) + "\n"


def fan_yaml(n: int) -> str:
    lines = [f"name: fan{n}", "inputs: {x: integer}", "steps:"]
    for i in range(n):
        lines += [f"  p{i}:", *_step("model/inc", "x", "inputs.x")]
    refs = ", ".join(f"steps.p{i}.output" for i in range(n))
    lines += ["  reduce:", *_step("model/total", "xs", f"[{refs}]")]
    lines += ["outputs:", '  x: "${{ steps.reduce.output.x }}"']
    return "\n".join(lines) + "\n"


def map_yaml() -> str:
    return """\
name: map-fan
inputs: {xs: array}
steps:
  items:
    map: "${{ inputs.xs }}"
    step: {uses: model/inc, with: {x: "${{ item }}"}}
  reduce:
    uses: model/total
    with: {xs: "${{ steps.items.output }}"}
outputs:
  x: "${{ steps.reduce.output.x }}"
"""


def write_workflows(folder: Path) -> dict[str, Path]:
    """W1, W2, W2m and W3 as YAML files in ``folder``."""
    texts = {
        "chain": chain_yaml(CHAIN),
        "fan": fan_yaml(FAN),
        "map": map_yaml(),
        "run5": chain_yaml(RUN_STEPS),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


# Podium -------------------------------------------------------------------------------------------
def podium_workloads(
    orch: Any, flows: dict[str, Path], step: Inc, reduce: Total, repeat: int
) -> list[Workload]:
    """W1, W2, W2m, W3 as ``orch.run(path, inputs=...)`` calls, checked, with baselines."""

    def ok(expected: int) -> Callable[[Any], bool]:
        return lambda r: bool(r.ok and r.outputs == {"x": expected})

    def runs() -> list[Any]:
        return [orch.run(flows["run5"], inputs={"x": 0}) for _ in range(RUNS)]

    def load_ms(name: str) -> float:
        """Parsing and validating the file without the cache (what the first call pays)."""
        from podium.engine import check_models, load_workflow

        def cold() -> None:
            check_models(load_workflow(flows[name]), orch.registry)

        return best_ms(cold, max(2, repeat))

    xs = [0] * FAN
    return [
        Workload(
            "W1 chain x1000",
            CHAIN,
            lambda: orch.run(flows["chain"], inputs={"x": 0}),
            ok(CHAIN),
            lambda: baseline_chain(step),
            prep_ms=load_ms("chain"),
            prep_timed=False,
        ),
        Workload(
            "W2 fan-out x1000",
            FAN + 1,
            lambda: orch.run(flows["fan"], inputs={"x": 0}),
            ok(FAN),
            lambda: baseline_fan(step, reduce),
            prep_ms=load_ms("fan"),
            prep_timed=False,
        ),
        Workload(
            "W2m map x1000",
            FAN + 1,
            lambda: orch.run(flows["map"], inputs={"xs": xs}),
            ok(FAN),
            lambda: baseline_fan(step, reduce),
            prep_ms=load_ms("map"),
            prep_timed=False,
        ),
        Workload(
            "W3 200 runs x5",
            RUNS * RUN_STEPS,
            runs,
            lambda rs: all(r.ok and r.outputs == {"x": RUN_STEPS} for r in rs),
            lambda: baseline_runs(step),
            runs=RUNS,
            prep_ms=load_ms("run5"),
            prep_timed=False,
        ),
    ]


def _import_steps(folder: Path) -> ModuleType:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    sys.modules.pop(MODULE, None)
    return __import__(MODULE)


def measure_podium(config: str, repeat: int) -> list[Row]:
    """One configuration: ``manifest|decorator|inline`` and ``durable|memory``."""
    import podium

    registration, mode = config.split("-")
    durable = mode == "durable"
    label = f"Podium {registration}, {'durable' if durable else 'in memory'}"
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp:
        folder = Path(tmp)
        flows = write_workflows(folder)
        orch = podium.Orchestrator(home=folder / "home", durable=durable)
        try:
            if registration == "decorator":
                orch.model(capabilities=["bench.inc"])(inc)
                orch.model(capabilities=["bench.total"])(total)
                step, reduce = inc, total
            else:
                manifest = write_models(folder, inline=registration == "inline")
                module = _import_steps(folder)  # on sys.path before the manifest names it
                orch.register(manifest)
                step, reduce = module.inc, module.total
            orch.run(flows["run5"], inputs={"x": 0})  # warm up imports, pools and caches
            return measure(label, mode, podium_workloads(orch, flows, step, reduce, repeat), repeat)
        finally:
            orch.close()
            if str(folder) in sys.path:
                sys.path.remove(str(folder))


# Report -------------------------------------------------------------------------------------------
def meets(row: Row) -> str:
    target = TARGETS.get(row.kind)
    if target is None:
        return ""
    if row.runs > 1:
        ok, bound = row.overhead_ms_per_run < target["run_ms"], f"{target['run_ms']} ms/run"
    else:
        ok, bound = row.overhead_us_per_step < target["step_us"], f"{target['step_us']:.0f} us"
    return f"{'yes' if ok else 'no'} (<{bound})"


def print_table(rows: Sequence[Row], *, targets: bool = True) -> None:
    header = (
        f"{'engine':<44}{'workload':<18}{'engine ms':>11}{'python ms':>11}"
        f"{'us/step':>9}{'ms/run':>8}{'prep ms':>10}{'excl prep':>10}"
    )
    print(header + ("  target met" if targets else ""))
    last = ""
    for r in rows:
        name = r.engine if r.engine != last else ""
        last = r.engine
        per_run = f"{r.overhead_ms_per_run:>8.2f}" if r.runs > 1 else " " * 8
        prep = "" if r.prep_ms is None else f"{r.prep_ms:.1f}{'*' if r.prep_timed else ' '}"
        excl = (
            ""
            if r.overhead_us_per_step_excl_prep is None
            else f"{r.overhead_us_per_step_excl_prep:.1f}"
        )
        line = (
            f"{name:<44}{r.workload:<18}{r.engine_ms:>11.1f}{r.baseline_ms:>11.2f}"
            f"{r.overhead_us_per_step:>9.1f}{per_run}{prep:>10}{excl:>10}"
        )
        print(line + (f"  {meets(r)}" if targets else ""))
    print(
        "us/step: (engine - plain Python) / steps; ms/run: the same per run (W3).\n"
        "prep ms: parsing and validating the file without the cache (orch.run(path) pays it\n"
        "on its first call only, then finds the file cached until it changes), or building\n"
        "and compiling the graph (done once, outside the timings).\n"
        "excl prep: us/step less prep ms per call, where prep is inside the timed call (*)."
    )


def machine() -> dict[str, Any]:
    """What else the machine was doing: the load average against the cores."""
    return {"cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print -X importtime offenders")
    parser.add_argument("--no-startup", action="store_true", help="skip the CLI and import times")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, of {', '.join(CONFIGS + EXTRA_CONFIGS)}",
    )
    args = parser.parse_args()
    before = machine()
    rows: list[Row] = []
    for config in args.configs.split(","):
        rows += measure_podium(config.strip(), args.repeat)
    startup_report: dict[str, Any] | None = None
    if not args.no_startup:
        import startup

        startup_report = startup.measure(args.repeat, verbose=args.verbose and not args.json)
    report = {
        "machine_before": before,
        "machine_after": machine(),
        "rows": [asdict(r) for r in rows],
        "startup": startup_report,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {before['cpus']} cores, load average {before['loadavg']} (before)")
    print_table(rows)
    if startup_report is not None:
        import startup

        print()
        startup.print_report(startup_report)


if __name__ == "__main__":
    main()
