"""OpenAI-compatible servers (OpenAI, vLLM, llama.cpp, Ollama, ...): chat or embeddings.

Chat takes ``messages`` (``[{role, content}]``) or a ``prompt``/``text`` string, plus an
optional ``system`` (else ``runtime.system``), and returns ``{text, finish_reason, usage,
model}``. If the output schema declares other fields, a reply that is a JSON object has its
fields merged in, so an LLM can produce structured output. Embeddings take ``text``: a string
gives ``{embedding}``, a list of strings ``{embeddings}``. Token counts come back as ``usage``.
Without ``base_url`` (on the runtime or the instance) the official OpenAI API is used.

:meth:`OpenAIAdapter.forward` and :meth:`OpenAIAdapter.forward_stream` send an OpenAI
request body as it is (the gateway's pass-through) and hand back the upstream's answer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext, pick_instance
from podium.adapters._http import (
    Fail,
    display_url,
    endpoints,
    failure,
    json_headers,
    post_bytes,
    post_json,
    post_streaming,
    request_headers,
    status_failure,
)
from podium.errors import ModelCallError
from podium.registry import ModelSpec, OpenAIRuntime

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHAT_FIELDS = frozenset({"text", "finish_reason", "usage", "model"})
_HEADERS = json_headers({})
#: how much of an error answer is kept (errors are short; a misbehaving server is not trusted)
_ERROR_BYTES = 65_536


class Answer(NamedTuple):
    """An upstream's reply to a forwarded request.

    ``error`` is the failure a status other than 2xx stands for (``body`` is then the
    error body, with the API key scrubbed); ``chunks`` reads a streamed success as it
    arrives.
    """

    status: int
    body: bytes
    error: ModelCallError | None = None
    chunks: AsyncIterator[bytes] | None = None


class OpenAIAdapter:
    """Calls ``{base_url}/chat/completions`` or ``{base_url}/embeddings``."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        self.spec = spec
        runtime = spec.runtime
        assert isinstance(runtime, OpenAIRuntime)
        self._runtime = runtime
        default = runtime.base_url or DEFAULT_BASE_URL
        urls = endpoints(spec, "base_url", default, field="runtime.base_url")
        self._bases = [url.rstrip("/") for url in urls]
        self._env = env
        self._counter = [-1]
        self._structured = bool(set(spec.output_schema.fields) - CHAT_FIELDS)

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        runtime = self._runtime
        chat = runtime.mode == "chat"
        text = inputs.get("text")
        batch = isinstance(text, list)
        if chat:
            payload = self._chat_request(inputs)
        else:
            if not (isinstance(text, str) or (isinstance(text, list) and _all_strings(text))):
                raise self._bad("embeddings need 'text': a string or a list of strings")
            if batch and not text:
                return {"embeddings": []}
            payload = {"model": runtime.model, "input": text}
        base = self._bases[pick_instance(len(self._bases), ctx, self._counter)]
        headers, secret = request_headers(self.spec, ctx, _HEADERS, runtime.api_key_env)
        response = await post_json(
            self._env.http_client(),
            f"{base}/chat/completions" if chat else f"{base}/embeddings",
            payload,
            model=self.spec.key,
            headers=headers,
            timeout_s=ctx.timeout_s or runtime.timeout_s,
            secret=secret,
        )
        try:
            return self._chat_output(response) if chat else self._embeddings_output(response, batch)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            where = display_url(base)
            raise self._bad(
                f"unexpected {runtime.mode} response from {where}: {type(exc).__name__} {exc}"
            ) from None

    async def forward(self, path: str, body: bytes, ctx: CallContext) -> Answer:
        """POST ``body`` (an encoded OpenAI request) to ``{base_url}{path}`` as it is, on the
        instance ``ctx`` names. Only a request that got no answer raises."""
        url, headers, secret, fail = self._target(path, ctx)
        status, data, charset = await post_bytes(
            self._env.http_client(),
            url,
            body,
            headers=headers,
            timeout_s=ctx.timeout_s or self._runtime.timeout_s,
            fail=fail,
        )
        if status < 300:
            return Answer(status, data)
        return _refused(fail, status, data[:_ERROR_BYTES], charset, secret)

    @contextlib.asynccontextmanager
    async def forward_stream(
        self, path: str, body: bytes, ctx: CallContext
    ) -> AsyncIterator[Answer]:
        """As :meth:`forward` for a streamed answer: the response stays open while the
        ``async with`` reads ``chunks``; a stream that stalls for the runtime's
        ``timeout_s`` fails, and leaving early closes the connection."""
        url, headers, secret, fail = self._target(path, ctx)
        async with post_streaming(
            self._env.http_client(),
            url,
            body,
            headers=headers,
            timeout_s=ctx.timeout_s or self._runtime.timeout_s,
            fail=fail,
        ) as (status, charset, chunks):
            if status < 300:
                yield Answer(status, b"", chunks=chunks)
            else:
                data = b""
                async for piece in chunks:
                    data += piece
                    if len(data) >= _ERROR_BYTES:
                        break
                yield _refused(fail, status, data[:_ERROR_BYTES], charset, secret)

    def _target(self, path: str, ctx: CallContext) -> tuple[str, dict[str, str], str | None, Fail]:
        base = self._bases[pick_instance(len(self._bases), ctx, self._counter)]
        headers, secret = request_headers(self.spec, ctx, _HEADERS, self._runtime.api_key_env)
        url = base + path
        return url, headers, secret, failure(url, model=self.spec.key, secret=secret)

    def _chat_request(self, inputs: JSONObject) -> JSONObject:
        runtime = self._runtime
        if "messages" in inputs:
            messages = inputs["messages"]
            if not isinstance(messages, list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in messages
            ):
                raise self._bad("'messages' must be a list of {role, content} objects")
            messages = list(messages)
        else:
            prompt = inputs.get("prompt", inputs.get("text"))
            if prompt is None:
                raise self._bad("chat needs 'messages', 'prompt' or 'text' in its input")
            content = prompt if isinstance(prompt, str) else json.dumps(prompt)
            messages = [{"role": "user", "content": content}]
        system = inputs.get("system") or runtime.system
        if system and not (messages and messages[0].get("role") == "system"):
            messages.insert(0, {"role": "system", "content": system})
        payload: JSONObject = {"model": runtime.model, "messages": messages}
        for name in ("temperature", "max_tokens"):
            value = inputs.get(name, getattr(runtime, name))
            if value is not None:
                payload[name] = value
        return payload

    def _chat_output(self, response: Any) -> JSONObject:
        choice = response["choices"][0]
        content = choice["message"].get("content") or ""
        output: JSONObject = {
            "text": content,
            "finish_reason": choice.get("finish_reason"),
            "usage": response.get("usage") or {},
            "model": response.get("model") or self._runtime.model,
        }
        if self._structured:
            for name, value in (_json_object(content) or {}).items():
                output.setdefault(name, value)
        return output

    def _embeddings_output(self, response: Any, batch: bool) -> JSONObject:
        data = sorted(response["data"], key=lambda item: item.get("index", 0))
        vectors = [item["embedding"] for item in data]
        output: JSONObject = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        output["usage"] = response.get("usage") or {}
        output["model"] = response.get("model") or self._runtime.model
        return output

    def _bad(self, message: str) -> ModelCallError:
        return ModelCallError(message, model=self.spec.key, retryable=False)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the environment."""


def _refused(
    fail: Fail, status: int, body: bytes, charset: str | None, secret: str | None
) -> Answer:
    error = status_failure(fail, status, body, charset, secret)
    if secret:
        body = body.replace(secret.encode(), b"***")
    return Answer(status, body, error)


def _all_strings(values: list[Any]) -> bool:
    return all(isinstance(value, str) for value in values)


def _json_object(text: str) -> JSONObject | None:
    """``text`` parsed as a JSON object (a ```json fence around it is allowed), else None."""
    text = text.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2].rstrip().removesuffix("```")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
