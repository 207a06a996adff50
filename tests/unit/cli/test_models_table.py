"""`podium models list` never cuts a model's name; the other columns wrap instead."""

from __future__ import annotations

import io

from rich.console import Console

from podium.cli._render import models_table
from podium.registry import ModelSpec, spec_from_mapping

#: the shipped demo models, with the capabilities and quality priors they really have
DEMO = {
    "crm-lookup": ["crm.lookup"],
    "dx-full": ["diagnosis.malignancy"],
    "dx-shape": ["diagnosis.malignancy"],
    "dx-size-onnx": ["diagnosis.malignancy"],
    "dx-stacker": ["diagnosis.stacking"],
    "entity-extractor": ["text.entities"],
    "intent-classifier": ["text.intent"],
    "keyword-intent": ["text.intent"],
    "reply-drafter": ["text.reply"],
    "risk-forest-large": ["risk.score"],
    "vader-sentiment": ["text.sentiment"],
}


def _spec(name: str, capabilities: list[str]) -> ModelSpec:
    return spec_from_mapping(
        {
            "name": name,
            "version": "1.0.0-rc.1",
            "capabilities": capabilities,
            "quality": dict.fromkeys(capabilities, 0.9123),
            "cost": 0.00002,
            "latency_ms": 12.345,
            "runtime": {"kind": "sklearn", "path": "/models/m.skops"},
        }
    )


def _render(specs: list[ModelSpec], width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(models_table(specs))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_every_full_name_appears_at_80_columns() -> None:
    specs = [_spec(name, caps) for name, caps in DEMO.items()]
    specs.append(_spec("customer-lifetime-value-forecast", ["crm.forecast", "crm.value"]))
    text = _render(specs, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for spec in specs:
        assert spec.name in text, spec.name
    assert "…" not in text  # nothing is cut; long words fold onto the next line


def test_every_name_appears_at_narrow_and_wide_widths() -> None:
    specs = [_spec(name, caps) for name, caps in DEMO.items()]
    for width in (60, 100, 200):
        text = _render(specs, width)
        assert all(name in text for name in DEMO), width


def test_a_name_too_long_for_the_terminal_folds_whole_rather_than_being_cut() -> None:
    name = "a-model-name-far-too-long-to-leave-the-other-columns-of-this-table-any-room"
    text = _render([_spec(name, ["x.y"])], 80)
    first_cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(first_cells) == name
