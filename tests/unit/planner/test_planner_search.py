"""Typed composition: cheapest plans, shared results, cycles, parallel branches, blockers."""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from planner_toys import graph, op

from podium.planner._search import Blocked, Found, search


def _found(result: Found | Blocked) -> Found:
    assert isinstance(result, Found), result
    return result


def _refs(g, result: Found) -> list[str]:
    return [g.operators[i].name for i in result.order]


def test_the_cheaper_chain_beats_the_expensive_shortcut() -> None:
    g = graph(op("ab", ["a"], ["b"]), op("bc", ["b"], ["c"]), op("ac", ["a"], ["c"]))
    found = _found(search(g, [1.0, 1.0, 5.0], {"a"}, ["c"]))
    assert _refs(g, found) == ["ab", "bc"]
    assert found.cost == 2.0
    assert found.optimal
    found = _found(search(g, [1.0, 1.0, 1.5], {"a"}, ["c"]))
    assert _refs(g, found) == ["ac"]


def test_a_shared_intermediate_result_is_produced_once() -> None:
    g = graph(op("ax", ["a"], ["x"]), op("xy", ["x"], ["y"]), op("xz", ["x"], ["z"]))
    found = _found(search(g, [1.0, 1.0, 1.0], {"a"}, ["y", "z"]))
    assert sorted(_refs(g, found)) == ["ax", "xy", "xz"]
    assert _refs(g, found)[0] == "ax"
    assert found.cost == 3.0


def test_cycles_in_the_signature_graph_are_never_followed() -> None:
    g = graph(
        op("ab", ["a"], ["b"]),
        op("ba", ["b"], ["a"]),
        op("bc", ["b"], ["c"]),
        op("cb", ["c"], ["b"]),
    )
    found = _found(search(g, [1.0] * 4, {"a"}, ["c"]))
    assert _refs(g, found) == ["ab", "bc"]
    assert len(set(found.order)) == len(found.order)
    # a cycle with no way in is unreachable, and the search still ends
    g = graph(op("xy", ["x"], ["y"]), op("yx", ["y"], ["x"]))
    blocked = search(g, [1.0, 1.0], {"a"}, ["y"])
    assert isinstance(blocked, Blocked)
    assert blocked.unreachable == ("y",)


def test_one_call_producing_two_wanted_types_is_preferred_when_cheaper() -> None:
    g = graph(op("both", ["a"], ["x", "y"]), op("x", ["a"], ["x"]), op("y", ["a"], ["y"]))
    found = _found(search(g, [1.5, 1.0, 1.0], {"a"}, ["x", "y"]))
    assert _refs(g, found) == ["both"]


def test_unreachable_types_name_what_is_missing() -> None:
    g = graph(op("dx", ["measurements"], ["diagnosis"]), op("intent", ["text"], ["intent"]))
    blocked = search(g, [1.0, 1.0], {"text"}, ["intent", "diagnosis"])
    assert isinstance(blocked, Blocked)
    assert blocked.unreachable == ("diagnosis",)
    assert blocked.missing["diagnosis"] == ("measurements",)
    assert "capability/dx needs 'measurements'" in blocked.reasons["diagnosis"]
    nobody = search(g, [1.0, 1.0], {"text"}, ["poem"])
    assert isinstance(nobody, Blocked)
    assert "no registered model produces 'poem'" in nobody.reasons["poem"]


def test_missing_types_are_traced_through_intermediate_steps() -> None:
    g = graph(op("a", ["raw"], ["clean"]), op("b", ["clean", "extra"], ["goal"]))
    blocked = search(g, [1.0, 1.0], {"text"}, ["goal"])
    assert isinstance(blocked, Blocked)
    assert set(blocked.missing["goal"]) == {"raw", "extra"}


def test_excluded_operators_are_reported_as_excluded() -> None:
    g = graph(op("intent", ["text"], ["intent"]))
    blocked = search(g, [math.inf], {"text"}, ["intent"])
    assert isinstance(blocked, Blocked)
    assert "excluded by the constraints" in blocked.reasons["intent"]


def test_given_wanted_types_need_no_steps() -> None:
    found = _found(search(graph(op("ab", ["a"], ["b"])), [1.0], {"a", "b"}, ["b"]))
    assert found.order == ()


def test_max_steps_bounds_the_plan() -> None:
    chain = [op(f"s{i}", [f"t{i}"], [f"t{i + 1}"]) for i in range(6)]
    g = graph(*chain)
    assert len(_found(search(g, [1.0] * 6, {"t0"}, ["t6"])).order) == 6
    # with fewer steps allowed no plan fits: the greedy one comes back, not marked optimal
    limited = _found(search(g, [1.0] * 6, {"t0"}, ["t6"], max_steps=3))
    assert not limited.optimal
    assert len(limited.order) == 6


def test_an_exhausted_budget_returns_a_valid_plan_marked_not_optimal() -> None:
    rng = random.Random(3)
    types = [f"t{i}" for i in range(30)]
    ops = [op("start", ["g"], ["t0"])]
    for i in range(400):
        ops.append(op(f"m{i}", rng.sample(types, 2), rng.sample(types, 2)))
    ops.append(op("goal", ["t0", "t5"], ["w"]))
    ops.append(op("t5", ["t0"], ["t5"]))
    g = graph(*ops)
    weights = [rng.uniform(1, 10) for _ in ops]
    found = _found(search(g, weights, {"g"}, ["w"], max_expansions=1))
    assert not found.optimal
    assert found.expanded <= 2
    _assert_valid(g, found, {"g"}, ["w"])


def _assert_valid(g, found: Found, given: set[str], wanted: list[str]) -> None:
    have = set(given)
    for i in found.order:
        assert set(g.operators[i].consumes) <= have, "a step runs before its inputs exist"
        have |= set(g.operators[i].produces)
    assert set(wanted) <= have


def _brute_force(g, weights, given, wanted) -> float:
    """The cheapest subset of operators whose closure from ``given`` covers ``wanted``."""
    best = math.inf
    n = len(g.operators)
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            have = set(given)
            changed = True
            while changed:
                changed = False
                for i in subset:
                    o = g.operators[i]
                    if set(o.consumes) <= have and not set(o.produces) <= have:
                        have |= set(o.produces)
                        changed = True
            if set(wanted) <= have:
                best = min(best, sum(weights[i] for i in subset))
    return best


signatures = st.lists(
    st.tuples(
        st.lists(st.sampled_from("abcdef"), min_size=1, max_size=2, unique=True),
        st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=2, unique=True),
        st.integers(min_value=1, max_value=9),
    ),
    min_size=1,
    max_size=7,
)


@settings(max_examples=150, deadline=None)
@given(signatures, st.sets(st.sampled_from("abc"), min_size=1), st.sets(st.sampled_from("defg")))
def test_the_search_finds_the_cheapest_valid_plan(sigs, start, wanted) -> None:
    ops = [op(f"o{i}", c, p) for i, (c, p, _) in enumerate(sigs)]
    weights = [float(w) for _, _, w in sigs]
    g = graph(*ops)
    result = search(g, weights, start, sorted(wanted))
    optimum = _brute_force(g, weights, start, wanted)
    if math.isinf(optimum):
        assert isinstance(result, Blocked)
        return
    found = _found(result)
    assert found.optimal
    _assert_valid(g, found, set(start), sorted(wanted))
    assert len(set(found.order)) == len(found.order)
    assert found.cost == optimum


def test_models_whose_signature_differs_from_their_capability_peers_stand_alone() -> None:
    from planner_toys import registry, spec

    from podium.planner import Planner, PlanOptions
    from podium.store import MemoryStore

    models = registry(
        spec("summarize-text", ["text"], ["summary"], capability="text.summary"),
        spec(
            "summarize-doc", ["text"], ["summary"], capability="text.summary", cost=0.01
        ).model_copy(update={"consumes": ["document"]}),
        spec("shared", ["text"], ["keywords"], capability="text.keywords"),
        spec("shared-too", ["text"], ["keywords"], capability="text.keywords", cost=0.0001),
    )
    planner = Planner(models, MemoryStore())
    refs = sorted(op.ref for op in planner.graph().operators)
    assert refs == [
        "capability/text.keywords",
        "model/summarize-doc@1.0.0",
        "model/summarize-text@1.0.0",
    ]
    options = PlanOptions(llm=False, matcher="lexical")
    plan = planner.plan(want=["summary"], given={"doc": "document"}, options=options)
    assert plan.document["steps"]["summary"]["uses"] == "model/summarize-doc@1.0.0"
    assert plan.document["steps"]["summary"]["with"] == {"text": "${{ inputs.doc }}"}
    assert plan.why.steps[0].model == "summarize-doc@1.0.0"
    plan = planner.plan(want=["keywords"], given={"t": "text"}, options=options)
    assert plan.why.steps[0].model == "shared-too@1.0.0"  # best quality ties, then cheaper
