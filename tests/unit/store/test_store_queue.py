"""The queue part of the Store contract (claim_next, queue_counts), on every backend.

Two stores opened on the same database stand for two worker processes: their claims
must never overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from pgtest import fresh_schema
from podium.errors import LeaseLostError
from podium.store import Event, MemoryStore, QueueSpec, RunRecord, SqlStore, Store

DEFAULT = QueueSpec(("default",), lease_s=10.0)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens another handle on the same store (the same object for memory)."""
    opened: list[Store] = []
    schemas = ExitStack()
    if request.param == "memory":
        shared = MemoryStore()

        def make() -> Store:
            return shared
    elif request.param == "sqlite":

        def make() -> Store:
            store = SqlStore(f"sqlite:///{tmp_path}/q.db")
            opened.append(store)
            return store
    else:
        url = schemas.enter_context(fresh_schema("queue"))  # a schema of this test's own

        def make() -> Store:
            store = SqlStore(url)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()
    schemas.close()


def queued(
    store: Store, run_id: str, at: float, queue: str | None = "default", **kw: object
) -> None:
    status = str(kw.pop("status", "pending"))
    store.create_run(
        RunRecord(run_id, "flow", status, at, queue=queue, **kw),  # type: ignore[arg-type]
        [Event("run_queued", None, {"inputs": {}}, at)],
    )


def test_pending_runs_are_claimed_oldest_first_with_a_raised_claim(
    opener: Callable[[], Store],
) -> None:
    store = opener()
    for i, at in enumerate([3.0, 1.0, 2.0]):
        queued(store, f"r{i}", at)
    [first] = store.claim_next("w:1", DEFAULT, now=100.0)
    assert first.run_id == "r1" and first.claim == 1
    record = store.run("r1")
    assert record is not None
    assert (record.status, record.owner, record.heartbeat, record.claim, record.queue) == (
        "running",
        "w:1",
        100.0,
        1,
        "default",
    )
    rest = store.claim_next("w:2", DEFAULT, now=100.0, limit=5)
    assert sorted(c.run_id for c in rest) == ["r0", "r2"]
    assert store.claim_next("w:3", DEFAULT, now=100.0) == []  # all held, leases fresh


def test_only_the_named_queues_and_never_a_run_nobody_submitted(
    opener: Callable[[], Store],
) -> None:
    store = opener()
    queued(store, "gpu-run", 1.0, queue="gpu")
    queued(store, "cli-run", 2.0, queue=None, status="running", owner="cli:1", heartbeat=0.0)
    assert store.claim_next("w:1", DEFAULT, now=100.0, limit=10) == []
    [taken] = store.claim_next("w:1", QueueSpec(("default", "gpu"), 10.0), now=100.0, limit=10)
    assert taken.run_id == "gpu-run"


def test_a_lapsed_or_released_lease_or_a_dead_owner_is_taken_over(
    opener: Callable[[], Store],
) -> None:
    store = opener()
    queued(store, "lapsed", 1.0, status="running", owner="a:1", heartbeat=50.0, claim=3)
    queued(store, "released", 2.0, status="running", owner="a:1", heartbeat=None, claim=1)
    queued(store, "fresh", 3.0, status="running", owner="b:2", heartbeat=95.0, claim=1)
    queued(store, "dead", 4.0, status="running", owner="c:3", heartbeat=99.0, claim=2)
    taken = store.claim_next("w:9", DEFAULT, now=100.0, limit=10)
    assert {(c.run_id, c.claim) for c in taken} == {("lapsed", 4), ("released", 2)}
    dead = QueueSpec(("default",), 10.0, dead_owners=("c:3",))
    assert [(c.run_id, c.claim) for c in store.claim_next("w:9", dead, now=100.0)] == [("dead", 3)]
    # the old holder is fenced out: its writes are refused
    with pytest.raises(LeaseLostError):
        store.append("lapsed", [Event("step_started", "a", {}, 101.0)], fence=3)


def test_settled_waiting_and_failed_runs_are_not_taken(opener: Callable[[], Store]) -> None:
    store = opener()
    for status in ("succeeded", "failed", "cancelled", "waiting"):
        queued(store, status, 1.0, status=status, heartbeat=None)
    assert store.claim_next("w:1", DEFAULT, now=100.0, limit=10) == []


def test_queue_counts(opener: Callable[[], Store]) -> None:
    store = opener()
    queued(store, "p1", 1.0)
    queued(store, "p2", 2.0)
    queued(store, "g1", 3.0, queue="gpu")
    queued(store, "w1", 4.0, status="waiting")
    queued(store, "done", 5.0, status="succeeded")
    queued(store, "mine", 6.0, queue=None, status="running")
    store.claim_next("w:1", DEFAULT, now=100.0)
    assert store.queue_counts() == {
        "default": {"pending": 1, "running": 1, "waiting": 1},
        "gpu": {"pending": 1, "running": 0, "waiting": 0},
    }


def test_concurrent_claims_never_overlap(opener: Callable[[], Store]) -> None:
    first = opener()
    for i in range(60):
        queued(first, f"r{i:02d}", float(i))
    stores = [first, opener(), opener()]
    results: list[list[str]] = [[] for _ in stores]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def drain(index: int) -> None:
        try:
            barrier.wait()
            while True:
                taken = stores[index].claim_next(f"w:{index}", DEFAULT, now=100.0, limit=3)
                if not taken:
                    return
                results[index].extend(c.run_id for c in taken)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    everything = [run for taken in results for run in taken]
    assert sorted(everything) == [f"r{i:02d}" for i in range(60)]  # each exactly once
    for index, taken in enumerate(results):
        for run_id in taken:
            record = first.run(run_id)
            assert record is not None and record.owner == f"w:{index}" and record.claim == 1
