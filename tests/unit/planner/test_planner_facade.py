"""The planner through the Orchestrator: plans are workflows that run, save and explain."""

from __future__ import annotations

from pathlib import Path

import pytest
from planner_toys import GIVEN, LEXICAL, support

import podium
from podium.engine import load_workflow
from podium.errors import UserError
from podium.planner import (
    Plan,
    PlanConstraints,
    PlanError,
    PlanInputError,
    PlanOptions,
    UnreachableError,
)


def test_a_goal_with_several_needs_becomes_a_parallel_graph(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan(
            "classify the message, check the customer's tier and draft a reply",
            given=GIVEN,
            options=LEXICAL,
        )
        assert isinstance(plan, Plan)
        assert isinstance(plan, podium.Workflow)
        why = plan.why
        assert why.origin == "typed"
        assert set(why.wanted) == {"intent", "customer", "reply"}
        assert why.stages == (("intent", "customer"), ("reply",))
        by_id = {s.id: s for s in why.steps}
        assert by_id["intent"].phrase == "classify the message"
        assert "delivers wanted 'intent'" in by_id["intent"].why
        assert "gives 'intent' to reply" in by_id["intent"].why
        assert "gives its tier to reply" in by_id["customer"].why
        assert by_id["reply"].after == ("intent", "customer")
        assert why.cost == pytest.approx(0.002 + 0.0001 + 0.001)
        assert (
            plan.document["steps"]["reply"]["with"]["tier"] == "${{ steps.customer.output.tier }}"
        )
        result = orch.run_plan(plan, {"message": "you charged me twice", "customer_id": "C1"})
        assert result.ok, result.error
        assert result.outputs["intent"] == "billing"
        assert result.outputs["reply"] == "billing/None/gold"


def test_shared_inputs_feed_parallel_branches_once(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan(want=["reply", "sentiment"], given={"message": "text"}, options=LEXICAL)
        assert [s.id for s in plan.why.steps] == ["intent", "sentiment", "reply"]
        assert plan.why.stages == (("intent", "sentiment"), ("reply",))
        # the reply reads the sentiment the parallel branch computes (an optional input)
        assert "sentiment" in plan.document["steps"]["reply"]["with"]
        result = orch.run_plan(plan, {"message": "I am angry"})
        assert result.outputs == {"reply": "other/negative/None", "sentiment": "negative"}


def test_the_plan_saves_as_yaml_that_podium_runs(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan("draft a reply", given={"message": "text"}, options=LEXICAL)
        path = plan.save(tmp_path / "plan.yaml")
        text = path.read_text()
        assert text.startswith("# planned by podium (typed) for: draft a reply")
        assert "description: gives 'intent' to reply" in text
        loaded = load_workflow(path)
        assert loaded.inputs == {"message": "string"}
        result = orch.run(path, {"message": "a charge I do not know"})
        assert result.ok
        assert result.outputs == {"reply": "billing/None/None"}


def test_constraints_choose_and_exclude_models(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        best = orch.plan(want=["intent"], given={"m": "text"}, options=LEXICAL)
        assert best.why.steps[0].model == "intent-model@0.1.0"
        cheapest = PlanOptions(llm=False, constraints=PlanConstraints(policy="cheapest"))
        plan = orch.plan(want=["intent"], given={"m": "text"}, options=cheapest)
        assert plan.why.steps[0].model == "cheap-intent@0.1.0"
        assert plan.document["steps"]["intent"]["route"] == {"policy": "cheapest"}
        strict = PlanOptions(llm=False, constraints=PlanConstraints(forbid_tags=("rules",)))
        plan = orch.plan(want=["intent"], given={"m": "text"}, options=strict)
        assert plan.why.steps[0].model == "intent-model@0.1.0"
        capped = PlanOptions(llm=False, constraints=PlanConstraints(max_cost=0.0005))
        with pytest.raises(PlanError, match=r"over max_cost 0\.0005"):
            orch.plan(want=["reply"], given={"m": "text"}, options=capped)
        picky = PlanOptions(llm=False, constraints=PlanConstraints(min_quality=0.95))
        with pytest.raises(UnreachableError, match="excluded by the constraints"):
            orch.plan(want=["intent"], given={"m": "text"}, options=picky)
        short = PlanOptions(llm=False, constraints=PlanConstraints(max_steps=1))
        with pytest.raises(PlanError, match="no plan fits in 1 steps"):
            orch.plan(want=["reply"], given={"m": "text"}, options=short)


def test_unreachable_goals_say_which_type_and_what_is_missing(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        with pytest.raises(UnreachableError) as caught:
            orch.plan(
                "classify the message and look up the customer",
                given={"message": "text"},
                options=LEXICAL,
            )
        message = caught.value.one_line()
        assert "cannot produce 'customer'" in message
        assert '(asked for by "look up the customer")' in message
        assert "capability/crm.lookup needs 'customer_id'" in message
        assert "--given NAME:customer_id" in message
        assert caught.value.missing == {"customer": ("customer_id",)}
        assert isinstance(caught.value, UserError)


def test_bad_input_is_a_user_error(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        with pytest.raises(PlanInputError, match="did you mean 'reply'"):
            orch.plan(want=["replies"], options=LEXICAL)
        with pytest.raises(PlanInputError, match="must look like NAME:TYPE"):
            orch.plan(want=["reply"], given=["message:text:extra"], options=LEXICAL)
        with pytest.raises(PlanInputError, match="did you mean 'text'"):
            orch.plan(want=["reply"], given=["message:txt"], options=LEXICAL)
        with pytest.raises(PlanInputError, match="unknown route policy"):
            bad = PlanOptions(llm=False, constraints=PlanConstraints(policy="fast"))
            orch.plan(want=["reply"], given=GIVEN, options=bad)
        with pytest.raises(PlanError, match="cannot tell what 'write a sonnet' asks for"):
            orch.plan("write a sonnet", given=GIVEN, options=LEXICAL)
        with pytest.raises(PlanError, match="every wanted type is given"):
            orch.plan(want=["text"], given=GIVEN, options=LEXICAL)


def test_without_given_types_the_plan_asks_for_source_types(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        plan = orch.plan(want=["reply"], options=LEXICAL)
        assert plan.inputs == {"text": "string"}
        assert plan.why.given == {"text": "text"}


def test_goal_words_are_matched_to_capabilities(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        matches = orch.planner.match("detect the language and look up the customer", "lexical")
        assert [(m.ref, m.phrase) for m in matches] == [
            ("capability/text.language", "detect the language"),
            ("capability/crm.lookup", "look up the customer"),
        ]


def test_capability_descriptions_can_be_added(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        with pytest.raises(PlanError):
            orch.plan("what tongue does it speak", given=GIVEN, options=LEXICAL)
        orch.planner.describe_capability("text.language", "Which tongue a text speaks.")
        plan = orch.plan("what tongue does it speak", given=GIVEN, options=LEXICAL)
        assert plan.why.wanted == ("language",)
