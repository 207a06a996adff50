"""The store's hot path on SQLite and PostgreSQL, side by side in one run.

1. Appends: events per second through ``Store.append`` as the engine writes them: fenced
   (the claim is checked in the same transaction), one event per append (a step's
   ``started``/``succeeded`` flushed alone) and ten per append (a fan-out's batch), each
   with a run-row update every tenth append.
   PostgreSQL runs twice: as the server is set (here ``synchronous_commit=on``: every
   commit waits for an fsync, ~2 ms on this machine) and with ``synchronous_commit=off``
   (``pg-async-commit``: a crash of the server may lose the last commits, never
   consistency; the guarantee of SQLite's default ``NORMAL``), which shows the cost of
   round trips apart from the disk's.
2. Runs: ``orch.run`` of a 5-step chain (200 runs) and of a 1,000-step workflow (a map of
   1,000 items, 16 at a time) with ``PODIUM_DATABASE_URL`` pointing at each database.

PostgreSQL is the server named by ``--postgres`` (default: ``$PODIUM_TEST_POSTGRES_URL``);
each backend gets a new schema of its own that is dropped afterwards. Run:

    python benchmarks/store_backends.py [--postgres URL] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import podium
from podium.store import Event, RunRecord, open_store


@contextmanager
def postgres_schema(url: str, options: str = "") -> Iterator[str]:
    """A URL whose connections use a new, empty schema (dropped at the end), with more
    server ``options`` (``-c name=value ...``)."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        settings = quote(f"-c search_path={schema} {options}".strip())
        yield f"{url}{sep}options={settings}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def append_rate(url: str, per_append: int, appends: int = 2000) -> float:
    """Events per second appended with a fence, ``per_append`` at a time."""
    store = open_store(url)
    try:
        runs = 20
        for r in range(runs):
            store.create_run(
                RunRecord(f"r{r}", "bench", "running", time.time(), claim=1, inputs={"x": r}),
                [Event("run_started", None, {"inputs": {"x": r}}, time.time())],
            )
        payload = {"output": {"label": "billing", "confidence": 0.93}, "attempt": 1}
        start = time.perf_counter()
        for i in range(appends):
            events = [
                Event("step_succeeded", f"s{i}.{j}", payload, time.time())
                for j in range(per_append)
            ]
            update = {"cost": i * 0.001} if i % 10 == 0 else None
            store.append(f"r{i % runs}", events, update, fence=1)
        elapsed = time.perf_counter() - start
        return appends * per_append / elapsed
    finally:
        store.close()


async def inc(x: int) -> dict[str, Any]:
    return {"x": x + 1}


def chain(n: int) -> dict[str, Any]:
    steps: dict[str, Any] = {"s0": {"uses": "model/inc", "with": {"x": "${{ inputs.x }}"}}}
    for i in range(1, n):
        steps[f"s{i}"] = {"uses": "model/inc", "with": {"x": f"${{{{ steps.s{i - 1}.output.x }}}}"}}
    return {"name": f"chain{n}", "inputs": {"x": "integer"}, "steps": steps}


def mapped(n: int) -> dict[str, Any]:
    return {
        "name": f"map{n}",
        "inputs": {"xs": "array"},
        "steps": {
            "each": {
                "map": "${{ inputs.xs }}",
                "concurrency": 16,
                "step": {"uses": "model/inc", "with": {"x": "${{ item }}"}},
            }
        },
    }


def run_times(url: str) -> dict[str, float]:
    """Seconds per run of the 5-step chain (mean of 200) and of the 1,000-step map."""
    os.environ["PODIUM_DATABASE_URL"] = url
    with tempfile.TemporaryDirectory() as home:
        orch = podium.Orchestrator(home=home, discover=False)
        try:
            orch.model(capabilities=["bench.inc"])(inc)
            five = chain(5)
            assert orch.run(five, inputs={"x": 0}).ok  # warm: validation, caches
            start = time.perf_counter()
            for i in range(200):
                result = orch.run(five, inputs={"x": i})
                assert result.ok, result
            per_run = (time.perf_counter() - start) / 200
            big = mapped(1000)
            start = time.perf_counter()
            result = orch.run(big, inputs={"xs": list(range(1000))})
            assert result.ok, result
            thousand = time.perf_counter() - start
        finally:
            orch.close()
            os.environ.pop("PODIUM_DATABASE_URL", None)
    return {"chain5_ms_per_run": per_run * 1000, "map1000_s": thousand}


@contextmanager
def backends(postgres: str | None) -> Iterator[list[tuple[str, Callable[[], Any]]]]:
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(1_000_000))

        def sqlite() -> Any:
            return nullcontext(f"sqlite:///{folder}/b{next(counter)}.db")

        made: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite)]
        if postgres:
            made.append(("postgresql", lambda: postgres_schema(postgres)))
            made.append(
                (
                    "pg-async-commit",
                    lambda: postgres_schema(postgres, "-c synchronous_commit=off"),
                )
            )
        yield made


@contextmanager
def nullcontext(value: str) -> Iterator[str]:
    yield value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PODIUM_TEST_POSTGRES_URL"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with backends(args.postgres) as made:
        for name, fresh in made:
            samples: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                for label, per_append in (
                    ("append_1_events_per_s", 1),
                    ("append_10_events_per_s", 10),
                ):
                    with fresh() as url:
                        samples.setdefault(label, []).append(append_rate(url, per_append))
                with fresh() as url:
                    for label, value in run_times(url).items():
                        samples.setdefault(label, []).append(value)
            results[name] = {k: statistics.median(v) for k, v in samples.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    labels = list(next(iter(results.values())))
    print(f"{'':28}" + "".join(f"{n:>14}" for n in results))
    for label in labels:
        print(f"{label:28}" + "".join(f"{results[n][label]:>14.1f}" for n in results))


if __name__ == "__main__":
    main()
