"""The audit log, budgets and usage on every store backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgtest import fresh_schema
from podium.errors import LeaseLostError
from podium.store import (
    AuditNote,
    BudgetHold,
    Event,
    MemoryStore,
    ModelRecord,
    RunRecord,
    SqlStore,
    Store,
    UsageQuery,
    verify_chain,
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of this test's own (see tests/pgtest.py)."""
    with fresh_schema("audit") as url:
        yield url


def _open(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SqlStore(f"sqlite:///{tmp_path}/p.db")
    return SqlStore(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = _open(request.param, tmp_path, request)
    try:
        yield backend
    finally:
        backend.close()


def _run(store: Store, run_id: str, tenant: str | None = "acme") -> None:
    record = RunRecord(run_id, "flow", "running", 1.0, claim=1, principal="key:1", tenant=tenant)
    store.create_run(record, [Event("run_started", None, {"inputs": {"a": 1}}, 1.0)])


def _call(step: str, model: str = "m@1.0.0", cost: float = 0.5, cached: bool = False) -> Event:
    data = {"output": {"y": step}, "model": model, "cost": cost, "cached": cached}
    return Event("step_succeeded", step, data | {"latency_ms": 1.0, "attempt": 1}, 2.0)


def test_run_events_carry_their_records_and_the_chain_verifies(store: Store) -> None:
    _run(store, "r1")
    store.append("r1", [Event("step_started", "a", {"attempt": 1}, 2.0), _call("a")], fence=1)
    store.append("r1", [Event("run_succeeded", None, {"outputs": {"y": "a"}}, 3.0)], fence=1)
    kinds = [(r.kind, r.run_id, r.tenant, r.principal) for r in store.audit_records()]
    assert kinds == [
        ("run.started", "r1", "acme", "key:1"),
        ("model.call", "r1", "acme", "key:1"),
        ("run.finished", "r1", "acme", "key:1"),
    ]
    assert verify_chain(store.audit_records()).ok
    head = store.audit_head()
    assert head is not None and head[0] == 3


def test_a_refused_write_leaves_no_record(store: Store) -> None:
    _run(store, "r1")
    store.claim_run("r1", "other", expected=1, now=2.0)
    with pytest.raises(LeaseLostError):
        store.append("r1", [_call("a")], fence=1)
    assert [r.kind for r in store.audit_records()] == ["run.started"]


def test_models_decisions_and_documents_are_audited(store: Store) -> None:
    spec = {"name": "m", "version": "1.0.0", "status": "active"}
    store.put_model(ModelRecord("m", "1.0.0", spec, 1.0))
    store.put_model(ModelRecord("m", "1.0.0", spec, 2.0))  # unchanged: nothing new
    store.put_model(ModelRecord("m", "1.0.0", spec | {"status": "deprecated"}, 3.0))
    _run(store, "r1")
    store.append("r1", [Event("approval_requested", "gate", {"prompt": "ok?"}, 2.0)], fence=1)
    assert store.decide("r1", "gate", {"approved": True, "by": "ann"}, 3.0).recorded
    note = AuditNote("key.created", 4.0, {"key_id": "k"}, "k", "key:admin")
    store.put_document("auth.key", "k", {"key_id": "k"}, audit=note)
    store.put_document("routing.stats", "x", {"n": 1})  # not audited
    found = [(r.kind, r.principal) for r in store.audit_records()]
    assert found == [
        ("model.registered", found[0][1]),
        ("model.changed", found[1][1]),
        ("run.started", "key:1"),
        ("approval.requested", "key:1"),
        ("approval.decided", "ann"),
        ("key.created", "key:admin"),
    ]
    assert verify_chain(store.audit_records()).ok


def test_records_page_in_order_and_filter(store: Store) -> None:
    _run(store, "r1", "acme")
    _run(store, "r2", "other")
    store.audit([AuditNote("policy.dry_run", 5.0 + i, {"i": i}, tenant="acme") for i in range(7)])
    assert [r.seq for r in store.audit_records(after=3, limit=2)] == [4, 5]
    assert {r.tenant for r in store.audit_records(tenant="other")} == {"other"}
    assert [r.seq for r in store.audit_records(since=10.0)] == [8, 9]


def test_usage_groups_calls_failures_and_cost(store: Store) -> None:
    _run(store, "r1", "acme")
    _run(store, "r2", "other")
    store.append("r1", [_call("a"), _call("b", cached=True, cost=0.0)], fence=1)
    failed = Event("attempt_failed", "c", {"model": "m@1.0.0", "attempt": 1, "error": "x"}, 2.0)
    store.append("r2", [_call("a", "n@2.0.0", 0.25), failed], fence=1)
    by_tenant = {r.key: r for r in store.usage(UsageQuery("tenant"))}
    assert (by_tenant["acme"].calls, by_tenant["acme"].cached, by_tenant["acme"].cost) == (
        2,
        1,
        0.5,
    )
    assert (by_tenant["other"].calls, by_tenant["other"].failed) == (1, 1)
    by_model = {r.key: r.calls for r in store.usage(UsageQuery("model"))}
    assert by_model == {"m@1.0.0": 2, "n@2.0.0": 1}
    assert [r.key for r in store.usage(UsageQuery("tenant", tenant="other"))] == ["other"]


def test_a_budget_reserves_all_or_none_and_settles(store: Store) -> None:
    tight = BudgetHold("budget:tight", "tight|run:r1:all", 0.4, max_cost=1.0)
    calls = BudgetHold("budget:calls", "calls|tenant:acme:all", 0.4, max_calls=3)
    assert store.reserve([tight, calls]).granted
    assert store.reserve([tight, calls]).granted
    refused = store.reserve([calls, tight])  # tight would hold 1.2 of 1.0
    assert not refused.granted and refused.rule == "budget:tight"
    assert "0.8 reserved" in str(refused.reason)
    store.settle([tight, calls], 0.3)
    store.settle([tight, calls], None)  # a call that failed: nothing spent
    assert store.budget_spent("tight|run:r1:all") == (0.3, 1)
    assert store.reserve([calls]).granted and store.reserve([calls]).granted
    assert not store.reserve([calls]).granted  # 1 made, 2 in flight: the limit is 3


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_writers_on_several_connections_keep_one_chain(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = _open(kind, tmp_path, request)
    url = first.url if isinstance(first, SqlStore) else ""
    stores = [first, *(SqlStore(url) for _ in range(3))]
    for i, s in enumerate(stores):
        _run(s, f"r{i}")

    def work(s: Store, i: int) -> None:
        for n in range(25):
            s.append(f"r{i}", [_call(f"s{n}")], fence=1)

    threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = verify_chain(first.audit_records())
    assert verdict.ok and verdict.checked == 4 + 4 * 25
    for s in stores:
        s.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_reservations_never_overshoot(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = _open(kind, tmp_path, request)
    url = first.url if isinstance(first, SqlStore) else ""
    stores = [first, *(SqlStore(url) for _ in range(3))]
    hold = BudgetHold("budget:b", "b|tenant:acme:all", 0.1, max_cost=1.0)
    granted: list[bool] = []

    def work(s: Store) -> None:
        for _ in range(10):
            ok = s.reserve([hold]).granted
            granted.append(ok)
            if ok:
                s.settle([hold], 0.1)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 10
    assert first.budget_spent("b|tenant:acme:all")[1] == 10
    for s in stores:
        s.close()
