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

If A* exceeds its expansion budget, the greedy plan is returned and marked not optimal.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from podium.planner._graph import SignatureGraph

INF = math.inf
_EPS = 1e-12


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
    graph: SignatureGraph, weights: Sequence[float], start: Iterable[str], *, additive: bool
) -> tuple[dict[str, float], dict[str, int], dict[int, float]]:
    """Cost of reaching each type (h_add or h_max), its best achiever, and each reached
    operator's precondition cost."""
    dist: dict[str, float] = {}
    heap: list[tuple[float, str]] = []
    for t in start:
        dist[t] = 0.0
        heap.append((0.0, t))
    achiever: dict[str, int] = {}
    pre_cost: dict[int, float] = {}
    remaining: dict[int, int] = {}
    ops = graph.operators

    def fire(i: int, base: float) -> None:
        pre_cost[i] = base
        total = base + weights[i]
        for p in ops[i].produces:
            if total < dist.get(p, INF):
                dist[p] = total
                achiever[p] = i
                heapq.heappush(heap, (total, p))

    for i, op in enumerate(ops):
        if not op.consumes and weights[i] < INF:
            fire(i, 0.0)
    heapq.heapify(heap)
    done: set[str] = set()
    while heap:
        d, t = heapq.heappop(heap)
        if t in done:
            continue
        done.add(t)
        for i in graph.consumers.get(t, ()):
            if weights[i] == INF:
                continue
            left = remaining.get(i)
            if left is None:
                left = len(ops[i].consumes)
            left -= 1
            remaining[i] = left
            acc = pre_cost.get(i, 0.0)
            acc = acc + d if additive else max(acc, d)
            pre_cost[i] = acc
            if left == 0:
                fire(i, acc)
    reached = {i: c for i, c in pre_cost.items() if remaining.get(i, 0) == 0}
    return dist, achiever, reached


def _backward(
    graph: SignatureGraph,
    weights: Sequence[float],
    wanted: Iterable[str],
    reached: Mapping[int, float],
) -> dict[int, float]:
    """Per reached operator, a lower bound on the cost still needed after it for one of
    its products to become a wanted type (0 if it produces one)."""
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
) -> Found | Blocked:
    """The cheapest plan producing ``wanted`` from ``given`` (``weights[i] = inf`` excludes
    operator ``i``), or why there is none."""
    start = frozenset(given)
    goals = [t for t in dict.fromkeys(wanted) if t not in start]
    if not goals:
        return Found((), 0.0, True, 0, 0)
    h_add, achiever, _ = _forward(graph, weights, start, additive=True)
    unreachable = [t for t in goals if t not in h_add]
    if unreachable:
        return diagnose(graph, weights, start, unreachable, h_add)
    greedy = prune(graph, _greedy(graph, achiever, start, goals), start, goals)
    upper = sum(weights[i] for i in greedy)
    _, _, reached = _forward(graph, weights, start, additive=False)
    tail = _backward(graph, weights, goals, reached)
    bound = upper * (1 + 1e-9) + _EPS
    relevant = [
        i for i, before in reached.items() if i in tail and before + weights[i] + tail[i] <= bound
    ]
    result = _astar(graph, weights, start, goals, relevant, bound, max_steps, max_expansions)
    if result is None:
        return Found(tuple(greedy), upper, False, max_expansions, len(relevant))
    order, cost, expanded = result
    return Found(tuple(prune(graph, order, start, goals)), cost, True, expanded, len(relevant))


def _astar(
    graph: SignatureGraph,
    weights: Sequence[float],
    start: frozenset[str],
    goals: Sequence[str],
    relevant: Sequence[int],
    bound: float,
    max_steps: int,
    max_expansions: int,
) -> tuple[list[int], float, int] | None:
    ops = graph.operators
    bit: dict[str, int] = {}
    for i in relevant:
        for t in (*ops[i].consumes, *ops[i].produces):
            bit.setdefault(t, 1 << len(bit))
    for t in goals:
        bit.setdefault(t, 1 << len(bit))
    pre = [sum(bit[t] for t in set(ops[i].consumes)) for i in relevant]
    add = [sum(bit[t] for t in set(ops[i].produces)) for i in relevant]
    cost = [weights[i] for i in relevant]
    goal_bits = [
        (bit[t], min((weights[i] for i in relevant if t in ops[i].produces), default=INF))
        for t in goals
    ]
    goal_mask = sum(b for b, _ in goal_bits)
    initial = sum(b for t, b in bit.items() if t in start)

    def h(state: int) -> float:
        return max((c for b, c in goal_bits if not state & b), default=0.0)

    best: dict[int, float] = {initial: 0.0}
    parent: dict[int, tuple[int, int]] = {}
    depth: dict[int, int] = {initial: 0}
    heap: list[tuple[float, int, float, int]] = [(h(initial), 0, 0.0, initial)]
    closed: set[int] = set()
    tick = 0
    expanded = 0
    while heap:
        _, _, g, state = heapq.heappop(heap)
        if state in closed:
            continue
        if state & goal_mask == goal_mask:
            path: list[int] = []
            while state in parent:
                state, k = parent[state]
                path.append(relevant[k])
            path.reverse()
            return path, g, expanded
        closed.add(state)
        expanded += 1
        if expanded > max_expansions:
            return None
        if depth[state] >= max_steps:
            continue
        for k in range(len(relevant)):
            if pre[k] & ~state or not add[k] & ~state:
                continue
            nxt = state | add[k]
            ng = g + cost[k]
            if nxt in closed or ng >= best.get(nxt, INF):
                continue
            f = ng + h(nxt)
            if f > bound:
                continue
            best[nxt] = ng
            parent[nxt] = (state, k)
            depth[nxt] = depth[state] + 1
            tick += 1
            heapq.heappush(heap, (f, tick, ng, nxt))
    return None


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
