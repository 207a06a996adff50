"""Planner on real requests: node and edge F1 over the evaluation in tests/planner_eval.

Three catalogues (23 machine-learning media tools, 37 media editing tools, 34 daily-life
APIs with parameters) and 182 requests with expected tools and edges, planned from the
request text alone (no given inputs, no wanted types), with lexical (BM25) and embedding
(all-MiniLM-L6-v2 + BM25) matching. ``tuning`` is the split the rules and thresholds were
chosen on, ``held-out`` was written with it and scored only at the end. Reported per split,
catalogue, case type (single, chain, dag) and style (plain, terse, chatty), plus the
planning time per request (p50, after the model is loaded and the catalogue encoded once).

    python benchmarks/planner_eval.py [--json] [--threads N] [--misses] [--latency] [--llm]

``--llm`` plans every case with the LLM planner at ``PODIUM_LLM_BASE_URL`` (each plan is
still validated and repaired, and falls back to the decomposition when rejected).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "planner_eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import harness

GROUPS = (
    ("split", "domain"),
    ("split", "catalogue"),
    ("domain", "type"),
    ("domain", "style"),
    ("split", "domain", "type"),
)


def report(
    matcher: str,
    llm: bool = False,
    suite: str = "v1",
    splits: tuple[str, ...] = ("tuning", "held-out"),
) -> tuple[list[dict[str, Any]], list[harness.Outcome]]:
    outcomes = harness.run(matcher, splits, llm=llm, suite=suite)
    for o in outcomes:
        o.case["domain"] = harness.domain(o.case["catalogue"])
    rows = []
    for keys in GROUPS:
        for group, score in harness.score(outcomes, *keys).items():
            rows.append({"matcher": matcher, "group": dict(zip(keys, group, strict=True))})
            rows[-1].update(score.row())
    return rows, outcomes


def latency(
    catalogue: str, matcher: str, repeats: int = 3, backend: str | None = None
) -> dict[str, Any]:
    """Time per plan over the catalogue's requests (both suites), the model loaded and the
    catalogue encoded once; each request's own phrases are encoded afresh every time.
    Wall time and the CPU time of the planning thread (the machine is shared: CPU time
    says what a plan costs, wall time what it took under the load of the moment)."""
    import statistics
    import time

    from podium.planner import PlanOptions, _match

    if backend:
        os.environ["PODIUM_PLANNER_ENCODER"] = backend
    planner = harness.planner_for(catalogue)
    options = PlanOptions(matcher=matcher, templates=False, llm=False)
    planner.matcher(matcher).phrase_scores(planner.graph(), ["warm up"])
    kept = set(_match._VECTORS)
    requests = [
        c["request"]
        for suite in harness.SUITES
        for split in harness.SPLITS
        for c in harness.cases(split, suite)
        if c["catalogue"] == catalogue
    ]
    wall, cpu, matching = [], [], []
    for _ in range(repeats):
        for request in requests:
            for text in set(_match._VECTORS) - kept:
                del _match._VECTORS[text]
            started, ticked = time.perf_counter(), time.thread_time()
            try:
                plan = planner.plan(request, options=options)
                matching.append(plan.why.matching_ms)
            except Exception:  # a refusal is timed too
                pass
            cpu.append((time.thread_time() - ticked) * 1000)
            wall.append((time.perf_counter() - started) * 1000)

    def p(values: list[float], q: float) -> float:
        return round(sorted(values)[int(q * (len(values) - 1))], 2)

    return {
        "catalogue": catalogue,
        "tools": len(planner.graph()),
        "matcher": matcher,
        "encoder": getattr(planner.matcher(matcher), "backend", None),
        "plans": len(wall),
        "wall_p50_ms": round(statistics.median(wall), 2),
        "wall_p90_ms": p(wall, 0.9),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "cpu_p90_ms": p(cpu, 0.9),
        "matching_p50_ms": round(statistics.median(matching), 2) if matching else None,
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads for the embedding model")
    parser.add_argument("--misses", action="store_true", help="list the cases planned wrong")
    parser.add_argument("--matchers", default="lexical,embedding")
    parser.add_argument("--latency", action="store_true", help="time plans per catalogue")
    parser.add_argument("--catalogues", default="media-edit,multimedia", help="for --latency")
    parser.add_argument("--encoders", default="onnx,torch", help="for --latency (embedding)")
    parser.add_argument("--llm", action="store_true", help="plan with PODIUM_LLM_BASE_URL")
    parser.add_argument("--suite", default="v1", choices=sorted(harness.SUITES))
    parser.add_argument("--splits", default="tuning,held-out", help="comma-separated splits")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.latency:
        for catalogue in args.catalogues.split(","):
            for matcher in args.matchers.split(","):
                backends = args.encoders.split(",") if matcher == "embedding" else [None]
                for backend in backends:
                    print(json.dumps(latency(catalogue, matcher, backend=backend)), flush=True)
        return
    rows: list[dict[str, Any]] = []
    misses = []
    for matcher in args.matchers.split(","):
        found, outcomes = report(matcher, args.llm, args.suite, tuple(args.splits.split(",")))
        rows.extend(found)
        for o in outcomes:
            want_edges = {(a, b) for a, b in o.case["edges"]}
            if o.nodes != set(o.case["nodes"]) or o.edges != want_edges:
                misses.append(
                    {
                        "matcher": matcher,
                        "id": o.case["id"],
                        "request": o.case["request"],
                        "planned": sorted(o.nodes),
                        "edges": sorted(o.edges),
                        "expected": sorted(o.case["nodes"]),
                        "expected_edges": sorted(want_edges),
                        "error": o.error,
                    }
                )
    if args.json:
        print(json.dumps({"rows": rows, "misses": misses}, indent=2))
        return
    print(
        f"{'matcher':<10} {'group':<40} {'cases':>5} {'node F1':>8} {'edge F1':>8} "
        f"{'exact':>6} {'refused':>7} {'invalid':>7} {'p50 ms':>7}"
    )
    for r in rows:
        group = " ".join(str(v) for v in r["group"].values())
        print(
            f"{r['matcher']:<10} {group:<40} {r['cases']:>5} {r['node_f1']:>8.3f} "
            f"{r['edge_f1']:>8.3f} {r['exact']:>6.3f} {r['refused']:>7} {r['invalid']:>7} "
            f"{r['p50_ms']:>7.1f}"
        )
    if args.misses:
        for m in misses:
            print(json.dumps(m))


if __name__ == "__main__":
    main()
