"""A lean HTTP/1.1 client for plain ``http://`` endpoints: pooled keep-alive connections,
requests written as one buffer, answers parsed by ``httptools`` (the C parser uvicorn uses).

It exists for the gateway's pass-through, where the client's own cost is most of what a
forwarded request costs: about a fifth of :mod:`aiohttp`'s per request, measured. It does
one thing: POST a body and hand back the status and the body, whole or as it arrives.
HTTPS, proxies and everything else go through :class:`~podium.adapters._http.HttpSession`.

A connection is reused while the server keeps it alive, for at most
:data:`~podium.adapters._http.KEEPALIVE_S` idle; a reused one that the server had closed
before answering is replaced once, transparently (nothing of the request was read). An
answer abandoned before its end closes its connection, so the server sees the client go.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator

import httptools

#: a stream's unread data beyond this pauses reading from the server
_HIGH_WATER = 1 << 20


class Disconnected(ConnectionError):
    """The server closed the connection before the answer was complete."""


class _Answer:
    """One response as it arrives: status, body pieces, the end (or the failure)."""

    __slots__ = ("_waiter", "done", "error", "pieces", "received", "size", "status")

    def __init__(self) -> None:
        self.status = 0
        self.pieces: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.done = False
        self.received = False  # any byte of the answer
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Connection(asyncio.Protocol):
    """One keep-alive connection to a server, one request at a time."""

    def __init__(self, pool: WirePool, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: _Answer | None = None
        self.closed = False
        self.idle_since = 0.0
        self.paused = False
        self.keep_alive = False
        self._until_close = False

    # asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None:  # nothing asked: the server misbehaves
            self.close()
            return
        answer.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"malformed HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.lost(self)
        answer = self.answer
        if answer is not None and not answer.done:
            if self._until_close and answer.status:
                answer.done = True  # a body delimited by the end of the connection
                answer.wake()
            else:
                self._fail(exc or Disconnected("the server closed the connection"))

    # httptools callbacks -------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        answer = self.answer
        if answer is not None:
            answer.status = self.parser.get_status_code()
            answer.wake()

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-length" or (
            lower == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._until_close = False

    def on_body(self, body: bytes) -> None:
        answer = self.answer
        if answer is not None:
            answer.pieces.append(body)
            answer.size += len(body)
            if answer.size > _HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            answer.wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # read now: it resets after
        answer = self.answer
        if answer is not None:
            answer.done = True
            answer.wake()

    # use ----------------------------------------------------------------------------------
    def send(self, data: bytes) -> _Answer:
        assert self.transport is not None
        answer = self.answer = _Answer()
        self.keep_alive = False
        self._until_close = True  # until a length or chunking is announced
        self.transport.write(data)
        return answer

    def taken(self, answer: _Answer) -> None:
        """``answer``'s pieces were read: let the server send more."""
        answer.size = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def finish(self, complete: bool) -> None:
        """The caller is done with the answer: keep the connection for the next request if
        the answer ended and the server keeps it alive, else close it."""
        self.answer = None
        if complete and not self.closed and self.keep_alive:
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: BaseException) -> None:
        answer = self.answer
        if answer is not None and not answer.done:
            answer.error = error
            answer.wake()


class WireResponse:
    """An answer being read: ``status``, then :meth:`read` or :meth:`chunks`."""

    def __init__(self, connection: Connection, answer: _Answer, read_timeout_s: float) -> None:
        self.connection = connection
        self.answer = answer
        self.status = answer.status
        self.read_timeout_s = read_timeout_s

    async def read(self) -> bytes:
        """The whole body."""
        answer = self.answer
        while not answer.done:
            self._check()
            await answer.wait()
        self._check()
        body = b"".join(answer.pieces)
        answer.pieces.clear()
        return body

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; each wait for more is bounded by the read timeout."""
        answer = self.answer
        while True:
            if answer.pieces:
                data = b"".join(answer.pieces)
                answer.pieces.clear()
                self.connection.taken(answer)
                yield data
                continue
            if answer.done:
                return
            self._check()
            async with asyncio.timeout(self.read_timeout_s):
                await answer.wait()
            self._check()

    def _check(self) -> None:
        error = self.answer.error
        if error is not None:
            raise error


class WirePool:
    """Keep-alive connections of one event loop, per ``(host, port)``."""

    def __init__(self, keepalive_s: float) -> None:
        self.keepalive_s = keepalive_s
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._open: set[Connection] = set()
        self._gone: asyncio.Future[None] | None = None
        self.closed = False

    def lost(self, connection: Connection) -> None:
        self._open.discard(connection)
        if not self._open and self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    def release(self, connection: Connection) -> None:
        if self.closed:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)

    def _reusable(self, key: tuple[str, int]) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_s:
                return connection
            connection.close()
        return None

    async def _connect(self, key: tuple[str, int]) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: Connection(self, key), *key)
        self._open.add(connection)
        return connection

    async def fetch(
        self, host: str, port: int, head: bytes, body: bytes, *, timeout_s: float
    ) -> tuple[int, bytes]:
        """POST: send ``head`` (request line and headers, without ``Content-Length``) and
        ``body``; the status and body of the answer, all within ``timeout_s``."""
        data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        async with asyncio.timeout(timeout_s):
            connection, answer = await self._send((host, port), data)
            complete = False
            try:
                response = WireResponse(connection, answer, timeout_s)
                content = await response.read()
                complete = True
            finally:
                connection.finish(complete)
        return answer.status, content

    @contextlib.asynccontextmanager
    async def stream(
        self, host: str, port: int, head: bytes, body: bytes, *, timeout_s: float
    ) -> AsyncIterator[WireResponse]:
        """As :meth:`fetch`, the answer read as it arrives inside the ``async with``:
        ``timeout_s`` bounds connecting and the wait for the headers, then each wait for
        data. Leaving before the end closes the connection."""
        data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        async with asyncio.timeout(timeout_s):
            connection, answer = await self._send((host, port), data)
        try:
            yield WireResponse(connection, answer, timeout_s)
        finally:
            connection.finish(answer.done and answer.error is None and not answer.pieces)

    async def _send(self, key: tuple[str, int], data: bytes) -> tuple[Connection, _Answer]:
        """Send on a kept connection (once more on a new one if the server had closed it
        unread), or on a new one; return when the answer's headers came."""
        connection = self._reusable(key)
        reused = connection is not None
        while True:
            if connection is None:
                connection = await self._connect(key)
            answer = connection.send(data)
            try:
                while not answer.status:
                    if answer.error is not None:
                        raise answer.error
                    await answer.wait()
            except (ConnectionError, OSError):
                connection.finish(False)
                if reused and not answer.received:
                    reused, connection = False, None
                    continue
                raise
            except BaseException:
                connection.finish(False)
                raise
            return connection, answer

    async def aclose(self) -> None:
        """Close every connection, and wait (briefly) until they are closed."""
        self.closed = True
        self._idle.clear()
        if not self._open:
            return
        self._gone = asyncio.get_running_loop().create_future()
        for connection in list(self._open):
            connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._gone
