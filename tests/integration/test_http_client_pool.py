"""The shared HTTP session: connection reuse, one session per event loop, error mapping and
timeouts, against real servers on 127.0.0.1 (uvicorn, and a raw asyncio server for replies
no framework sends)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from podium.adapters import AdapterEnv, CallContext
from podium.adapters._http import HttpAdapter, HttpSession
from podium.errors import ModelCallError
from podium.registry import ModelSpec

app = FastAPI()
#: the client port of every request /port served, in order
ports: list[int] = []


@app.post("/port")
async def port(request: Request) -> Any:
    assert request.client is not None
    ports.append(request.client.port)
    return {"port": request.client.port, "type": request.headers.get("content-type")}


@app.post("/wait")
async def wait(request: Request) -> Any:
    await asyncio.sleep(float((await request.json())["s"]))
    return {"waited": True}


@pytest.fixture(scope="module")
def base(asgi_server: Any) -> Iterator[str]:
    with asgi_server(app) as url:
        yield url


Respond = Callable[[list[str], bytes, asyncio.StreamWriter], Awaitable[None]]


@contextmanager
def raw_server(respond: Respond) -> Iterator[str]:
    """An asyncio TCP server in a thread: ``respond(head, body, writer)`` answers each
    request (``head``: the request line, then the header lines) and may close the
    connection; yields the server's base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while not writer.is_closing():
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                sizes = [
                    int(h.split(":")[1]) for h in head if h.lower().startswith("content-length")
                ]
                await respond(head, await reader.readexactly(sum(sizes)), writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        holder["port"] = server.sockets[0].getsockname()[1]
        holder["stop"] = stop = asyncio.Event()
        ready.set()
        async with server:
            await stop.wait()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports finish

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


def json_reply(body: bytes, *, close: bool = False) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return (head + ("connection: close\r\n" if close else "") + "\r\n").encode() + body


def make_spec(url: str, **runtime: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "pooled",
            "version": "1.0.0",
            "capabilities": ["test.pool"],
            "runtime": {"kind": "http", "url": url, **runtime},
        }
    )


def new_env(tmp_path: Path) -> AdapterEnv:
    return AdapterEnv(home=tmp_path, implementations=lambda spec: None)


def call(env: AdapterEnv, spec: ModelSpec, inputs: dict[str, Any] | None = None) -> Any:
    return HttpAdapter(spec, env).call(inputs or {}, CallContext())


def call_error(tmp_path: Path, spec: ModelSpec) -> ModelCallError:
    async def main() -> None:
        env = new_env(tmp_path)
        try:
            await call(env, spec)
        finally:
            await env.aclose()

    with pytest.raises(ModelCallError) as info:
        asyncio.run(main())
    return info.value


# --------------------------------------------------------------------------- reuse
def test_sequential_calls_reuse_one_connection(base: str, tmp_path: Path) -> None:
    spec = make_spec(f"{base}/port")

    async def main() -> list[Any]:
        env = new_env(tmp_path)
        try:
            return [await call(env, spec) for _ in range(20)]
        finally:
            await env.aclose()

    answers = asyncio.run(main())
    assert len({a["port"] for a in answers}) == 1
    assert answers[0]["type"] == "application/json"


def test_a_content_type_in_the_manifest_replaces_the_default(base: str, tmp_path: Path) -> None:
    spec = make_spec(f"{base}/port", headers={"content-type": "application/vnd.test+json"})

    async def main() -> Any:
        env = new_env(tmp_path)
        try:
            return await call(env, spec)
        finally:
            await env.aclose()

    assert asyncio.run(main())["type"] == "application/vnd.test+json"


def test_concurrent_calls_keep_their_connections_for_the_next_wave(
    base: str, tmp_path: Path
) -> None:
    spec = make_spec(f"{base}/port")

    async def main() -> tuple[set[int], set[int]]:
        env = new_env(tmp_path)
        adapter = HttpAdapter(spec, env)
        try:
            first = await asyncio.gather(*(adapter.call({}, CallContext()) for _ in range(30)))
            second = await asyncio.gather(*(adapter.call({}, CallContext()) for _ in range(30)))
        finally:
            await env.aclose()
        return {a["port"] for a in first}, {a["port"] for a in second}

    first, second = asyncio.run(main())
    assert len(first) <= 30
    assert second <= first  # no new connection was needed


def test_one_session_per_loop_reused_across_calls_on_a_persistent_loop(
    base: str, tmp_path: Path
) -> None:
    env = new_env(tmp_path)
    spec = make_spec(f"{base}/port")

    async def once() -> tuple[HttpSession, int]:
        answer = await call(env, spec)
        return env.http_client(), answer["port"]

    with asyncio.Runner() as runner:
        session_a, port_a = runner.run(once())
        session_b, port_b = runner.run(once())
        assert session_a is session_b
        assert port_a == port_b
        runner.run(env.close_http())
        assert session_a.closed
        session_c, _ = runner.run(once())  # closed: a new one on demand
        assert session_c is not session_a
    assert session_c.closed  # the runner shut the loop down, and the session with it


def test_a_new_loop_gets_a_new_session_without_close_http(base: str, tmp_path: Path) -> None:
    env = new_env(tmp_path)
    spec = make_spec(f"{base}/port")

    async def once() -> HttpSession:
        await call(env, spec)
        return env.http_client()

    first = asyncio.run(once())  # nobody calls close_http
    assert first.closed  # closed when its loop shut down: no leaked connection
    second = asyncio.run(once())
    assert second is not first
    assert second.closed


def test_loops_used_in_turn_each_keep_their_own_session(base: str, tmp_path: Path) -> None:
    env = new_env(tmp_path)
    spec = make_spec(f"{base}/port")

    async def once() -> tuple[HttpSession, int]:
        return env.http_client(), (await call(env, spec))["port"]

    loop = asyncio.new_event_loop()
    try:
        mine, port_before = loop.run_until_complete(once())
        other, _ = asyncio.run(once())  # another loop in between
        again, port_after = loop.run_until_complete(once())
        assert other is not mine
        assert again is mine and not mine.closed
        assert port_after == port_before
        loop.run_until_complete(env.close_http())
        assert mine.closed
    finally:
        loop.close()


def test_threads_with_their_own_loops_share_one_environment(base: str, tmp_path: Path) -> None:
    env = new_env(tmp_path)
    spec = make_spec(f"{base}/port")
    found: list[Any] = []

    async def work() -> None:
        adapter = HttpAdapter(spec, env)
        for _ in range(10):
            await adapter.call({}, CallContext())
        found.append(env.http_client())

    threads = [threading.Thread(target=asyncio.run, args=(work(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(found) == 3
    assert len({id(session) for session in found}) == 3
    assert all(session.closed for session in found)


def test_importing_podium_does_not_load_aiohttp(tmp_path: Path) -> None:
    code = "import sys, podium, podium.adapters; print('aiohttp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# --------------------------------------------------------------------------- errors
def test_a_connection_the_server_closed_is_not_reused(tmp_path: Path) -> None:
    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(json_reply(b'{"ok": true}'))  # keep-alive promised, then broken
        await writer.drain()
        writer.close()

    with raw_server(respond) as url:
        spec = make_spec(f"{url}/x")

        async def main() -> list[Any]:
            env = new_env(tmp_path)
            try:
                results = []
                for _ in range(5):
                    results.append(await call(env, spec))
                    await asyncio.sleep(0.05)  # the server's close reaches the client
                return results
            finally:
                await env.aclose()

        assert asyncio.run(main()) == [{"ok": True}] * 5


def test_dropped_connection_is_retryable(tmp_path: Path) -> None:
    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.close()  # no answer at all

    with raw_server(respond) as url:
        error = call_error(tmp_path, make_spec(f"{url}/drop"))
    assert error.retryable
    assert "cannot reach endpoint" in str(error)
    assert f"{url}/drop" in str(error)


def test_garbled_response_is_retryable(tmp_path: Path) -> None:
    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"this is not HTTP at all\r\n\r\n")
        await writer.drain()
        writer.close()

    with raw_server(respond) as url:
        error = call_error(tmp_path, make_spec(f"{url}/garbled"))
    assert error.retryable
    assert "pooled@1.0.0" in str(error)


def test_redirects_are_not_followed(tmp_path: Path) -> None:
    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\n")
        writer.write(b"content-length: 5\r\n\r\nmoved")
        await writer.drain()

    with raw_server(respond) as url:
        error = call_error(tmp_path, make_spec(f"{url}/moved"))
    assert not error.retryable
    assert "HTTP 307" in str(error)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/model", "http://"])
def test_unusable_url_is_not_retryable(tmp_path: Path, url: str) -> None:
    error = call_error(tmp_path, make_spec(url))
    assert not error.retryable
    assert "invalid URL" in str(error)


def test_input_that_is_not_json_is_not_retryable(base: str, tmp_path: Path) -> None:
    async def main() -> None:
        env = new_env(tmp_path)
        try:
            await call(env, make_spec(f"{base}/port"), {"x": float("nan")})
        finally:
            await env.aclose()

    with pytest.raises(ModelCallError, match="not JSON") as info:
        asyncio.run(main())
    assert not info.value.retryable


# --------------------------------------------------------------------------- timeouts
def test_timeout_bounds_the_whole_exchange(tmp_path: Path) -> None:
    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        writer.write(b"content-length: 40\r\n\r\n")
        for _ in range(40):  # each byte arrives quickly, the whole answer does not
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    with raw_server(respond) as url:
        started = time.monotonic()
        error = call_error(tmp_path, make_spec(f"{url}/trickle", timeout_s=0.4))
        elapsed = time.monotonic() - started
    assert error.retryable
    assert "timed out after 0.4s" in str(error)
    assert elapsed < 1.5


def test_timed_out_call_leaves_the_session_usable(base: str, tmp_path: Path) -> None:
    slow = make_spec(f"{base}/wait", timeout_s=0.1)
    fast = make_spec(f"{base}/port")

    async def main() -> Any:
        env = new_env(tmp_path)
        try:
            with pytest.raises(ModelCallError, match="timed out"):
                await call(env, slow, {"s": 0.5})
            return await call(env, fast)
        finally:
            await env.aclose()

    assert "port" in asyncio.run(main())


def test_an_outer_deadline_cancels_the_call_instead_of_becoming_a_model_error(
    base: str, tmp_path: Path
) -> None:
    spec = make_spec(f"{base}/wait", timeout_s=5)

    async def main() -> None:
        env = new_env(tmp_path)
        try:
            async with asyncio.timeout(0.1):  # the engine's step deadline works like this
                await call(env, spec, {"s": 1})
        finally:
            await env.aclose()

    with pytest.raises(TimeoutError):
        asyncio.run(main())


# --------------------------------------------------------------------------- proxies
def test_proxy_from_the_environment_and_no_proxy(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    async def respond(head: list[str], body: bytes, writer: asyncio.StreamWriter) -> None:
        seen.append(head)
        writer.write(json_reply(b'{"via": "proxy"}'))
        await writer.drain()

    with raw_server(respond) as proxy:
        for name in ("http_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.replace("http://", "http://user:p%40ss@"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        target = "http://model.invalid:8080/predict?x=1"

        async def main() -> tuple[Any, Any]:
            env = new_env(tmp_path)
            try:
                return await call(env, make_spec(target)), await call(
                    env, make_spec(f"{base}/port")
                )
            finally:
                await env.aclose()

        via, direct = asyncio.run(main())
    assert via == {"via": "proxy"}
    assert len(seen) == 1  # the model behind the proxy; 127.0.0.1 was reached directly
    assert seen[0][0] == f"POST {target} HTTP/1.1"
    credentials = base64.b64encode(b"user:p@ss").decode()
    assert f"proxy-authorization: basic {credentials}".lower() in [h.lower() for h in seen[0]]
    assert "port" in direct
