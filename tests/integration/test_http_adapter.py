"""HttpAdapter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from podium.adapters import AdapterEnv, AdapterPool, CallContext
from podium.adapters._http import HttpAdapter
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec

T = TypeVar("T")
KEY_ENV = "PODIUM_TEST_HTTP_KEY"
KEY = "sk-http-test-5ecret-7731"

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> Any:
    return await request.json()


@app.post("/double")
async def double(request: Request) -> Any:
    return (await request.json())["x"] * 2


@app.post("/list")
async def a_list() -> Any:
    return [1, 2, 3]


@app.post("/text")
async def text() -> Response:
    return PlainTextResponse("this is not json")


@app.post("/headers")
async def headers(request: Request) -> Any:
    wanted = ("authorization", "idempotency-key", "x-podium-run", "x-podium-step", "x-custom")
    return {name: request.headers.get(name) for name in wanted}


@app.post("/status/{code}")
async def status(code: int, request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    body = f"failure {code}; you sent {auth!r}; " + "x" * 500
    return PlainTextResponse(body, status_code=code)


@app.post("/slow")
async def slow() -> Any:
    await asyncio.sleep(0.5)
    return {"late": True}


@app.post("/instance/{name}")
async def instance(name: str) -> Any:
    return JSONResponse({"instance": name})


@pytest.fixture(scope="module")
def base(asgi_server: Any) -> Iterator[str]:
    with asgi_server(app) as url:
        yield url


def make_spec(runtime: dict[str, Any], **extra: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "echo",
            "version": "1.0.0",
            "capabilities": ["test.echo"],
            "runtime": {"kind": "http", **runtime},
            **extra,
        }
    )


def run(tmp_path: Path, body: Callable[[AdapterEnv], Awaitable[T]]) -> T:
    async def main() -> T:
        env = AdapterEnv(home=tmp_path, implementations=lambda spec: None)
        try:
            return await body(env)
        finally:
            await env.aclose()

    return asyncio.run(main())


def call(
    tmp_path: Path, spec: ModelSpec, inputs: dict[str, Any], ctx: CallContext | None = None
) -> dict[str, Any]:
    return run(tmp_path, lambda env: HttpAdapter(spec, env).call(inputs, ctx or CallContext()))


def call_error(
    tmp_path: Path, spec: ModelSpec, inputs: dict[str, Any] | None = None, **ctx: Any
) -> ModelCallError:
    with pytest.raises(ModelCallError) as info:
        call(tmp_path, spec, inputs or {}, CallContext(**ctx))
    return info.value


def test_success_posts_inputs_and_returns_object(base: str, tmp_path: Path) -> None:
    spec = make_spec({"url": f"{base}/echo"})
    inputs = {"text": "héllo", "n": 3, "nested": {"a": [1, 2]}}
    assert call(tmp_path, spec, inputs) == inputs


def test_scalar_is_wrapped_when_output_has_one_field(base: str, tmp_path: Path) -> None:
    spec = make_spec({"url": f"{base}/double"}, output={"y": "integer"})
    assert call(tmp_path, spec, {"x": 21}) == {"y": 42}


def test_non_object_without_single_field_is_not_retryable(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec({"url": f"{base}/list"}))
    assert not error.retryable
    assert "echo@1.0.0" in str(error)
    assert "array" in str(error)


def test_non_json_is_not_retryable(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec({"url": f"{base}/text"}))
    assert not error.retryable
    assert "not JSON" in str(error)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
def test_status_codes(base: str, tmp_path: Path, code: int, retryable: bool) -> None:
    url = f"{base}/status/{code}"
    error = call_error(tmp_path, make_spec({"url": url}))
    assert error.retryable is retryable
    assert error.model == "echo@1.0.0"
    message = str(error)
    assert url in message
    assert f"HTTP {code}" in message
    if not retryable:
        assert f"failure {code}" in message  # the start of the body ...
        assert "x" * 200 not in message  # ... but only its first 200 characters


def test_query_string_is_kept_out_of_errors(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec({"url": f"{base}/status/500?token=qs-5ecret"}))
    assert f"{base}/status/500" in str(error)
    assert "qs-5ecret" not in str(error)


def test_runtime_timeout_is_retryable(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec({"url": f"{base}/slow", "timeout_s": 0.1}))
    assert error.retryable
    assert "timed out" in str(error)
    assert f"{base}/slow" in str(error)


def test_context_timeout_overrides_runtime(base: str, tmp_path: Path) -> None:
    error = call_error(tmp_path, make_spec({"url": f"{base}/slow"}), timeout_s=0.1)
    assert error.retryable
    assert "0.1s" in str(error)


def test_connection_refused_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nothing"
    error = call_error(tmp_path, make_spec({"url": url, "timeout_s": 2}))
    assert error.retryable
    assert url in str(error)
    assert "echo@1.0.0" in str(error)


def test_instances_round_robin_and_explicit_choice(base: str, tmp_path: Path) -> None:
    spec = make_spec(
        {"url": f"{base}/instance/default"},
        instances=[{"url": f"{base}/instance/a"}, {"url": f"{base}/instance/b"}, {}],
    )

    async def body(env: AdapterEnv) -> tuple[list[str], list[str]]:
        adapter = HttpAdapter(spec, env)
        rotating = [(await adapter.call({}, CallContext()))["instance"] for _ in range(4)]
        chosen = [
            (await adapter.call({}, CallContext(instance=i)))["instance"] for i in (1, 1, 2, 4)
        ]
        return rotating, chosen

    rotating, chosen = run(tmp_path, body)
    assert rotating == ["a", "b", "default", "a"]
    assert chosen == ["b", "b", "default", "b"]


def test_missing_url_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"runtime\.url"):
        call(tmp_path, make_spec({}), {})


def test_bearer_key_from_env_and_static_headers(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    spec = make_spec(
        {"url": f"{base}/headers", "api_key_env": KEY_ENV, "headers": {"X-Custom": "yes"}}
    )
    seen = call(tmp_path, spec, {})
    assert seen["authorization"] == f"Bearer {KEY}"
    assert seen["x-custom"] == "yes"


@pytest.mark.parametrize("path", ["status/401", "status/500", "slow"])
def test_key_never_appears_in_errors(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    spec = make_spec({"url": f"{base}/{path}", "api_key_env": KEY_ENV, "timeout_s": 0.1})
    error = call_error(tmp_path, spec)
    assert KEY not in str(error)
    assert KEY not in repr(error.args)
    if path == "status/401":
        assert "Bearer ***" in str(error)  # the server echoed it back; it was scrubbed


def test_missing_key_variable_names_it_without_calling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    spec = make_spec({"url": "http://127.0.0.1:9/never", "api_key_env": KEY_ENV})
    error = call_error(tmp_path, spec)
    assert not error.retryable
    assert KEY_ENV in str(error)


def test_idempotency_and_run_headers(base: str, tmp_path: Path) -> None:
    spec = make_spec({"url": f"{base}/headers"})
    seen = call(tmp_path, spec, {}, CallContext(run_id="run-1", step="classify", attempt=2))
    assert seen["idempotency-key"] == "run-1/classify"
    assert seen["x-podium-run"] == "run-1"
    assert seen["x-podium-step"] == "classify"
    assert seen["authorization"] is None
    bare = call(tmp_path, spec, {})
    assert bare["idempotency-key"] is None
    assert bare["x-podium-run"] is None


def test_pool_validates_output_naming_model_and_field(base: str, tmp_path: Path) -> None:
    spec = make_spec({"url": f"{base}/echo"}, output={"label": "string"})

    async def body(env: AdapterEnv) -> tuple[dict[str, Any], ModelCallError]:
        pool = AdapterPool(env)
        good = await pool.invoke(spec, {"label": "ok"}, CallContext())
        try:
            await pool.invoke(spec, {"label": 5}, CallContext())
        except ModelCallError as exc:
            return good, exc
        finally:
            await pool.aclose()
        raise AssertionError("bad output was accepted")

    good, error = run(tmp_path, body)
    assert good == {"label": "ok"}
    assert not error.retryable
    assert "echo@1.0.0" in str(error)
    assert "label" in str(error)
