"""JSON-over-HTTP endpoints: POST the input object, get the output object back.

The helpers here (endpoint resolution, headers, the pooled :class:`HttpSession`,
:func:`post_json` with its error mapping, and :func:`post_bytes` / :func:`post_streaming`
for bodies sent as they are) are shared with the OpenAI adapter. Errors say
which model and which URL failed, never the query string, user info or API key: connection
errors, timeouts, 408, 429 and 5xx are retryable; other 4xx and unusable responses are not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext, pick_instance
from podium.adapters._wire import WirePool
from podium.errors import ManifestError, ModelCallError
from podium.registry import HttpRuntime, ModelSpec, type_of

_RETRYABLE_STATUS = frozenset({408, 429})
_BODY_CHARS = 200
#: a safety net against exhausting file descriptors, well above any sensible concurrency
MAX_CONNECTIONS = 1000
#: idle connections are dropped before common servers drop them (uvicorn: 5 s), so a request
#: is never sent on a connection the server is closing
KEEPALIVE_S = 4.0


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


def json_headers(static: Mapping[str, str]) -> dict[str, str]:
    """``static`` headers plus ``Content-Type: application/json`` unless they set one."""
    if any(name.lower() == "content-type" for name in static):
        return dict(static)
    return {"Content-Type": "application/json", **static}


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


class HttpSession:
    """One event loop's pooled HTTP connections (an :class:`aiohttp.ClientSession`).

    Keep-alive connections are reused across calls; no cookies are kept; proxies come from
    the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) as read when the session
    is made, each host's looked up once. Made inside a running loop, which it belongs to.
    It is closed by :meth:`close`, or else when that loop shuts down: ``asyncio.run`` (and
    ``asyncio.Runner``) close a loop's open async generators before closing it, and a guard
    generator started on the loop closes the session then.
    """

    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=_tls_context()
        )
        self.session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        self._proxies = {k: v for k, v in getproxies().items() if k in ("http", "https")}
        self._proxy_of: dict[tuple[str, str], tuple[str | None, dict[str, str] | None]] = {}
        #: plain ``http://`` without a proxy: the lean client (see :mod:`._wire`)
        self.wire = WirePool(KEEPALIVE_S)
        self._wired: dict[str, tuple[str, int, bytes] | None] = {}
        self._guard = self._close_at_shutdown()
        self._started = asyncio.get_running_loop().create_task(self._start())

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def close(self) -> None:
        await self._guard.aclose()
        await self.wire.aclose()
        await self.session.close()

    def wire_target(self, url: str) -> tuple[str, int, bytes] | None:
        """``(host, port, request head)`` to POST to ``url`` with the lean client: for a
        plain ``http://`` URL that no proxy serves (else ``None``: use the session)."""
        if url in self._wired:
            return self._wired[url]
        found = None
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.hostname and self.proxy(url)[0] is None:
            port = parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host = parts.netloc.rpartition("@")[2]
            head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1")
            found = (parts.hostname, port, head)
        if len(self._wired) >= 1024:
            self._wired.clear()
        self._wired[url] = found
        return found

    def proxy(self, url: str) -> tuple[str | None, dict[str, str] | None]:
        """The proxy for ``url`` (without user info), and the headers with its credentials."""
        if not self._proxies:
            return None, None
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._proxy_of.get(key)
        if found is None:
            proxy = self._proxies.get(parts.scheme)
            if not proxy or (parts.hostname and proxy_bypass(parts.hostname)):
                found = (None, None)
            else:
                found = _split_credentials(proxy)
            self._proxy_of[key] = found
        return found

    async def _close_at_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.wire.aclose()
            await self.session.close()

    async def _start(self) -> None:
        with contextlib.suppress(StopAsyncIteration):  # closed before it started
            await anext(self._guard)


def _split_credentials(url: str) -> tuple[str, dict[str, str] | None]:
    """``url`` without its user info, and that user info as a ``Proxy-Authorization``."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    headers = {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), headers


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """CA certificates from ``$SSL_CERT_FILE`` or ``$SSL_CERT_DIR`` if set, else certifi's."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    cafile = cafile if cafile and os.path.isfile(cafile) else None
    capath = capath if capath and os.path.isdir(capath) else None
    if cafile is None and capath is None:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # the system's certificates, then
            pass
    return ssl.create_default_context(cafile=cafile, capath=capath)


@functools.lru_cache(maxsize=64)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


@functools.lru_cache(maxsize=64)
def _stream_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _dumps(payload: JSONObject) -> bytes:
    return _ENCODER.encode(payload).encode()


def _text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return body.decode("utf-8", errors="replace")


#: ``fail(message, retryable)``: the error a failed request is reported as
Fail = Callable[[str, bool], ModelCallError]


def failure(url: str, *, model: str, secret: str | None) -> Fail:
    """How a failed POST to ``url`` is reported: ``fail(message, retryable)`` names ``model``
    and the URL (without its query string or user info), with ``secret`` scrubbed."""

    def fail(message: str, retryable: bool) -> ModelCallError:
        where = display_url(url)
        message = message.replace(url, where)
        if secret:
            message = message.replace(secret, "***")
        return ModelCallError(f"POST {where}: {message}", model=model, retryable=retryable)

    return fail


def status_failure(
    fail: Fail,
    status: int,
    body: bytes,
    charset: str | None,
    secret: str | None,
) -> ModelCallError:
    """The error an answer with HTTP ``status`` stands for (5xx, 408 and 429 are retryable)."""
    text = _text(body, charset)
    text = text.replace(secret, "***") if secret else text
    text = " ".join(text[:_BODY_CHARS].split())
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    return fail(f"HTTP {status}: {text}", retryable)


@contextlib.asynccontextmanager
async def posting(
    client: HttpSession,
    url: str,
    data: bytes,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    fail: Fail,
    streaming: bool = False,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST ``data`` and hold the response open while the body of the ``async with`` reads it.

    ``timeout_s`` bounds the whole exchange, or with ``streaming`` each wait for data (a
    stream may take as long as it keeps sending). Redirects are not followed. Failing to
    connect, send or read (a timeout too) becomes ``fail(...)``.
    """
    proxy, credentials = client.proxy(url)
    tunnel = None
    if credentials is not None:
        if urlsplit(url).scheme == "https":
            tunnel = credentials  # sent with the CONNECT request that opens the tunnel
        else:
            headers = {**headers, **credentials}  # a plain request is sent to the proxy itself
    try:
        async with client.session.post(
            url,
            data=data,
            headers=headers,
            timeout=_stream_timeout(timeout_s) if streaming else _timeout(timeout_s),
            allow_redirects=False,
            proxy=proxy,
            proxy_headers=tunnel,
        ) as response:
            yield response
    except TimeoutError:
        raise fail(f"timed out after {timeout_s:g}s", True) from None
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise fail(f"invalid URL: {exc}", False) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise fail(f"cannot reach endpoint: {type(exc).__name__}: {exc}", True) from None


def header_block(headers: Mapping[str, str], fail: Fail) -> bytes:
    """``headers`` as HTTP/1.1 header lines (a value with a line break is refused)."""
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise fail(f"header {name!r} has a line break", False)
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


async def post_bytes(
    client: HttpSession,
    url: str,
    data: bytes,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    fail: Fail,
) -> tuple[int, bytes, str | None]:
    """POST ``data`` as it is: the answer's status, body and charset (any status).

    A plain ``http://`` URL that no proxy serves goes through the lean client, anything
    else through the session (as :func:`posting`). Failing to get an answer (a timeout
    too) becomes ``fail(...)``.
    """
    target = client.wire_target(url)
    if target is None:
        async with posting(
            client, url, data, headers=headers, timeout_s=timeout_s, fail=fail
        ) as response:
            return response.status, await response.read(), response.charset
    host, port, head = target
    with _wire_failures(fail, timeout_s):
        status, body = await client.wire.fetch(
            host, port, head + header_block(headers, fail), data, timeout_s=timeout_s
        )
    return status, body, None


@contextlib.asynccontextmanager
async def post_streaming(
    client: HttpSession,
    url: str,
    data: bytes,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    fail: Fail,
) -> AsyncIterator[tuple[int, str | None, AsyncIterator[bytes]]]:
    """As :func:`post_bytes` for an answer read as it arrives: ``(status, charset,
    chunks)`` inside the ``async with``; ``timeout_s`` bounds each wait for data."""
    target = client.wire_target(url)
    if target is None:
        async with posting(
            client, url, data, headers=headers, timeout_s=timeout_s, fail=fail, streaming=True
        ) as response:
            yield response.status, response.charset, response.content.iter_any()
        return
    host, port, head = target
    with _wire_failures(fail, timeout_s):
        async with client.wire.stream(
            host, port, head + header_block(headers, fail), data, timeout_s=timeout_s
        ) as answer:
            yield answer.status, None, answer.chunks()


@contextlib.contextmanager
def _wire_failures(fail: Fail, timeout_s: float) -> Iterator[None]:
    try:
        yield
    except TimeoutError:
        raise fail(f"timed out after {timeout_s:g}s", True) from None
    except OSError as exc:
        raise fail(f"cannot reach endpoint: {type(exc).__name__}: {exc}", True) from None


async def post_json(
    client: HttpSession,
    url: str,
    payload: JSONObject,
    *,
    model: str,
    headers: Mapping[str, str],
    timeout_s: float,
    secret: str | None = None,
) -> Any:
    """POST ``payload`` as JSON and return the decoded JSON response (any JSON value).

    ``headers`` are sent as given (:func:`json_headers` adds the content type).
    ``timeout_s`` bounds the whole exchange (connecting, sending, reading the answer).
    Redirects are not followed. Every failure becomes a :class:`ModelCallError` naming
    ``model`` and the URL (without its query string); ``secret`` is scrubbed from any text
    that is quoted back.
    """
    fail = failure(url, model=model, secret=secret)
    try:
        data = _dumps(payload)
    except (TypeError, ValueError) as exc:
        raise fail(f"the input is not JSON: {exc}", False) from None
    async with posting(
        client, url, data, headers=headers, timeout_s=timeout_s, fail=fail
    ) as response:
        status = response.status
        body = await response.read()
        charset = response.charset
    if status >= 300:
        raise status_failure(fail, status, body, charset, secret)
    try:
        return json.loads(body)
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
        self._headers = json_headers(runtime.headers)
        self._env = env
        self._counter = [-1]

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        runtime = self._runtime
        url = self._urls[pick_instance(len(self._urls), ctx, self._counter)]
        headers, secret = request_headers(self.spec, ctx, self._headers, runtime.api_key_env)
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
