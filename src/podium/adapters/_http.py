"""JSON-over-HTTP endpoints: POST the input object, get the output object back.

The helpers here (endpoint resolution, headers, :func:`post_json` with its error mapping)
are shared with the OpenAI adapter. Errors say which model and which URL failed, never the
query string, user info or API key: connection errors, timeouts, 408, 429 and 5xx are
retryable; other 4xx and unusable responses are not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext, pick_instance
from podium.errors import ManifestError, ModelCallError
from podium.registry import HttpRuntime, ModelSpec, type_of

_RETRYABLE_STATUS = frozenset({408, 429})
_BODY_CHARS = 200


def endpoints(spec: ModelSpec, attr: str, default: str | None, *, field: str) -> list[str]:
    """One URL per instance: the instance's ``attr`` (url/base_url), else ``default``."""
    urls: list[str] = []
    for instance in spec.instance_list():
        url = getattr(instance, attr) or default
        if not url:
            raise ManifestError(
                f"{spec.key} has no endpoint: set it, or give every instance one", field=field
            )
        urls.append(url)
    return urls


def display_url(url: str) -> str:
    """``url`` without user info, query string or fragment: safe to show in an error."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def request_headers(
    spec: ModelSpec,
    ctx: CallContext,
    static: Mapping[str, str],
    api_key_env: str | None,
) -> tuple[dict[str, str], str | None]:
    """Headers for one call, and the API key (if any) so it can be kept out of errors."""
    headers = dict(static)
    secret: str | None = None
    if api_key_env:
        secret = os.environ.get(api_key_env)
        if not secret:
            raise ModelCallError(
                f"environment variable {api_key_env} (the API key) is not set",
                model=spec.key,
                retryable=False,
            )
        headers["Authorization"] = f"Bearer {secret}"
    if ctx.idempotency_key:
        headers["Idempotency-Key"] = ctx.idempotency_key
    if ctx.run_id:
        headers["X-Podium-Run"] = ctx.run_id
    if ctx.step:
        headers["X-Podium-Step"] = ctx.step
    return headers, secret


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: JSONObject,
    *,
    model: str,
    headers: Mapping[str, str],
    timeout_s: float,
    secret: str | None = None,
) -> Any:
    """POST ``payload`` as JSON and return the decoded JSON response (any JSON value).

    Every failure becomes a :class:`ModelCallError` naming ``model`` and the URL (without its
    query string); ``secret`` is scrubbed from any text that is quoted back.
    """
    where = display_url(url)

    def fail(message: str, retryable: bool) -> ModelCallError:
        message = message.replace(url, where)
        if secret:
            message = message.replace(secret, "***")
        return ModelCallError(f"POST {where}: {message}", model=model, retryable=retryable)

    try:
        response = await client.post(
            url, json=payload, headers=dict(headers), timeout=httpx.Timeout(timeout_s)
        )
    except httpx.TimeoutException:
        raise fail(f"timed out after {timeout_s:g}s", True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise fail(f"invalid URL: {exc}", False) from None
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach endpoint: {type(exc).__name__}: {exc}", True) from None
    status = response.status_code
    if status >= 300:
        body = response.text.replace(secret, "***") if secret else response.text
        body = " ".join(body[:_BODY_CHARS].split())
        retryable = status >= 500 or status in _RETRYABLE_STATUS
        raise fail(f"HTTP {status}: {body}", retryable)
    try:
        return json.loads(response.content)
    except ValueError:
        raise fail(f"HTTP {status} response is not JSON", False) from None


class HttpAdapter:
    """POSTs the input object to ``runtime.url`` (or an instance's ``url``)."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        self.spec = spec
        runtime = spec.runtime
        assert isinstance(runtime, HttpRuntime)
        self._runtime = runtime
        self._urls = endpoints(spec, "url", runtime.url, field="runtime.url")
        self._env = env
        self._counter = [-1]

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        runtime = self._runtime
        url = self._urls[pick_instance(self.spec, ctx, self._counter)]
        headers, secret = request_headers(self.spec, ctx, runtime.headers, runtime.api_key_env)
        result = await post_json(
            self._env.http_client(),
            url,
            inputs,
            model=self.spec.key,
            headers=headers,
            timeout_s=ctx.timeout_s or runtime.timeout_s,
            secret=secret,
        )
        if isinstance(result, dict):
            return result
        fields = self.spec.output_schema.fields
        if len(fields) == 1:
            return {next(iter(fields)): result}
        raise ModelCallError(
            f"POST {display_url(url)}: returned JSON {type_of(result)}; "
            "a model must return an object",
            model=self.spec.key,
            retryable=False,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the environment."""
