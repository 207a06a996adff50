"""The public face of the package: a sorted ``__all__`` that only names real objects."""

from __future__ import annotations

import subprocess
import sys

import podium

EXPECTED = [
    "ExecutionError",
    "Limits",
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


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return [m for m in done.stdout.strip().split(",") if m]


ENGINE = ("sqlalchemy", "pydantic", "yaml", "podium._orchestrator", "podium.engine", "podium.store")


def test_import_podium_loads_nothing_until_a_name_is_used() -> None:
    assert _loaded("import podium", ENGINE) == []
    assert _loaded("import podium; podium.RunStatus", ENGINE) == []
    assert "podium._orchestrator" in _loaded("import podium; podium.Orchestrator", ENGINE)
    assert _loaded("from podium import UserError", ENGINE) == []


def test_the_command_line_help_loads_no_engine() -> None:
    code = (
        "from podium.cli import app\nimport typer.testing\n"
        "typer.testing.CliRunner().invoke(app, ['--help'])"
    )
    assert _loaded(code, ENGINE) == []


def test_every_public_name_resolves_lazily() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from podium import *; print(Orchestrator.__name__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "Orchestrator"
