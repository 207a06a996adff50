"""The shipped scenarios end to end: example workflows, the demo table, and that it is measured."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import podium
from podium.demo import run_demo
from podium.demo.catalog import demo_models, held_out

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one trained home for the session, shared read-only by the modules that need one
    path = tmp_path_factory.getbasetemp() / "shared-demo-home"
    demo_models(path)  # trains on first use (a file lock keeps it to once)
    return path


@pytest.fixture
def orch(home: Path) -> podium.Orchestrator:
    with podium.Orchestrator(home=home, database_url="memory", discover=False) as o:
        for spec in demo_models(home):
            o.registry.register(spec)
        yield o


def test_diagnostics_example_runs_with_stacking(orch: podium.Orchestrator) -> None:
    case = json.loads((EXAMPLES / "diagnostics-case.json").read_text())
    result = orch.run(EXAMPLES / "diagnostics.yaml", case)
    assert result.ok, result.error
    assert result.outputs["label"] in ("malignant", "benign")
    members = [m["model"] for m in result.outputs["members"]]
    assert members == ["dx-size@1.0.0", "dx-texture@1.0.0", "dx-shape@1.0.0", "dx-full@1.0.0"]
    assert all(m["weight"] > 0 for m in result.outputs["members"])
    lineage = result.lineage[0]["members"]
    assert [m["model"] for m in lineage] == members
    assert all(m["weight"] > 0 for m in lineage)


def test_support_example_runs_every_step(orch: podium.Orchestrator) -> None:
    message = "I was charged twice for ORD-12345, please refund me at ann@example.com"
    result = orch.run(EXAMPLES / "support.yaml", {"message": message, "customer_id": "CUST-1003"})
    assert result.ok, result.error
    out = result.outputs
    assert out["intent"] == "billing"
    assert out["orders"] == ["ORD-12345"]
    assert out["tier"] is not None and out["reply"]
    assert {s["step"] for s in result.steps} == {"intent", "tone", "entities", "customer", "reply"}


@pytest.mark.parametrize(
    "message",
    [
        "I was charged twice for ORD-12345, please refund me",  # the README's example
        "Hi, please could you check ORD-12345? The parcel arrived damaged. Thanks, Pablo",
    ],
)
def test_a_polite_complaint_reads_as_one_and_gets_a_fitting_reply(
    orch: podium.Orchestrator, message: str
) -> None:
    result = orch.run(EXAMPLES / "support.yaml", {"message": message, "customer_id": "CUST-1003"})
    assert result.ok, result.error
    out = result.outputs
    assert out["tone"] == "negative"
    assert out["escalate"] is False  # a complaint, not an angry customer
    assert "kind words" not in out["reply"] and "I'm sorry about this" in out["reply"]
    assert "ORD-12345" in out["reply"]
    tone = next(s for s in result.steps if s["step"] == "tone")
    assert tone["model"] == "support-tone@1.0.0"  # routed by measured quality (policy best)


def test_praise_is_still_thanked(orch: podium.Orchestrator) -> None:
    message = "Refund for ORD-12345 arrived this morning, thanks so much for the quick help!"
    result = orch.run(EXAMPLES / "support.yaml", {"message": message, "customer_id": "CUST-1003"})
    assert result.ok and result.outputs["tone"] == "positive"
    assert "kind words" in result.outputs["reply"]


def test_risk_cascade_escalates_only_uncertain_cases(orch: podium.Orchestrator) -> None:
    cases = held_out(orch.settings.home, "risk")[:60]
    escalated = 0
    for case in cases:
        result = orch.run(EXAMPLES / "risk.yaml", case["inputs"])
        assert result.ok, result.error
        escalated += bool(result.outputs["escalated"])
        models = {entry["model"] for entry in result.lineage}
        assert ("risk-gbm@1.0.0" in models) == result.outputs["escalated"]
    assert 0 < escalated < len(cases)


def _table(orch: podium.Orchestrator, **options: Any) -> dict[str, Any]:
    return run_demo(orch, Console(file=io.StringIO()), as_json=True, **options)


def test_demo_report_is_measured_and_changes_when_a_model_changes(
    orch: podium.Orchestrator, home: Path
) -> None:
    before = _table(orch, scenarios=["risk"], limit=120)
    rows = {r["name"]: r for r in before["scenarios"][0]["rows"]}
    assert set(rows) == {"risk-logistic", "risk-gbm", "risk-forest-large", "risk-cascade"}
    assert rows["risk-gbm"]["accuracy"] != rows["risk-logistic"]["accuracy"]

    # Perturb one model for real: risk-gbm now loads the logistic model's file.
    specs = demo_models(home)
    logistic = next(s for s in specs if s.name == "risk-logistic")
    swapped = [
        s.model_copy(update={"runtime": logistic.runtime}) if s.name == "risk-gbm" else s
        for s in specs
    ]
    after = _table(orch, scenarios=["risk"], limit=120, models=swapped)
    changed = {r["name"]: r for r in after["scenarios"][0]["rows"]}
    assert changed["risk-gbm"]["accuracy"] == rows["risk-logistic"]["accuracy"]
    assert changed["risk-gbm"]["accuracy"] != rows["risk-gbm"]["accuracy"]
    assert "verdict" in after["scenarios"][0]


def test_demo_human_table_names_every_row(orch: podium.Orchestrator) -> None:
    buffer = io.StringIO()
    run_demo(orch, Console(file=buffer, width=120), scenarios=["support"], limit=20)
    text = buffer.getvalue()
    for name in ("intent-classifier", "keyword-intent", "support-triage", "macro-F1"):
        assert name in text
    assert "support: the workflow" in text
