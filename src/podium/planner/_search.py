"""Typed composition: the cheapest set of calls that turns the given types into the wanted.

A state is the set of types available so far; applying an operator whose consumed types
are all available adds its produced types at its weight. The search is A* over these
states (types as bits of an integer), so shared intermediate results are produced once
and no operator is applied twice (cycles cannot arise: a call that adds no new type is
never made). Three cheap passes keep it fast on large registries:

1. a forward pass (Knuth's generalisation of Dijkstra) gives, for every reachable type,
   a lower bound on the cost of producing it (h_max) and a greedy plan (h_add
   achievers), whose cost is an upper bound;
2. a backward pass gives, for every type, a lower bound on the cost still needed to turn
   it into a wanted type;
3. an operator survives only if the two bounds around it fit under the upper bound, and
   A* runs over the survivors with an admissible, consistent heuristic.

The better of two greedy plans (from h_add and from h_max achievers) is the first
incumbent; A* tightens the bound whenever it generates a cheaper goal state. If A* runs
out of its expansion or time budget, the incumbent is returned, marked not optimal
(deciding the cheapest plan is NP-hard in general; on dense random graphs of thousands
of models A* cannot always prove it within milliseconds).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from podium.planner._astar import EPS, INF, AStar
from podium.planner._graph import SignatureGraph


@dataclass(frozen=True)
class Found:
    """A plan as operator indices in an order that respects their data dependencies."""

    order: tuple[int, ...]
    cost: float
    optimal: bool
    expanded: int
    considered: int


@dataclass(frozen=True)
class Blocked:
    """Why no plan exists: per unreachable wanted type, the types that are missing."""

    unreachable: tuple[str, ...]
    missing: Mapping[str, tuple[str, ...]]
    reasons: Mapping[str, str]


def _forward(
    graph: SignatureGraph,
    weights: Sequence[float],
    start: Iterable[str],
    *,
    additive: bool,
    goals: Iterable[str] = (),
    limit: float = INF,
) -> tuple[dict[str, float], dict[str, int], dict[int, float]]:
    """Cost of reaching each type (h_add or h_max), its best achiever, and each reached
    operator's precondition cost. Stops once every type in ``goals`` is settled, or once
    costs exceed ``limit``: what is settled by then is final."""
    dist: dict[str, float] = {}
    heap: list[tuple[float, str]] = []
    for t in start:
        dist[t] = 0.0
        heap.append((0.0, t))
    achiever: dict[str, int] = {}
    remaining = list(graph.pre_count)
    acc = [0.0] * len(remaining)
    fired: list[int] = []
    produces = graph.produces
    push = heapq.heappush
    for i in graph.free:
        if weights[i] < INF:
            fired.append(i)
            for p in produces[i]:
                if weights[i] < dist.get(p, INF):
                    dist[p] = weights[i]
                    achiever[p] = i
                    heap.append((weights[i], p))
    heapq.heapify(heap)
    done: set[str] = set()
    waiting = set(goals)
    consumers = graph.consumers
    while heap:
        d, t = heapq.heappop(heap)
        if t in done:
            continue
        if d > limit:
            break
        done.add(t)
        if waiting:
            waiting.discard(t)
            if not waiting:
                break
        for i in consumers.get(t, ()):
            w = weights[i]
            if w == INF:
                continue
            a = acc[i] + d if additive else max(acc[i], d)
            acc[i] = a
            remaining[i] -= 1
            if remaining[i] == 0:
                fired.append(i)
                total = a + w
                for p in produces[i]:
                    if total < dist.get(p, INF):
                        dist[p] = total
                        achiever[p] = i
                        push(heap, (total, p))
    settled = {t: dist[t] for t in done}
    reached = {i: acc[i] for i in fired}
    return settled, {t: i for t, i in achiever.items() if t in done}, reached


def runnable(
    graph: SignatureGraph, weights: Sequence[float], given: Iterable[str]
) -> dict[int, float]:
    """Every operator that some plan from ``given`` can call (with its h_max cost)."""
    return _forward(graph, weights, given, additive=False)[2]


def _backward(
    graph: SignatureGraph,
    weights: Sequence[float],
    wanted: Iterable[str],
    reached: Mapping[int, float],
    limit: float = INF,
) -> dict[int, float]:
    """Per reached operator, a lower bound on the cost still needed after it for one of
    its products to become a wanted type (0 if it produces one); up to ``limit``."""
    togo: dict[str, float] = {}
    heap: list[tuple[float, str]] = []
    for t in wanted:
        togo[t] = 0.0
        heap.append((0.0, t))
    tail: dict[int, float] = {}
    done: set[str] = set()
    ops = graph.operators
    while heap:
        d, t = heapq.heappop(heap)
        if t in done:
            continue
        if d > limit:
            break
        done.add(t)
        for i in graph.producers.get(t, ()):
            if i in tail or i not in reached:
                continue
            tail[i] = d
            through = d + weights[i]
            for q in ops[i].consumes:
                if through < togo.get(q, INF):
                    togo[q] = through
                    heapq.heappush(heap, (through, q))
    return tail


def _greedy(
    graph: SignatureGraph, achiever: Mapping[str, int], given: frozenset[str], wanted: Sequence[str]
) -> list[int]:
    """A valid plan from the h_add achievers (a depth-first walk gives a data order)."""
    order: list[int] = []
    have = set(given)
    placed: set[int] = set()
    ops = graph.operators
    for goal in wanted:
        stack: list[tuple[str, bool]] = [(goal, False)]
        while stack:
            t, expanded = stack.pop()
            if t in have:
                continue
            i = achiever[t]
            if expanded:
                if i not in placed:
                    placed.add(i)
                    order.append(i)
                    have.update(ops[i].produces)
                continue
            stack.append((t, True))
            stack.extend((q, False) for q in ops[i].consumes if q not in have)
    return order


def prune(
    graph: SignatureGraph, order: Sequence[int], given: frozenset[str], wanted: Iterable[str]
) -> list[int]:
    """Drop calls none of whose products is used later or wanted."""
    needed = set(wanted) - given
    kept: list[int] = []
    for i in reversed(order):
        op = graph.operators[i]
        if needed.intersection(op.produces):
            kept.append(i)
            needed.difference_update(op.produces)
            needed.update(t for t in op.consumes if t not in given)
    kept.reverse()
    return kept


def search(
    graph: SignatureGraph,
    weights: Sequence[float],
    given: Iterable[str],
    wanted: Iterable[str],
    *,
    max_steps: int = 16,
    max_expansions: int = 50_000,
    budget_s: float | None = None,
) -> Found | Blocked:
    """The cheapest plan producing ``wanted`` from ``given`` (``weights[i] = inf`` excludes
    operator ``i``), or why there is none. With ``budget_s`` (seconds of A*), the best
    plan found by then is returned, marked not ``optimal`` unless A* finished (the
    budget counts from the start of the search; A* always gets a few dozen states)."""
    started = time.perf_counter()
    start = frozenset(given)
    goals = [t for t in dict.fromkeys(wanted) if t not in start]
    if not goals:
        return Found((), 0.0, True, 0, 0)
    h_add, achiever, _ = _forward(graph, weights, start, additive=True, goals=goals)
    unreachable = [t for t in goals if t not in h_add]
    if unreachable:
        return diagnose(graph, weights, start, unreachable, h_add)
    greedy = prune(graph, _greedy(graph, achiever, start, goals), start, goals)
    upper = sum(weights[i] for i in greedy)
    bound = upper * (1 + 1e-9) + EPS
    _, by_max, reached = _forward(graph, weights, start, additive=False, limit=bound)
    if all(t in by_max for t in goals):
        other = prune(graph, _greedy(graph, by_max, start, goals), start, goals)
        if sum(weights[i] for i in other) < upper:
            greedy, upper = other, sum(weights[i] for i in other)
            bound = upper * (1 + 1e-9) + EPS
    tail = _backward(graph, weights, goals, reached, limit=bound)
    relevant = [
        i for i, before in reached.items() if i in tail and before + weights[i] + tail[i] <= bound
    ]
    deadline = None if budget_s is None else started + budget_s
    run = AStar(graph, weights, start, goals, relevant, bound, max_steps)
    path, finished = run.solve(max_expansions, deadline)
    if path is None:
        proven = finished and len(greedy) <= max_steps
        return Found(tuple(greedy), upper, proven, run.expanded, len(relevant))
    order = prune(graph, path, start, goals)
    cost = sum(weights[i] for i in order)
    if cost > upper:
        return Found(tuple(greedy), upper, False, run.expanded, len(relevant))
    return Found(tuple(order), cost, finished, run.expanded, len(relevant))


def diagnose(
    graph: SignatureGraph,
    weights: Sequence[float],
    start: frozenset[str],
    unreachable: Sequence[str],
    reach: Mapping[str, float],
) -> Blocked:
    """For each unreachable wanted type, the fewest missing types that would unblock it."""
    memo: dict[str, tuple[str, ...]] = {}

    def missing(t: str, trail: frozenset[str]) -> tuple[str, ...]:
        if t in start or t in reach:
            return ()
        if t in memo:
            return memo[t]
        fewest: tuple[str, ...] | None = None
        for i in graph.producers.get(t, ()):
            consumes = graph.operators[i].consumes
            if weights[i] == INF or any(q in trail for q in consumes):
                continue
            need = tuple(dict.fromkeys(m for q in consumes for m in missing(q, trail | {t})))
            if fewest is None or len(need) < len(fewest):
                fewest = need
        memo[t] = fewest or (t,)
        return memo[t]

    missing_by_type: dict[str, tuple[str, ...]] = {}
    reasons: dict[str, str] = {}
    for t in unreachable:
        producers = graph.producers.get(t, [])
        usable = [i for i in producers if weights[i] < INF]
        if not producers:
            missing_by_type[t] = (t,)
            reasons[t] = f"no registered model produces '{t}'"
            continue
        if not usable:
            missing_by_type[t] = (t,)
            refs = ", ".join(graph.operators[i].ref for i in producers)
            reasons[t] = f"every producer of '{t}' ({refs}) is excluded by the constraints"
            continue
        gaps = missing(t, frozenset())
        missing_by_type[t] = gaps
        best = min(
            usable, key=lambda i: sum(1 for q in graph.operators[i].consumes if q not in reach)
        )
        op = graph.operators[best]
        needs = [q for q in op.consumes if q not in reach and q not in start]
        reason = f"{op.ref} needs {', '.join(repr(q) for q in needs)}"
        if set(gaps) != set(needs):
            reason += ", which needs " + ", ".join(repr(m) for m in gaps)
        reasons[t] = reason + " (neither given nor produced by any usable model)"
    return Blocked(tuple(unreachable), missing_by_type, reasons)
