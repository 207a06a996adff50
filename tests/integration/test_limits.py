"""Bounds on what one run may ask for: refused before the run exists, or as a step failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Orchestrator, RunStatus
from podium._limits import Limits
from podium.errors import SchemaError, UserError

SMALL = Limits(map_items=50, run_steps=120, input_bytes=2_000, output_bytes=1_000)


@pytest.fixture
def orch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Orchestrator]:
    for name, value in (
        ("MAP_ITEMS", "50"),
        ("RUN_STEPS", "120"),
        ("INPUT_BYTES", "2000"),
        ("OUTPUT_BYTES", "1000"),
    ):
        monkeypatch.setenv(f"PODIUM_LIMIT_{name}", value)
    with Orchestrator(home=tmp_path / "home", discover=False) as o:
        assert o.settings.limits == SMALL

        @o.model(capabilities=["t.echo"])
        def echo(text: Any) -> dict[str, Any]:
            return {"text": text}

        @o.model(capabilities=["t.big"])
        def big(n: int) -> dict[str, Any]:
            return {"text": "x" * n}

        yield o


def mapped(over: Any) -> dict[str, Any]:
    step = {"uses": "model/echo", "with": {"text": "${{ item }}"}}
    return {"inputs": {"xs": "array"}, "steps": {"m": {"map": over, "step": step}}}


def test_a_map_over_the_inputs_too_wide_is_refused_before_the_run(orch: Orchestrator) -> None:
    with pytest.raises(SchemaError, match=r"steps\.m\.map: .*51.*PODIUM_LIMIT_MAP_ITEMS"):
        orch.run(mapped("${{ inputs.xs }}"), {"xs": list(range(51))})
    assert orch.runs() == []  # nothing was written
    assert orch.run(mapped("${{ inputs.xs }}"), {"xs": list(range(50))}).ok


def test_a_map_found_too_wide_while_running_fails_its_step(orch: Orchestrator) -> None:
    flow = {
        "steps": {
            "a": {"uses": "model/echo", "with": {"text": list(range(60))}},
            "m": {
                "map": "${{ steps.a.output.text }}",
                "step": {"uses": "model/echo", "with": {"text": "${{ item }}"}},
            },
        }
    }
    result = orch.run(flow)
    assert result.status is RunStatus.FAILED
    assert "the map's items (60) exceeds the limit of 50" in (result.error or "")


def test_the_steps_of_one_run_are_bounded(orch: Orchestrator) -> None:
    inner = {"map": "${{ item }}", "step": {"uses": "model/echo", "with": {"text": "${{ item }}"}}}
    flow = {"inputs": {"xs": "array"}, "steps": {"m": {"map": "${{ inputs.xs }}", "step": inner}}}
    result = orch.run(flow, {"xs": [list(range(40))] * 4})  # 4 + 160 step executions
    assert result.status is RunStatus.FAILED and "PODIUM_LIMIT_RUN_STEPS" in (result.error or "")
    # the steps already on their way when the limit is reached record how they ended
    assert len(orch.get_run(result.run_id).steps) <= SMALL.run_steps + 16


def test_inputs_too_large_are_refused_before_the_run(orch: Orchestrator) -> None:
    flow = {"inputs": {"t": "string"}, "steps": {"a": {"uses": "model/echo", "with": {"text": 1}}}}
    with pytest.raises(SchemaError, match=r"inputs: .*PODIUM_LIMIT_INPUT_BYTES"):
        orch.run(flow, {"t": "x" * 3_000})
    assert orch.runs() == []


def test_an_output_too_large_fails_its_step_and_is_not_stored(orch: Orchestrator) -> None:
    result = orch.run({"steps": {"a": {"uses": "model/big", "with": {"n": 5_000}}}})
    assert result.status is RunStatus.FAILED and "PODIUM_LIMIT_OUTPUT_BYTES" in (result.error or "")
    sizes = [len(str(e.data)) for e in orch.store.events(result.run_id)]
    assert max(sizes) < 1_000
    assert orch.run({"steps": {"a": {"uses": "model/big", "with": {"n": 10}}}}).ok


def test_a_bad_limit_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_LIMIT_MAP_ITEMS", "lots")
    with pytest.raises(UserError) as caught:
        Limits.from_env()
    assert caught.value.one_line() == (
        "PODIUM_LIMIT_MAP_ITEMS: must be a whole number, at least 1 (got 'lots')"
    )
    assert Limits.from_env({"PODIUM_LIMIT_MAP_ITEMS": "1_000"}).map_items == 1000
