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


def latency(catalogue: str, matcher: str, repeats: int = 3) -> dict[str, Any]:
    """Time per plan over the catalogue's requests, the model loaded and the catalogue
    encoded once; each request's own phrases are encoded afresh every time."""
    import statistics
    import time

    from podium.planner import PlanOptions, _match

    planner = harness.planner_for(catalogue)
    options = PlanOptions(matcher=matcher, templates=False, llm=False)
    planner.matcher(matcher).phrase_scores(planner.graph(), ["warm up"])
    kept = set(_match._VECTORS)
    requests = [c["request"] for s in harness.SPLITS for c in harness.cases(s)]
    requests = [
        r
        for r, c in zip(
            requests, [c for s in harness.SPLITS for c in harness.cases(s)], strict=True
        )
        if c["catalogue"] == catalogue
    ]
    total, matching = [], []
    for _ in range(repeats):
        for request in requests:
            for text in set(_match._VECTORS) - kept:
                del _match._VECTORS[text]
            started = time.perf_counter()
            try:
                plan = planner.plan(request, options=options)
                matching.append(plan.why.matching_ms)
            except Exception:  # a refusal is timed too
                pass
            total.append((time.perf_counter() - started) * 1000)
    return {
        "catalogue": catalogue,
        "tools": len(planner.graph()),
        "matcher": matcher,
        "plans": len(total),
        "p50_ms": round(statistics.median(total), 2),
        "p90_ms": round(sorted(total)[int(0.9 * (len(total) - 1))], 2),
        "matching_p50_ms": round(statistics.median(matching), 2) if matching else None,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads for the embedding model")
    parser.add_argument("--misses", action="store_true", help="list the cases planned wrong")
    parser.add_argument("--matchers", default="lexical,embedding")
    parser.add_argument("--latency", action="store_true", help="time plans over media-edit")
    parser.add_argument("--llm", action="store_true", help="plan with PODIUM_LLM_BASE_URL")
    parser.add_argument("--suite", default="v1", choices=sorted(harness.SUITES))
    parser.add_argument("--splits", default="tuning,held-out", help="comma-separated splits")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.latency:
        for matcher in args.matchers.split(","):
            print(json.dumps(latency("media-edit", matcher)))
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
