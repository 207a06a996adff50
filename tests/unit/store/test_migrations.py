"""Schema migrations: upgrading a 0.1 store with data in it, the revisions against the
tables, a newer database refused, and several processes opening one database at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import legacy_v01 as v01
import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from pgtest import empty_database
from podium.errors import DatabaseFileError, LeaseLostError
from podium.store import Event, RunFilter, RunRecord, SqlStore
from podium.store._migrate import HEAD, SCRIPTS, current_revision
from podium.store._tables import metadata

# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend."""
    with empty_database(request.param, tmp_path, "store") as made:
        yield made


def engine_for(url: str) -> Engine:
    return create_engine(url)


def revision_of(url: str) -> str | None:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


STATS = {
    "calls": 5,
    "ok_calls": 4,
    "errors": 1,
    "ewma_ms": 12.5,
    "hist": {"230": 3, "240": 1},
    "cost": 0.02,
    "availability": 0.9,
    "feedback_n": 1.0,
    "feedback_sum": 0.8,
}
SPEC = {
    "name": "intent",
    "version": "1.0.0",
    "capabilities": ["text.intent"],
    "cost": {"per_call": 0.001},
}


def fill_v01(url: str) -> None:
    """A database exactly as Podium 0.1 made it, with what 0.1 wrote into it."""
    engine = engine_for(url)
    v01.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            v01.models_table.insert(),
            [
                {
                    "name": "intent",
                    "version": "1.0.0",
                    "spec": json.dumps(SPEC),
                    "registered_at": 10.0,
                },
                {
                    "name": "tone",
                    "version": "0.2.0",
                    "spec": '{"name":"tone"}',
                    "registered_at": 11.0,
                },
            ],
        )
        conn.execute(
            v01.contracts_table.insert(),
            {"capability": "text.intent", "contract": '{"model":"intent@1.0.0"}'},
        )
        run = {
            "workflow": "triage",
            "inputs": '{"message":"my bill is wrong"}',
            "definition": json.dumps(
                {"source": "triage.yaml", "document": {"steps": {"a": {"uses": "model/intent"}}}}
            ),
            "cost": 0.0,
        }
        for row in (
            {
                **run,
                "run_id": "done",
                "status": "succeeded",
                "started_at": 100.0,
                "finished_at": 101.5,
                "outputs": '{"label":"billing"}',
                "cost": 0.001,
            },
            {
                **run,
                "run_id": "orphan",
                "status": "running",
                "started_at": 200.0,
                "owner": "host:1",
                "heartbeat": 200.5,
            },
            {
                **run,
                "run_id": "child",
                "status": "waiting",
                "started_at": 300.0,
                "parent_run_id": "done",
            },
        ):
            conn.execute(v01.runs_table.insert(), row)
        events = [
            ("done", 100.0, "run_started", None, '{"inputs":{"message":"my bill is wrong"}}'),
            ("done", 100.1, "step_started", "a", '{"attempt":1}'),
            ("orphan", 200.1, "run_started", None, "{}"),
            (
                "done",
                100.2,
                "step_succeeded",
                "a",
                '{"output":{"label":"billing"},"model":"intent@1.0.0","latency_ms":12.0}',
            ),
            ("done", 101.5, "run_succeeded", None, '{"outputs":{"label":"billing"}}'),
            ("child", 300.1, "run_started", None, "{}"),
            ("child", 300.2, "approval_requested", "gate", '{"prompt":"ok?"}'),
        ]
        conn.execute(
            v01.events_table.insert(),
            [{"run_id": r, "ts": ts, "type": t, "step": s, "data": d} for r, ts, t, s, d in events],
        )
        conn.execute(v01.cache_table.insert(), {"key": "k1", "value": '{"label":"billing"}'})
        conn.execute(
            v01.documents_table.insert(),
            [
                {
                    "kind": "routing.stats",
                    "key": "intent@1.0.0|text.intent",
                    "value": json.dumps(STATS),
                    "updated_at": 1.0,
                },
                {
                    "kind": "routing.stats",
                    "key": "__watermark__",
                    "value": '{"ts":101.0}',
                    "updated_at": 1.0,
                },
                {
                    "kind": "routing.bandit",
                    "key": "text.intent|len:0-15|intent@1.0.0",
                    "value": '{"good":1.5,"bad":0.5}',
                    "updated_at": 1.0,
                },
                {
                    "kind": "planner.templates",
                    "key": "t1",
                    "value": '{"goal":"triage"}',
                    "updated_at": 2.0,
                },
            ],
        )
    engine.dispose()


# ------------------------------------------------------------------------------ upgrades


def test_a_01_store_upgrades_with_its_data_intact(url: str) -> None:
    fill_v01(url)
    assert revision_of(url) is None  # 0.1 knew nothing of migrations
    store = SqlStore(url)
    try:
        assert revision_of(url) == HEAD
        models = {(m.name, m.version): m for m in store.models()}
        assert set(models) == {("intent", "1.0.0"), ("tone", "0.2.0")}
        assert (
            models[("intent", "1.0.0")].spec == SPEC
            and models[("intent", "1.0.0")].registered_at == 10.0
        )
        assert store.contracts() == {"text.intent": {"model": "intent@1.0.0"}}
        done = store.run("done")
        assert done is not None
        assert (done.status, done.outputs, done.cost, done.finished_at) == (
            "succeeded",
            {"label": "billing"},
            0.001,
            101.5,
        )
        assert (
            done.inputs == {"message": "my bill is wrong"}
            and done.claim == 0
            and done.tenant is None
        )
        assert done.definition["source"] == "triage.yaml"
        child = store.run("child")
        assert child is not None and child.parent_run_id == "done" and child.status == "waiting"
        events = store.events("done")
        assert [(e.type, e.step, e.ts) for e in events] == [
            ("run_started", None, 100.0),
            ("step_started", "a", 100.1),
            ("step_succeeded", "a", 100.2),
            ("run_succeeded", None, 101.5),
        ]
        assert events[2].data["output"] == {"label": "billing"}
        assert store.cache_get("k1") == {"label": "billing"}
        assert store.documents("planner.templates") == {"t1": {"goal": "triage"}}
        # the routing documents became shared counters; the watermark stays a document
        assert store.documents("routing.stats") == {"__watermark__": {"ts": 101.0}}
        assert store.documents("routing.bandit") == {}
        stats = store.counters("routing.stats")[0]["intent@1.0.0|text.intent"]
        assert stats["calls"] == 5 and stats["errors"] == 1 and stats["ewma_ms"] == 12.5
        assert stats["h:230"] == 3 and stats["h:240"] == 1 and stats["feedback_sum"] == 0.8
        assert store.counters("routing.bandit")[0] == {
            "text.intent|len:0-15|intent@1.0.0": {"good": 1.5, "bad": 0.5}
        }

        # what this round added works on the upgraded data
        assert store.claim_run("orphan", "me:2", expected=0, now=500.0) == 1
        store.append(
            "orphan", [Event("step_started", "a", {"attempt": 1}, 501.0)], {"cost": 0.5}, fence=1
        )
        assert store.claim_run("orphan", "other:3", expected=1, now=502.0) == 2
        with pytest.raises(LeaseLostError):
            store.append("orphan", [Event("step_succeeded", "a", {}, 503.0)], fence=1)
        assert [e.type for e in store.events("orphan")] == ["run_started", "step_started"]
        assert store.decide("child", "gate", {"approved": True, "by": "ann"}, 400.0).recorded
        assert store.decisions("child") == {"gate": {"approved": True, "by": "ann"}}
        bad = store.events("done")[1]
        assert store.quarantine("done", [bad.seq], "repair test") == 1
        assert [q.event.seq for q in store.quarantined("done")] == [bad.seq]
        store.create_run(
            RunRecord("new", "triage", "running", 600.0, tenant="acme", principal="key:1"), []
        )
        assert [r.run_id for r in store.runs(where=RunFilter(tenant="acme"))] == ["new"]
        assert [r.run_id for r in store.runs()] == ["new", "child", "orphan", "done"]
        new_events = store.append("new", [Event("run_started", None, {}, 601.0)])
        assert store.events("new")[0].seq > max(e.seq for e in events)  # the sequence went on
        assert new_events
    finally:
        store.close()
    again = SqlStore(url)  # a second open finds it at head and changes nothing
    try:
        assert revision_of(url) == HEAD and len(again.models()) == 2
    finally:
        again.close()


def test_a_store_made_before_this_release_but_after_01_is_told_apart(url: str) -> None:
    """Development builds of the last round made the claim columns and the decision tables
    on the fly (no version table): that is revision 0002."""
    engine = engine_for(url)
    tables = [
        t
        for name, t in metadata.tables.items()
        if name not in ("podium_counters", "podium_buckets")
    ]
    metadata.create_all(engine, tables=tables)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO podium_runs (run_id, workflow, status, started_at, inputs, "
                "cost, definition, claim, tenant) "
                "VALUES ('r', 'w', 'running', 1.0, '{}', 0, '{}', 4, 't')"
            )
        )
    engine.dispose()
    store = SqlStore(url)
    try:
        run = store.run("r")
        assert run is not None and run.claim == 4 and run.tenant == "t"
        assert store.claim_run("r", "me", expected=4, now=2.0) == 5
        assert revision_of(url) == HEAD
    finally:
        store.close()


def test_the_revisions_build_exactly_the_tables_the_code_declares(url: str) -> None:
    """Fails when _tables.py changes without a revision (or a revision without _tables.py)."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    engine = engine_for(url)
    try:
        with engine.begin() as conn:  # every revision from nothing, not the new-store shortcut
            config = Config()
            config.set_main_option("script_location", str(SCRIPTS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
            assert current_revision(conn) == HEAD
    finally:
        engine.dispose()
    assert differences == [], (
        f"_tables.py and the migrations disagree (add a revision): {differences}"
    )


def test_head_is_the_newest_revision_and_the_only_one() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [HEAD], "name a revision's file vNNNN_slug.py, NNNN its id"
    revisions = [s.revision for s in scripts.walk_revisions()]
    assert revisions[-1] == "0001"
    assert revisions == sorted(revisions, reverse=True)  # one chain, numbered in order
    for script in scripts.walk_revisions():
        assert script.path.endswith(f"v{script.revision}_{Path(script.path).name[6:]}")


def test_a_drafted_revision_holds_what_the_tables_add(tmp_path: Path) -> None:
    """The drafting tool (python -m podium.store._revise) on a table added to the code."""
    import shutil

    from sqlalchemy import Column, Float, String, Table

    from podium.store import _migrate, _revise

    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    extra = Table("podium_drafted", metadata, Column("id", String(64), primary_key=True))
    extra.append_column(Column("at", Float, nullable=False))
    try:
        original = _revise.SCRIPTS
        _revise.SCRIPTS = scripts
        revision = _revise.draft("add drafted")
    finally:
        _revise.SCRIPTS = original
        metadata.remove(extra)
    assert revision == f"{int(HEAD) + 1:04d}"
    [made] = (scripts / "versions").glob(f"v{revision}_add_drafted.py")
    text_of = made.read_text()
    assert "op.create_table('podium_drafted'" in text_of and f"down_revision = '{HEAD}'" in text_of
    assert _migrate.HEAD == HEAD  # the package's own revisions are untouched


def test_a_new_store_is_at_head_without_running_every_revision(url: str) -> None:
    SqlStore(url).close()
    assert revision_of(url) == HEAD
    engine = engine_for(url)
    try:
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ refusals


def test_a_database_from_a_newer_podium_is_refused_in_one_line(url: str) -> None:
    SqlStore(url).close()
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(DatabaseFileError) as caught:
        SqlStore(url)
    message = str(caught.value)
    assert "'9999'" in message and "newer Podium" in message and "\n" not in message
    assert "password" not in message
    assert revision_of(url) == "9999"  # nothing was changed


def test_a_database_with_part_of_the_tables_is_refused(url: str) -> None:
    engine = engine_for(url)
    v01.metadata.create_all(engine, tables=[v01.runs_table, v01.events_table])
    engine.dispose()
    with pytest.raises(DatabaseFileError, match="missing: podium_models, podium_contracts"):
        SqlStore(url)


def test_the_cli_refuses_a_newer_database_with_exit_code_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{home / 'podium.db'}"
    SqlStore(url).close()
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "podium", "runs", "list"],
        env={"PODIUM_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'ffff'" in lines[0] and "podium.db" in lines[0]
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------------ concurrency

OPENER = """
import sys, time
from podium.store import SqlStore
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
store = SqlStore(sys.argv[1])
print(len(store.models()), len(store.events("done")))
store.close()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "legacy"),
    [("sqlite", False), ("postgresql", False), ("postgresql", True)],
    ids=["sqlite-new", "postgresql-new", "postgresql-from-0.1"],
    indirect=["url"],
)
def test_processes_opening_one_database_at_once_all_succeed(url: str, legacy: bool) -> None:
    if legacy:
        fill_v01(url)
    start = time.time() + 1.5  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs: list[tuple[int, str, str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        outputs.append((proc.returncode, out, err))
    assert all(code == 0 for code, _, _ in outputs), outputs
    expected = "2 4" if legacy else "0 0"
    assert {out.strip() for _, out, _ in outputs} == {expected}
    assert revision_of(url) == HEAD
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            rows: Any = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
            assert rows == 1
            stats = conn.execute(text("SELECT count(*) FROM podium_counters")).scalar_one()
            assert stats == (13 if legacy else 0)  # converted once, not once per process
    finally:
        engine.dispose()


def test_connections_opening_a_new_sqlite_store_at_once_never_find_it_locked(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL does not wait on the busy timeout: four openers of one new
    store at the same instant found it "locked" in about one trial in twenty, before the
    switch was retried."""
    for trial in range(60):
        url = f"sqlite:///{tmp_path / f'new-{trial}.db'}"
        barrier = threading.Barrier(4)
        errors: list[Exception] = []

        def open_one(
            url: str = url, barrier: threading.Barrier = barrier, errors: list[Exception] = errors
        ) -> None:
            barrier.wait()
            try:
                SqlStore(url).close()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == [], (trial, errors)
