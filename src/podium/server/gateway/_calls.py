"""Chat completions and embeddings: route, forward, answer.

One request: the key is checked (and its rate), the body parsed once with orjson and the
few fields the gateway needs checked, the ``model`` resolved to a target, the router asked
for the candidates (for the key's tenant), and the call made through the engine's model
caller with a :class:`~podium.server.gateway._forward.Forwarder` inside. A non-streamed
answer goes back as the upstream's bytes; a stream is pumped inside the call, and a client
that goes away before its end cancels it (the upstream connection is closed).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi import Request
from starlette.types import Send

from podium._context import RunContext
from podium.adapters import CallContext
from podium.engine import RetryPolicy
from podium.engine._calls import CallResult, StepFailure
from podium.server._auth import Principal
from podium.server.gateway._asgi import END, cancel_on_disconnect, send_bytes
from podium.server.gateway._audit import call_note, cut_note
from podium.server.gateway._catalog import CHAT, EMBEDDINGS, Target
from podium.server.gateway._errors import GatewayError, bad_request
from podium.server.gateway._forward import EXCHANGE, RULE, Exchange
from podium.server.gateway._state import Gateway, request_id
from podium.store import AuditNote

log = logging.getLogger("podium.server.gateway")

#: a failed attempt is tried once more (on another instance when there is one)
RETRY = RetryPolicy(attempts=2)
_PATHS = {CHAT: "/chat/completions", EMBEDDINGS: "/embeddings"}
_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _ignore(*_: object) -> None:
    return None


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (400 otherwise)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad_request("the body must be a JSON object")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: a model name", "model")
    return doc


def check_chat(doc: dict[str, Any]) -> bool:
    """Check what the gateway reads of a chat request; whether it streams."""
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request(
                f"'messages[{index}]' must be an object with a 'role'", f"messages[{index}]"
            )
    return _stream_flag(doc)


def check_embeddings(doc: dict[str, Any]) -> None:
    value = doc.get("input")
    ok = isinstance(value, str) and bool(value)
    if isinstance(value, list) and value:
        first = value[0]
        if isinstance(first, str):
            ok = all(isinstance(v, str) for v in value)
        elif isinstance(first, int) and not isinstance(first, bool):
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        elif isinstance(first, list):
            ok = all(
                isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value
            )
    if not ok:
        raise bad_request(
            "'input' must be a string, a list of strings, or tokens (a list of integers, or "
            "a list of such lists)",
            "input",
        )
    if doc.get("stream"):
        raise bad_request("embeddings are not streamed", "stream")


def _stream_flag(doc: dict[str, Any]) -> bool:
    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    options = doc.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object", "stream_options")
        if not stream:
            raise bad_request(
                "'stream_options' is only allowed with 'stream': true", "stream_options"
            )
        usage = options.get("include_usage")
        if usage is not None and not isinstance(usage, bool):
            raise bad_request(
                "'stream_options.include_usage' must be true or false",
                "stream_options.include_usage",
            )
    return bool(stream)


async def call_models(
    gateway: Gateway,
    request: Request,
    send: Send,
    doc: dict[str, Any],
    target: Target,
    principal: Principal,
    *,
    stream: bool = False,
) -> None:
    """Route ``doc`` to the target's models and send the answer (or raise before any)."""
    catalog = gateway.catalog
    overrides = catalog.overrides(doc.get("podium"), target)
    models, decision = catalog.candidates(target, principal.tenant, overrides, doc)
    rid = request_id()
    run = RunContext(rid.decode(), "gateway", gateway.doorman.caller(principal, request))
    context = CallContext(None, None, 1, None, None, run)
    headers = [(b"x-request-id", rid)]
    path = _PATHS[target.kind]
    if stream:
        options = doc.get("stream_options") or {}
        keep = bool(options.get("include_usage"))
        exchange = Exchange(path, headers, send=send, keep_usage=keep)
    else:
        exchange = Exchange(path, headers)
    work = gateway.caller.call_with_retries(
        models,
        doc,
        context,
        retry=RETRY,
        capability=target.capability,
        cache=False,
        on_failure=_ignore,
        hedge_after_s=decision.hedge_after_s,
        decision=decision,
    )
    token = EXCHANGE.set(exchange)
    try:
        if stream:
            started = time.perf_counter()
            try:
                gone, stream_result = await cancel_on_disconnect(
                    request.receive, work, answered=lambda: exchange.answered
                )
            except StepFailure as failure:
                if exchange.owner is None:
                    raise failed(exchange, failure) from None
                await _broken_stream(send, failure)
                return
            if not gone:
                await send(END)
            if stream_result is not None:  # the events went out as they came: no hash
                gateway.trail.add(_note(stream_result, doc, None, principal, rid, target.kind))
            elif exchange.model is not None:  # the client left mid-answer: the call was made
                latency_ms = (time.perf_counter() - started) * 1000
                gateway.trail.add(
                    cut_note(exchange.model, doc, principal, rid.decode(), target.kind, latency_ms)
                )
            return
        try:
            result = await work
        except StepFailure as failure:
            raise failed(exchange, failure) from None
    finally:
        EXCHANGE.reset(token)
    body = answer_body(exchange, result)
    await send_bytes(send, 200, body, [*headers, _model_header(result)])
    gateway.trail.add(_note(result, doc, body, principal, rid, target.kind))


def _note(
    result: CallResult,
    doc: dict[str, Any],
    body: bytes | None,
    principal: Principal,
    rid: bytes,
    kind: str,
) -> AuditNote:
    return call_note(result, doc, body, principal, rid.decode(), kind)


def _model_header(result: CallResult) -> tuple[bytes, bytes]:
    return (b"x-podium-model", result.model.key.encode())


def answer_body(exchange: Exchange, result: CallResult) -> bytes:
    """The upstream's bytes when the answer came back untouched, else the answer encoded."""
    output = result.output
    raw = exchange.bodies.get(id(output))
    if raw is not None and "usage" in output:
        return raw
    if "usage" not in output:
        output = {**output, "usage": dict(_NO_USAGE)}
    return orjson.dumps(output)


def failed(exchange: Exchange, failure: StepFailure) -> GatewayError:
    """What the client is told when no attempt answered."""
    reason = failure.reason
    if exchange.final is not None:
        status, body = exchange.final
        return _upstream_refusal(status, body)
    if exchange.reached:
        log.warning("gateway request failed: %s", reason)
        return GatewayError(502, f"the upstream failed: {reason}", code="upstream_error")
    if "refused by rule" in reason and f"rule '{RULE}'" not in reason:
        return GatewayError(403, reason, code="refused")
    return GatewayError(
        503,
        f"no upstream can take the request now: {reason}",
        code="upstream_unavailable",
        headers={"Retry-After": "1"},
    )


class _Verbatim(GatewayError):
    """An upstream's own error answer, passed on as it came."""

    def __init__(self, status: int, raw: bytes, message: str) -> None:
        super().__init__(status, message)
        self.raw = raw

    def body(self) -> bytes:
        return self.raw


def _upstream_refusal(status: int, body: bytes) -> GatewayError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return _Verbatim(status, body, str(data["error"].get("message")))
    text = body.decode("utf-8", errors="replace")[:500].strip()
    return GatewayError(
        status, f"the upstream refused the request: {text}", code="upstream_refused"
    )


async def _broken_stream(send: Send, failure: StepFailure) -> None:
    """The stream broke after the client got part of it: say so in one last event."""
    error = GatewayError(502, f"the upstream stream broke: {failure.reason}", code="upstream_error")
    await send(
        {
            "type": "http.response.body",
            "body": b"data: " + error.body() + b"\n\n",
            "more_body": True,
        }
    )
    await send(END)
