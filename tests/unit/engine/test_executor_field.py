"""``executor:`` in workflow YAML and ``PODIUM_EXECUTOR``: parsed into placements, and
every mistake one line naming the file, line and field (no Ray needed here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from podium._config import Settings
from podium.adapters import LOCAL, Placement
from podium.engine import CallStep, MapStep, load_workflow
from podium.engine import _placement as placement_module
from podium.errors import UserError, WorkflowError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_executor_on_workflow_and_steps_becomes_placements(tmp_path: Path) -> None:
    flow = load_workflow(
        _write(
            tmp_path,
            """
            name: placed
            executor: ray
            steps:
              a: {uses: model/m, executor: local}
              b: {uses: model/m, executor: {kind: ray, mode: tasks}}
              c: {uses: model/m}
              d:
                map: [1, 2]
                executor: {kind: ray}
                step: {uses: model/m}
            """,
        )
    )
    assert flow.executor == Placement("ray", "actors")
    steps = flow.steps
    assert isinstance(steps["a"], CallStep) and steps["a"].executor == LOCAL
    assert steps["b"].executor == Placement("ray", "tasks")
    assert steps["c"].executor is None  # decided by the workflow at run time
    d = steps["d"]
    assert isinstance(d, MapStep) and d.executor == Placement("ray")
    assert d.body.executor is None
    assert Placement("ray", "tasks").describe() == "ray/tasks"
    assert Placement("ray").describe() == "ray" and LOCAL.describe() == "local"


@pytest.mark.parametrize(
    ("body", "needle", "field", "message"),
    [
        ("executor: spark", "executor: spark", "steps.a.executor", "unknown executor 'spark'"),
        (
            "executor: {kind: ray, mode: threads}",
            "executor: {kind",
            "steps.a.executor.mode",
            "unknown mode 'threads'; expected actors or tasks",
        ),
        (
            "executor: {kind: local, mode: tasks}",
            "executor: {kind",
            "steps.a.executor.mode",
            "'mode' only goes with kind: ray",
        ),
        (
            "executor: {kind: ray, nodes: 3}",
            "executor: {kind",
            "steps.a.executor.nodes",
            "unknown field; expected kind, mode",
        ),
        ("executor: [ray]", "executor: [ray]", "steps.a.executor", "must be local, ray, or"),
        ("executor: {mode: tasks}", "executor: {mode", "steps.a.executor.kind", "unknown executor"),
    ],
)
def test_a_bad_executor_names_file_line_and_field(
    tmp_path: Path, body: str, needle: str, field: str, message: str
) -> None:
    path = _write(tmp_path, f"name: bad\nsteps:\n  a:\n    uses: model/m\n    {body}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    error = info.value
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)
    assert (error.line, error.field) == (line, field)
    assert message in str(error) and "\n" not in str(error)
    assert str(error).startswith(f"{path}:{line}: {field}: ")


def test_an_approval_step_takes_no_executor(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        name: gate
        steps:
          ok:
            approval: {prompt: go?}
            executor: ray
        """,
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert info.value.field == "steps.ok.executor" and info.value.line == 5
    assert "unknown field for a 'approval' step" in info.value.message


def test_a_bad_workflow_executor_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: w\nexecutor: dask\nsteps:\n  a: {uses: model/m}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert (info.value.line, info.value.field) == (2, "executor")


def test_ray_named_without_ray_installed_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(placement_module, "ray_installed", lambda: False)
    path = _write(tmp_path, "name: w\nsteps:\n  a: {uses: model/m, executor: ray}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert info.value.field == "steps.a.executor" and info.value.line == 3
    assert "pip install 'podium[ray]'" in info.value.message
    # local needs nothing
    load_workflow(_write(tmp_path, "name: w\nsteps:\n  a: {uses: model/m, executor: local}\n"))


def test_podium_executor_sets_the_default_placement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PODIUM_EXECUTOR", raising=False)
    monkeypatch.delenv("PODIUM_RAY_MODE", raising=False)
    monkeypatch.delenv("PODIUM_RAY_ADDRESS", raising=False)
    settings = Settings.from_env(tmp_path)
    assert settings.placement == LOCAL and settings.ray_address is None
    monkeypatch.setenv("PODIUM_EXECUTOR", "Ray")
    monkeypatch.setenv("PODIUM_RAY_MODE", "tasks")
    monkeypatch.setenv("PODIUM_RAY_ADDRESS", "ray-head:6379")
    settings = Settings.from_env(tmp_path)
    assert settings.placement == Placement("ray", "tasks")
    assert settings.ray_address == "ray-head:6379"


@pytest.mark.parametrize(
    ("variable", "value"), [("PODIUM_EXECUTOR", "spark"), ("PODIUM_RAY_MODE", "threads")]
)
def test_a_bad_executor_setting_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("PODIUM_EXECUTOR", "ray")
    monkeypatch.setenv(variable, value)
    with pytest.raises(UserError) as info:
        Settings.from_env(tmp_path)
    assert info.value.field == variable and value in info.value.message
