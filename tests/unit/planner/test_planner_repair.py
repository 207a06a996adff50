"""Checking LLM-proposed workflows: what is repaired, what is rejected, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from planner_toys import support

from podium.planner._llm import LLMConfig, LLMError, extract_json, messages
from podium.planner._repair import Rejected, repair

GIVEN = {"message": "text"}


@pytest.fixture
def graph(tmp_path: Path) -> Any:
    with support(tmp_path) as orch:
        yield orch.planner.graph()


def _repair(graph: Any, raw: Any, wanted: tuple[str, ...] = ("reply",)) -> Any:
    return repair(
        raw, graph, given=GIVEN, wanted=wanted, workflows={}, name="p", description="goal"
    )


GOOD = {
    "name": "whatever",
    "inputs": {"message": "string"},
    "steps": {
        "intent": {"uses": "capability/text.intent", "with": {"text": "${{ inputs.message }}"}},
        "reply": {
            "uses": "capability/text.reply",
            "with": {"intent": "${{ steps.intent.output.label }}"},
        },
    },
    "outputs": {"reply": "${{ steps.reply.output.reply }}"},
}


def test_a_valid_plan_passes_unchanged(graph: Any) -> None:
    doc, ops, repairs = _repair(graph, GOOD)
    assert repairs == []
    assert doc["steps"] == GOOD["steps"]
    assert doc["inputs"] == {"message": "string"}
    assert doc["name"] == "p"
    assert {sid: op.ref for sid, op in ops.items()} == {
        "intent": "capability/text.intent",
        "reply": "capability/text.reply",
    }


def test_what_can_be_repaired_is_repaired_and_reported(graph: Any) -> None:
    raw = {
        "workflow": {
            "steps": [
                {"id": "classify", "capability": "text.intnet", "with": {"msg": "x"}},
                {
                    "id": "answer",
                    "uses": "reply-drafter-ish",
                    "temperature": 0.2,
                    "with": {"intent": "${{ steps.classify.output.label }}"},
                },
            ],
        }
    }
    raw["workflow"]["steps"][1]["uses"] = "drafter"  # a model name, not a capability
    doc, ops, repairs = _repair(graph, raw)
    assert ops["classify"].ref == "capability/text.intent"
    assert ops["answer"].ref == "capability/text.reply"
    text = "\n".join(repairs)
    assert "unwrapped the workflow" in text
    assert "turned the list of steps into a mapping" in text
    assert "'capability/text.intnet' read as 'capability/text.intent'" in text
    assert "'drafter' read as 'capability/text.reply'" in text
    assert "dropped unknown field 'temperature'" in text
    assert "dropped input 'msg'" in text
    assert "wired missing input 'text' to inputs.message" in text
    assert "added output 'reply'" in text
    assert doc["steps"]["classify"]["with"] == {"text": "${{ inputs.message }}"}
    assert doc["outputs"] == {"reply": "${{ steps.answer.output.reply }}"}


def test_a_misnamed_input_reference_is_rewired(graph: Any) -> None:
    raw = {
        "steps": {
            "intent": {"uses": "capability/text.intent", "with": {"text": "${{ inputs.msg }}"}},
        },
        "outputs": {"intent": "${{ steps.intent.output.label }}"},
    }
    doc, _, repairs = _repair(graph, raw, ("intent",))
    assert doc["steps"]["intent"]["with"] == {"text": "${{ inputs.message }}"}
    assert "input 'text' now reads inputs.message" in repairs[0]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not an object", "not a JSON object"),
        ({"steps": {}}, "has no steps"),
        ({"steps": {"a": {"uses": "capability/poetry"}}}, "'capability/poetry', which is not"),
        ({"steps": {"a": {"map": "x", "step": {}}}}, "is a 'map' step"),
        ({"steps": {"a": {"with": {}}}}, "names no capability"),
        (
            {
                "steps": {
                    "reply": {
                        "uses": "capability/text.reply",
                        "with": {"intent": "${{ steps.ghost.output.label }}"},
                    }
                }
            },
            "reads step 'ghost', which does not exist",
        ),
        (
            {
                "steps": {
                    "a": {
                        "uses": "capability/text.reply",
                        "with": {"intent": "${{ steps.b.output.reply }}"},
                    },
                    "b": {
                        "uses": "capability/text.reply",
                        "with": {"intent": "${{ steps.a.output.reply }}"},
                    },
                }
            },
            "in a cycle",
        ),
        (
            {"steps": {"i": {"uses": "capability/text.intent"}}},
            "does not produce wanted type 'reply'",
        ),
        (
            {"steps": {"c": {"uses": "capability/crm.lookup"}}},
            "lacks required input 'customer_id'",
        ),
    ],
)
def test_what_cannot_be_repaired_is_rejected_with_reasons(
    graph: Any, raw: Any, reason: str
) -> None:
    with pytest.raises(Rejected) as caught:
        _repair(graph, raw)
    assert reason in str(caught.value)


def test_json_is_found_in_chatty_replies() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"a": 2}\n```\nEnjoy.') == {"a": 2}
    assert extract_json('Here: {"a": {"b": 3}} done') == {"a": {"b": 3}}
    with pytest.raises(LLMError):
        extract_json("I cannot help with that.")


def test_the_prompt_lists_inputs_wanted_types_and_capabilities(graph: Any) -> None:
    chat = messages("draft a reply", GIVEN, ["reply"], graph.operators)
    system, user = chat[0]["content"], chat[1]["content"]
    assert "ONE JSON object" in system
    assert "- message: text" in user
    assert "Wanted types: reply" in user
    assert '"uses": "capability/text.reply"; consumes types [intent]' in user
    assert "sentiment: string (optional)" in user


def test_llm_config_comes_from_the_environment() -> None:
    assert LLMConfig.from_env({}) is None
    config = LLMConfig.from_env(
        {
            "PODIUM_LLM_BASE_URL": "http://127.0.0.1:9/v1/",
            "PODIUM_LLM_MODEL": "tiny",
            "PODIUM_LLM_API_KEY": "k",
            "PODIUM_LLM_TIMEOUT_S": "3",
        }
    )
    assert config == LLMConfig("http://127.0.0.1:9/v1", "tiny", "k", 3.0)
