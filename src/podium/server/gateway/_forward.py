"""The innermost layer of a gateway call: the request body forwarded as it is.

The gateway calls models through the engine's :class:`~podium.engine._calls.ModelCaller`
(routing to instances, the interceptor chain, hedging, retries on other instances,
fallback models, breakers and the router's statistics), with a :class:`Forwarder` in place
of the adapter pool. What one request needs on the way (its path, whether it streams, the
client's channel) travels in an :class:`Exchange` held by a context variable, which the
tasks of a hedged call share.

A streamed answer is pumped to the client inside the call, so the instance stays leased,
and the latency and failures the router learns cover the whole stream. The first attempt
to produce an event owns the response; once it does, every other attempt (a hedge, a
retry after the stream broke, a fallback) is refused without a request.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import Send

from podium._types import JSONObject
from podium.adapters import AdapterPool, CallContext
from podium.adapters._openai import Answer, OpenAIAdapter
from podium.errors import ModelCallError, RefusedError
from podium.registry import ModelSpec, OpenAIRuntime
from podium.server.gateway._asgi import SSE_HEADERS
from podium.server.gateway._sse import EventFilter

#: upstream statuses that say the request itself is wrong: returned to the client as they
#: are, never retried elsewhere, never held against the model
CLIENT_FAULTS = frozenset({400, 413, 422})
RULE = "gateway"


class Exchange:
    """One gateway request on its way to the upstreams, shared by all its attempts."""

    __slots__ = (
        "answered",
        "bodies",
        "final",
        "headers",
        "keep_usage",
        "model",
        "owner",
        "path",
        "reached",
        "send",
        "stream",
    )

    def __init__(
        self,
        path: str,
        headers: list[tuple[bytes, bytes]],
        *,
        send: Send | None = None,
        keep_usage: bool = False,
    ) -> None:
        self.path = path
        self.headers = headers
        self.stream = send is not None
        self.send = send
        self.keep_usage = keep_usage
        #: the raw upstream body of each parsed answer, by the answer's id
        self.bodies: dict[int, bytes] = {}
        #: an upstream's refusal of the request itself: (status, body)
        self.final: tuple[int, bytes] | None = None
        #: how many attempts sent a request upstream
        self.reached = 0
        #: the attempt whose stream the client is receiving, and its model
        self.owner: object | None = None
        self.model: ModelSpec | None = None
        #: the client has the whole streamed answer (its ``[DONE]``)
        self.answered = False


EXCHANGE: ContextVar[Exchange | None] = ContextVar("podium_gateway_exchange", default=None)


class Forwarder(AdapterPool):
    """An adapter pool whose calls forward the gateway request of the current
    :class:`Exchange` to the model's upstream (the adapters are ``pool``'s)."""

    def __init__(self, pool: AdapterPool) -> None:
        super().__init__(pool.env)
        self.pool = pool

    def adapter(self, spec: ModelSpec) -> Any:
        return self.pool.adapter(spec)

    async def aclose(self) -> None:
        """Nothing of its own to release: the adapters and the HTTP sessions are ``pool``'s."""

    async def invoke(self, spec: ModelSpec, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        exchange = EXCHANGE.get()
        if exchange is None:  # not a gateway call
            return await self.pool.invoke(spec, inputs, ctx)
        if exchange.owner is not None or exchange.final is not None:
            raise RefusedError(RULE, "the request was answered already")
        adapter = self.pool.adapter(spec)
        runtime = spec.runtime
        if not isinstance(adapter, OpenAIAdapter) or not isinstance(runtime, OpenAIRuntime):
            raise ModelCallError("not an OpenAI-compatible model", model=spec.key, retryable=False)
        body = dict(inputs)
        body.pop("podium", None)
        body["model"] = runtime.model
        if runtime.mode == "chat":
            if runtime.temperature is not None:
                body.setdefault("temperature", runtime.temperature)
            if runtime.max_tokens is not None:
                body.setdefault("max_tokens", runtime.max_tokens)
        if exchange.stream:
            options = inputs.get("stream_options")
            asked = options if isinstance(options, dict) else {}
            body["stream_options"] = {**asked, "include_usage": True}
        data = orjson.dumps(body)
        exchange.reached += 1
        if exchange.stream:
            return await _pump(exchange, adapter, spec, data, ctx)
        answer = await adapter.forward(exchange.path, data, ctx)
        if answer.error is not None:
            raise _failed(exchange, answer)
        try:
            output = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            output = None
        if not isinstance(output, dict):
            raise ModelCallError(
                f"the upstream answered HTTP {answer.status} without a JSON object",
                model=spec.key,
                retryable=False,
            )
        exchange.bodies[id(output)] = answer.body
        return output


def _failed(exchange: Exchange, answer: Answer) -> Exception:
    if answer.status in CLIENT_FAULTS:
        exchange.final = (answer.status, answer.body)
        return RefusedError(RULE, f"the upstream refused the request (HTTP {answer.status})")
    assert answer.error is not None
    return answer.error


async def _pump(
    exchange: Exchange, adapter: OpenAIAdapter, spec: ModelSpec, data: bytes, ctx: CallContext
) -> JSONObject:
    """Stream the upstream's events to the client; the usage they reported."""
    send = exchange.send
    assert send is not None
    me = object()
    events = EventFilter(exchange.keep_usage)

    async def deliver(out: bytes) -> None:
        if exchange.owner is None:
            exchange.owner, exchange.model = me, spec
            headers = [*SSE_HEADERS, *exchange.headers, (b"x-podium-model", spec.key.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        elif exchange.owner is not me:
            raise RefusedError(RULE, "another attempt answered first")
        await send({"type": "http.response.body", "body": out, "more_body": True})
        exchange.answered = events.done

    async with adapter.forward_stream(exchange.path, data, ctx) as answer:
        if answer.error is not None:
            raise _failed(exchange, answer)
        assert answer.chunks is not None
        async for chunk in answer.chunks:
            out = events.feed(chunk)
            if out:
                await deliver(out)
    if exchange.owner is None and not events.pending.strip():
        raise ModelCallError("the upstream's stream was empty", model=spec.key)
    await deliver(events.end())
    return {"usage": events.usage or {}}
