"""The planner's public face: a sorted ``__all__`` of real objects, and no heavy imports."""

from __future__ import annotations

import subprocess
import sys

import podium.planner

EXPECTED = [
    "CostWeights",
    "EmbeddingMatcher",
    "Explanation",
    "LLMConfig",
    "LexicalMatcher",
    "Match",
    "Matcher",
    "Operator",
    "Plan",
    "PlanConstraints",
    "PlanError",
    "PlanInputError",
    "PlanOptions",
    "Planner",
    "SignatureGraph",
    "StepInfo",
    "Template",
    "Templates",
    "UnreachableError",
    "WorkflowEntry",
    "embeddings_installed",
    "parse_given",
]


def test_all_is_pinned_and_sorted() -> None:
    assert podium.planner.__all__ == EXPECTED
    for name in EXPECTED:
        assert hasattr(podium.planner, name), name


def test_planner_errors_are_user_errors() -> None:
    from podium.errors import UserError

    assert issubclass(podium.planner.PlanInputError, podium.planner.PlanError)
    assert issubclass(podium.planner.UnreachableError, podium.planner.PlanError)
    assert issubclass(podium.planner.PlanError, UserError)


def test_importing_the_planner_loads_no_heavy_library() -> None:
    code = (
        "import sys, podium.planner; heavy = [m for m in ('torch', 'sentence_transformers',"
        " 'httpx', 'numpy', 'sklearn') if m in sys.modules]; print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
