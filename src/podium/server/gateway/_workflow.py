"""``model: "workflow/<name>"``: a registered workflow answers as if it were a chat model.

The chat's last user message becomes the workflow's input: its one input, or else the
one named ``message``, ``text`` or ``prompt``. The run's output is the assistant's message
(a lone output as it is when it is a string, else the outputs as JSON). Streamed, the
role comes at once and the content in one event when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from starlette.types import Send

from podium._types import RunStatus
from podium.engine import RunResult
from podium.errors import PodiumError, UserError
from podium.server._auth import Principal
from podium.server._deps import caller_of, start_allowed
from podium.server._problems import Problem
from podium.server.api._shared import api_state
from podium.server.gateway._asgi import END, SSE_HEADERS, send_bytes
from podium.server.gateway._catalog import Target
from podium.server.gateway._errors import GatewayError, bad_request, from_problem, unknown_model
from podium.server.gateway._state import gateway_of, request_id

FIELDS = ("message", "text", "prompt")
_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def workflow_names(request: Request, tenant: str | None) -> list[str]:
    """The registered workflows ``tenant`` may run."""
    return [entry.name for entry in api_state(request).book.listing(tenant)]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (text parts joined)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            return "".join(p for p in parts if isinstance(p, str))
    raise bad_request("a workflow called as a model needs a user message", "messages")


def input_name(name: str, inputs: dict[str, Any]) -> str:
    """Which input of the workflow the message fills."""
    if len(inputs) == 1:
        return next(iter(inputs))
    for candidate in FIELDS:
        if candidate in inputs:
            return candidate
    listed = ", ".join(sorted(inputs)) or "none"
    raise bad_request(
        f"workflow '{name}' takes inputs {listed}; a chat fills one string input, or one "
        "named message, text or prompt",
        "model",
    )


def reply_text(outputs: dict[str, Any] | None) -> str:
    values = outputs or {}
    if len(values) == 1:
        only = next(iter(values.values()))
        return only if isinstance(only, str) else orjson.dumps(only).decode()
    return orjson.dumps(values).decode()


async def run_workflow(
    request: Request,
    send: Send,
    doc: dict[str, Any],
    target: Target,
    principal: Principal,
    *,
    stream: bool,
) -> None:
    """Run the workflow of ``target`` on the chat's last user message and answer."""
    gateway = gateway_of(request)
    name = str(target.workflow)
    found = api_state(request).book.workflow(principal.tenant, name)
    if found is None:
        raise unknown_model(target.name)
    workflow, entry = found
    text = last_user_text(doc["messages"])
    field = input_name(name, dict(entry.inputs or workflow.inputs))
    try:
        start_allowed(gateway.state, principal)
    except Problem as problem:
        raise from_problem(problem) from None
    caller = caller_of(principal, request)
    rid = request_id()
    created = int(time.time())
    model_id = target.name
    base = {"id": f"chatcmpl-{rid.decode()}", "created": created, "model": model_id}
    inputs = {field: text}
    if stream:
        headers = [*SSE_HEADERS, (b"x-request-id", rid), (b"x-podium-model", model_id.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = _chunk(base, {"role": "assistant", "content": ""}, None)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        body = await _streamed_run(gateway.orchestrator.arun(workflow, inputs, caller=caller))
        await send({"type": "http.response.body", "body": body(base, doc), "more_body": True})
        await send(END)
        return
    result = await gateway.orchestrator.arun(workflow, inputs, caller=caller)
    run_header = (b"x-podium-run", result.run_id.encode())
    error = _run_error(result)
    if error is not None:
        error.headers["x-podium-run"] = result.run_id
        raise error
    answer = {
        **base,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(result.outputs)},
                "finish_reason": "stop",
            }
        ],
        "usage": dict(_NO_USAGE),
        "podium": {"run_id": result.run_id, "cost": result.cost},
    }
    headers = [(b"x-request-id", rid), (b"x-podium-model", model_id.encode()), run_header]
    await send_bytes(send, 200, orjson.dumps(answer), headers)


async def _streamed_run(
    run: Coroutine[Any, Any, RunResult],
) -> Callable[[dict[str, Any], dict[str, Any]], bytes]:
    """Run; how the rest of the stream reads (the answer, or the error: the response has
    started, so a failure is told in the stream)."""
    try:
        result = await run
    except PodiumError as exc:
        status = 400 if isinstance(exc, UserError) else 502
        error: GatewayError | None = GatewayError(status, str(exc), code="workflow_failed")
    else:
        error = _run_error(result)
    if error is not None:
        told = b"data: " + error.body() + b"\n\n"
        return lambda _base, _doc: told
    return lambda base, doc: _stream_end(base, doc, result)


def _run_error(result: RunResult) -> GatewayError | None:
    if result.status is RunStatus.SUCCEEDED:
        return None
    if result.status is RunStatus.WAITING:
        return GatewayError(
            409,
            f"run {result.run_id} waits for an approval; approve it, then read the run",
            code="workflow_waiting",
        )
    return GatewayError(
        502,
        f"run {result.run_id} {result.status}: {result.error or 'no output'}",
        code="workflow_failed",
    )


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> bytes:
    event = {
        **base,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _stream_end(base: dict[str, Any], doc: dict[str, Any], result: RunResult) -> bytes:
    parts = [
        _chunk(base, {"content": reply_text(result.outputs)}, None),
        _chunk(base, {}, "stop"),
    ]
    options = doc.get("stream_options") or {}
    if options.get("include_usage"):
        usage = {**base, "object": "chat.completion.chunk", "choices": [], "usage": _NO_USAGE}
        parts.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)
