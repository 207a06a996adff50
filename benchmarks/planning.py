"""Planner quality on the goal set, and planning time with 10,000 random models.

Quality: every case of tests/planner_goals.yaml is planned over the shipped demo models
(trained on first use under --home), once with lexical (BM25) matching and once with
all-MiniLM-L6-v2 embeddings (skipped when podium[semantic] is not installed). For each
case the set of capabilities in the plan is compared with the expected set; precision
and recall are micro-averaged over all cases.

Speed: 10,000 models with random signatures over 1,000 types (each consumes 1-3 types
and produces 1-2, cost 1e-4..1e-2 per call) plus, per query, a planted 5-call plan
(given g0, g1; wanted w0, w1; two parallel branches that share one intermediate
result) and ten decoy producers of the wanted types. Two scenarios:

* ``planted``: the planted calls cost 1e-4..3e-4, so the cheapest plan has 5 steps;
* ``dense``: every cost is drawn from 1e-4..1e-2, so the cheapest plan is whatever the
  random graph offers (often not provable within the search budget on a graph this
  dense; the planner then returns its best plan and says so).

Reported: registry and graph build time, and the time of ``Planner.plan`` (search,
wiring, validation, explanation) and of the search alone, over 20 queries. Run:

    python benchmarks/planning.py [--home DIR] [--models 10000] [--queries 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from podium.planner import Plan, Planner, PlanOptions
from podium.planner._search import Found, search
from podium.registry import ModelSpec, Registry
from podium.store import MemoryStore

GOALS = Path(__file__).resolve().parent.parent / "tests" / "planner_goals.yaml"


def capabilities(plan: Plan) -> set[str]:
    """The capabilities a plan calls (a registered workflow counts as workflow/NAME)."""
    graph_ops = {info.id: info for info in plan.why.steps}
    found = set()
    for info in graph_ops.values():
        if info.kind == "workflow":
            found.add(f"workflow/{info.uses}")
        else:
            found.add(info.uses.removeprefix("capability/"))
    return found


def evaluate(planner: Planner, cases: list[dict[str, Any]], matcher: str) -> dict[str, Any]:
    """Micro precision and recall of planned capabilities over ``cases``."""
    options = PlanOptions(matcher=matcher, templates=False, llm=False)
    tp = planned = expected = exact = 0
    misses = []
    started = time.perf_counter()
    for case in cases:
        want = set(case["expect"])
        try:
            got = capabilities(planner.plan(case["goal"], given=case["given"], options=options))
        except Exception as exc:
            got = set()
            misses.append({"goal": case["goal"], "error": str(exc)})
        tp += len(got & want)
        planned += len(got)
        expected += len(want)
        exact += got == want
        if got != want and got:
            misses.append({"goal": case["goal"], "planned": sorted(got), "expected": sorted(want)})
    return {
        "matcher": matcher,
        "cases": len(cases),
        "precision": round(tp / planned, 4) if planned else 0.0,
        "recall": round(tp / expected, 4) if expected else 0.0,
        "exact": round(exact / len(cases), 4),
        "seconds": round(time.perf_counter() - started, 2),
        "misses": misses,
    }


def goal_quality(home: Path) -> list[dict[str, Any]]:
    """Each matcher on the tuning cases, the held-out cases and all of them; plus two
    ablations: without the built-in capability descriptions, and embeddings without
    the BM25 term."""
    from podium.demo.catalog import demo_models
    from podium.planner import EmbeddingMatcher, embeddings_installed

    store = MemoryStore()
    registry = Registry(store)
    for spec in demo_models(home):
        registry.register(spec)
    goals = yaml.safe_load(GOALS.read_text())
    splits = {
        "tuning": goals["cases"],
        "held-out": goals["holdout"],
        "held-out2": goals["holdout2"],
        "all": goals["cases"] + goals["holdout"] + goals["holdout2"],
    }
    kinds = ["lexical", *(["embedding"] if embeddings_installed() else [])]
    rows = []
    variants: list[tuple[str, Planner]] = [("", Planner(registry, store))]
    bare = Planner(registry, store, builtin_descriptions=False)
    variants.append((" (no capability descriptions)", bare))
    for suffix, planner in variants:
        for kind in kinds:
            for split, cases in splits.items():
                row = evaluate(planner, cases, kind)
                rows.append({**row, "matcher": kind + suffix, "split": split})
    if embeddings_installed():
        dense = Planner(registry, store)
        dense._matchers["embedding"] = EmbeddingMatcher(lexical_weight=0.0, threshold=0.3)
        for split, cases in splits.items():
            row = evaluate(dense, cases, "embedding")
            rows.append({**row, "matcher": "embedding, no BM25 term", "split": split})
    return rows


def _spec(name: str, consumes: list[str], produces: list[str], cost: float) -> ModelSpec:
    return ModelSpec(
        name=name,
        version="1.0.0",
        description=f"random model {name}",
        capabilities=[f"bench.{name.replace('-', '_')}"],
        input=dict.fromkeys(consumes, "string"),
        output=dict.fromkeys(produces, "string"),
        cost={"per_call": cost},
        latency_ms=1.0,
        quality={f"bench.{name.replace('-', '_')}": 0.8},
    )


def random_registry(
    models: int, queries: int, seed: int = 7, planted_cost: tuple[float, float] = (1e-4, 3e-4)
) -> tuple[Registry, list[Any]]:
    """``models`` random models plus, per query, a planted 5-call plan (its calls cost
    ``planted_cost``) and ten decoy producers of the wanted types."""
    rng = random.Random(seed)
    vocab = [f"t{i}" for i in range(1000)]
    registry = Registry(MemoryStore())
    for i in range(models):
        consumes = rng.sample(vocab, rng.randint(1, 3))
        produces = [t for t in rng.sample(vocab, rng.randint(1, 2)) if t not in consumes]
        registry.register(_spec(f"m{i}", consumes, produces or ["t0"], rng.uniform(1e-4, 1e-2)))
    plans = []
    for q in range(queries):
        g0, g1, w0, w1 = f"g{q}a", f"g{q}b", f"w{q}a", f"w{q}b"
        a, b, c = rng.sample(vocab, 3)
        planted = [([g0], [a]), ([g1], [b]), ([a, b], [c]), ([c], [w0]), ([a], [w1])]
        for k, (consumes, produces) in enumerate(planted):
            registry.register(_spec(f"q{q}-p{k}", consumes, produces, rng.uniform(*planted_cost)))
        for k in range(10):
            wanted = w0 if k % 2 else w1
            consumes = rng.sample(vocab, rng.randint(1, 2))
            registry.register(_spec(f"q{q}-d{k}", consumes, [wanted], rng.uniform(1e-3, 1e-2)))
        plans.append(({"x": g0, "y": g1}, [w0, w1]))
    return registry, plans


def planning_speed(models: int, queries: int, scenario: str = "planted") -> dict[str, Any]:
    started = time.perf_counter()
    costs = (1e-4, 3e-4) if scenario == "planted" else (1e-4, 1e-2)
    registry, queries_ = random_registry(models, queries, planted_cost=costs)
    registered = time.perf_counter() - started
    planner = Planner(registry, MemoryStore())
    started = time.perf_counter()
    graph = planner.graph()
    built = time.perf_counter() - started
    options = PlanOptions(templates=False, llm=False)
    plan_ms, search_ms, steps, optimal = [], [], [], []
    weights = [1e-6 + (e.cost if e else float("inf")) for e in graph.estimates(options.constraints)]
    budget = (options.search_budget_ms or 0) / 1000 or None
    for given, want in queries_:
        started = time.perf_counter()
        plan = planner.plan(given=given, want=want, options=options)
        plan_ms.append((time.perf_counter() - started) * 1000)
        steps.append(len(plan.steps))
        optimal.append(plan.why.optimal)
        started = time.perf_counter()
        found = search(graph, weights, set(given.values()), want, budget_s=budget)
        search_ms.append((time.perf_counter() - started) * 1000)
        assert isinstance(found, Found)
    return {
        "scenario": scenario,
        "models": len(registry),
        "operators": len(graph),
        "register_s": round(registered, 2),
        "graph_build_ms": round(built * 1000, 1),
        "queries": len(plan_ms),
        "plan_steps": sorted(set(steps)),
        "proven_cheapest": f"{sum(optimal)}/{len(optimal)}",
        "plan_ms_median": round(statistics.median(plan_ms), 2),
        "plan_ms_p95": round(sorted(plan_ms)[int(0.95 * (len(plan_ms) - 1))], 2),
        "plan_ms_max": round(max(plan_ms), 2),
        "search_ms_median": round(statistics.median(search_ms), 2),
        "search_ms_max": round(max(search_ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="where the demo models are trained/cached")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quality = goal_quality(args.home or Path(tmp))
    speed = [planning_speed(args.models, args.queries, s) for s in ("planted", "dense")]
    if args.json:
        print(json.dumps({"quality": quality, "speed": speed}, indent=2))
        return
    head = f"{'matcher':<44} {'split':<10} {'cases':>5} {'precision':>9} {'recall':>7}"
    print(head + f" {'exact':>6}")
    for row in quality:
        print(
            f"{row['matcher']:<44} {row['split']:<10} {row['cases']:>5} "
            f"{row['precision']:>9.3f} {row['recall']:>7.3f} {row['exact']:>6.3f}"
        )
    for row in quality:
        if row["split"] == "all" and "(" not in row["matcher"] and "," not in row["matcher"]:
            for miss in row["misses"]:
                print(f"  {row['matcher']} miss: {miss}")
    for row in speed:
        print()
        for key, value in row.items():
            print(f"{key:<18} {value}")


if __name__ == "__main__":
    main()
