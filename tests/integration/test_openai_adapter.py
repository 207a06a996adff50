"""OpenAIAdapter against a small OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from podium.adapters import AdapterEnv, AdapterPool, CallContext
from podium.adapters._openai import OpenAIAdapter
from podium.errors import ModelCallError
from podium.registry import ModelSpec

KEY_ENV = "PODIUM_TEST_OPENAI_KEY"
KEY = "sk-openai-test-5ecret-4410"
STRUCTURED = {"label": "spam", "score": 0.9, "text": "ignored: the reply text wins"}

app = FastAPI()
#: the last request body each endpoint received, for assertions on what was sent
seen: dict[str, Any] = {}


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def trouble(tenant: str, request: Request) -> Response | None:
    """Tenants that misbehave: ``secure`` wants the key, ``fail`` is down."""
    auth = request.headers.get("authorization", "")
    if tenant == "secure" and auth != f"Bearer {KEY}":
        return PlainTextResponse(f"bad key in {auth!r}", status_code=401)
    if tenant == "fail":
        return PlainTextResponse("overloaded", status_code=503)
    return None


@app.post("/{tenant}/v1/chat/completions")
async def chat(tenant: str, request: Request) -> Response:
    body = await request.json()
    seen["chat"] = body
    problem = trouble(tenant, request)
    if problem is not None:
        return problem
    if tenant == "broken":
        return JSONResponse({"object": "chat.completion"})
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("json"):
        content = json.dumps(STRUCTURED)
    elif prompt.startswith("fenced"):
        content = "```json\n" + json.dumps(STRUCTURED) + "\n```"
    else:
        content = f"echo: {prompt}"
    return JSONResponse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": f"{tenant}/{body['model']}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage(len(body["messages"]) * 5, len(content.split())),
        }
    )


@app.post("/{tenant}/v1/embeddings")
async def embeddings(tenant: str, request: Request) -> Response:
    body = await request.json()
    seen["embeddings"] = body
    problem = trouble(tenant, request)
    if problem is not None:
        return problem
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i)]}
        for i, t in enumerate(texts)
    ]
    data.reverse()  # the order of `data` is not guaranteed; `index` is
    return JSONResponse(
        {"object": "list", "model": body["model"], "data": data, "usage": usage(len(texts), 0)}
    )


@pytest.fixture(scope="module")
def base(asgi_server: Any) -> Iterator[str]:
    with asgi_server(app) as url:
        yield url


def make_spec(base: str, *, tenant: str = "main", **runtime: Any) -> ModelSpec:
    spec: dict[str, Any] = {
        "name": "llm",
        "version": "2.0.0",
        "capabilities": ["text.generate"],
        "output": runtime.pop("output", None),
        "instances": runtime.pop("instances", 1),
    }
    spec["runtime"] = {"kind": "openai", "base_url": f"{base}/{tenant}/v1/", "model": "tiny"}
    spec["runtime"].update(runtime)
    return ModelSpec.model_validate(spec)


def call(
    tmp_path: Path, spec: ModelSpec, inputs: dict[str, Any], ctx: CallContext | None = None
) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        env = AdapterEnv(home=tmp_path, implementations=lambda spec: None)
        try:
            return await OpenAIAdapter(spec, env).call(inputs, ctx or CallContext())
        finally:
            await env.aclose()

    return asyncio.run(main())


def call_error(tmp_path: Path, spec: ModelSpec, inputs: dict[str, Any]) -> ModelCallError:
    with pytest.raises(ModelCallError) as info:
        call(tmp_path, spec, inputs)
    return info.value


def test_chat_with_text_reports_usage(base: str, tmp_path: Path) -> None:
    spec = make_spec(base, system="Be brief.", temperature=0.2, max_tokens=16)
    out = call(tmp_path, spec, {"text": "hello"})
    assert out == {
        "text": "echo: hello",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        "model": "main/tiny",
    }
    assert seen["chat"] == {
        "model": "tiny",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
        ],
        "temperature": 0.2,
        "max_tokens": 16,
    }


def test_chat_with_prompt_and_no_options(base: str, tmp_path: Path) -> None:
    out = call(tmp_path, make_spec(base), {"prompt": "hi"})
    assert out["text"] == "echo: hi"
    assert seen["chat"] == {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_with_messages_and_input_system(base: str, tmp_path: Path) -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    spec = make_spec(base, system="default system")
    out = call(tmp_path, spec, {"messages": messages, "system": "from input"})
    assert out["text"] == "echo: c"
    assert out["usage"]["prompt_tokens"] == 20
    assert seen["chat"]["messages"] == [{"role": "system", "content": "from input"}, *messages]


def test_chat_keeps_a_system_message_already_given(base: str, tmp_path: Path) -> None:
    messages = [{"role": "system", "content": "mine"}, {"role": "user", "content": "q"}]
    call(tmp_path, make_spec(base, system="default"), {"messages": messages})
    assert seen["chat"]["messages"] == messages


@pytest.mark.parametrize("prompt", ["json please", "fenced please"])
def test_structured_output_is_merged(base: str, tmp_path: Path, prompt: str) -> None:
    spec = make_spec(base, output={"text": "string", "label": "string", "score": "number"})
    out = call(tmp_path, spec, {"text": prompt})
    assert out["label"] == "spam"
    assert out["score"] == 0.9
    assert json.loads(out["text"].strip("`").removeprefix("json")) == STRUCTURED
    assert out["usage"]["total_tokens"] > 0


def test_json_reply_is_not_merged_without_extra_output_fields(base: str, tmp_path: Path) -> None:
    out = call(tmp_path, make_spec(base), {"text": "json please"})
    assert set(out) == {"text", "finish_reason", "usage", "model"}


def test_structured_output_through_pool_validation(base: str, tmp_path: Path) -> None:
    spec = make_spec(base, output={"label": "string", "score": "number"})

    async def main() -> tuple[dict[str, Any], ModelCallError]:
        pool = AdapterPool(AdapterEnv(home=tmp_path, implementations=lambda spec: None))
        try:
            good = await pool.invoke(spec, {"text": "json please"}, CallContext())
            with pytest.raises(ModelCallError) as info:
                await pool.invoke(spec, {"text": "plain reply"}, CallContext())
            return good, info.value
        finally:
            await pool.aclose()

    good, error = asyncio.run(main())
    assert (good["label"], good["score"]) == ("spam", 0.9)
    assert "llm@2.0.0" in str(error)
    assert "label" in str(error)


def test_embedding_single(base: str, tmp_path: Path) -> None:
    out = call(tmp_path, make_spec(base, mode="embeddings"), {"text": "abc"})
    assert out["embedding"] == [3.0, 0.0]
    assert out["usage"]["prompt_tokens"] == 1
    assert seen["embeddings"] == {"model": "tiny", "input": "abc"}


def test_embeddings_batch_in_input_order(base: str, tmp_path: Path) -> None:
    out = call(tmp_path, make_spec(base, mode="embeddings"), {"text": ["a", "bbb", "cc"]})
    assert out["embeddings"] == [[1.0, 0.0], [3.0, 1.0], [2.0, 2.0]]
    assert out["usage"]["prompt_tokens"] == 3
    assert call(tmp_path, make_spec(base, mode="embeddings"), {"text": []}) == {"embeddings": []}


@pytest.mark.parametrize(
    ("mode", "inputs"),
    [
        ("chat", {"nothing": 1}),
        ("chat", {"messages": "hello"}),
        ("chat", {"messages": [{"content": "no role"}]}),
        ("embeddings", {"text": 5}),
        ("embeddings", {"text": ["a", 1]}),
    ],
)
def test_bad_input_is_not_retryable(
    base: str, tmp_path: Path, mode: str, inputs: dict[str, Any]
) -> None:
    error = call_error(tmp_path, make_spec(base, mode=mode), inputs)
    assert not error.retryable
    assert "llm@2.0.0" in str(error)


def test_unexpected_response_is_not_retryable(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec(base, tenant="broken"), {"text": "x"})
    assert not error.retryable
    assert "unexpected chat response" in str(error)


@pytest.mark.parametrize("mode", ["chat", "embeddings"])
def test_server_error_is_retryable(base: str, tmp_path: Path, mode: str) -> None:
    error = call_error(tmp_path, make_spec(base, tenant="fail", mode=mode), {"text": "x"})
    assert error.retryable
    assert "HTTP 503" in str(error)
    assert f"{base}/fail/v1/" in str(error)


def test_bearer_key_from_env(base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_spec(base, tenant="secure", api_key_env=KEY_ENV)
    monkeypatch.setenv(KEY_ENV, KEY)
    assert call(tmp_path, spec, {"text": "hi"})["text"] == "echo: hi"
    embed = make_spec(base, tenant="secure", api_key_env=KEY_ENV, mode="embeddings")
    assert call(tmp_path, embed, {"text": "hi"})["embedding"] == [2.0, 0.0]
    wrong = KEY + "-revoked"
    monkeypatch.setenv(KEY_ENV, wrong)
    error = call_error(tmp_path, spec, {"text": "hi"})
    assert not error.retryable
    assert "HTTP 401" in str(error)
    assert KEY not in str(error)
    assert "Bearer ***" in str(error)


def test_instances_by_base_url(base: str, tmp_path: Path) -> None:
    spec = make_spec(
        base, instances=[{"base_url": f"{base}/east/v1"}, {"base_url": f"{base}/west/v1"}, {}]
    )

    async def main() -> list[str]:
        env = AdapterEnv(home=tmp_path, implementations=lambda spec: None)
        adapter = OpenAIAdapter(spec, env)
        try:
            contexts = [CallContext()] * 4 + [CallContext(instance=1)] * 2
            return [(await adapter.call({"text": "x"}, ctx))["model"] for ctx in contexts]
        finally:
            await env.aclose()

    assert asyncio.run(main()) == [
        "east/tiny",
        "west/tiny",
        "main/tiny",
        "east/tiny",
        "west/tiny",
        "west/tiny",
    ]
