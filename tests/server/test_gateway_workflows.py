"""A registered workflow called as a model: ``model: "workflow/<name>"``."""

from __future__ import annotations

import openai
import pytest
from gateway_support import ask, client
from server_support import Served

SHOUTER = {
    "name": "shouter",
    "inputs": {"message": "string"},
    "steps": {"loud": {"uses": "capability/text.upper", "with": {"text": "${{ inputs.message }}"}}},
    "outputs": {"reply": "${{ steps.loud.output.text }}"},
}
TWO_INPUTS = {
    "name": "two-inputs",
    "inputs": {"text": "string", "extra": "string"},
    "steps": {"loud": {"uses": "capability/text.upper", "with": {"text": "${{ inputs.text }}"}}},
    "outputs": {"reply": "${{ steps.loud.output.text }}", "extra": "${{ inputs.extra }}"},
}


def register(served: Served, document: dict[str, object], who: str = "operator") -> None:
    with served.client(who) as http:
        answer = http.post("/api/v1/workflows", json=document)
    assert answer.status_code in (200, 201), answer.text


def test_a_workflow_answers_a_chat(served: Served) -> None:
    register(served, SHOUTER)
    messages = [
        {"role": "system", "content": "be loud"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "FIRST"},
        {"role": "user", "content": "hello there"},
    ]
    with client(served) as api:
        assert "workflow/shouter" in [m.id for m in api.models.list()]
        raw = api.chat.completions.with_raw_response.create(
            model="workflow/shouter", messages=messages
        )
    answer = raw.parse()
    assert answer.choices[0].message.content == "HELLO THERE"
    assert answer.usage is not None
    assert raw.headers["x-podium-model"] == "workflow/shouter"
    run = served.orchestrator.get_run(raw.headers["x-podium-run"])
    assert run.status == "succeeded" and run.outputs == {"reply": "HELLO THERE"}


def test_a_workflow_streams_its_answer(served: Served) -> None:
    register(served, SHOUTER)
    with client(served) as api:
        chunks = list(
            api.chat.completions.create(
                model="workflow/shouter",
                messages=ask("quiet please"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "QUIET PLEASE"
    assert chunks[-1].usage is not None


def test_a_named_input_is_filled_and_other_workflows_are_refused(served: Served) -> None:
    register(served, TWO_INPUTS)
    with client(served) as api:
        with pytest.raises(openai.BadRequestError):  # 'extra' is required and cannot be filled
            api.chat.completions.create(model="workflow/two-inputs", messages=ask("x"))
        with pytest.raises(openai.NotFoundError):
            api.chat.completions.create(model="workflow/missing", messages=ask())
        with pytest.raises(openai.BadRequestError):  # no user message
            api.chat.completions.create(
                model="workflow/two-inputs", messages=[{"role": "system", "content": "s"}]
            )


def test_a_tenants_workflow_is_its_own(served: Served) -> None:
    register(served, SHOUTER, who="a")
    with client(served, "a") as a:
        assert a.chat.completions.create(model="workflow/shouter", messages=ask("hi")).choices
    with client(served, "b") as b:
        assert "workflow/shouter" not in [m.id for m in b.models.list()]
        with pytest.raises(openai.NotFoundError):
            b.chat.completions.create(model="workflow/shouter", messages=ask("hi"))
