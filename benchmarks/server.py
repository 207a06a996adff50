"""Runs per second through the REST API: a 3-step durable workflow, 50 concurrent clients.

Starts ``podium serve`` in its own process over a temporary home (SQLite, WAL), registers a
manifest of three trivial sync Python models and a named workflow chaining them, then
drives ``POST /api/v1/runs`` with ``wait: true`` from ``--clients`` concurrent aiohttp
clients (one load process) for ``--seconds``. In the same sitting, the baseline: the same
workflow through ``orch.arun`` in one process with the same concurrency and no HTTP, the
engine's own ceiling. Run:

    python benchmarks/server.py [--clients 50] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = """
- name: bench-a
  version: 1.0.0
  description: Adds one.
  capabilities: [bench.a]
  input: {x: integer}
  output: {x: integer}
  runtime: {kind: python, target: "bench_steps:inc"}
- name: bench-b
  version: 1.0.0
  description: Doubles.
  capabilities: [bench.b]
  input: {x: integer}
  output: {x: integer}
  runtime: {kind: python, target: "bench_steps:double"}
- name: bench-c
  version: 1.0.0
  description: Subtracts three.
  capabilities: [bench.c]
  input: {x: integer}
  output: {x: integer}
  runtime: {kind: python, target: "bench_steps:minus3"}
"""
STEPS = """
def inc(x: int) -> dict:
    return {"x": x + 1}

def double(x: int) -> dict:
    return {"x": x * 2}

def minus3(x: int) -> dict:
    return {"x": x - 3}
"""
WORKFLOW: dict[str, Any] = {
    "name": "bench-three",
    "inputs": {"x": "integer"},
    "steps": {
        "a": {"uses": "model/bench-a", "with": {"x": "${{ inputs.x }}"}},
        "b": {"uses": "model/bench-b", "with": {"x": "${{ steps.a.output.x }}"}},
        "c": {"uses": "model/bench-c", "with": {"x": "${{ steps.b.output.x }}"}},
    },
    "outputs": {"x": "${{ steps.c.output.x }}"},
}
TARGET_RUNS_PER_S = 200.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(home: Path) -> Path:
    models = home.parent / "models"
    models.mkdir(parents=True)
    (models / "models.yaml").write_text(MODELS)
    (models / "bench_steps.py").write_text(STEPS)
    return models / "models.yaml"


def _admin_key(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "podium", "keys", "create", "--role", "admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["key"])


async def _drive(url: str, key: str, clients: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:

        async def client(i: int) -> None:
            nonlocal failures
            n = 0
            while time.perf_counter() < stop_at:
                body = {"workflow": "bench-three", "inputs": {"x": i * 100_000 + n}, "wait": True}
                started = time.perf_counter()
                async with session.post("/api/v1/runs", json=body) as response:
                    data = await response.json()
                ok = response.status in (200, 201) and data.get("status") == "succeeded"
                if ok and data["outputs"]["x"] == (i * 100_000 + n + 1) * 2 - 3:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1
                n += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "runs": len(latencies),
        "failures": failures,
        "seconds": elapsed,
        "runs_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
    }


async def _engine_baseline(home: Path, manifest: Path, clients: int, seconds: float) -> float:
    from podium import Orchestrator

    with Orchestrator(home=home / "baseline", discover=False) as orch:
        orch.register(manifest)
        flow = orch.load(WORKFLOW)
        stop_at = time.perf_counter() + seconds
        done = 0

        async def client(i: int) -> None:
            nonlocal done
            n = 0
            while time.perf_counter() < stop_at:
                result = await orch.arun(flow, {"x": i * 100_000 + n})
                assert result.outputs == {"x": (i * 100_000 + n + 1) * 2 - 3}
                done += 1
                n += 1

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return done / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podium-bench-server-") as tmp:
        home = Path(tmp) / "home"
        manifest = _prepare(home)
        env = os.environ | {"PODIUM_HOME": str(home), "PODIUM_SERVER_RESUME_EVERY_S": "0"}
        env.pop("PODIUM_DATABASE_URL", None)
        subprocess.run(
            [sys.executable, "-m", "podium", "models", "register", str(manifest)],
            env=env,
            check=True,
            capture_output=True,
        )
        key = _admin_key(env)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "podium", "serve", "--port", str(port), "--log-level", "error"],
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
            import httpx

            headers = {"Authorization": f"Bearer {key}"}
            registered = httpx.post(f"{url}/api/v1/workflows", json=WORKFLOW, headers=headers)
            registered.raise_for_status()
            asyncio.run(_drive(url, key, args.clients, 1.0))  # warm up
            served = asyncio.run(_drive(url, key, args.clients, args.seconds))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        baseline = asyncio.run(_engine_baseline(home, manifest, args.clients, args.seconds))
    report = {
        "clients": args.clients,
        "rest": served,
        "engine_runs_per_s": baseline,
        "rest_vs_engine": served["runs_per_s"] / baseline,
        "target_runs_per_s": TARGET_RUNS_PER_S,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"REST, {args.clients} clients: {served['runs_per_s']:.0f} runs/s "
        f"(target {TARGET_RUNS_PER_S:.0f}), p50 {served['p50_ms']:.1f} ms, "
        f"p99 {served['p99_ms']:.1f} ms, {served['failures']} failures"
    )
    print(
        f"engine alone, same concurrency: {baseline:.0f} runs/s; "
        f"REST reaches {report['rest_vs_engine']:.2f}x of it"
    )


def _wait_ready(url: str, timeout_s: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("podium serve did not become ready")


if __name__ == "__main__":
    main()
