"""Templates: successful runs of planned workflows are reused for similar goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from planner_toys import LEXICAL, support

from podium.planner import PlanOptions
from podium.planner._templates import KIND, input_mapping, rename_inputs, template_key

GOAL = "classify the message and draft a reply"


def test_a_similar_goal_reuses_the_template_of_a_successful_run(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        first = orch.plan(GOAL, given={"message": "text"}, options=LEXICAL)
        assert first.why.origin == "typed"
        assert orch.run_plan(first, {"message": "a charge"}).ok
        stored = orch.store.documents(KIND)
        assert len(stored) == 1
        (record,) = stored.values()
        assert record["goals"] == [GOAL]
        assert (record["runs"], record["successes"]) == (1, 1)

        again = orch.plan(
            "classify this message, then draft a reply", given={"msg": "text"}, options=LEXICAL
        )
        assert again.why.origin == "template"
        assert again.why.template == record["key"]
        assert any(n.startswith("reused template") for n in again.why.notes)
        assert "1 of 1 runs succeeded" in again.why.notes[0]
        assert again.inputs == {"msg": "string"}  # renamed to the caller's input
        assert again.document["steps"]["intent"]["with"] == {"text": "${{ inputs.msg }}"}
        assert orch.run_plan(again, {"msg": "a charge"}).outputs["reply"] == "billing/None/None"
        (record,) = orch.store.documents(KIND).values()
        assert (record["runs"], record["successes"]) == (2, 2)
        assert record["goals"] == [GOAL, "classify this message, then draft a reply"]


def test_templates_are_not_reused_for_other_goals_or_when_turned_off(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan(GOAL, given={"message": "text"}, options=LEXICAL)
        orch.run_plan(plan, {"message": "hi"})
        other = orch.plan("detect the language", given={"message": "text"}, options=LEXICAL)
        assert other.why.origin == "typed"
        off = PlanOptions(matcher="lexical", llm=False, templates=False)
        assert orch.plan(GOAL, given={"message": "text"}, options=off).why.origin == "typed"
        # an explicit want the template does not produce
        wants = orch.plan(
            GOAL, given={"message": "text"}, want=["reply", "language"], options=LEXICAL
        )
        assert wants.why.origin == "typed"
        # the template needs a text input the caller does not have
        assert (
            orch.plan(GOAL, given={"customer_id": "customer_id"}, want=["customer"]).why.origin
            == "typed"
        )


def test_failed_runs_count_against_a_template(tmp_path: Path) -> None:
    with support(tmp_path) as orch:

        def flaky(customer_id: str) -> dict[str, Any]:
            if customer_id == "BAD":
                raise RuntimeError("no such customer")
            return {"tier": "gold", "name": "Ada"}

        orch.register_callable(
            flaky,
            name="crm-flaky",
            capabilities=["crm.profile"],
            description="Fetches the customer profile.",
            input={"customer_id": "string"},
            output={"tier": "string", "name": "string"},
            consumes=["customer_id"],
            produces=["profile"],
            cost=0.0001,
        )
        goal = "fetch the customer profile"
        given = {"customer_id": "customer_id"}
        plan = orch.plan(goal, given=given, options=LEXICAL)
        assert not orch.run_plan(plan, {"customer_id": "BAD"}).ok
        (record,) = orch.store.documents(KIND).values()
        assert (record["runs"], record["successes"]) == (1, 0)
        assert orch.plan(goal, given=given, options=LEXICAL).why.origin == "typed"
        assert orch.run_plan(plan, {"customer_id": "C1"}).ok
        # one success in two runs: smoothed rate (1 + 1) / (2 + 2) = 0.5, just enough
        assert orch.plan(goal, given=given, options=LEXICAL).why.origin == "template"
        strict = PlanOptions(matcher="lexical", llm=False, min_success=0.6)
        assert orch.plan(goal, given=given, options=strict).why.origin == "typed"


def test_input_mapping_and_renaming() -> None:
    assert input_mapping({"message": "text"}, {"message": "text", "x": "y"}) == {
        "message": "message"
    }
    assert input_mapping({"message": "text"}, {"body": "text"}) == {"message": "body"}
    assert input_mapping({"message": "text"}, {"body": "html"}) is None
    assert input_mapping({"a": "text"}, None) == {"a": "a"}
    doc = {
        "inputs": {"message": "string"},
        "steps": {"s": {"uses": "capability/x", "with": {"text": "${{ inputs.message }}"}}},
        "outputs": {"o": "${{ inputs.message_id }}"},
    }
    renamed = rename_inputs(doc, {"message": "body"})
    assert renamed["inputs"] == {"body": "string"}
    assert renamed["steps"]["s"]["with"] == {"text": "${{ inputs.body }}"}
    assert renamed["outputs"] == {"o": "${{ inputs.message_id }}"}


def test_template_keys_ignore_descriptions_and_names() -> None:
    a = {"name": "a", "steps": {"s": {"uses": "x", "description": "why"}}, "outputs": {}}
    b = {"name": "b", "steps": {"s": {"uses": "x", "description": "other"}}, "outputs": {}}
    assert template_key(a) == template_key(b)
    assert a["steps"]["s"]["description"] == "why"  # the document is not changed


@pytest.mark.parametrize("given", [None, {"message": "text"}])
def test_record_ignores_runs_that_did_not_finish(tmp_path: Path, given: Any) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan(GOAL, given=given, options=LEXICAL)

        class Waiting:
            status = "waiting"

        assert orch.planner.record(plan, Waiting()) is None  # type: ignore[arg-type]
