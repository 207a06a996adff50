"""Cascades: ask the cheapest adequate model first, escalate while it is unsure.

The stages are the step's candidates in order of cost, keeping a model only if it is of
higher quality than every cheaper one kept (a cheaper model of equal quality makes a dearer
one pointless), up to ``max_stages`` (default 3). Stage ``i`` answers when its output's
``confidence_field`` (default ``confidence``) is at least its threshold; otherwise the next
stage is asked, and the last stage always answers. A stage that fails escalates too.

Thresholds: ``route: {threshold: 0.9}`` fixes one for every stage; ``auto`` (the default)
takes the threshold tuned from data for that model on that capability
(:meth:`AdaptiveRouter.set_cascade_thresholds`, persisted), else 0.8.
:func:`tune_thresholds` finds, from labelled examples, the lowest-cost thresholds that keep
at least ``target`` of the best accuracy the cascade can reach.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from podium._types import JSONObject
from podium.errors import PodiumError
from podium.routing._candidates import Table
from podium.routing._policies import Env, OptionError, Policy, healthy_top, number, whole
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import Candidate, RouteDecision
from podium.store import Store

KIND = "routing.cascade"
DEFAULT_THRESHOLD = 0.8
_SEARCHED = 64

StageResult = tuple[float | None, bool]  # (confidence, whether the answer was right)


class Cascade(Policy):
    """Cheapest adequate model first; escalate when its confidence is under a threshold."""

    name = "cascade"
    accepts = frozenset({"threshold", "confidence_field", "max_stages"})

    def __init__(self, route: RoutePolicy) -> None:
        super().__init__(route)
        options = route.options
        threshold = options.get("threshold", "auto")
        self.threshold = (
            None if threshold == "auto" else number(options, "threshold", 0.0, low=0.0, high=1.0)
        )
        field = options.get("confidence_field", "confidence")
        if not isinstance(field, str) or not field:
            raise OptionError("confidence_field", "must be the name of an output field")
        self.confidence_field = field
        self.max_stages = whole(options, "max_stages", 3, low=1)

    def score(self, s: Any, norms: Any) -> float:
        return float(-s.cost + 1e-9 * s.useful_quality)

    def decide(self, table: Table, env: Env, inputs: JSONObject) -> RouteDecision:
        now = env.now()
        ranked, valid_until, skipped = healthy_top(table, env, now, _SEARCHED)
        stages: list[Candidate] = []
        best = -math.inf
        for candidate in ranked:
            quality = env.signals(candidate.spec, table.capability).useful_quality
            if quality > best + 1e-9:
                stages.append(candidate)
                best = quality
                if len(stages) >= self.max_stages:
                    break
        thresholds = tuple(self._threshold(env, table.capability, c.spec.key) for c in stages[:-1])
        others = [c for c in ranked if c not in stages]
        shown = (stages + others)[: max(env.explain_top, len(stages))]
        if len(stages) > 1:
            steps = " -> ".join(
                f"{c.spec.key} (cost {c.spec.cost.per_call:g}"
                + (f", answers at confidence >= {t:.3g})" if t is not None else ")")
                for c, t in zip(stages, (*thresholds, None), strict=True)
            )
            reason = f"cascade: {steps} among {len(table.members)} candidate(s)" + skipped
        else:
            reason = (
                f"cascade: {stages[0].spec.key} alone (no dearer candidate of higher quality) "
                f"among {len(table.members)} candidate(s)" + skipped
            )
        decision = RouteDecision(
            str(table.ref),
            self.name,
            tuple(shown),
            tuple(table.rejected),
            reason,
            considered=len(table.members),
            failover=tuple(c.spec for c in others[: self.failover]),
            stages=tuple(c.spec for c in stages) if len(stages) > 1 else (),
            thresholds=thresholds if len(stages) > 1 else (),
            confidence_field=self.confidence_field,
            hedge_after_s=self.hedge_after_s,
        )
        return table.keep(decision, env.epoch, valid_until)

    def _threshold(self, env: Env, capability: str, model: str) -> float:
        if self.threshold is not None:
            return self.threshold
        tuned = env.cascades.get(capability, model)
        return DEFAULT_THRESHOLD if tuned is None else tuned


class CascadeBook:
    """Tuned thresholds per ``(capability, model)``, persisted as store documents."""

    def __init__(self) -> None:
        self._thresholds: dict[str, float] = {}
        self._dirty: set[str] = set()

    def get(self, capability: str, model: str) -> float | None:
        return self._thresholds.get(f"{capability}|{model}")

    def set(self, capability: str, thresholds: Mapping[str, float]) -> None:
        for model, value in thresholds.items():
            key = f"{capability}|{model}"
            self._thresholds[key] = float(value)
            self._dirty.add(key)

    def flush(self, store: Store) -> None:
        dirty, self._dirty = self._dirty, set()
        try:
            for key in dirty:
                store.put_document(KIND, key, {"threshold": self._thresholds[key]})
        except PodiumError:
            self._dirty |= dirty

    def load(self, store: Store) -> None:
        for key, value in store.documents(KIND).items():
            self._thresholds[key] = float(value["threshold"])


def tune_thresholds(
    cases: Sequence[Sequence[StageResult]], costs: Sequence[float], target: float = 0.97
) -> list[float]:
    """Thresholds for stages ``0 .. n-2`` of a cascade, from labelled examples.

    ``cases[j][i]`` is stage ``i``'s ``(confidence, correct)`` on example ``j`` (every stage
    run on every example); ``costs[i]`` is stage ``i``'s cost per call. Working back from
    the last escalation, each threshold is the one with the lowest expected cost whose
    accuracy is at least ``target ** (1 / (n - 1))`` of the best that escalation point can
    reach, so the whole cascade keeps at least ``target`` of its best accuracy on these
    examples. A threshold above every confidence means "always escalate".
    """
    stages = len(costs)
    if stages < 2:
        return []
    if not cases or any(len(case) != stages for case in cases):
        raise ValueError(f"every case needs a result for each of the {stages} stages")
    share = target ** (1.0 / (stages - 1))
    right = [case[-1][1] for case in cases]
    spent = [costs[-1]] * len(cases)
    thresholds = [0.0] * (stages - 1)
    for stage in range(stages - 2, -1, -1):
        threshold = _best_threshold(cases, stage, right, spent, share)
        thresholds[stage] = threshold
        for j, case in enumerate(cases):
            confidence, correct = case[stage]
            if confidence is None or confidence >= threshold:
                right[j], spent[j] = correct, costs[stage]
            else:
                spent[j] += costs[stage]
    return thresholds


def _best_threshold(
    cases: Sequence[Sequence[StageResult]],
    stage: int,
    right: list[bool],
    spent: list[float],
    share: float,
) -> float:
    """Sweep thresholds from "escalate everything" down, accepting the most confident first.

    Every case pays this stage's cost; only the escalation cost differs between thresholds.
    Answers without a confidence are always accepted (as at run time).
    """
    n = len(cases)
    results = [cases[j][stage] for j in range(n)]

    def most_confident_first(j: int) -> float:
        confidence = results[j][0]
        return -math.inf if confidence is None else -confidence

    order = sorted(range(n), key=most_confident_first)
    correct = sum(right)
    escalation = sum(spent)
    i = 0

    def accept(j: int) -> None:
        nonlocal correct, escalation
        correct += results[j][1] - right[j]
        escalation -= spent[j]

    while i < n and results[order[i]][0] is None:
        accept(order[i])
        i += 1
    top = results[order[i]][0] if i < n else None
    never = math.nextafter(max(top or 0.0, 1.0), math.inf)
    options: list[tuple[float, float, float]] = [(correct / n, escalation / n, never)]
    while i < n:
        value = results[order[i]][0]
        while i < n and results[order[i]][0] == value:
            accept(order[i])
            i += 1
        assert value is not None
        options.append((correct / n, escalation / n, value))
    best_accuracy = max(a for a, _, _ in options)
    feasible = [o for o in options if o[0] >= share * best_accuracy - 1e-12]
    return min(feasible, key=lambda o: (o[1], -o[0]))[2]
