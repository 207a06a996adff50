"""The OpenAI-compatible gateway's own cost: direct to an upstream against through Podium.

    python benchmarks/gateway.py [--requests 2000] [--streams 500] [--concurrency 50]
                                 [--seconds 10] [--json]

Three processes on 127.0.0.1: a fast OpenAI-compatible upstream (aiohttp.web with uvloop,
``tests/server/gateway_upstream.py``), ``podium serve`` (uvicorn with uvloop and httptools)
over a fresh home with one ``openai`` model pointing at it and an operator key, and the
load generator (an aiohttp client on uvloop). In the same run, each measured both directly
against the upstream and through the gateway:

* latency with one client, sequential requests (p50, p99; the two interleaved in blocks);
* streaming time to first token: until the first event carrying content arrives;
* requests per second with ``--concurrency`` clients for ``--seconds``.

Added latency is gateway minus direct at the same percentile. The machine's cores are
shared by the three processes, as in the targets (2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "tests" / "server" / "gateway_upstream.py"
MANIFEST = """\
name: bench-chat
version: 1.0.0
description: A chat model behind the benchmark's upstream.
capabilities: [text.chat]
input: {messages: array}
output: {text: string}
runtime: {kind: openai, base_url: "BASE", model: up-bench}
cost: {per_call: 0.001}
"""
MESSAGES = [{"role": "user", "content": "hello there, how are you today?"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def podium(*args: str, env: dict[str, str]) -> str:
    command = [sys.executable, "-c", "from podium.cli import main; main()", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def processes(home: Path) -> Iterator[tuple[str, str, str, int, int]]:
    """Start the upstream and the server; yield (direct URL, gateway URL, key, upstream
    pid, server pid)."""
    up_port, gw_port = free_port(), free_port()
    env = {**os.environ, "PODIUM_HOME": str(home), "PODIUM_SERVER_REQUESTS_PER_MINUTE": "0"}
    (home / "models.yaml").write_text(
        MANIFEST.replace("BASE", f"http://127.0.0.1:{up_port}/v1"), encoding="utf-8"
    )
    podium("models", "register", str(home / "models.yaml"), env=env)
    key = json.loads(podium("keys", "create", "--role", "operator", "--json", env=env))["key"]
    upstream = subprocess.Popen(
        [sys.executable, str(UPSTREAM), "--port", str(up_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from podium.cli import main; main()",
            "serve",
            "--port",
            str(gw_port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(up_port, upstream)
        wait_port(gw_port, server)
        yield (
            f"http://127.0.0.1:{up_port}",
            f"http://127.0.0.1:{gw_port}",
            key,
            upstream.pid,
            server.pid,
        )
    finally:
        for proc in (server, upstream):
            proc.terminate()
        for proc in (server, upstream):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server.stderr is not None:
            errors = server.stderr.read().decode(errors="replace").strip()
            server.stderr.close()
            if errors:
                print(errors[-2000:], file=sys.stderr)


# the load generator (run in its own process) -------------------------------------------------
def _targets(direct: str, gateway: str, key: str) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    def body(model: str, stream: bool = False) -> bytes:
        return json.dumps({"model": model, "messages": MESSAGES, "stream": stream}).encode()

    headers = {"Content-Type": "application/json"}
    auth = headers | {"Authorization": f"Bearer {key}"}
    return {
        "direct": (f"{direct}/v1/chat/completions", body("up-bench"), headers),
        "gateway": (f"{gateway}/v1/chat/completions", body("bench-chat"), auth),
        "direct-stream": (f"{direct}/v1/chat/completions", body("up-bench", True), headers),
        "gateway-stream": (f"{gateway}/v1/chat/completions", body("bench-chat", True), auth),
    }


async def _latency(targets: dict[str, Any], requests: int, block: int = 100) -> dict[str, Any]:
    import aiohttp

    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with aiohttp.ClientSession() as session:

        async def one(name: str) -> float:
            url, data, headers = targets[name]
            started = time.perf_counter()
            async with session.post(url, data=data, headers=headers) as response:
                await response.read()
                assert response.status == 200, await response.text()
            return (time.perf_counter() - started) * 1000.0

        for name in times:  # warm up connections and caches
            for _ in range(200):
                await one(name)
        done = 0
        while done < requests:
            for name in times:
                times[name] += [await one(name) for _ in range(block)]
            done += block
    return {name: _percentiles(values) for name, values in times.items()}


async def _ttft(targets: dict[str, Any], streams: int, block: int = 50) -> dict[str, Any]:
    import aiohttp

    times: dict[str, list[float]] = {"direct-stream": [], "gateway-stream": []}
    async with aiohttp.ClientSession() as session:

        async def one(name: str) -> float:
            url, data, headers = targets[name]
            started = time.perf_counter()
            first = None
            async with session.post(url, data=data, headers=headers) as response:
                assert response.status == 200
                async for line in response.content:
                    if first is None and _has_content(line):
                        first = (time.perf_counter() - started) * 1000.0
                assert line.strip() == b"" or line.startswith(b"data: [DONE]")
            assert first is not None
            return first

        for name in times:
            for _ in range(50):
                await one(name)
        done = 0
        while done < streams:
            for name in times:
                times[name] += [await one(name) for _ in range(block)]
            done += block
    return {name: _percentiles(values) for name, values in times.items()}


def _has_content(line: bytes) -> bool:
    return line.startswith(b"data: ") and b'"content":"' in line and b'"content":""' not in line


async def _throughput(
    targets: dict[str, Any], name: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    import aiohttp

    url, data, headers = targets[name]
    count = 0
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(until: float) -> None:
            nonlocal count, errors
            while time.perf_counter() < until:
                async with session.post(url, data=data, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        count += 1
                    else:
                        errors += 1

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(warm) for _ in range(concurrency)))
        count = errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": round(count / elapsed, 1), "errors": errors, "requests": count}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "n": len(ordered),
    }


def client_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    targets = _targets(args.direct, args.gateway, args.key)
    if args.client == "latency":
        result = asyncio.run(_latency(targets, args.requests))
    elif args.client == "ttft":
        result = asyncio.run(_ttft(targets, args.streams))
    else:
        result = asyncio.run(_throughput(targets, args.client, args.concurrency, args.seconds))
    print(json.dumps(result))


def run_client(mode: str, direct: str, gateway: str, key: str, args: argparse.Namespace) -> Any:
    command = [
        sys.executable,
        __file__,
        "--client",
        mode,
        "--direct",
        direct,
        "--gateway",
        gateway,
        "--key",
        key,
        "--requests",
        str(args.requests),
        "--streams",
        str(args.streams),
        "--concurrency",
        str(args.concurrency),
        "--seconds",
        str(args.seconds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--direct", help=argparse.SUPPRESS)
    parser.add_argument("--gateway", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    home = Path(tempfile.mkdtemp(prefix="podium-gateway-bench-"))
    try:
        with processes(home) as (direct, gateway, key, up_pid, gw_pid):
            before = cpu_s(gw_pid)
            latency = run_client("latency", direct, gateway, key, args)
            sent = latency["gateway"]["n"] + 200  # with the warm-up
            latency["server_cpu_us"] = round((cpu_s(gw_pid) - before) / sent * 1e6, 1)
            ttft = run_client("ttft", direct, gateway, key, args)
            rps_direct = run_client("direct", direct, gateway, key, args)
            before = cpu_s(up_pid), cpu_s(gw_pid)
            rps_gateway = run_client("gateway", direct, gateway, key, args)
            after = cpu_s(up_pid), cpu_s(gw_pid)
            done = rps_gateway["requests"] or 1
            # the warm-up second is in the CPU time too: count its requests at the same rate
            done += rps_gateway["rps"]
            rps_gateway["upstream_cpu_us"] = round((after[0] - before[0]) / done * 1e6, 1)
            rps_gateway["server_cpu_us"] = round((after[1] - before[1]) / done * 1e6, 1)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report = {
        "latency": latency,
        "added_p50_ms": round(latency["gateway"]["p50_ms"] - latency["direct"]["p50_ms"], 3),
        "added_p99_ms": round(latency["gateway"]["p99_ms"] - latency["direct"]["p99_ms"], 3),
        "ttft": ttft,
        "added_ttft_p50_ms": round(
            ttft["gateway-stream"]["p50_ms"] - ttft["direct-stream"]["p50_ms"], 3
        ),
        "added_ttft_p99_ms": round(
            ttft["gateway-stream"]["p99_ms"] - ttft["direct-stream"]["p99_ms"], 3
        ),
        "throughput": {"direct": rps_direct, "gateway": rps_gateway},
        "concurrency": args.concurrency,
        "load": [load_before, " ".join(f"{x:.2f}" for x in os.getloadavg())],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    lat, tt = report["latency"], report["ttft"]
    print(f"one client, {lat['gateway']['n']} requests each (ms)")
    print(f"  direct   p50 {lat['direct']['p50_ms']:7.3f}  p99 {lat['direct']['p99_ms']:7.3f}")
    print(f"  gateway  p50 {lat['gateway']['p50_ms']:7.3f}  p99 {lat['gateway']['p99_ms']:7.3f}")
    print(f"  added    p50 {report['added_p50_ms']:7.3f}  p99 {report['added_p99_ms']:7.3f}")
    print(f"  podium server CPU per request: {lat['server_cpu_us']:.0f} us")
    print(f"streaming time to first token, {tt['gateway-stream']['n']} streams each (ms)")
    d, g = tt["direct-stream"], tt["gateway-stream"]
    print(f"  direct   p50 {d['p50_ms']:7.3f}  p99 {d['p99_ms']:7.3f}")
    print(f"  gateway  p50 {g['p50_ms']:7.3f}  p99 {g['p99_ms']:7.3f}")
    print(
        f"  added    p50 {report['added_ttft_p50_ms']:7.3f}  p99 {report['added_ttft_p99_ms']:7.3f}"
    )
    print(f"{args.concurrency} concurrent clients, {args.seconds:g} s (requests/s)")
    print(f"  direct   {rps_direct['rps']:8.1f}  (errors {rps_direct['errors']})")
    print(f"  gateway  {rps_gateway['rps']:8.1f}  (errors {rps_gateway['errors']})")
    print(
        f"CPU per request under that load: podium server {rps_gateway['server_cpu_us']:.0f} us,"
        f" upstream {rps_gateway['upstream_cpu_us']:.0f} us"
    )
    print(f"load average before / after: {report['load'][0]} / {report['load'][1]}")


if __name__ == "__main__":
    main()
