"""One conformance suite for every Store backend: memory, SQLite and PostgreSQL (a real
server, a schema of its own per test)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgtest import fresh_schema
from podium.errors import StoreError
from podium.store import (
    Delta,
    Event,
    MemoryStore,
    ModelRecord,
    RunRecord,
    SqlStore,
    Store,
    open_store,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        with fresh_schema("conf") as url:
            backend = SqlStore(url)
            try:
                yield backend
            finally:
                backend.close()
        return
    backend = MemoryStore() if request.param == "memory" else SqlStore(f"sqlite:///{tmp_path}/p.db")
    try:
        yield backend
    finally:
        backend.close()


def run(run_id: str, started_at: float, status: str = "running", **fields: object) -> RunRecord:
    return RunRecord(run_id, "flow", status, started_at, **fields)  # type: ignore[arg-type]


def event(type_: str, step: str | None = None, ts: float = 1.0, **data: object) -> Event:
    return Event(type_, step, dict(data), ts)


def shape(events: list[Event]) -> list[tuple[str, str | None, dict[str, object], float]]:
    return [(e.type, e.step, e.data, e.ts) for e in events]


# --------------------------------------------------------------------------- registry tables


def test_models_put_and_list(store: Store) -> None:
    assert store.models() == []
    store.put_model(ModelRecord("b", "1.0.0", {"name": "b", "version": "1.0.0"}, 1.0))
    store.put_model(ModelRecord("a", "1.0.0", {"name": "a", "n": [1, 2]}, 2.0))
    store.put_model(ModelRecord("a", "2.0.0", {"name": "a", "version": "2.0.0"}, 3.0))
    models = store.models()
    assert {(m.name, m.version) for m in models} == {("a", "1.0.0"), ("a", "2.0.0"), ("b", "1.0.0")}
    a1 = next(m for m in models if (m.name, m.version) == ("a", "1.0.0"))
    assert a1.spec == {"name": "a", "n": [1, 2]} and a1.registered_at == 2.0


def test_put_model_replaces_the_same_version(store: Store) -> None:
    store.put_model(ModelRecord("a", "1.0.0", {"v": 1}, 1.0))
    store.put_model(ModelRecord("a", "1.0.0", {"v": 2}, 2.0))
    [only] = store.models()
    assert only.spec == {"v": 2} and only.registered_at == 2.0


def test_contracts(store: Store) -> None:
    assert store.contracts() == {}
    store.put_contract("text.intent", {"input": {"text": "string"}, "model": "a@1"})
    store.put_contract("text.tone", {"input": {}, "model": "b@1"})
    store.put_contract("text.intent", {"input": {"text": "string"}, "model": "c@1"})
    assert store.contracts() == {
        "text.intent": {"input": {"text": "string"}, "model": "c@1"},
        "text.tone": {"input": {}, "model": "b@1"},
    }
    store.contracts()["text.tone"]["model"] = "changed"  # a copy, not the stored value
    assert store.contracts()["text.tone"]["model"] == "b@1"


# --------------------------------------------------------------------------- runs and events


def test_create_run_and_read_it_back(store: Store) -> None:
    record = run(
        "r1",
        100.0,
        inputs={"msg": "hi", "n": [1, 2]},
        definition={"source": "f.yaml", "document": {"steps": {"a": {"uses": "model/m"}}}},
    )
    store.create_run(record, [event("run_started", inputs={"msg": "hi"})])
    got = store.run("r1")
    assert got == record
    assert store.run("nope") is None
    assert shape(store.events("r1")) == [("run_started", None, {"inputs": {"msg": "hi"}}, 1.0)]
    assert store.events("nope") == []


def test_a_run_id_is_created_once(store: Store) -> None:
    store.create_run(run("r1", 1.0), [event("run_started"), event("step_started", "a")])
    with pytest.raises(StoreError):
        store.create_run(RunRecord("r1", "other", "running", 2.0), [event("run_started")])
    got = store.run("r1")
    assert got is not None and got.workflow == "flow"
    assert [e.type for e in store.events("r1")] == ["run_started", "step_started"]


def test_append_keeps_order_across_batches(store: Store) -> None:
    store.create_run(run("r1", 1.0), [event("run_started")])
    store.create_run(run("r2", 2.0), [event("run_started")])
    first = [event("step_started", "a", 2.0, attempt=1), event("step_started", "b", 2.0)]
    returned = store.append("r1", first)
    assert shape(returned) == shape(first)
    store.append("r2", [event("step_started", "x", 3.0)])
    store.append("r1", [event("step_succeeded", "b", 4.0, output={"y": [1, {"z": None}]})])
    store.append("r1", [])
    events = store.events("r1")
    assert [(e.type, e.step) for e in events] == [
        ("run_started", None),
        ("step_started", "a"),
        ("step_started", "b"),
        ("step_succeeded", "b"),
    ]
    assert events[-1].data == {"output": {"y": [1, {"z": None}]}}
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > 0
    assert [(e.type, e.step) for e in store.events("r2")] == [
        ("run_started", None),
        ("step_started", "x"),
    ]


def test_append_with_an_update_changes_the_run_too(store: Store) -> None:
    store.create_run(run("r1", 1.0), [])
    assert store.events("r1") == []
    store.append(
        "r1",
        [event("run_succeeded", outputs={"o": 1})],
        {"status": "succeeded", "outputs": {"o": 1}, "finished_at": 9.0, "cost": 0.5},
    )
    got = store.run("r1")
    assert got is not None
    assert (got.status, got.outputs, got.finished_at, got.cost) == ("succeeded", {"o": 1}, 9.0, 0.5)
    store.append("r1", [], {"status": "failed", "error": "boom"})
    got = store.run("r1")
    assert got is not None and (got.status, got.error) == ("failed", "boom")
    assert len(store.events("r1")) == 1


def test_update_run(store: Store) -> None:
    store.create_run(run("r1", 1.0, inputs={"x": 1}), [])
    store.update_run("r1", {"status": "waiting", "cost": 0.25})
    store.update_run("r1", {"outputs": {"a": [1, 2]}, "error": None, "finished_at": None})
    got = store.run("r1")
    assert got is not None
    assert got.status == "waiting" and got.cost == 0.25 and got.outputs == {"a": [1, 2]}
    assert got.inputs == {"x": 1} and got.error is None and got.finished_at is None
    store.update_run("r1", {"outputs": None})
    assert store.run("r1").outputs is None  # type: ignore[union-attr]


def test_runs_are_newest_first_with_a_limit(store: Store) -> None:
    assert store.runs() == []
    for i, started in enumerate([5.0, 1.0, 9.0, 3.0, 7.0]):
        store.create_run(run(f"r{i}", started), [])
    assert [r.run_id for r in store.runs()] == ["r2", "r4", "r0", "r3", "r1"]
    assert [r.run_id for r in store.runs(limit=2)] == ["r2", "r4"]
    assert [r.run_id for r in store.runs(1)] == ["r2"]


def test_run_to_json(store: Store) -> None:
    store.create_run(run("r1", 1.0), [])
    assert store.run("r1").to_json() == {  # type: ignore[union-attr]
        "run_id": "r1",
        "workflow": "flow",
        "status": "running",
        "started_at": 1.0,
        "finished_at": None,
        "cost": 0.0,
        "error": None,
    }


def test_values_read_back_are_copies(store: Store) -> None:
    store.create_run(
        run("r1", 1.0, inputs={"x": 1}), [Event("step_succeeded", "a", {"output": {"y": 1}}, 1.0)]
    )
    store.run("r1").inputs["x"] = 99  # type: ignore[union-attr]
    store.events("r1")[0].data["output"]["y"] = 99
    store.runs()[0].inputs["x"] = 98
    assert store.run("r1").inputs == {"x": 1}  # type: ignore[union-attr]
    assert store.events("r1")[0].data == {"output": {"y": 1}}


def test_values_written_are_copied(store: Store) -> None:
    inputs = {"x": 1}
    data = {"output": {"y": 1}}
    store.create_run(run("r1", 1.0, inputs=inputs), [Event("step_started", "a", data, 1.0)])
    later = {"output": {"z": 1}}
    store.append("r1", [Event("step_succeeded", "a", later, 2.0)])
    inputs["x"] = 2
    data["output"]["y"] = 2
    later["output"]["z"] = 2
    assert store.run("r1").inputs == {"x": 1}  # type: ignore[union-attr]
    assert [e.data for e in store.events("r1")] == [{"output": {"y": 1}}, {"output": {"z": 1}}]


# --------------------------------------------------------------------------- cache


def test_cache_get_and_put(store: Store) -> None:
    assert store.cache_get("k") is None
    store.cache_put("k", {"label": "x", "p": [0.1, 0.9]})
    assert store.cache_get("k") == {"label": "x", "p": [0.1, 0.9]}
    store.cache_put("k", {"label": "y"})
    assert store.cache_get("k") == {"label": "y"}
    hit = store.cache_get("k")
    assert hit is not None
    hit["label"] = "mutated"
    assert store.cache_get("k") == {"label": "y"}
    assert store.cache_get("other") is None


def test_durable_flag(store: Store) -> None:
    assert store.durable is isinstance(store, SqlStore)


# --------------------------------------------------------------------------- persistence


def test_sql_store_persists_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    first = SqlStore(url)
    first.put_model(ModelRecord("a", "1.0.0", {"name": "a"}, 1.0))
    first.put_contract("x.y", {"model": "a@1.0.0"})
    first.create_run(run("r1", 1.0, inputs={"q": "?"}), [event("run_started")])
    first.append("r1", [event("step_started", "s", 2.0, attempt=1)], {"status": "succeeded"})
    first.cache_put("key", {"v": 1})
    first.close()

    second = SqlStore(url)
    try:
        assert [(m.name, m.version, m.spec) for m in second.models()] == [
            ("a", "1.0.0", {"name": "a"})
        ]
        assert second.contracts() == {"x.y": {"model": "a@1.0.0"}}
        got = second.run("r1")
        assert got is not None and got.status == "succeeded" and got.inputs == {"q": "?"}
        assert [(e.type, e.step, e.data) for e in second.events("r1")] == [
            ("run_started", None, {}),
            ("step_started", "s", {"attempt": 1}),
        ]
        assert second.cache_get("key") == {"v": 1}
    finally:
        second.close()
    # it is a real SQLite file that other tools can read
    with sqlite3.connect(tmp_path / "p.db") as db:
        assert db.execute("select count(*) from podium_events").fetchone() == (2,)
    db.close()


def test_sql_store_creates_missing_folders(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/deep/er/p.db")
    try:
        store.cache_put("k", {"v": 1})
    finally:
        store.close()
    assert (tmp_path / "deep" / "er" / "p.db").is_file()


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory"), MemoryStore)
    sql = open_store(f"sqlite:///{tmp_path}/o.db")
    try:
        assert isinstance(sql, SqlStore)
    finally:
        sql.close()


def test_documents_roundtrip(store) -> None:
    store.put_document("stats", "a@1.0.0", {"calls": 3, "p95": [1.5, 2.0]})
    store.put_document("stats", "b@1.0.0", {"calls": 1})
    store.put_document("templates", "x", {"goal": "g"})
    assert store.get_document("stats", "a@1.0.0") == {"calls": 3, "p95": [1.5, 2.0]}
    assert store.get_document("stats", "missing") is None
    assert set(store.documents("stats")) == {"a@1.0.0", "b@1.0.0"}
    store.put_document("stats", "a@1.0.0", {"calls": 4})
    assert store.get_document("stats", "a@1.0.0") == {"calls": 4}
    store.delete_document("stats", "a@1.0.0")
    assert set(store.documents("stats")) == {"b@1.0.0"}


# --------------------------------------------------------------------------- claims and fences


def test_claim_is_a_compare_and_set(store: Store) -> None:
    store.create_run(run("r1", 1.0, owner="a:1", heartbeat=1.0, claim=1), [])
    assert store.claim_run("r1", "b:2", expected=0, now=5.0) is None  # stale expectation
    assert store.claim_run("r1", "b:2", expected=1, now=5.0) == 2
    assert store.claim_run("r1", "c:3", expected=1, now=6.0) is None  # lost the race
    brief = store.run_brief("r1")
    assert brief is not None
    assert (brief.status, brief.owner, brief.heartbeat, brief.claim) == ("running", "b:2", 5.0, 2)
    assert store.claim_run("nope", "b:2", expected=0, now=1.0) is None
    assert store.run_brief("nope") is None


def test_a_settled_run_cannot_be_claimed(store: Store) -> None:
    """A resume that read the run before another process finished it must not take it."""
    for status in ("succeeded", "cancelled"):
        store.create_run(run(status, 1.0, owner="a:1", claim=1), [])
        store.update_run(status, {"status": status, "heartbeat": None})
        assert store.claim_run(status, "b:2", expected=1, now=5.0) is None
        brief = store.run_brief(status)
        assert brief is not None and (brief.owner, brief.claim) == ("a:1", 1)
    store.create_run(run("failed", 1.0, claim=1), [])
    store.update_run("failed", {"status": "failed"})
    assert store.claim_run("failed", "b:2", expected=1, now=5.0) == 2  # a failed run resumes


def test_a_fenced_append_is_refused_once_another_claims_the_run(store: Store) -> None:
    from podium.errors import LeaseLostError

    store.create_run(run("r1", 1.0, claim=1), [event("run_started")])
    store.append("r1", [event("step_started", "a")], {"cost": 0.5}, fence=1)
    assert store.claim_run("r1", "other:9", expected=1, now=2.0) == 2
    with pytest.raises(LeaseLostError):
        store.append("r1", [event("step_succeeded", "a")], {"status": "succeeded"}, fence=1)
    got = store.run("r1")
    assert got is not None and got.status == "running" and got.cost == 0.5
    assert [e.type for e in store.events("r1")] == ["run_started", "step_started"]  # nothing
    store.append("r1", [event("step_succeeded", "a")], fence=2)
    assert len(store.events("r1")) == 3


def test_a_fenced_append_can_release_the_run(store: Store) -> None:
    store.create_run(run("r1", 1.0, heartbeat=1.0, claim=1), [])
    store.append("r1", [], fence=1)  # only checks the claim
    store.append("r1", [], {"heartbeat": None, "status": "waiting"}, fence=1)
    brief = store.run_brief("r1")
    assert brief is not None and brief.heartbeat is None and brief.status == "waiting"
    from podium.errors import LeaseLostError

    with pytest.raises(LeaseLostError):
        store.append("r1", [], fence=2)
    with pytest.raises(LeaseLostError):
        store.append("r1", [], {"cost": 1.0}, fence=2)
    assert store.run("r1").cost == 0.0  # type: ignore[union-attr]


def test_heartbeat_is_fenced(store: Store) -> None:
    store.create_run(run("r1", 1.0, heartbeat=1.0, claim=3), [])
    assert store.heartbeat("r1", fence=3, now=7.0)
    assert not store.heartbeat("r1", fence=2, now=8.0)
    assert store.run_brief("r1").heartbeat == 7.0  # type: ignore[union-attr]


# --------------------------------------------------------------------------- decisions


def test_a_step_is_decided_once(store: Store) -> None:
    store.create_run(run("r1", 1.0, status="waiting"), [event("run_started")])
    first = store.decide("r1", "gate", {"approved": True, "by": "ann"}, 2.0)
    second = store.decide("r1", "gate", {"approved": False, "by": "bob"}, 3.0)
    assert first.recorded and not second.recorded
    assert second.existing == {"approved": True, "by": "ann"}
    assert store.decisions("r1") == {"gate": {"approved": True, "by": "ann"}}
    decided = [e for e in store.events("r1") if e.type == "approval_decided"]
    assert [(e.step, e.data) for e in decided] == [("gate", {"approved": True, "by": "ann"})]
    assert store.decide("r1", "other", {"approved": True}, 4.0).recorded


def test_no_decision_for_a_closed_run(store: Store) -> None:
    store.create_run(run("r1", 1.0, status="cancelled"), [])
    outcome = store.decide("r1", "gate", {"approved": True}, 2.0)
    assert not outcome.recorded and outcome.existing is None
    assert outcome.run_status == "cancelled"
    assert store.decisions("r1") == {} and store.events("r1") == []
    assert store.decide("missing", "gate", {"approved": True}, 2.0).run_status is None


# --------------------------------------------------------------------------- quarantine


def test_quarantine_moves_events_out_of_the_log(store: Store) -> None:
    store.create_run(run("r1", 1.0), [event("run_started"), event("step_succeeded", "x", 2.0)])
    store.append("r1", [event("step_started", "y", 3.0)])
    bad = store.events("r1")[1]
    assert store.quarantine("r1", [bad.seq], "step 'x' cannot go from new") == 1
    assert [e.type for e in store.events("r1")] == ["run_started", "step_started"]
    [moved] = store.quarantined("r1")
    assert moved.event.seq == bad.seq and moved.event.type == "step_succeeded"
    assert moved.event.step == "x" and moved.reason == "step 'x' cannot go from new"
    assert store.quarantine("r1", [bad.seq], "again") == 0  # already gone
    assert store.quarantine("r1", [], "nothing") == 0
    seqs = [e.seq for e in store.events("r1")]
    store.append("r1", [event("step_succeeded", "y", 4.0)])
    assert [e.seq for e in store.events("r1")][:2] == seqs  # sequence numbers are stable


def test_pre_encoded_event_data_is_stored_as_given(store: Store) -> None:
    store.create_run(run("r1", 1.0), [])
    store.append("r1", [Event("step_succeeded", "a", {"output": 1}, 1.0, raw='{"output":1}')])
    assert store.events("r1")[0].data == {"output": 1}


# --------------------------------------------------------------------------- shared live state


def test_counters_add_blend_and_set(store: Store) -> None:
    assert store.counters("stats")[0] == {}
    store.add_counters({"stats": [Delta("a|x", "calls", 2.0), Delta("a|x", "ewma", 10.0, 0.5)]})
    store.add_counters(
        {
            "stats": [
                Delta("a|x", "calls", 3.0),
                Delta("a|x", "ewma", 20.0, 0.5),  # halfway from 10 to 20
                Delta("a|x", "state", 7.0, 1.0),  # blend 1: set
                Delta("b|x", "calls", 1.0),
            ],
            "other": [Delta("a|x", "calls", 100.0)],
        }
    )
    store.add_counters({"stats": []})
    found, _ = store.counters("stats")
    assert found == {"a|x": {"calls": 5.0, "ewma": 15.0, "state": 7.0}, "b|x": {"calls": 1.0}}
    assert store.counters("other")[0] == {"a|x": {"calls": 100.0}}


def test_counters_read_since_a_time(store: Store) -> None:
    store.add_counters({"stats": [Delta("a", "calls", 1.0), Delta("b", "calls", 1.0)]})
    _, clock = store.counters("stats")
    assert store.counters("stats", since=clock)[0] == {}
    time.sleep(0.01)  # SQLite's clock counts milliseconds
    store.add_counters({"stats": [Delta("b", "calls", 1.0)]})
    changed, later = store.counters("stats", since=clock)
    assert changed == {"b": {"calls": 2.0}} and later >= clock
    assert set(store.counters("stats", since=0.0)[0]) == {"a", "b"}


def test_take_tokens_from_a_bucket(store: Store) -> None:
    first = store.take_tokens("model:a", 3, per_s=20.0, burst=5.0)
    assert first.granted == 3 and first.wait_s == 0.0
    second = store.take_tokens("model:a", 10, per_s=20.0, burst=5.0)
    assert 2 <= second.granted <= 3  # what was left (and a little refill)
    empty = store.take_tokens("model:a", 1, per_s=20.0, burst=5.0)
    if empty.granted == 0:
        assert 0.0 < empty.wait_s <= 0.05  # one token takes 1/20 s
    assert store.take_tokens("model:b", 1, per_s=20.0, burst=5.0).granted == 1  # its own
    time.sleep(0.3)  # refills 6 tokens, but the bucket holds 5
    assert store.take_tokens("model:a", 10, per_s=20.0, burst=5.0).granted == 5


@pytest.mark.parametrize(
    "pair",
    [(None, None), (0.5, None), (None, 0.25), (0.5, 0.25), (1.0, 0.3)],
    ids=["add-add", "blend-add", "add-blend", "blend-blend", "set-blend"],
)
def test_two_changes_of_one_counter_in_one_call(
    store: Store, pair: tuple[float | None, float | None]
) -> None:
    first, then = Delta("k", "n", 8.0, pair[0]), Delta("k", "n", 2.0, pair[1])
    store.add_counters({"a": [Delta("k", "n", 4)], "b": [Delta("k", "n", 4.0)]})  # an int too
    store.add_counters({"a": [first, then]})  # together...
    store.add_counters({"b": [first]})  # ...as one after the other
    store.add_counters({"b": [then]})
    together = store.counters("a")[0]["k"]["n"]
    assert together == pytest.approx(store.counters("b")[0]["k"]["n"])


def test_delete_counters(store: Store) -> None:
    store.add_counters({"s": [Delta("a", "x", 1.0), Delta("a", "y", 2.0), Delta("b", "x", 3.0)]})
    store.add_counters({"t": [Delta("a", "x", 4.0)]})
    store.delete_counters("s", ["a", "missing"])
    store.delete_counters("s", [])
    assert store.counters("s")[0] == {"b": {"x": 3.0}}
    assert store.counters("t")[0] == {"a": {"x": 4.0}}
