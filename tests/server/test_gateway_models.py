"""The model list, embeddings, and tenants: a tenant's key reaches only shared models and
the ones marked for its tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from gateway_support import ask, async_client, client, manifest
from gateway_upstream import TestUpstream, vector
from server_support import Served


@pytest.fixture
def upstream() -> Iterator[TestUpstream]:
    with TestUpstream.running() as found:
        yield found


@pytest.fixture
def models(served: Served, upstream: TestUpstream) -> Served:
    orch = served.orchestrator
    orch.register(manifest("shared-chat", upstream))
    orch.register(manifest("a-chat", upstream, capability="text.private", tenants=["a"]))
    orch.register(manifest("vectors", upstream, capability="text.embed", mode="embeddings"))
    return served


def ids(api: openai.OpenAI) -> list[str]:
    return [m.id for m in api.models.list()]


def test_the_list_names_models_capabilities_and_virtual_models(models: Served) -> None:
    with client(models, "a") as api:
        seen = ids(api)
        assert api.models.retrieve("podium/auto").id == "podium/auto"
        with pytest.raises(openai.NotFoundError):
            api.models.retrieve("nothing-here")
    assert seen[:4] == ["podium/auto", "podium/cheapest", "podium/fastest", "podium/best"]
    assert {"capability/text.chat", "capability/text.embed", "capability/text.private"} <= set(seen)
    assert {"shared-chat", "a-chat", "vectors"} <= set(seen)
    assert "shout" not in seen  # a python model is not served by the gateway


def test_a_tenant_reaches_its_own_models_and_the_shared_ones_only(models: Served) -> None:
    with client(models, "b") as b:
        assert "a-chat" not in ids(b) and "capability/text.private" not in ids(b)
        for name in ("a-chat", "capability/text.private"):
            with pytest.raises(openai.NotFoundError) as hidden:
                b.chat.completions.create(model=name, messages=ask())
            assert "does not exist or you do not have access" in hidden.value.message
        assert b.chat.completions.create(model="shared-chat", messages=ask()).choices
    with client(models, "a") as a:
        raw = a.chat.completions.with_raw_response.create(
            model="capability/text.private", messages=ask()
        )
        assert raw.headers["x-podium-model"] == "a-chat@1.0.0"
        # routed among every chat model, tenant b never gets a's
    with client(models, "b") as b:
        for _ in range(5):
            raw = b.chat.completions.with_raw_response.create(model="podium/auto", messages=ask())
            assert raw.headers["x-podium-model"] == "shared-chat@1.0.0"


def test_embeddings_come_back_in_order_as_floats_or_base64(
    models: Served, upstream: TestUpstream
) -> None:
    texts = ["first text", "second", "third one here"]
    with client(models) as api:
        raw = api.embeddings.with_raw_response.create(model="vectors", input=texts)
        answer = raw.parse()  # the client asks for base64 and decodes it
        floats = api.embeddings.create(
            model="capability/text.embed", input="solo", encoding_format="float"
        )
    assert raw.headers["x-podium-model"] == "vectors@1.0.0"
    assert [d.index for d in answer.data] == [0, 1, 2]
    for item, text in zip(answer.data, texts, strict=True):
        assert item.embedding == pytest.approx(vector(text), abs=1e-6)
    assert answer.usage.prompt_tokens == 6
    assert floats.data[0].embedding == vector("solo")
    assert upstream.seen.bodies[-2]["encoding_format"] == "base64"
    assert upstream.seen.bodies[-2]["model"] == "up-vectors"


def test_embeddings_async_and_errors(models: Served) -> None:
    async def main() -> list[int]:
        async with async_client(models) as api:
            results = await asyncio.gather(
                *(api.embeddings.create(model="podium/auto", input=[f"t{i}"]) for i in range(8))
            )
        return [len(r.data) for r in results]

    assert asyncio.run(main()) == [1] * 8
    with client(models) as api:
        with pytest.raises(openai.NotFoundError):
            api.embeddings.create(model="shared-chat", input="a chat model")  # not embeddings
        with pytest.raises(openai.BadRequestError) as bad:
            api.embeddings.create(model="vectors", input=[1.5])  # type: ignore[list-item]
        assert bad.value.param == "input"
        with pytest.raises(openai.NotFoundError):
            api.chat.completions.create(model="vectors", messages=ask())
