"""The SQL store: SQLAlchemy 2 Core over SQLite (default, WAL mode) or PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from podium._types import JSONObject
from podium.errors import StoreError
from podium.store._json import dumps as _dumps
from podium.store._protocol import Event, ModelRecord, RunRecord

metadata = MetaData()

models_table = Table(
    "podium_models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("registered_at", Float, nullable=False),
)
contracts_table = Table(
    "podium_contracts",
    metadata,
    Column("capability", String(200), primary_key=True),
    Column("contract", Text, nullable=False),
)
runs_table = Table(
    "podium_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text),
    Column("cost", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("definition", Text, nullable=False),
    Column("parent_run_id", String(64)),
    Column("owner", String(200)),
    Column("heartbeat", Float),
)
events_table = Table(
    "podium_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("step", String(400)),
    Column("data", Text, nullable=False),
)
cache_table = Table(
    "podium_cache",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

documents_table = Table(
    "podium_documents",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

_JSON_COLUMNS = ("inputs", "outputs", "definition")
_INSERT_EVENT = "INSERT INTO podium_events (run_id, ts, type, step, data) VALUES (?, ?, ?, ?, ?)"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class SqlStore:
    """Durable store. Each :meth:`append` is one transaction (a group commit of its events)."""

    durable = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite = url.startswith("sqlite")
        if self._sqlite and ":memory:" not in url:
            path = url.split("///", 1)[-1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._engine: Engine = create_engine(url, future=True)
            if self._sqlite:
                event.listen(self._engine, "connect", _sqlite_pragmas)
            metadata.create_all(self._engine)
            _add_missing_columns(self._engine)
            self._conn: Connection = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open database {self._safe_url()}: {exc}") from None
        self._lock = threading.Lock()

    def _safe_url(self) -> str:
        return (
            self._engine.url.render_as_string(hide_password=True)
            if hasattr(self, "_engine")
            else self.url.split("@")[-1]
        )

    def _write(self, *statements: Any) -> None:
        with self._lock:
            try:
                for stmt, params in statements:
                    self._conn.execute(stmt, params)
                self._conn.commit()
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def _read(self, stmt: Any) -> list[Any]:
        with self._lock:
            try:
                rows = list(self._conn.execute(stmt))
                self._conn.commit()
                return rows
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database read failed: {exc}") from None

    def _upsert(self, table: Table, values: dict[str, Any], keys: list[str]) -> Any:
        insert = sqlite_insert if self._sqlite else pg_insert
        stmt = insert(table).values(**values)
        changes = {k: v for k, v in values.items() if k not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=changes)

    # registry -------------------------------------------------------------------------------
    def put_model(self, record: ModelRecord) -> None:
        values = {
            "name": record.name,
            "version": record.version,
            "spec": _dumps(record.spec),
            "registered_at": record.registered_at,
        }
        self._write((self._upsert(models_table, values, ["name", "version"]), None))

    def models(self) -> list[ModelRecord]:
        rows = self._read(select(models_table).order_by(models_table.c.registered_at))
        return [ModelRecord(r.name, r.version, json.loads(r.spec), r.registered_at) for r in rows]

    def put_contract(self, capability: str, contract: JSONObject) -> None:
        values = {"capability": capability, "contract": _dumps(contract)}
        self._write((self._upsert(contracts_table, values, ["capability"]), None))

    def contracts(self) -> dict[str, JSONObject]:
        rows = self._read(select(contracts_table))
        return {r.capability: json.loads(r.contract) for r in rows}

    # runs ------------------------------------------------------------------------------------
    def create_run(self, run: RunRecord, events: Sequence[Event]) -> None:
        row = {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "inputs": _dumps(run.inputs),
            "outputs": _dumps(run.outputs) if run.outputs is not None else None,
            "cost": run.cost,
            "error": run.error,
            "definition": _dumps(run.definition),
            "parent_run_id": run.parent_run_id,
            "owner": run.owner,
            "heartbeat": run.heartbeat,
        }
        statements: list[Any] = [(runs_table.insert(), row)]
        if events:
            statements.append(
                (events_table.insert(), [self._event_row(run.run_id, e) for e in events])
            )
        self._write(*statements)

    @staticmethod
    def _event_row(run_id: str, e: Event) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "ts": e.ts,
            "type": e.type,
            "step": e.step,
            "data": _dumps(e.data),
        }

    def append(
        self, run_id: str, events: Sequence[Event], update: dict[str, Any] | None = None
    ) -> list[Event]:
        if self._sqlite:
            self._append_sqlite(run_id, events, update)
            return list(events)
        statements: list[Any] = []
        if events:
            statements.append((events_table.insert(), [self._event_row(run_id, e) for e in events]))
        if update:
            statements.append(self._run_update(run_id, update))
        if statements:
            self._write(*statements)
        return list(events)

    def _append_sqlite(
        self, run_id: str, events: Sequence[Event], update: dict[str, Any] | None
    ) -> None:
        """The hot path of every run: plain DB-API calls, one transaction, no SQL compilation."""
        with self._lock:
            raw = self._conn.connection.driver_connection
            assert raw is not None
            try:
                if events:
                    raw.executemany(
                        _INSERT_EVENT,
                        [(run_id, e.ts, e.type, e.step, _dumps(e.data)) for e in events],
                    )
                if update:
                    for column in update:
                        if column not in runs_table.c:
                            raise StoreError(f"no run column '{column}'")
                    values = [
                        _dumps(v) if k in _JSON_COLUMNS and v is not None else v
                        for k, v in update.items()
                    ]
                    assignments = ", ".join(f"{k} = ?" for k in update)
                    raw.execute(  # column names checked against the table above
                        f"UPDATE podium_runs SET {assignments} WHERE run_id = ?",  # noqa: S608
                        [*values, run_id],
                    )
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def _run_update(self, run_id: str, update: dict[str, Any]) -> Any:
        values = {
            k: (_dumps(v) if k in _JSON_COLUMNS and v is not None else v) for k, v in update.items()
        }
        return (update_stmt_for(run_id).values(**values), None)

    def update_run(self, run_id: str, update: dict[str, Any]) -> None:
        self._write(self._run_update(run_id, update))

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._read(select(runs_table).where(runs_table.c.run_id == run_id))
        return self._run_record(rows[0]) if rows else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        stmt = select(runs_table).order_by(runs_table.c.started_at.desc()).limit(limit)
        return [self._run_record(r) for r in self._read(stmt)]

    @staticmethod
    def _run_record(r: Any) -> RunRecord:
        return RunRecord(
            run_id=r.run_id,
            workflow=r.workflow,
            status=r.status,
            started_at=r.started_at,
            finished_at=r.finished_at,
            inputs=json.loads(r.inputs),
            outputs=json.loads(r.outputs) if r.outputs is not None else None,
            cost=r.cost or 0.0,
            error=r.error,
            definition=json.loads(r.definition),
            parent_run_id=r.parent_run_id,
            owner=r.owner,
            heartbeat=r.heartbeat,
        )

    def events(self, run_id: str) -> list[Event]:
        stmt = (
            select(events_table).where(events_table.c.run_id == run_id).order_by(events_table.c.seq)
        )
        return [Event(r.type, r.step, json.loads(r.data), r.ts, r.seq) for r in self._read(stmt)]

    # documents -------------------------------------------------------------------------------
    def put_document(self, kind: str, key: str, value: JSONObject) -> None:
        values = {"kind": kind, "key": key, "value": _dumps(value), "updated_at": time.time()}
        self._write((self._upsert(documents_table, values, ["kind", "key"]), None))

    def get_document(self, kind: str, key: str) -> JSONObject | None:
        t = documents_table
        rows = self._read(select(t.c.value).where(t.c.kind == kind, t.c.key == key))
        return json.loads(rows[0].value) if rows else None

    def documents(self, kind: str) -> dict[str, JSONObject]:
        t = documents_table
        rows = self._read(select(t.c.key, t.c.value).where(t.c.kind == kind))
        return {r.key: json.loads(r.value) for r in rows}

    def delete_document(self, kind: str, key: str) -> None:
        t = documents_table
        self._write((t.delete().where(t.c.kind == kind, t.c.key == key), None))

    # cache -----------------------------------------------------------------------------------
    def cache_get(self, key: str) -> JSONObject | None:
        rows = self._read(select(cache_table.c.value).where(cache_table.c.key == key))
        return json.loads(rows[0].value) if rows else None

    def cache_put(self, key: str, value: JSONObject) -> None:
        self._write(
            (self._upsert(cache_table, {"key": key, "value": _dumps(value)}, ["key"]), None)
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._engine.dispose()


def update_stmt_for(run_id: str) -> Any:
    """``UPDATE podium_runs ... WHERE run_id = :run_id``."""
    return update(runs_table).where(runs_table.c.run_id == run_id)


def _add_missing_columns(engine: Engine) -> None:
    """Add columns a newer Podium defines to tables an older one created (nullable only)."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
