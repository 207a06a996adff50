"""Registered workflows as steps: a domain is planned once, then used as one step."""

from __future__ import annotations

from pathlib import Path

import pytest
from planner_toys import LEXICAL, support

from podium.errors import UserError
from podium.planner import PlanInputError

TRIAGE = """\
name: triage
description: Triage a customer message by intent and tone.
inputs: {message: string}
steps:
  intent:
    uses: capability/text.intent
    with: {text: "${{ inputs.message }}"}
  tone:
    uses: capability/text.sentiment
    with: {text: "${{ inputs.message }}"}
outputs:
  intent: "${{ steps.intent.output.label }}"
  sentiment: "${{ steps.tone.output.label }}"
"""


def _triage(tmp_path: Path) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(TRIAGE)
    return path


def test_an_encapsulated_workflow_is_planned_as_one_step(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        entry = orch.planner.register_workflow(
            _triage(tmp_path), consumes=["text"], produces=["intent", "sentiment"], encapsulate=True
        )
        assert entry.name == "triage"
        refs = {op.ref for op in orch.planner.graph().operators}
        assert "workflow/triage" in refs
        assert "capability/text.intent" not in refs  # hidden inside the level below
        plan = orch.plan("draft a reply", given={"message": "text"}, options=LEXICAL)
        steps = {s.id: s for s in plan.why.steps}
        assert steps["intent"].kind == "workflow"
        assert steps["intent"].model == "intent-model@0.1.0, tone@0.1.0"
        assert steps["intent"].cost == pytest.approx(0.002 + 0.0005)
        assert plan.document["steps"]["intent"]["workflow"] == str(tmp_path / "triage.yaml")
        assert plan.document["steps"]["reply"]["with"]["intent"] == (
            "${{ steps.intent.output.intent }}"
        )
        result = orch.run_plan(plan, {"message": "I am angry about this charge"})
        assert result.ok, result.error
        assert result.outputs == {"reply": "billing/negative/None"}


def test_a_workflow_competes_with_models_on_cost(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        orch.planner.register_workflow(
            _triage(tmp_path), consumes=["text"], produces=["intent", "sentiment"]
        )
        one = orch.plan(want=["intent"], given={"message": "text"}, options=LEXICAL)
        assert [s.kind for s in one.why.steps] == ["capability"]
        both = orch.plan(want=["intent", "sentiment"], given={"message": "text"}, options=LEXICAL)
        assert [s.kind for s in both.why.steps] == ["workflow"]  # same cost, one step
        matched = orch.plan("triage the message", given={"message": "text"}, options=LEXICAL)
        assert [s.uses for s in matched.why.steps] == [str(tmp_path / "triage.yaml")]


def test_signature_defaults_and_bad_registrations(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        entry = orch.planner.register_workflow(_triage(tmp_path), name="support-triage")
        assert entry.consumes == ("message",)
        assert entry.produces == ("intent", "sentiment")
        assert [e.name for e in orch.planner.workflows()] == ["support-triage"]
        with pytest.raises(PlanInputError):
            orch.planner.register_workflow(_triage(tmp_path), name="Bad Name")
        with pytest.raises(UserError):
            orch.planner.register_workflow(tmp_path / "missing.yaml")
        (tmp_path / "triage.yaml").unlink()
        refs = {op.ref for op in orch.planner.graph().operators}
        assert "workflow/support-triage" not in refs  # a vanished file is skipped
        orch.planner.forget_workflow("support-triage")
        assert orch.planner.workflows() == []
