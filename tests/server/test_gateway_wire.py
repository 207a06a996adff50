"""The lean HTTP/1.1 client the gateway forwards with (``podium.adapters._wire``), against
the test upstream and small raw servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import orjson
import pytest
from gateway_upstream import Behaviour, TestUpstream

from podium.adapters._wire import WirePool

HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)
CHAT = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi there"}]})
STREAM = orjson.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True}
)

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(reply: Reply) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def test_answers_come_back_and_connections_are_reused() -> None:
    with TestUpstream.running() as upstream:
        port = int(upstream.url.rsplit(":", 1)[1])

        async def main() -> list[int]:
            pool = WirePool(keepalive_s=4.0)
            statuses = []
            for _ in range(5):
                status, body = await pool.fetch("127.0.0.1", port, HEAD, CHAT, timeout_s=5)
                statuses.append(status)
                assert orjson.loads(body)["choices"][0]["message"]["content"] == "echo: hi there"
            opened = len(pool._open)
            await pool.aclose()
            return [*statuses, opened]

        assert asyncio.run(main()) == [200] * 5 + [1]  # one connection for all five
        assert upstream.hits() == 5


def test_a_chunked_stream_arrives_whole_and_in_pieces() -> None:
    with TestUpstream.running(Behaviour(chunks=6, chunk_delay_s=0.01)) as upstream:
        port = int(upstream.url.rsplit(":", 1)[1])

        async def main() -> tuple[int, list[bytes], int]:
            pool = WirePool(keepalive_s=4.0)
            async with pool.stream("127.0.0.1", port, HEAD, STREAM, timeout_s=5) as answer:
                pieces = [piece async for piece in answer.chunks()]
            # the stream ended: its connection serves the next request
            status, _ = await pool.fetch("127.0.0.1", port, HEAD, CHAT, timeout_s=5)
            opened = len(pool._open)
            await pool.aclose()
            return answer.status, pieces, opened + (status - 200)

        status, pieces, opened = asyncio.run(main())
        assert status == 200 and len(pieces) > 3
        events = b"".join(pieces).split(b"\n\n")
        assert events[-2] == b"data: [DONE]"
        assert opened == 1


def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    async def main() -> tuple[list[int], int]:
        accepted = 0

        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()  # keep-alive announced, then closed: the next use finds it gone

        server, port = await raw_server(reply)
        pool = WirePool(keepalive_s=4.0)
        statuses = []
        for _ in range(3):
            await asyncio.sleep(0.05)
            statuses.append((await pool.fetch("127.0.0.1", port, HEAD, b"{}", timeout_s=5))[0])
        await pool.aclose()
        server.close()
        await server.wait_closed()
        return statuses, accepted

    statuses, accepted = asyncio.run(main())
    assert statuses == [200, 200, 200] and accepted == 3


def test_connection_close_and_a_body_until_the_end() -> None:
    async def main() -> tuple[bytes, bytes, int]:
        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            await writer.drain()
            writer.close()

        server, port = await raw_server(reply)
        pool = WirePool(keepalive_s=4.0)
        _, first = await pool.fetch("127.0.0.1", port, HEAD, b"{}", timeout_s=5)
        _, second = await pool.fetch("127.0.0.1", port, HEAD, b"{}", timeout_s=5)
        kept = sum(len(v) for v in pool._idle.values())
        await pool.aclose()
        server.close()
        await server.wait_closed()
        return first, second, kept

    first, second, kept = asyncio.run(main())
    assert first == second == b"until the end"
    assert kept == 0  # a connection the server closes is never kept


def test_timeouts_refusals_and_cut_answers_raise() -> None:
    async def main() -> None:
        done = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            await done.wait()
            writer.close()

        async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            await writer.drain()
            writer.close()

        pool = WirePool(keepalive_s=4.0)
        slow, slow_port = await raw_server(silent)
        with pytest.raises(TimeoutError):
            await pool.fetch("127.0.0.1", slow_port, HEAD, b"{}", timeout_s=0.2)
        short, short_port = await raw_server(cut)
        with pytest.raises(ConnectionError):
            await pool.fetch("127.0.0.1", short_port, HEAD, b"{}", timeout_s=5)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            nowhere = sock.getsockname()[1]
        with pytest.raises(OSError):
            await pool.fetch("127.0.0.1", nowhere, HEAD, b"{}", timeout_s=5)
        await pool.aclose()
        done.set()
        await asyncio.sleep(0.05)
        for server in (slow, short):
            server.close()
            await server.wait_closed()

    asyncio.run(main())
