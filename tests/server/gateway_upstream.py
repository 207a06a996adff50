"""A test upstream: a small, real OpenAI-compatible server (aiohttp) on 127.0.0.1.

It answers ``POST /v1/chat/completions`` (JSON, or a real SSE stream with ``usage`` when
``stream_options.include_usage`` asks for it) and ``POST /v1/embeddings``, counts what it
receives, and can be told to fail, to be slow, or to stream slowly (a client that goes
away mid-stream is then seen: the write fails and ``disconnects`` counts it).

In tests: ``with TestUpstream.running() as upstream: ...`` (a thread with its own loop).
As a process (the gateway benchmark): ``python gateway_upstream.py --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

CREATED = 1_700_000_000


@dataclass
class Behaviour:
    """What the upstream does; change the fields while it runs."""

    status: int = 200  #: answer every request with this status (errors get an OpenAI body)
    delay_s: float = 0.0  #: wait this long before answering (or before the first chunk)
    reply: str | None = None  #: the assistant's text (default: ``echo: <last message>``)
    chunks: int = 4  #: how many content chunks a stream has
    chunk_delay_s: float = 0.0  #: wait between chunks
    model: str = "upstream-model"  #: the ``model`` the answers name when none is asked
    cut_after: int | None = None  #: drop the connection after this many stream events
    linger_s: float = 0.0  #: wait this long after a stream's ``[DONE]`` before ending it


@dataclass
class Seen:
    """What the upstream has received."""

    hits: dict[str, int] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    disconnects: int = 0
    finished_streams: int = 0


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _words(messages: Any) -> int:
    count = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            count += len(content.split())
    return count


def _split(text: str, parts: int) -> list[str]:
    words = text.split(" ")
    parts = max(1, min(parts, len(words)))
    size = -(-len(words) // parts)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


class TestUpstream:
    """The server's state and handlers; :meth:`running` serves it on a free port."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.seen = Seen()
        self.url = ""
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_post("/v1/embeddings", self.embeddings)
        self.app.router.add_get("/v1/models", self.models)

    @property
    def base_url(self) -> str:
        """The ``base_url`` of a manifest pointing here (``.../v1``)."""
        return f"{self.url}/v1"

    def hits(self, path: str = "/v1/chat/completions") -> int:
        return self.seen.hits.get(path, 0)

    # handlers ----------------------------------------------------------------------------
    async def _received(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        path = request.path
        self.seen.hits[path] = self.seen.hits.get(path, 0) + 1
        body = orjson.loads(await request.read())
        self.seen.bodies.append(body)
        self.seen.headers.append({k.lower(): v for k, v in request.headers.items()})
        behaviour = self.behaviour
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.status >= 300:
            error = {
                "error": {
                    "message": f"upstream failure {behaviour.status}",
                    "type": "server_error" if behaviour.status >= 500 else "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            return body, _json(error, behaviour.status)
        return body, None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._received(request)
        if failed is not None:
            return failed
        behaviour = self.behaviour
        messages = body.get("messages") or [{}]
        last = messages[-1].get("content") if isinstance(messages[-1], dict) else ""
        text = behaviour.reply if behaviour.reply is not None else f"echo: {last}"
        model = body.get("model") or behaviour.model
        counts = usage(_words(messages), len(text.split()))
        if body.get("stream"):
            return await self._stream(request, body, model, text, counts)
        return _json(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": counts,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        model: str,
        text: str,
        counts: dict[str, int],
    ) -> web.StreamResponse:
        behaviour = self.behaviour
        options = body.get("stream_options") or {}
        with_usage = bool(options.get("include_usage"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": CREATED}
        base["model"] = model

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event: dict[str, Any] = {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if with_usage:
                event["usage"] = None
            return b"data: " + orjson.dumps(event) + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in _split(text, behaviour.chunks)]
        events.append(chunk({}, "stop"))
        if with_usage:
            final = {**base, "choices": [], "usage": counts}
            events.append(b"data: " + orjson.dumps(final) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        try:
            for index, event in enumerate(events):
                if index and behaviour.chunk_delay_s:
                    await asyncio.sleep(behaviour.chunk_delay_s)
                if behaviour.cut_after is not None and index >= behaviour.cut_after:
                    assert request.transport is not None
                    request.transport.abort()  # mid-stream, without the end of the body
                    return response
                await response.write(event)
            if behaviour.linger_s:
                await asyncio.sleep(behaviour.linger_s)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.seen.disconnects += 1
            raise
        self.seen.finished_streams += 1
        return response

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._received(request)
        if failed is not None:
            return failed
        raw = body.get("input")
        texts = raw if isinstance(raw, list) else [raw]
        encode = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": packed(vector(str(text))) if encode else vector(str(text)),
            }
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(text).split()) for text in texts)
        return _json(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or self.behaviour.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def models(self, _request: web.Request) -> web.StreamResponse:
        model = {"id": self.behaviour.model, "object": "model", "created": CREATED}
        return _json({"object": "list", "data": [model | {"owned_by": "test"}]})

    # serving -----------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def running(cls, behaviour: Behaviour | None = None) -> Iterator[TestUpstream]:
        """Serve a new upstream on a free port of 127.0.0.1 in a background thread."""
        upstream = cls(behaviour)
        sock = _listening_socket(0)
        upstream.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(upstream.app, access_log=None, handle_signals=False)
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, name="test-upstream", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the test upstream did not start")
        try:
            yield upstream
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            sock.close()


def vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic unit-ish vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0, 6) for b in digest[:dims]]


def packed(values: list[float]) -> str:
    """``values`` as OpenAI's ``encoding_format: base64`` sends them (little-endian float32)."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _listening_socket(port: int) -> socket.socket:
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


def main() -> None:
    """Serve the upstream in this process until killed (for benchmarks)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=8)
    args = parser.parse_args()
    with suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    upstream = TestUpstream(Behaviour(chunks=args.chunks))
    upstream.seen = _Forgetful()
    web.run_app(
        upstream.app,
        sock=_listening_socket(args.port),
        access_log=None,
        print=None,
    )


class _Forgetful(Seen):
    """A benchmark's upstream keeps no bodies (they would only grow)."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies = _Sink()
        self.headers = _Sink()


class _Sink(list[Any]):
    def append(self, _item: Any) -> None:
        return None


if __name__ == "__main__":
    main()
