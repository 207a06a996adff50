"""Memory and storage per map item: one run of a map over N items of a trivial model.

Reports the process's peak resident memory above what it held before the run, divided by
N, the database bytes per item, and the bytes of one stored item event. Each size runs in
a fresh process so that peaks do not mix. Run:

    python benchmarks/map_memory.py [--items 20000,100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any


def child(items: int, durable: bool) -> dict[str, Any]:
    import podium

    home = tempfile.mkdtemp()
    with podium.Orchestrator(home=home, durable=durable, discover=False) as orch:

        @orch.model(capabilities=["bench.echo"])
        def echo(x: int) -> dict[str, Any]:
            return {"y": x}

        flow = {
            "inputs": {"xs": "array"},
            "steps": {
                "fan": {
                    "map": "${{ inputs.xs }}",
                    "concurrency": 16,
                    "step": {"uses": "model/echo", "with": {"x": "${{ item }}"}},
                }
            },
            "outputs": {"n": "${{ len(steps.fan.output) }}"},
        }
        xs = list(range(items))
        orch.run(flow, {"xs": xs[:10]})  # imports, caches, first calls
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started = time.perf_counter()
        result = orch.run(flow, {"xs": xs})
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        assert result.outputs == {"n": items}, result.error
        db_bytes = 0
        event_bytes = 0
        if durable:
            import sqlite3

            path = os.path.join(home, "podium.db")
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                (event_bytes,) = db.execute(
                    "select avg(length(data) + length(type) + length(step) + 40) "
                    "from podium_events where step like 'fan[%'"
                ).fetchone()
            db.close()
            db_bytes = os.path.getsize(path)
    return {
        "items": items,
        "durable": durable,
        "seconds": round(seconds, 3),
        "peak_bytes_per_item": round((peak - before) / items, 1),
        "db_bytes_per_item": round(db_bytes / items, 1),
        "bytes_per_item_event": round(float(event_bytes or 0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", default="20000,100000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1] == "durable")))
        return
    rows = []
    for n in (int(x) for x in args.items.split(",")):
        for mode in ("durable", "memory"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(n), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    header = ("items", "store", "seconds", "peak B/item", "db B/item", "B/event")
    print(" ".join(f"{h:>12}" for h in header))
    for r in rows:
        store = "sqlite" if r["durable"] else "memory"
        cells = (
            r["items"],
            store,
            r["seconds"],
            r["peak_bytes_per_item"],
            r["db_bytes_per_item"],
            r["bytes_per_item_event"],
        )
        print(" ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
