"""Chat completions through the gateway with the official openai client (sync, async,
streamed), against a real OpenAI-compatible upstream on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest
from gateway_support import ask, async_client, client, manifest
from gateway_upstream import Behaviour, TestUpstream
from server_support import Served


@pytest.fixture
def upstream() -> Iterator[TestUpstream]:
    with TestUpstream.running() as found:
        yield found


@pytest.fixture
def chat(served: Served, upstream: TestUpstream) -> Served:
    served.orchestrator.register(manifest("chat-a", upstream))
    return served


def test_a_completion_reaches_the_upstream_and_comes_back(
    chat: Served, upstream: TestUpstream
) -> None:
    with client(chat) as api:
        raw = api.chat.completions.with_raw_response.create(model="chat-a", messages=ask("hi you"))
    answer = raw.parse()
    assert answer.choices[0].message.content == "echo: hi you"
    assert answer.usage is not None and answer.usage.total_tokens == 2 + 3
    assert raw.headers["x-podium-model"] == "chat-a@1.0.0"
    assert raw.headers["x-request-id"].startswith("gw-")
    sent = upstream.seen.bodies[-1]
    assert sent["model"] == "up-chat-a" and sent["messages"] == ask("hi you")
    assert "authorization" not in upstream.seen.headers[-1]  # the client's key stays here


def test_fields_the_gateway_does_not_read_are_passed_on(
    chat: Served, upstream: TestUpstream
) -> None:
    with client(chat) as api:
        api.chat.completions.create(
            model="chat-a@1.0.0",
            messages=ask(),
            temperature=0.25,
            max_tokens=7,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            extra_body={"podium": {"policy": "cheapest"}},
        )
    sent = upstream.seen.bodies[-1]
    assert sent["temperature"] == 0.25 and sent["max_tokens"] == 7
    assert sent["tools"][0]["function"]["name"] == "f"
    assert "podium" not in sent  # routing options are the gateway's own


def test_a_stream_ends_in_done_and_gives_usage_only_when_asked(
    chat: Served, upstream: TestUpstream
) -> None:
    upstream.behaviour.reply = "one two three four five six"
    with client(chat) as api:
        chunks = list(api.chat.completions.create(model="chat-a", messages=ask("x"), stream=True))
        with_usage = list(
            api.chat.completions.create(
                model="chat-a",
                messages=ask("x"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert all(c.usage is None for c in chunks)  # not asked: the usage event is left out
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens == 6
    # the gateway asked the upstream for usage both times (for the router's accounting)
    assert all(b["stream_options"]["include_usage"] for b in upstream.seen.bodies[-2:])


def test_the_stream_on_the_wire_is_sse_ending_in_done(chat: Served) -> None:
    body = {"model": "chat-a", "messages": ask("hey"), "stream": True}
    with (
        chat.client("operator") as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-podium-model"] == "chat-a@1.0.0"
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    first = orjson.loads(events[0][6:])
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_the_async_client_streams_and_completes_concurrently(
    chat: Served, upstream: TestUpstream
) -> None:
    async def main() -> tuple[list[str], str]:
        async with async_client(chat) as api:
            answers = await asyncio.gather(
                *(
                    api.chat.completions.create(model="chat-a", messages=ask(f"n{i}"))
                    for i in range(20)
                )
            )
            stream = await api.chat.completions.create(
                model="chat-a", messages=ask("streamed"), stream=True
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return [a.choices[0].message.content or "" for a in answers], "".join(parts)

    texts, streamed = asyncio.run(main())
    assert texts == [f"echo: n{i}" for i in range(20)]
    assert streamed == "echo: streamed"


def test_the_router_learns_from_gateway_calls(chat: Served, upstream: TestUpstream) -> None:
    upstream.behaviour.delay_s = 0.03
    with client(chat) as api:
        for _ in range(4):
            api.chat.completions.create(model="capability/text.chat", messages=ask())
        list(api.chat.completions.create(model="chat-a", messages=ask(), stream=True))
    stats = chat.orchestrator.router.model_stats("chat-a@1.0.0", "text.chat")  # type: ignore[attr-defined]
    assert stats is not None and stats["calls"] == 5 and stats["errors"] == 0
    assert stats["latency_ewma_ms"] >= 30  # the upstream's time
    assert stats["cost"] == pytest.approx(5 * 0.001)


def test_virtual_models_route_by_their_policy(served: Served) -> None:
    with (
        TestUpstream.running(Behaviour(reply="cheap")) as cheap,
        TestUpstream.running(Behaviour(reply="good")) as good,
        TestUpstream.running(Behaviour(reply="quick")) as quick,
    ):
        orch = served.orchestrator
        orch.register(manifest("cheap", cheap, cost=0.0001, quality=0.5, latency_ms=800))
        orch.register(manifest("good", good, cost=0.01, quality=0.95, latency_ms=900))
        orch.register(manifest("quick", quick, cost=0.005, quality=0.6, latency_ms=20))
        with client(served) as api:

            def answer(model: str) -> tuple[str, str]:
                raw = api.chat.completions.with_raw_response.create(model=model, messages=ask())
                return raw.headers["x-podium-model"], raw.parse().choices[0].message.content or ""

            assert answer("podium/cheapest") == ("cheap@1.0.0", "cheap")
            assert answer("podium/best") == ("good@1.0.0", "good")
            assert answer("podium/fastest") == ("quick@1.0.0", "quick")
            assert answer("podium/auto")[0] in {"cheap@1.0.0", "good@1.0.0", "quick@1.0.0"}
            assert answer("capability/text.chat") == ("good@1.0.0", "good")
            # a request's own policy
            raw = api.chat.completions.with_raw_response.create(
                model="capability/text.chat",
                messages=ask(),
                extra_body={"podium": {"policy": "cheapest", "forbid_tags": []}},
            )
            assert raw.headers["x-podium-model"] == "cheap@1.0.0"


def test_errors_have_the_openai_shape_and_status(chat: Served) -> None:
    with client(chat, None) as anonymous, pytest.raises(openai.AuthenticationError) as no_key:
        anonymous.chat.completions.create(model="chat-a", messages=ask())
    assert no_key.value.status_code == 401
    with client(chat, "viewer") as viewer, pytest.raises(openai.PermissionDeniedError):
        viewer.chat.completions.create(model="chat-a", messages=ask())
    with client(chat) as api:
        with pytest.raises(openai.NotFoundError) as missing:
            api.chat.completions.create(model="no-such-model", messages=ask())
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as empty:
            api.chat.completions.create(model="chat-a", messages=[])
        assert empty.value.param == "messages"
    with chat.client("operator") as http:
        broken = http.post("/v1/chat/completions", content=b"{not json")
        assert broken.status_code == 400
        error = broken.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        for bad, param in (
            ({"messages": ask()}, "model"),
            ({"model": "chat-a", "messages": "hi"}, "messages"),
            ({"model": "chat-a", "messages": ask(), "stream": "yes"}, "stream"),
            ({"model": "chat-a", "messages": ask(), "podium": {"policy": "random"}}, None),
        ):
            answer = http.post("/v1/chat/completions", json=bad)
            assert answer.status_code == 400, bad
            if param:
                assert answer.json()["error"]["param"] == param
        embeddings_model = http.post(
            "/v1/chat/completions", json={"model": "capability/text.upper", "messages": ask()}
        )
        assert embeddings_model.status_code == 404  # a capability without chat models


def test_an_upstream_refusing_the_request_is_passed_on_untried_elsewhere(
    chat: Served, upstream: TestUpstream
) -> None:
    upstream.behaviour.status = 400
    with client(chat) as api, pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(model="chat-a", messages=ask())
    assert refused.value.message.endswith("upstream failure 400")
    assert upstream.hits() == 1  # a request at fault is not retried
    stats = chat.orchestrator.router.model_stats("chat-a@1.0.0")  # type: ignore[attr-defined]
    assert stats is None or stats["errors"] == 0  # nor held against the model


def test_the_endpoints_are_documented(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        paths = http.get("/openapi.json").json()["paths"]
    chat = paths["/v1/chat/completions"]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert {"401", "404", "502", "503"} <= set(chat["responses"])
    assert "/v1/embeddings" in paths and "/v1/models" in paths


def test_every_gateway_call_has_its_audit_record(chat: Served) -> None:
    """A gateway call belongs to no run: its record is written from the gateway itself,
    with who asked, the model that answered, and hashes of the request and the answer."""
    import hashlib
    import time

    from podium.governance._audit import verify
    from podium.store import digest

    with client(chat) as api:
        raw = api.chat.completions.with_raw_response.create(model="chat-a", messages=ask("hi"))
        streamed = list(api.chat.completions.create(model="chat-a", messages=ask("s"), stream=True))
    assert streamed
    store = chat.orchestrator.store
    deadline = time.monotonic() + 10
    while True:
        calls = [r for r in store.audit_records() if r.workflow == "gateway"]
        if len(calls) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert [r.kind for r in calls] == ["model.call", "model.call"]
    plain, stream = (orjson.loads(r.data) for r in calls)
    assert calls[0].subject == "chat-a@1.0.0" and calls[0].principal.startswith("key:")
    assert plain["gateway"] == "chat" and plain["request"] == raw.headers["x-request-id"]
    sent = {"model": "chat-a", "messages": ask("hi")}
    assert plain["input_sha256"] == digest(sent)
    assert plain["output_sha256"] == hashlib.sha256(raw.content).hexdigest()
    assert calls[0].cost == pytest.approx(0.001)
    assert stream["output_sha256"] is None  # streamed events are passed on, not kept
    assert verify(store).ok
