"""The gateway's request and response shapes, for ``/openapi.json`` only: requests are
never parsed with these (the handlers read the few fields they need and forward the rest).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: str = Field(description="system, user, assistant, tool, ...")
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(_Open):
    include_usage: bool | None = Field(
        default=None, description="Send a last event with the token counts (choices: [])."
    )


class RoutingOptions(_Open):
    """Podium's own routing options for this request (not sent upstream)."""

    policy: Literal["best", "cheapest", "fastest", "balanced"] | None = None
    max_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    require_tags: list[str] | None = None
    forbid_tags: list[str] | None = None
    hedge_after_ms: float | None = Field(
        default=None, description="Send the request to another instance too if slower."
    )
    failover: int | None = None
    fallbacks: list[str] | None = Field(
        default=None, description="Models tried, in order, after the routed ones fail."
    )


class ChatCompletionRequest(_Open):
    """An OpenAI chat completion request; fields other than these are passed on."""

    model: str = Field(
        description="A model name (or name@version), podium/auto, podium/cheapest, "
        "podium/fastest, podium/best, capability/<name> or workflow/<name>."
    )
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    podium: RoutingOptions | None = None


class Usage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatChoice(_Open):
    index: int
    message: ChatMessage
    finish_reason: str | None = None


class ChatCompletion(_Open):
    """The upstream's answer, as it sent it (``x-podium-model`` names the model)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class EmbeddingsRequest(_Open):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    podium: RoutingOptions | None = None


class Embedding(_Open):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Embeddings(_Open):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class ModelEntry(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, in the OpenAI error shape."""
    said = {
        400: "The body is not a valid request",
        401: "No API key, or an unusable one",
        403: "The key's role may not do this, or a rule refused the call",
        404: "No such model (or not one this key may use)",
        409: "The workflow's run waits for an approval",
        413: "The body is too large",
        429: "Too many requests for this key",
        502: "Every upstream tried failed",
        503: "No upstream can take the request now (every circuit open)",
    }
    return {s: {"model": ErrorBody, "description": said.get(s, "Error")} for s in statuses}
