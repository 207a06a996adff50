"""The public face of the package: a sorted ``__all__`` that only names real objects."""

from __future__ import annotations

import subprocess
import sys

import podium

EXPECTED = [
    "ExecutionError",
    "ModelCallError",
    "ModelSpec",
    "Orchestrator",
    "PodiumError",
    "RetryPolicy",
    "RoutePolicy",
    "RunResult",
    "RunStatus",
    "StepStatus",
    "UserError",
    "Workflow",
    "WorkflowError",
    "__version__",
]


def test_all_is_pinned_and_sorted() -> None:
    assert podium.__all__ == EXPECTED
    assert sorted(podium.__all__) == podium.__all__
    for name in podium.__all__:
        assert hasattr(podium, name), name


def test_import_is_light_and_side_effect_free(tmp_path) -> None:
    code = (
        "import sys, podium; heavy = [m for m in ('sklearn', 'torch', 'fastapi', 'onnxruntime',"
        " 'sentence_transformers', 'httpx') if m in sys.modules]; print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
    assert not (tmp_path / ".podium").exists()  # importing creates no state
