"""The gateway's routes at the ASGI level: documented like any FastAPI route, served
without FastAPI's request parsing and validation (the hot path reads the body once and
writes the response itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from podium.server.gateway._errors import GatewayError

T = TypeVar("T")

#: ``handler(request, send)``: serves one request, writing the response itself
Handler = Callable[[Request, Send], Awaitable[None]]

JSON = b"application/json"
SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
#: how long a call whose client left with the whole answer has to end (seconds)
FINISH_S = 5.0


class _Raw(Response):
    """A response that is the handler itself: Starlette calls it with the ASGI channel."""

    def __init__(self, handler: Handler, request: Request) -> None:  # no Response state
        self._handler = handler
        self._request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(self._request, send)


class RawRoute(APIRoute):
    """An :class:`APIRoute` whose endpoint, if it carries a ``__gateway__`` handler, is
    only documentation: requests go to that handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler: Handler | None = getattr(self.endpoint, "__gateway__", None)
        if handler is None:
            return super().get_route_handler()
        chosen = handler

        async def serve(request: Request) -> Response:
            return _Raw(chosen, request)

        return serve


def serves(handler: Handler) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a documented endpoint as served by ``handler``."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        endpoint.__gateway__ = handler  # type: ignore[attr-defined]
        return endpoint

    return mark


async def read_body(request: Request) -> bytes:
    """The whole request body (the body-size limit is enforced around the app)."""
    receive = request.receive
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
    return b"".join(parts)


def header_list(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    if not headers:
        return []
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = JSON,
) -> None:
    """A whole response: ``status``, ``body`` and headers."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(send: Send, error: GatewayError) -> None:
    await send_bytes(send, error.status, error.body(), header_list(error.headers))


async def until_disconnect(receive: Receive) -> None:
    """Return when the client has gone (or the response is complete)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def cancel_on_disconnect(
    receive: Receive, work: Awaitable[T], answered: Callable[[], bool] | None = None
) -> tuple[bool, T | None]:
    """Run ``work``; cancel it if the client disconnects first (or this is cancelled).
    Whether the client went away, and else what ``work`` returned.

    A client that leaves once it has the whole answer (``answered()``: an OpenAI client
    closes the stream on ``[DONE]``) does not cancel the call's last steps: ``work`` gets
    :data:`FINISH_S` to end, and what it returned is given with ``True``.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnect(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        gone = watcher.done()
        if gone and not task.done() and answered is not None and answered():
            await asyncio.wait((task,), timeout=FINISH_S)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return gone, task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return True, None
