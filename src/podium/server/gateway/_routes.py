"""The ``/v1`` routes: what ``/openapi.json`` documents, and the handlers that serve them."""

from __future__ import annotations

import logging

import orjson
from fastapi import APIRouter, Request
from starlette.types import Send

from podium.errors import PodiumError, UserError
from podium.governance import Role
from podium.server.gateway._asgi import RawRoute, read_body, send_bytes, send_error, serves
from podium.server.gateway._calls import call_models, check_chat, check_embeddings, parse_body
from podium.server.gateway._catalog import CHAT, EMBEDDINGS
from podium.server.gateway._docs import (
    ChatCompletion,
    ChatCompletionRequest,
    Embeddings,
    EmbeddingsRequest,
    ModelEntry,
    ModelList,
    errors,
)
from podium.server.gateway._errors import GatewayError, unknown_model
from podium.server.gateway._state import authorized, gateway_of
from podium.server.gateway._workflow import run_workflow, workflow_names

log = logging.getLogger("podium.server.gateway")

router = APIRouter(prefix="/v1", tags=["gateway"], route_class=RawRoute)


async def _guarded(request: Request, send: Send, kind: str) -> None:
    try:
        gateway = gateway_of(request)
        principal = authorized(request, Role.OPERATOR)
        doc = parse_body(await read_body(request))
        stream = check_chat(doc) if kind == CHAT else False
        if kind == EMBEDDINGS:
            check_embeddings(doc)
        target = gateway.catalog.target(doc["model"], kind)
        if target.workflow is not None:
            await run_workflow(request, send, doc, target, principal, stream=stream)
        else:
            await call_models(gateway, request, send, doc, target, principal, stream=stream)
    except GatewayError as error:
        await send_error(send, error)
    except UserError as error:
        await _last_word(send, GatewayError(400, error.message, param=error.field))
    except PodiumError as error:
        log.warning("gateway request failed: %s", error)
        await _last_word(send, GatewayError(500, f"{type(error).__name__}: {error}"))


async def _last_word(send: Send, error: GatewayError) -> None:
    """An error answer, unless the response has started already (then it is dropped)."""
    try:
        await send_error(send, error)
    except RuntimeError:  # the response had started: the client sees it cut short
        log.warning("gateway response cut short: %s", error.message)


async def _chat(request: Request, send: Send) -> None:
    await _guarded(request, send, CHAT)


async def _embeddings(request: Request, send: Send) -> None:
    await _guarded(request, send, EMBEDDINGS)


async def _models(request: Request, send: Send) -> None:
    try:
        gateway = gateway_of(request)
        principal = authorized(request, Role.VIEWER)
        data = gateway.catalog.listing(principal.tenant, workflow_names(request, principal.tenant))
        model = request.path_params.get("model")
        if model is None:
            await send_bytes(send, 200, orjson.dumps({"object": "list", "data": data}))
            return
        found = next((entry for entry in data if entry["id"] == model), None)
        if found is None:
            raise unknown_model(str(model))
        await send_bytes(send, 200, orjson.dumps(found))
    except GatewayError as error:
        await send_error(send, error)


_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


@router.post(
    "/chat/completions",
    summary="Chat completion (OpenAI-compatible)",
    response_model=ChatCompletion,
    responses={200: {"content": _SSE}, **errors(400, 401, 403, 404, 409, 413, 429, 502, 503)},
)
@serves(_chat)
async def chat_completions(body: ChatCompletionRequest) -> ChatCompletion:
    """Route a chat to a registered model (or run a workflow) and return its answer.

    With ``stream: true`` the answer comes as server-sent events ending in
    ``data: [DONE]``; ``stream_options.include_usage`` adds the token counts. The
    ``x-podium-model`` header names the model that answered.
    """
    raise NotImplementedError  # served by _chat


@router.post(
    "/embeddings",
    summary="Embeddings (OpenAI-compatible)",
    response_model=Embeddings,
    responses=errors(400, 401, 403, 404, 413, 429, 502, 503),
)
@serves(_embeddings)
async def embeddings(body: EmbeddingsRequest) -> Embeddings:
    """Route the texts to a registered embeddings model and return its vectors."""
    raise NotImplementedError  # served by _embeddings


@router.get(
    "/models",
    summary="Models a key may call",
    response_model=ModelList,
    responses=errors(401, 429),
)
@serves(_models)
async def list_models() -> ModelList:
    """Registered chat and embeddings models, the virtual ``podium/*`` models, the
    capabilities (``capability/<name>``) and the registered workflows (``workflow/<name>``)."""
    raise NotImplementedError  # served by _models


@router.get(
    "/models/{model:path}",
    summary="One model a key may call",
    response_model=ModelEntry,
    responses=errors(401, 404, 429),
)
@serves(_models)
async def get_model(model: str) -> ModelEntry:
    """One entry of ``/v1/models``."""
    raise NotImplementedError  # served by _models
