"""HTTP model calls under concurrency: Podium against plain asyncio loops. Run:

    python benchmarks/http_io.py [--items 2000] [--concurrency 100] [--repeat 2]
                                 [--delay-ms 50] [--settings] [--json]

A model server (aiohttp.web, in its own process on 127.0.0.1) sleeps ``--delay-ms`` and
answers JSON; its capacity is measured first, with more concurrency than the workload
uses. Then, in one run, each of these sends ``--items`` requests at ``--concurrency``:

(a) a plain asyncio loop over one ``aiohttp.ClientSession``;
(b) the same over one ``httpx.AsyncClient``;
(c) Podium as users call it: an ``http`` manifest is registered, a workflow file maps the
    model over an input list with ``concurrency``, ``Orchestrator(home=...).run(...)``,
    durable (SQLite) and with ``durable=False``;
(d) (c) again with twice the items.

The ideal time is ``items / concurrency * delay``. Each figure is the best of
``--repeat`` runs; the ratio is to the aiohttp loop. ``--settings`` adds plain loops with
other client settings (connection limits, keep-alive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODEL = """\
name: bench-http
version: 1.0.0
description: Doubles x after a fixed delay (benchmark server).
capabilities: [bench.double]
input: {x: integer}
output: {y: integer}
runtime: {kind: http, url: "URL"}
"""

FLOW = """\
name: http-map
inputs: {items: array}
steps:
  calls:
    map: "${{ inputs.items }}"
    concurrency: CONCURRENCY
    step: {uses: model/bench-http, with: {x: "${{ item }}"}}
outputs:
  ys: "${{ steps.calls.output }}"
"""


# ------------------------------------------------------------------------------ the server
def run_server(delay_s: float) -> None:
    """The server process: bind a free port, print it, serve until killed."""
    from aiohttp import web

    async def model(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(delay_s)
        return web.json_response({"y": body["x"] * 2})

    async def fast(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"y": body["x"] * 2})

    app = web.Application()
    app.router.add_post("/model", model)
    app.router.add_post("/fast", fast)
    # IPPROTO_TCP explicitly, so asyncio sets TCP_NODELAY (no delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    web.run_app(app, sock=sock, backlog=4096, print=None, access_log=None)


@contextmanager
def serve(delay_s: float) -> Iterator[tuple[str, int]]:
    """The server in its own process, so it does not share the client's interpreter."""
    command = [sys.executable, __file__, "--serve", "--delay-ms", str(delay_s * 1000)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base = f"http://127.0.0.1:{int(process.stdout.readline())}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


# ------------------------------------------------------------------------------ plain loops
async def aiohttp_loop(
    url: str, items: int, concurrency: int, *, limit: int = 0, keepalive: bool = True
) -> None:
    """``items`` POSTs at ``concurrency`` over one aiohttp session."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit, force_close=not keepalive)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(concurrency)

        async def one(x: int) -> None:
            async with gate, session.post(url, json={"x": x}) as response:
                assert (await response.json())["y"] == x * 2

        await asyncio.gather(*(one(x) for x in range(items)))


async def httpx_loop(
    url: str, items: int, concurrency: int, *, limit: int = 100, keepalive: int = 20
) -> None:
    """``items`` POSTs at ``concurrency`` over one httpx client."""
    import httpx

    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=keepalive)
    async with httpx.AsyncClient(limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(x: int) -> None:
            async with gate:
                response = await client.post(url, json={"x": x})
                assert response.json()["y"] == x * 2

        await asyncio.gather(*(one(x) for x in range(items)))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def capacity(base: str, pid: int) -> dict[str, float]:
    """What the server sustains: requests per second measured with its delay at concurrency
    1,000 and without it (lower bounds: the measuring client is one Python process too),
    and the rate one core would give at the server's own CPU time per request."""
    found: dict[str, float] = {}
    for name, path, concurrency, items in (
        ("delayed", "/model", 1000, 10_000),
        ("no_delay", "/fast", 200, 10_000),
    ):
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        asyncio.run(aiohttp_loop(base + path, items, concurrency))
        found[f"{name}_rps"] = items / (time.perf_counter() - started)
        used = cpu_seconds(pid) - cpu
        found[f"{name}_cpu_us_per_request"] = used / items * 1e6
        found[f"{name}_one_core_rps"] = items / used if used else 0.0
    return found


# ------------------------------------------------------------------------------ podium
def podium_run(base: str, items: int, concurrency: int, *, durable: bool) -> float:
    """Seconds for one ``Orchestrator.run`` of the mapped workflow (after a warm-up run)."""
    import podium

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "model.yaml").write_text(MODEL.replace("URL", base + "/model"))
        flow = home / "flow.yaml"
        flow.write_text(FLOW.replace("CONCURRENCY", str(concurrency)))
        with podium.Orchestrator(home=home / "state", durable=durable) as orch:
            orch.register(home / "model.yaml")
            orch.run(flow, inputs={"items": list(range(10))})  # imports, caches, the database
            started = time.perf_counter()
            result = orch.run(flow, inputs={"items": list(range(items))})
            seconds = time.perf_counter() - started
        assert result.status == "succeeded", result
        assert (result.outputs or {}).get("ys") == [{"y": x * 2} for x in range(items)]
        return seconds


# ------------------------------------------------------------------------------ the table
def best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(value if isinstance(value, float) else time.perf_counter() - started)
    return min(times)


def sync(make: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    return lambda: asyncio.run(make())


def measure(args: argparse.Namespace, base: str) -> dict[str, Any]:
    url, n, c = base + "/model", args.items, args.concurrency
    rows: dict[str, tuple[int, Callable[[], Any]]] = {
        "(a) asyncio + aiohttp": (n, sync(lambda: aiohttp_loop(url, n, c))),
        "(b) asyncio + httpx": (n, sync(lambda: httpx_loop(url, n, c))),
        "(c) podium durable": (n, lambda: podium_run(base, n, c, durable=True)),
        "(c) podium in memory": (n, lambda: podium_run(base, n, c, durable=False)),
        f"(d) podium durable x{2 * n}": (2 * n, lambda: podium_run(base, 2 * n, c, durable=True)),
        f"(d) podium in memory x{2 * n}": (
            2 * n,
            lambda: podium_run(base, 2 * n, c, durable=False),
        ),
    }
    if args.settings:
        rows |= {
            "aiohttp limit=100": (n, sync(lambda: aiohttp_loop(url, n, c, limit=100))),
            "aiohttp no keep-alive": (n, sync(lambda: aiohttp_loop(url, n, c, keepalive=False))),
            "httpx 200 conns/50 keep-alive": (
                n,
                sync(lambda: httpx_loop(url, n, c, limit=200, keepalive=50)),
            ),
            "httpx 100 conns/100 keep-alive": (
                n,
                sync(lambda: httpx_loop(url, n, c, limit=100, keepalive=100)),
            ),
            "httpx no keep-alive": (n, sync(lambda: httpx_loop(url, n, c, keepalive=0))),
        }
    asyncio.run(aiohttp_loop(url, 200, c))  # warm up the server and the imports
    asyncio.run(httpx_loop(url, 200, c))
    results: dict[str, Any] = {}
    for name, (items, fn) in rows.items():
        seconds = best(args.repeat, fn)
        results[name] = {"items": items, "seconds": round(seconds, 3)}
        print(f"  {name}: {seconds:.2f} s", file=sys.stderr, flush=True)
    reference = results["(a) asyncio + aiohttp"]
    for row in results.values():
        # the ratio to the aiohttp loop for the same number of items (it scales linearly)
        row["ratio"] = round(row["seconds"] / (reference["seconds"] * row["items"] / n), 2)
        row["ideal_s"] = round(row["items"] / c * args.delay_ms / 1000, 3)
        row["calls_per_s"] = round(row["items"] / row["seconds"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--settings", action="store_true", help="also other client settings")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    delay_s = args.delay_ms / 1000
    if args.serve:
        run_server(delay_s)
        return
    with serve(delay_s) as (base, pid):
        server = capacity(base, pid)
        need = args.concurrency / delay_s
        line = (
            f"server: {server['delayed_rps']:.0f} req/s measured with its {args.delay_ms:g} ms"
            f" delay at concurrency 1000, {server['no_delay_rps']:.0f} without (client-bound);"
            f" {server['delayed_cpu_us_per_request']:.0f} us CPU per request, so one core"
            f" serves {server['delayed_one_core_rps']:.0f} req/s; the workload needs {need:.0f}"
        )
        print(line, file=sys.stderr, flush=True)
        results = measure(args, base)
    if args.json:
        print(json.dumps({"server": server, "results": results}, indent=2))
        return
    print(line)
    print(f"{'workload':<34}{'items':>7}{'seconds':>9}{'ideal':>7}{'calls/s':>9}{'vs aiohttp':>12}")
    for name, row in results.items():
        print(
            f"{name:<34}{row['items']:>7}{row['seconds']:>9.2f}{row['ideal_s']:>7.1f}"
            f"{row['calls_per_s']:>9}{row['ratio']:>11.2f}x"
        )


if __name__ == "__main__":
    main()
