"""A planning request: options, what the caller has and wants, and the goal's matches."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podium.planner._decompose import SubTask, decompose
from podium.planner._flow import type_map
from podium.planner._graph import SignatureGraph
from podium.planner._match import Matcher, match
from podium.planner._parse import Parsed, parse
from podium.planner._search import Blocked, runnable
from podium.planner._types import (
    CostWeights,
    Match,
    PlanConstraints,
    PlanInputError,
    UnreachableError,
    closest,
    parse_given,
)

if TYPE_CHECKING:
    from podium.planner._planner import Planner

POLICIES = ("best", "cheapest", "fastest", "balanced", "learned", "cascade")


@dataclass(frozen=True)
class PlanOptions:
    """How to plan. ``matcher``: ``auto``, ``lexical`` or ``embedding``. ``llm``: ask the
    LLM (``None``: when ``PODIUM_LLM_BASE_URL`` is set). ``templates``: reuse a stored
    plan of a similar goal; ``template_threshold`` overrides the matcher's similarity
    threshold, ``min_success`` is the smoothed success rate a template needs.
    ``search_budget_ms`` caps the exact search (``None``: no cap); past it the best plan
    found so far is used and the explanation says it may not be the cheapest."""

    constraints: PlanConstraints = field(default_factory=PlanConstraints)
    weights: CostWeights = field(default_factory=CostWeights)
    matcher: str = "auto"
    llm: bool | None = None
    templates: bool = True
    template_threshold: float | None = None
    min_success: float = 0.5
    max_expansions: int = 50_000
    search_budget_ms: float | None = 25.0


@dataclass
class Request:
    """One planning request, as checked and matched."""

    goal: str
    given: dict[str, str] | None
    wanted: tuple[str, ...]
    matches: tuple[Match, ...]
    matcher: Matcher | None
    options: PlanOptions
    graph: SignatureGraph
    started: float
    matching_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    parsed: Parsed | None = None
    tasks: tuple[SubTask, ...] = ()

    @property
    def inputs(self) -> dict[str, str]:
        """The given inputs; without any, every type no model produces, named after it."""
        if self.given is not None:
            return self.given
        return {ident(t): t for t in sorted(self.graph.sources)}


def ident(type_name: str) -> str:
    """A type name as an input name (letters, digits and _)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", type_name)
    return name if name[:1].isalpha() or name[:1] == "_" else "in_" + name


def make_request(
    planner: Planner,
    goal: str,
    given: Mapping[str, str] | Iterable[str] | None,
    want: Iterable[str] | None,
    options: PlanOptions,
) -> Request:
    """Check what the caller gave, and match the goal's words to wanted types."""
    started = time.perf_counter()
    graph = planner.graph()
    given_map = parse_given(given)
    wanted_explicit = tuple(dict.fromkeys(want or ()))
    for t in wanted_explicit:
        known(t, graph, "--want")
    for t in (given_map or {}).values():
        known(t, graph, "--given")
    if options.constraints.policy not in POLICIES:
        raise PlanInputError(
            f"unknown route policy '{options.constraints.policy}'; "
            f"expected one of {', '.join(POLICIES)}",
            field="--policy",
        )
    goal = " ".join(goal.split())
    matcher: Matcher | None = None
    matches: tuple[Match, ...] = ()
    parsed: Parsed | None = None
    tasks: tuple[SubTask, ...] = ()
    matching_started = time.perf_counter()
    if goal:
        kind = "lexical" if wanted_explicit and options.matcher == "auto" else options.matcher
        matcher = planner.matcher(kind)
        reachable = None
        if given_map is not None:
            weights = graph.weights(options.constraints, options.weights)
            reachable = set(runnable(graph, weights, given_map.values()))
        if wanted_explicit:
            matches = tuple(match(matcher, graph, goal, reachable))
        else:
            parsed = parse(goal)
            tasks = tuple(decompose(parsed, graph, matcher, reachable, type_map(graph)))
            matches = tuple(
                Match(
                    t.clause.text,
                    graph.operators[t.op].ref,
                    graph.operators[t.op].produces,
                    t.score,
                    round(t.confidence, 4),
                )
                for t in tasks
                if t.op is not None
            )
    have = set((given_map or {}).values())
    if wanted_explicit:
        wanted = wanted_explicit
    else:
        wanted = tuple(dict.fromkeys(t for m in matches for t in m.types if t not in have))
    matching = time.perf_counter() - matching_started
    return Request(
        goal,
        given_map,
        wanted,
        matches,
        matcher,
        options,
        graph,
        started,
        matching,
        parsed=parsed,
        tasks=tasks,
    )


def unreachable(request: Request, blocked: Blocked) -> UnreachableError:
    """The error naming each unreachable wanted type and what it lacks."""
    parts = []
    for t in blocked.unreachable:
        phrase = next((m.phrase for m in request.matches if t in m.types), None)
        asked = f' (asked for by "{phrase}")' if phrase else ""
        hint = ", ".join(f"NAME:{m}" for m in blocked.missing[t])
        parts.append(
            f"cannot produce '{t}'{asked}: {blocked.reasons[t]}; give it with --given {hint}"
        )
    return UnreachableError("; ".join(parts), missing=blocked.missing)


def known(type_name: str, graph: SignatureGraph, option: str) -> None:
    """Raise :class:`PlanInputError` unless some operator consumes or produces it."""
    if type_name in graph.types:
        return
    hint = closest(type_name, graph.types)
    raise PlanInputError(
        f"unknown type '{type_name}': no registered model consumes or produces it"
        + (f"; did you mean '{hint}'?" if hint else ""),
        field=option,
    )
