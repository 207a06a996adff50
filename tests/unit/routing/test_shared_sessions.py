"""The record of processes sharing routing state: how a new one decides to replay the
event log, and how the record is kept small."""

from __future__ import annotations

import time
from pathlib import Path

from podium.registry import Registry
from podium.routing import AdaptiveRouter
from podium.routing._shared import FORGET_S, KEEP_SESSIONS, SESSIONS
from podium.store import Delta, SqlStore


def session(key: str, pushed_until: float, alive_at: float) -> list[Delta]:
    return [Delta(key, "pushed_until", pushed_until, 1.0), Delta(key, "alive_at", alive_at, 1.0)]


def test_processes_gone_for_a_day_are_forgotten_but_the_last_to_push(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/s.db")
    try:
        now = time.time()
        old = now - 4 * FORGET_S
        rows: list[Delta] = []
        for i in range(KEEP_SESSIONS + 20):
            rows += session(f"elsewhere:{i}:x", old + i, 0.0)  # ended long ago
        rows += session("elsewhere:newest:x", now - 2 * FORGET_S, 0.0)  # ended, pushed last
        rows += session("elsewhere:alive:x", old, now)  # another host, alive now
        store.add_counters({SESSIONS: rows})
        router = AdaptiveRouter(Registry(store))
        router.attach(store)
        router.flush()  # loads: records itself, looks at the others, forgets the old
        left = store.counters(SESSIONS)[0]
        router.close()
        assert "elsewhere:newest:x" in left and "elsewhere:alive:x" in left
        assert not any(key.startswith("elsewhere:1") for key in left)
        assert len(left) == 3  # the two kept, and this process
    finally:
        store.close()


def test_a_store_with_few_processes_keeps_them_all(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/s.db")
    try:
        store.add_counters({SESSIONS: session("elsewhere:1:x", 1.0, 0.0)})
        router = AdaptiveRouter(Registry(store))
        router.attach(store)
        router.flush()
        router.close()
        assert len(store.counters(SESSIONS)[0]) == 2
    finally:
        store.close()
