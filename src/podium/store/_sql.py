"""The SQL store: SQLAlchemy 2 Core over SQLite (default, WAL mode) or PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from podium._context import current_actor
from podium._types import JSONObject
from podium.errors import DatabaseFileError, LeaseLostError, StoreError
from podium.store._audit import AuditNote, digest
from podium.store._audit_sql import AuditedSql
from podium.store._json import dumps as _dumps
from podium.store._live import LiveSql, SharedState
from podium.store._migrate import upgrade
from podium.store._pg import PgWriter
from podium.store._protocol import (
    Claim,
    Decision,
    Event,
    ModelRecord,
    Quarantined,
    QueueSpec,
    RunBrief,
    RunFilter,
    RunRecord,
)
from podium.store._sql_queue import claim_statements, counts_of, queue_counts_statement
from podium.store._sqlite import SqliteWriter
from podium.store._sqlite_setup import connection_setup
from podium.store._tables import (
    JSON_COLUMNS,
    OPEN_STATUSES,
    SETTLED_STATUSES,
    cache_table,
    contracts_table,
    decisions_table,
    documents_table,
    events_table,
    models_table,
    quarantine_table,
    runs_table,
)

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def reason(exc: BaseException) -> str:
    """The driver's own message, on one line (no SQL, no links)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return " ".join(text.split()) or type(exc).__name__


class SqlStore(AuditedSql, SharedState):
    """Durable store. Each :meth:`append` is one transaction (a group commit of its events).

    On SQLite, ``synchronous`` is the commit guarantee: ``NORMAL`` (the default, in WAL
    mode) survives a crash of the process but may lose the last commits in a power cut;
    ``FULL`` survives both, at the cost of an fsync per commit. With ``audit`` (the
    default) every write that the audit log covers carries its records in its transaction.
    """

    durable = True

    def __init__(self, url: str, *, synchronous: str = "NORMAL", audit: bool = True) -> None:
        self.url = url
        self.audited = audit
        self._run_info = {}
        self._sqlite = url.startswith("sqlite")
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS:
            raise DatabaseFileError(
                f"must be one of {', '.join(s.lower() for s in SYNCHRONOUS)}, not {synchronous!r}",
                field="PODIUM_SQLITE_SYNCHRONOUS",
            )
        self._path: Path | None = None
        if self._sqlite and ":memory:" not in url:
            self._path = Path(url.split("///", 1)[-1])
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if _empty_and_settled(self._path):
                raise DatabaseFileError(
                    "the database file is empty (0 bytes), so it holds no Podium store; "
                    "remove it to start a new store",
                    file=str(self._path),
                )
        try:
            self._engine: Engine = create_engine(url, future=True)
            if self._sqlite:
                event.listen(self._engine, "connect", connection_setup(mode))
            where = str(self._path) if self._path is not None else self._safe_url()
            upgrade(self._engine, where)
            self._conn: Connection = self._engine.connect()
            dialect = self._engine.dialect
            self._live = LiveSql(dialect.name) if dialect.name in ("sqlite", "postgresql") else None
            self._lock = threading.Lock()
            self._fast = (
                SqliteWriter(self._conn, self._lock, self._chain_raw) if self._sqlite else None
            )
            self._pg = (
                PgWriter(self._engine, self._lock)
                if dialect.name == "postgresql" and dialect.driver == "psycopg"
                else None
            )
        except BaseException as exc:
            if hasattr(self, "_conn"):
                self._conn.close()
            if hasattr(self, "_engine"):
                self._engine.dispose()  # nothing left open by a store that did not open
            if not isinstance(exc, SQLAlchemyError):
                raise
            if self._path is not None and isinstance(getattr(exc, "orig", None), sqlite3.Error):
                raise DatabaseFileError(
                    f"cannot use this file as a Podium database: {reason(exc)}",
                    file=str(self._path),
                ) from None
            raise StoreError(f"cannot open database {self._safe_url()}: {reason(exc)}") from None

    def _safe_url(self) -> str:
        return (
            self._engine.url.render_as_string(hide_password=True)
            if hasattr(self, "_engine")
            else self.url.split("@")[-1]
        )

    def _write(self, *statements: Any, notes: Sequence[AuditNote] = ()) -> list[Any]:
        """Run statements (and append audit ``notes``) in one transaction; returns each
        statement's row count."""
        with self._lock:
            try:
                counts = [self._conn.execute(stmt, params).rowcount for stmt, params in statements]
                if notes and self.audited:
                    self._chain_sa(self._conn, notes)
                self._conn.commit()
                return counts
            except SQLAlchemyError as exc:
                self._conn.rollback()
                if isinstance(exc, IntegrityError):
                    raise
                raise StoreError(f"database write failed: {reason(exc)}") from None

    def _read(self, stmt: Any) -> list[Any]:
        with self._lock:
            try:
                rows = list(self._conn.execute(stmt))
                self._conn.commit()
                return rows
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database read failed: {reason(exc)}") from None

    def _upsert(self, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
        if self._sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt: Any = sqlite_insert(table).values(**values)
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table).values(**values)
        changes = {k: v for k, v in values.items() if k not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=changes)

    # registry -------------------------------------------------------------------------------
    def put_model(self, record: ModelRecord) -> None:
        spec = _dumps(record.spec)
        values = {
            "name": record.name,
            "version": record.version,
            "spec": spec,
            "registered_at": record.registered_at,
        }
        notes = self._model_notes(record, spec) if self.audited else []
        self._write((self._upsert(models_table, values, ["name", "version"]), None), notes=notes)

    def _model_notes(self, record: ModelRecord, spec: str) -> list[AuditNote]:
        """A registry change's record: a new version, or a changed one (none if unchanged)."""
        t = models_table
        rows = self._read(
            select(t.c.spec).where(t.c.name == record.name, t.c.version == record.version)
        )
        if rows and rows[0].spec == spec:
            return []
        return [model_note(record, changed=bool(rows))]

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
            "claim": run.claim,
            "principal": run.principal,
            "tenant": run.tenant,
            "caller": _dumps(run.caller) if run.caller else None,
            "queue": run.queue,
        }
        self._remember_run(run)
        notes = self._run_notes(run.run_id, events)
        if self._fast is not None:
            self._fast.create_run(row, [self._event_tuple(run.run_id, e) for e in events], notes)
            return
        if self._pg is not None:
            self._pg.create_run(row, [self._event_tuple(run.run_id, e) for e in events], notes)
            return
        statements: list[Any] = [(runs_table.insert(), row)]
        if events:
            statements.append(
                (events_table.insert(), [self._event_row(run.run_id, e) for e in events])
            )
        try:
            self._write(*statements, notes=notes)
        except IntegrityError:
            raise StoreError(f"a run with id '{run.run_id}' already exists") from None

    @staticmethod
    def _event_row(run_id: str, e: Event) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "ts": e.ts,
            "type": e.type,
            "step": e.step,
            "data": e.raw if e.raw is not None else _dumps(e.data),
        }

    @staticmethod
    def _event_tuple(run_id: str, e: Event) -> tuple[Any, ...]:
        return (run_id, e.ts, e.type, e.step, e.raw if e.raw is not None else _dumps(e.data))

    def append(
        self,
        run_id: str,
        events: Sequence[Event],
        update: dict[str, Any] | None = None,
        *,
        fence: int | None = None,
    ) -> list[Event]:
        for column in update or ():
            if column not in runs_table.c:
                raise StoreError(f"no run column '{column}'")
        notes = self._run_notes(run_id, events)
        if self._fast is not None:
            tuples = [self._event_tuple(run_id, e) for e in events]
            self._fast.append(run_id, tuples, _encode_update(update), fence, notes)
            return list(events)
        if self._pg is not None:
            if events or update or fence is not None:
                tuples = [self._event_tuple(run_id, e) for e in events]
                self._pg.append(run_id, tuples, _encode_update(update), fence, notes)
            return list(events)
        values = _encode_update(update) or {}
        rows = [self._event_row(run_id, e) for e in events]
        if not rows and not values and fence is None:
            return list(events)
        t = runs_table
        with self._lock:
            try:
                if fence is not None:
                    # hold the run's row (FOR SHARE) so no claim can change until we commit
                    held = self._conn.execute(
                        select(t.c.run_id)
                        .where(t.c.run_id == run_id, func.coalesce(t.c.claim, 0) == fence)
                        .with_for_update(read=True)
                    ).first()
                    if held is None:
                        self._conn.rollback()
                        raise LeaseLostError(f"run {run_id} was claimed by another process")
                if values:
                    self._conn.execute(_run_where(run_id).values(**values))
                if rows:
                    self._conn.execute(events_table.insert(), rows)
                if notes:
                    self._chain_sa(self._conn, notes)
                self._conn.commit()
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {reason(exc)}") from None
        return list(events)

    def claim_run(self, run_id: str, owner: str, *, expected: int, now: float) -> int | None:
        if self._pg is not None:
            return self._pg.claim(run_id, owner, expected, now)
        claimed = expected + 1
        stmt = (
            _run_where(run_id)
            .where(func.coalesce(runs_table.c.claim, 0) == expected)
            .where(runs_table.c.status.not_in(SETTLED_STATUSES))
            .values(owner=owner, heartbeat=now, claim=claimed)
        )
        [count] = self._write((stmt, None))
        return claimed if count == 1 else None

    def heartbeat(self, run_id: str, *, fence: int, now: float) -> bool:
        if self._pg is not None:
            return self._pg.heartbeat(run_id, fence, now)
        stmt = (
            _run_where(run_id)
            .where(func.coalesce(runs_table.c.claim, 0) == fence)
            .values(heartbeat=now)
        )
        [count] = self._write((stmt, None))
        return bool(count == 1)

    def claim_next(self, owner: str, spec: QueueSpec, *, now: float, limit: int = 1) -> list[Claim]:
        probe, stmt = claim_statements(spec, owner, now=now, limit=limit, sqlite=self._sqlite)
        if not self._read(probe):  # an idle worker's poll takes no write lock
            return []
        with self._lock:
            try:
                rows = self._conn.execute(stmt).all()
                self._conn.commit()
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {reason(exc)}") from None
        return [Claim(r.run_id, int(r.claim)) for r in rows]

    def queue_counts(self) -> dict[str, dict[str, int]]:
        return counts_of(self._read(queue_counts_statement()))

    def update_run(self, run_id: str, update: dict[str, Any]) -> None:
        self._write((_run_where(run_id).values(**(_encode_update(update) or {})), None))

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._read(select(runs_table).where(runs_table.c.run_id == run_id))
        return self._run_record(rows[0]) if rows else None

    def run_brief(self, run_id: str) -> RunBrief | None:
        if self._pg is not None:
            found = self._pg.brief(run_id)
        else:
            t = runs_table
            rows = self._read(
                select(t.c.status, t.c.owner, t.c.heartbeat, t.c.claim).where(t.c.run_id == run_id)
            )
            found = tuple(rows[0]) if rows else None
        if found is None:
            return None
        status, owner, heartbeat, claim = found
        return RunBrief(status, owner, heartbeat, claim or 0)

    def runs(self, limit: int = 50, *, where: RunFilter | None = None) -> list[RunRecord]:
        t = runs_table
        stmt = select(t)
        if where is not None:
            if where.status is not None:
                stmt = stmt.where(t.c.status == where.status)
            if where.workflow is not None:
                stmt = stmt.where(t.c.workflow == where.workflow)
            if where.tenant is not None:
                stmt = stmt.where(t.c.tenant == where.tenant)
            if where.before is not None:
                stmt = stmt.where(t.c.started_at < where.before)
        stmt = stmt.order_by(t.c.started_at.desc()).limit(limit)
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
            claim=r.claim or 0,
            principal=r.principal,
            tenant=r.tenant,
            caller=json.loads(r.caller) if r.caller else {},
            queue=r.queue,
        )

    def events(self, run_id: str, *, after: int = 0) -> list[Event]:
        t = events_table
        stmt = select(t).where(t.c.run_id == run_id)
        if after:
            stmt = stmt.where(t.c.seq > after)
        stmt = stmt.order_by(t.c.seq)
        return [Event(r.type, r.step, json.loads(r.data), r.ts, r.seq) for r in self._read(stmt)]

    # approvals -------------------------------------------------------------------------------
    def decide(self, run_id: str, step: str, decision: JSONObject, ts: float) -> Decision:
        open_run = (
            select(runs_table.c.run_id)
            .where(runs_table.c.run_id == run_id, runs_table.c.status.in_(OPEN_STATUSES))
            .exists()
        )
        guarded = decisions_table.insert().from_select(
            ["run_id", "step", "decision", "decided_at"],
            select(literal(run_id), literal(step), literal(_dumps(decision)), literal(ts)).where(
                open_run
            ),
        )
        decided = Event("approval_decided", step, decision, ts)
        event_row = self._event_row(run_id, decided)
        notes = self._run_notes(run_id, [decided])
        with self._lock:
            try:
                inserted = len(self._conn.execute(guarded.returning(decisions_table.c.step)).all())
                if inserted == 1:
                    self._conn.execute(events_table.insert(), event_row)
                    if notes:
                        self._chain_sa(self._conn, notes)
                self._conn.commit()
            except IntegrityError:
                self._conn.rollback()
                inserted = 0
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {reason(exc)}") from None
        if inserted == 1:
            return Decision(True)
        existing = self.decisions(run_id).get(step)
        if existing is not None:
            return Decision(False, existing=existing)
        brief = self.run_brief(run_id)
        return Decision(False, run_status=brief.status if brief else None)

    def decisions(self, run_id: str) -> dict[str, JSONObject]:
        t = decisions_table
        rows = self._read(select(t.c.step, t.c.decision).where(t.c.run_id == run_id))
        return {r.step: json.loads(r.decision) for r in rows}

    # repair ----------------------------------------------------------------------------------
    def quarantine(self, run_id: str, seqs: Sequence[int], reason_text: str) -> int:
        if not seqs:
            return 0
        e, q = events_table, quarantine_table
        chosen = e.c.run_id == run_id, e.c.seq.in_(list(seqs))
        copy = q.insert().from_select(
            ["seq", "run_id", "ts", "type", "step", "data", "reason", "quarantined_at"],
            select(
                e.c.seq,
                e.c.run_id,
                e.c.ts,
                e.c.type,
                e.c.step,
                e.c.data,
                literal(reason_text),
                literal(time.time()),
            ).where(*chosen),
        )
        note = AuditNote(
            "run.repaired",
            time.time(),
            {"events": sorted(seqs), "reason": reason_text},
            subject=run_id,
            principal=current_actor().principal,
            run_id=run_id,
        )
        counts = self._write((copy, None), (e.delete().where(*chosen), None), notes=[note])
        return int(counts[1])

    def quarantined(self, run_id: str) -> list[Quarantined]:
        q = quarantine_table
        rows = self._read(select(q).where(q.c.run_id == run_id).order_by(q.c.seq))
        return [
            Quarantined(
                Event(r.type, r.step, json.loads(r.data), r.ts, r.seq), r.reason, r.quarantined_at
            )
            for r in rows
        ]

    # documents -------------------------------------------------------------------------------
    def put_document(
        self, kind: str, key: str, value: JSONObject, *, audit: AuditNote | None = None
    ) -> None:
        values = {"kind": kind, "key": key, "value": _dumps(value), "updated_at": time.time()}
        notes = [audit] if audit is not None else []
        self._write((self._upsert(documents_table, values, ["kind", "key"]), None), notes=notes)

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
        if self._pg is not None:
            self._pg.close()
        with self._lock:
            self._conn.close()
            self._engine.dispose()


def model_note(record: ModelRecord, *, changed: bool) -> AuditNote:
    """The audit note of a model version registered (or registered again, changed)."""
    actor = current_actor()
    return AuditNote(
        "model.changed" if changed else "model.registered",
        record.registered_at,
        {"spec_sha256": digest(record.spec), "status": record.spec.get("status")},
        subject=f"{record.name}@{record.version}",
        principal=actor.principal,
        tenant=actor.tenant,
    )


def _run_where(run_id: str) -> Any:
    """``UPDATE podium_runs ... WHERE run_id = :run_id``."""
    return update(runs_table).where(runs_table.c.run_id == run_id)


def _encode_update(update: dict[str, Any] | None) -> dict[str, Any] | None:
    if not update:
        return None
    return {k: (_dumps(v) if k in JSON_COLUMNS and v is not None else v) for k, v in update.items()}


def _empty_and_settled(path: Path) -> bool:
    """An existing zero-byte file that nobody is creating right now (SQLite writes its header
    at once, so a fresh store is empty only for an instant)."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_size == 0 and time.time() - info.st_mtime > 2.0
