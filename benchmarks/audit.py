"""The audit log's cost per model call, and how fast `podium audit verify` checks a log.

1. The same workloads through ``orch.run`` on a durable SQLite store, with the audit log on
   and off, in one process, interleaved (best of ``--repeat``): W1 a chain of 500 steps,
   W3 200 runs of a 5-step chain. Steps are a trivial async Python model (always run on the
   event loop: a sync one moves between a thread and the loop by what it measures, which
   would differ between the two sides); the difference per model call is what the audit
   adds (its records are written in the same transactions).
2. A log of ``--records`` records (one million by default; model-call records like those
   runs write) is built in a SQLite file, then verified the way `podium audit verify` does.

    python benchmarks/audit.py [--repeat 5] [--records 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import podium
from engine_overhead import chain, inc  # a script beside this one
from podium.governance._audit import verify
from podium.store import AuditNote, SqlStore, digest


def orchestrator(folder: Path, audit: bool) -> podium.Orchestrator:
    orch = podium.Orchestrator(folder, discover=False, audit=audit)
    orch.register_callable(inc, capabilities=["math.inc"], cost=0.0001)
    return orch


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds of ``fn()`` (on a machine shared with
    other work the CPU time is the steadier of the two)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


def per_call(repeat: int) -> dict[str, Any]:
    """µs per model call with and without the audit log, and the difference."""
    root = Path(tempfile.mkdtemp(prefix="podium-audit-bench-"))
    orchs = {a: orchestrator(root / ("on" if a else "off"), a) for a in (True, False)}
    w1, w3 = chain(500), chain(5)
    workloads: dict[str, tuple[Callable[[podium.Orchestrator], object], int]] = {
        "W1: chain of 500 steps": (lambda o: o.run(w1, {"x": 0}), 500),
        "W3: 200 runs of a 5-step chain": (
            lambda o: [o.run(w3, {"x": i}) for i in range(200)],
            1000,
        ),
    }
    results: dict[str, Any] = {}
    for name, (work, calls) in workloads.items():
        for orch in orchs.values():  # warm up: files parsed, models on the loop, caches full
            work(orch)
        wall = {True: float("inf"), False: float("inf")}
        cpu = dict(wall)
        for _ in range(repeat):
            for audit in (False, True):
                took, used = timed(lambda a=audit, w=work: w(orchs[a]))
                wall[audit], cpu[audit] = min(wall[audit], took), min(cpu[audit], used)
        us = 1e6 / calls
        results[name] = {
            "without_audit_us_per_call": round(wall[False] * us, 1),
            "with_audit_us_per_call": round(wall[True] * us, 1),
            "added_us_per_call": round((wall[True] - wall[False]) * us, 1),
            "cpu_without_us_per_call": round(cpu[False] * us, 1),
            "cpu_with_us_per_call": round(cpu[True] * us, 1),
            "cpu_added_us_per_call": round((cpu[True] - cpu[False]) * us, 1),
        }
    with orchs[True] as orch:
        results["records"] = sum(1 for _ in orch.store.audit_records())
        results["verified"] = verify(orch.store).ok
    orchs[False].close()
    return results


def verify_speed(records: int) -> dict[str, Any]:
    """Build a log of ``records`` model-call records and time its verification."""
    folder = Path(tempfile.mkdtemp(prefix="podium-audit-verify-"))
    store = SqlStore(f"sqlite:///{folder}/podium.db")
    batch = 20_000
    started = time.perf_counter()
    now = time.time()
    for first in range(0, records, batch):
        notes = [
            AuditNote(
                "model.call",
                now + i * 1e-3,
                {
                    "step": f"s{i % 50}",
                    "model": "intent-classifier@1.2.0",
                    "cached": False,
                    "attempt": 1,
                    "input_sha256": digest(i),
                    "output_sha256": digest(-i),
                    "latency_ms": 3.125,
                },
                "intent-classifier@1.2.0",
                "key:3f9a0c1d2e4b",
                "acme",
                "support-triage",
                f"run-{i // 10}",
                0.0002,
            )
            for i in range(first, min(first + batch, records))
        ]
        store.audit(notes)
    built = time.perf_counter() - started
    size = (folder / "podium.db").stat().st_size
    found: list[Any] = []
    took, used = timed(lambda: found.append(verify(store)))
    verdict = found[0]
    store.close()
    assert verdict.ok and verdict.checked == records, verdict
    return {
        "records": records,
        "build_s": round(built, 1),
        "database_mb": round(size / 1e6, 1),
        "verify_s": round(took, 2),
        "verify_cpu_s": round(used, 2),
        "verify_us_per_record": round(took / records * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = {"per_call": per_call(args.repeat), "verify": verify_speed(args.records)}
    if args.json:
        print(json.dumps(found, indent=2))
        return
    for name, row in found["per_call"].items():
        print(f"{name}: {row}")
    print(f"verify: {found['verify']}")


if __name__ == "__main__":
    main()
