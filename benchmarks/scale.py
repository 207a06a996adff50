"""Runs per second and per-step cost with 1, 2 and 4 ``podium worker`` processes sharing
one database (SQLite and PostgreSQL), beside the same runs driven in one process.

N queued runs of a K-step chain of a trivial model. The workers are started and have
announced themselves before the runs are submitted, so their start-up is not timed; the
clock runs from the first submission until the last run has finished. Reported:

* runs/s: N / that time;
* ms/step (wall): that time / (N * K);
* worker-ms/step: the same times the number of workers (what a step costs a worker);
* in-process: the same N runs through ``orch.arun`` in this process, with as many runs
  at once as one worker takes (``--concurrency``), on the same database.

    python benchmarks/scale.py [--runs 400] [--steps 5] [--workers 1,2,4]
        [--database sqlite,postgresql] [--json]

PostgreSQL uses $PODIUM_TEST_POSTGRES_URL (its podium tables are dropped first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from worker_chaos import fresh_postgres  # a script beside this one

MODELS = """\
- name: bump
  version: 1.0.0
  description: Adds one.
  capabilities: [bench.bump]
  input: {x: integer}
  output: {x: integer}
  runtime: {kind: python, target: "scale_models:bump"}
"""
CODE = """\
async def bump(x: int) -> dict:
    return {"x": x + 1}
"""


def chain(steps: int) -> dict[str, Any]:
    body: dict[str, Any] = {"s0": {"uses": "model/bump", "with": {"x": "${{ inputs.x }}"}}}
    for i in range(1, steps):
        body[f"s{i}"] = {"uses": "model/bump", "with": {"x": f"${{{{ steps.s{i - 1}.output.x }}}}"}}
    return {
        "name": "scale",
        "inputs": {"x": "integer"},
        "steps": body,
        "outputs": {"x": f"${{{{ steps.s{steps - 1}.output.x }}}}"},
    }


def _url(database: str, home: Path) -> str:
    if database == "sqlite":
        return f"sqlite:///{home / 'podium.db'}"
    url = os.environ.get("PODIUM_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("set PODIUM_TEST_POSTGRES_URL for postgresql")
    return fresh_postgres(url, prefix="scale")


def _setup(root: Path, database: str) -> tuple[Any, dict[str, str]]:
    import podium

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (root / "scale_models.py").write_text(CODE)
    (root / "models.yaml").write_text(MODELS)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    url = _url(database, home)
    env = os.environ | {
        "PODIUM_HOME": str(home),
        "PODIUM_DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    orch = podium.Orchestrator(home=home, database_url=url, discover=False)
    orch.register(root / "models.yaml")
    return orch, env


def with_workers(
    root: Path, database: str, workers: int, runs: int, steps: int, concurrency: int
) -> dict[str, Any]:
    from podium.worker import live_workers

    orch, env = _setup(root, database)
    command = [sys.executable, "-m", "podium", "worker", "--concurrency", str(concurrency)]
    procs = [
        subprocess.Popen(command, env=env, cwd=root, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(live_workers(orch.store, 30)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.05)
        flow = orch.load(chain(steps))
        started = time.perf_counter()
        ids = [orch.submit(flow, {"x": i}) for i in range(runs)]
        submitted = time.perf_counter() - started
        while True:
            counts = orch.store.queue_counts().get("default", {})
            if not counts.get("pending") and not counts.get("running"):
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    wrong = [r for r in ids[:: max(1, runs // 50)] if orch.get_run(r).outputs is None]
    orch.close()
    assert not wrong, wrong
    return {
        "database": database,
        "engine": f"{workers} worker(s)",
        "runs_per_s": round(runs / elapsed, 1),
        "ms_per_step": round(elapsed * 1000 / (runs * steps), 3),
        "worker_ms_per_step": round(elapsed * 1000 * workers / (runs * steps), 3),
        "submit_ms_per_run": round(submitted * 1000 / runs, 3),
        "seconds": round(elapsed, 2),
    }


def in_process(
    root: Path, database: str, runs: int, steps: int, concurrency: int
) -> dict[str, Any]:
    orch, _ = _setup(root, database)
    flow = orch.load(chain(steps))

    async def drive() -> float:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await orch.arun(flow, {"x": i})

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(runs)))
        return time.perf_counter() - started

    elapsed = orch._sync(drive())
    orch.close()
    return {
        "database": database,
        "engine": "in-process (orch.arun)",
        "runs_per_s": round(runs / elapsed, 1),
        "ms_per_step": round(elapsed * 1000 / (runs * steps), 3),
        "worker_ms_per_step": round(elapsed * 1000 / (runs * steps), 3),
        "submit_ms_per_run": None,
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for database in args.database.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(in_process(Path(tmp), database, args.runs, args.steps, args.concurrency))
        for count in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(
                    with_workers(
                        Path(tmp), database, count, args.runs, args.steps, args.concurrency
                    )
                )
            if not args.json:
                print(rows[-1], flush=True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "load_average": load}, indent=2))
        return
    print(f"\n{args.runs} runs x {args.steps} steps; {os.cpu_count()} cores; load {load}")
    header = ("database", "engine", "runs/s", "ms/step", "worker-ms/step", "submit ms/run")
    print(" | ".join(header))
    for row in rows:
        print(
            " | ".join(
                str(row[k])
                for k in (
                    "database",
                    "engine",
                    "runs_per_s",
                    "ms_per_step",
                    "worker_ms_per_step",
                    "submit_ms_per_run",
                )
            )
        )


if __name__ == "__main__":
    main()
