"""A* over sets of semantic types, for :func:`podium.planner._search.search`."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Mapping, Sequence

from podium.planner._graph import SignatureGraph

INF = math.inf
EPS = 1e-12


class AStar:
    """A* over type sets (as bits), with an incumbent that tightens the bound.

    Bits and operator masks are made on first use, so a large relevant set costs
    nothing until A* reaches it.
    """

    def __init__(
        self,
        graph: SignatureGraph,
        weights: Sequence[float],
        start: frozenset[str],
        goals: Sequence[str],
        relevant: Sequence[int],
        bound: float,
        max_steps: int,
    ) -> None:
        self.graph = graph
        self.weights = weights
        self.allowed = set(relevant)
        self.bit: dict[str, int] = {}
        self.types: list[str] = []
        self.masks: dict[int, tuple[int, int]] = {}
        self.free = [i for i in graph.free if i in self.allowed]
        self.goal_bits = [
            (
                self._bit(t),
                min(
                    (weights[i] for i in graph.producers.get(t, ()) if i in self.allowed),
                    default=INF,
                ),
            )
            for t in goals
        ]
        self.goal_mask = sum(b for b, _ in self.goal_bits)
        self.initial = sum(self._bit(t) for t in start)
        self.bound = bound
        self.max_steps = max_steps
        self.expanded = 0

    def _bit(self, t: str) -> int:
        found = self.bit.get(t)
        if found is None:
            found = self.bit[t] = 1 << len(self.types)
            self.types.append(t)
        return found

    def _mask(self, i: int) -> tuple[int, int]:
        found = self.masks.get(i)
        if found is None:
            op = self.graph.operators[i]
            pre = sum(self._bit(t) for t in set(op.consumes))
            found = self.masks[i] = (pre, sum(self._bit(t) for t in set(op.produces)))
        return found

    def h(self, state: int) -> float:
        """Each missing wanted type needs at least its cheapest producer (admissible and
        consistent: one call can only satisfy what it produces)."""
        return max((c for b, c in self.goal_bits if not state & b), default=0.0)

    def solve(self, max_expansions: int, deadline: float | None) -> tuple[list[int] | None, bool]:
        """The path to the best goal state found, and whether it is proven cheapest."""
        initial, goal_mask = self.initial, self.goal_mask
        weights, h = self.weights, self.h
        best: dict[int, float] = {initial: 0.0}
        parent: dict[int, tuple[int, int]] = {}
        depth: dict[int, int] = {initial: 0}
        heap: list[tuple[float, int, float, int]] = [(h(initial), 0, 0.0, initial)]
        closed: set[int] = set()
        incumbent: int | None = None
        tick = 0
        finished = True
        while heap:
            _, _, g, state = heapq.heappop(heap)
            if state in closed:
                continue
            if state & goal_mask == goal_mask:
                return self._path(parent, state), True
            closed.add(state)
            self.expanded += 1
            if self.expanded > max_expansions or (
                deadline is not None and not self.expanded % 32 and time.perf_counter() > deadline
            ):
                finished = False
                break
            if depth[state] >= self.max_steps:
                continue
            for k in self._candidates(state):
                pre, add = self._mask(k)
                if pre & ~state or not add & ~state:
                    continue
                nxt = state | add
                ng = g + weights[k]
                if nxt in closed or ng >= best.get(nxt, INF):
                    continue
                f = ng + h(nxt)
                if f > self.bound:
                    continue
                best[nxt] = ng
                parent[nxt] = (state, k)
                depth[nxt] = depth[state] + 1
                if nxt & goal_mask == goal_mask:
                    incumbent = nxt
                    self.bound = ng * (1 + 1e-9) + EPS
                tick += 1
                heapq.heappush(heap, (f, tick, ng, nxt))
        if incumbent is None:
            return None, finished
        return self._path(parent, incumbent), finished

    def _candidates(self, state: int) -> set[int]:
        """Relevant operators that consume some type of ``state`` (or nothing at all)."""
        found = set(self.free)
        consumers, allowed, types = self.graph.consumers, self.allowed, self.types
        rest = state
        while rest:
            low = rest & -rest
            found.update(i for i in consumers.get(types[low.bit_length() - 1], ()) if i in allowed)
            rest ^= low
        return found

    def _path(self, parent: Mapping[int, tuple[int, int]], state: int) -> list[int]:
        path: list[int] = []
        while state in parent:
            state, k = parent[state]
            path.append(k)
        path.reverse()
        return path
