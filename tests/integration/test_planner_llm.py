"""The LLM planner against a real OpenAI-compatible chat server on 127.0.0.1.

No LLM weights can be downloaded here, so the server is a small FastAPI app that answers
``/v1/chat/completions`` like an LLM would: the reply to a planning prompt depends on the
requested model name (a good plan, one that needs repairs, one that cannot be used,
prose). Everything else is real: the HTTP round trip, the shipped demo models, the runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

import podium
from podium.demo.catalog import MANIFESTS
from podium.planner import PlanInputError, PlanOptions

app = FastAPI()
seen: list[dict[str, Any]] = []

GOOD = {
    "name": "angry-reply",
    "inputs": {"message": "string"},
    "steps": {
        "tone": {"uses": "capability/text.sentiment", "with": {"text": "${{ inputs.message }}"}},
        "intent": {"uses": "capability/text.intent", "with": {"text": "${{ inputs.message }}"}},
        "reply": {
            "uses": "capability/text.reply",
            "with": {
                "intent": "${{ steps.intent.output.label }}",
                "sentiment": "${{ steps.tone.output.label }}",
            },
        },
    },
    "outputs": {"reply": "${{ steps.reply.output.reply }}"},
}

REPAIRABLE = {
    "plan": {
        "steps": [
            {"id": "classify", "uses": "text.intent", "with": {"message": "${{ inputs.msg }}"}},
            {
                "id": "answer",
                "uses": "capability/text.replies",
                "with": {"intent": "${{ steps.classify.output.label }}"},
                "temperature": 0.1,
            },
        ]
    }
}

UNUSABLE = {"steps": {"poem": {"uses": "capability/poetry", "with": {"topic": "refunds"}}}}

PLANS = {
    "good": "```json\n" + json.dumps(GOOD) + "\n```",
    "repairable": "Here is the plan:\n" + json.dumps(REPAIRABLE),
    "unusable": json.dumps(UNUSABLE),
    "prose": "I would first classify the message, then reply.",
}


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    body = await request.json()
    system = body["messages"][0]["content"]
    if not system.startswith("You plan workflows"):  # the demo reply-drafter asking
        return _completion("Thank you for writing; we are on it.")
    seen.append({"body": body, "auth": request.headers.get("authorization")})
    if body["model"] == "down":
        return PlainTextResponse("overloaded", status_code=503)
    return _completion(PLANS[body["model"]])


def _completion(content: str) -> Response:
    return JSONResponse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    )


@pytest.fixture(scope="module")
def llm_url(asgi_server: Callable[[Any], AbstractContextManager[str]]) -> Iterator[str]:
    with asgi_server(app) as url:
        yield url + "/v1"


@pytest.fixture
def orch(tmp_path: Path, llm_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PODIUM_LLM_BASE_URL", llm_url)
    monkeypatch.setenv("PODIUM_LLM_API_KEY", "sk-planner-test")
    seen.clear()
    with podium.Orchestrator(tmp_path, durable=False, discover=False) as found:
        found.register(MANIFESTS)
        yield found


OPTIONS = PlanOptions(matcher="lexical", templates=False)
GOAL = "reply to this angry customer"


def test_a_valid_llm_plan_is_used_and_runs(orch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_LLM_MODEL", "good")
    plan = orch.plan(GOAL, given={"message": "text"}, options=OPTIONS)
    assert plan.why.origin == "llm"
    assert plan.why.notes[0].startswith("planned by the LLM at http://127.0.0.1:")
    assert plan.why.stages == (("tone", "intent"), ("reply",))
    reasons = {s.id: s.why for s in plan.why.steps}
    assert reasons["tone"] == "gives its sentiment to reply"
    assert reasons["reply"].startswith("delivers wanted 'reply'")
    request = seen[-1]
    assert request["auth"] == "Bearer sk-planner-test"
    assert request["body"]["temperature"] == 0
    prompt = request["body"]["messages"][1]["content"]
    assert "Goal: reply to this angry customer" in prompt
    assert '"uses": "capability/text.reply"' in prompt
    result = orch.run_plan(plan, {"message": "You charged me twice, I am furious!"})
    assert result.ok, result.error
    assert result.outputs["reply"] == "Thank you for writing; we are on it."


def test_a_plan_that_needs_repairs_is_repaired_and_says_how(
    orch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_LLM_MODEL", "repairable")
    plan = orch.plan(GOAL, given={"message": "text"}, options=OPTIONS)
    assert plan.why.origin == "llm"
    repairs = [n for n in plan.why.notes if n.startswith("repaired: ")]
    text = "\n".join(repairs)
    assert "unwrapped the workflow" in text
    assert "'text.intent' read as 'capability/text.intent'" in text
    assert "'capability/text.replies' read as 'capability/text.reply'" in text
    assert "dropped input 'message'" in text
    assert "wired missing input 'text' to inputs.message" in text
    assert "dropped unknown field 'temperature'" in text
    assert list(plan.steps) == ["classify", "answer"]
    assert orch.run_plan(plan, {"message": "where is my parcel?"}).ok


@pytest.mark.parametrize(
    ("model", "note"),
    [
        ("unusable", "LLM plan rejected (step 'poem' uses 'capability/poetry', which is not"),
        ("prose", "LLM plan not used (the reply holds no JSON object)"),
        ("down", "LLM plan not used (http://127.0.0.1:"),
    ],
)
def test_the_typed_planner_is_the_fallback(
    orch: Any, monkeypatch: pytest.MonkeyPatch, model: str, note: str
) -> None:
    monkeypatch.setenv("PODIUM_LLM_MODEL", model)
    plan = orch.plan(GOAL, given={"message": "text"}, options=OPTIONS)
    assert plan.why.origin == "typed"
    assert plan.why.notes[0].startswith(note), plan.why.notes
    assert plan.why.notes[0].endswith("planned with the typed search")
    assert [s.uses for s in plan.why.steps] == ["capability/text.intent", "capability/text.reply"]


def test_an_unreachable_server_falls_back_too(orch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    plan = orch.plan(GOAL, given={"message": "text"}, options=OPTIONS)
    assert plan.why.origin == "typed"
    assert "cannot reach http://127.0.0.1:9/v1" in plan.why.notes[0]


def test_the_llm_is_asked_only_when_configured(orch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_LLM_MODEL", "good")
    no_llm = PlanOptions(matcher="lexical", templates=False, llm=False)
    assert orch.plan(GOAL, given={"message": "text"}, options=no_llm).why.origin == "typed"
    assert seen == []
    monkeypatch.delenv("PODIUM_LLM_BASE_URL")
    assert orch.plan(GOAL, given={"message": "text"}, options=OPTIONS).why.origin == "typed"
    with pytest.raises(PlanInputError, match="needs PODIUM_LLM_BASE_URL"):
        orch.plan(GOAL, options=PlanOptions(matcher="lexical", llm=True))
