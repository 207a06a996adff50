"""The audit log, budgets and usage on the SQL store (mixed into :class:`SqlStore`).

Chaining a record needs the previous record's hash, so writers take turns: on SQLite the
transaction already holds the database's one write lock when the head is read (it is read
after the transaction's first write); on PostgreSQL a transaction-scoped advisory lock is
taken first. Either way the records are written in the transaction of what they describe.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select, text

from podium._context import current_actor
from podium.errors import StoreError
from podium.store._audit import AuditNote, AuditRecord, audit_table, budgets_table, chain
from podium.store._audit_events import RunInfo, describe
from podium.store._budget import NO_CALL_LIMIT, BudgetHold, Reservation, refused_by
from podium.store._protocol import Event, RunRecord
from podium.store._tables import runs_table
from podium.store._usage import USAGE_GROUPS, UsageQuery, UsageRow

#: Arbitrary, fixed: the advisory lock that orders the audit chain's writers on PostgreSQL.
_PG_CHAIN_LOCK = 0x706F6469756D
_HEAD = "SELECT seq, hash FROM podium_audit ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO podium_audit (seq, ts, kind, principal, tenant, workflow, run_id, subject,"
    " cost, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PAGE_SQL = (
    "SELECT seq, ts, kind, principal, tenant, workflow, run_id, subject, cost, data, prev, hash"
    " FROM podium_audit WHERE seq > ? ORDER BY seq LIMIT ?"
)
_PG_INSERT = _INSERT.replace("?", "%s")
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_RUN_INFO_CACHE = 10_000
_PAGE = 5_000


def pg_chain_start(raw: Any) -> Any:
    """In an open transaction on a psycopg connection: take the chain's lock, then read the
    head (its own statement, so it sees every writer that held the lock before); returns
    the head's cursor. In a pipeline, both go with the statements before them."""
    raw.execute(_PG_LOCK, (_PG_CHAIN_LOCK,))
    return raw.execute(_HEAD)


def pg_chain_finish(raw: Any, head: Any, notes: Sequence[AuditNote]) -> None:
    """Append ``notes`` after the head that :func:`pg_chain_start` read."""
    found = head.fetchone()
    records = chain(notes, *(tuple(found) if found else (0, "0" * 64)))
    raw.cursor().executemany(_PG_INSERT, records)


class AuditedSql:
    """Audit, budget and usage operations of :class:`SqlStore` (which sets the fields)."""

    audited: bool
    _lock: threading.Lock
    _conn: Connection
    _sqlite: bool
    _run_info: dict[str, RunInfo]

    # writing --------------------------------------------------------------------------------
    def _remember_run(self, run: RunRecord) -> None:
        if len(self._run_info) >= _RUN_INFO_CACHE:
            self._run_info.clear()
        self._run_info[run.run_id] = RunInfo(run.principal, run.tenant, run.workflow)

    def _run_notes(self, run_id: str, events: Sequence[Event]) -> list[AuditNote]:
        """The records a batch of the run's events needs (none when audit is off)."""
        if not self.audited or not events:
            return []
        info = self._run_info.get(run_id)
        if info is None:
            t = runs_table
            stmt = select(t.c.principal, t.c.tenant, t.c.workflow).where(t.c.run_id == run_id)
            rows = self._audit_read(stmt)
            info = RunInfo(*rows[0]) if rows else RunInfo(None, None, None)
            if len(self._run_info) >= _RUN_INFO_CACHE:
                self._run_info.clear()
            self._run_info[run_id] = info
        return describe(run_id, info, events, info.principal or current_actor().principal)

    def _chain_raw(
        self,
        raw: sqlite3.Connection,
        notes: Sequence[AuditNote],
        head: tuple[int, str] | None = None,
    ) -> None:
        """Append ``notes`` inside the open SQLite transaction (which has written already),
        after ``head`` (the chain's last seq and hash, read in this transaction; ``None``:
        read it here)."""
        if head is None:
            head = raw.execute(_HEAD).fetchone()
        records = chain(notes, *(head or (0, "0" * 64)))
        if len(records) == 1:
            raw.execute(_INSERT, records[0])
        else:
            raw.executemany(_INSERT, records)

    def _chain_sa(self, conn: Connection, notes: Sequence[AuditNote]) -> None:
        """Append ``notes`` inside the open SQLAlchemy transaction."""
        if not self._sqlite:
            conn.execute(select(func.pg_advisory_xact_lock(_PG_CHAIN_LOCK)))
        a = audit_table
        head = conn.execute(select(a.c.seq, a.c.hash).order_by(a.c.seq.desc()).limit(1)).first()
        records = chain(notes, *(tuple(head) if head else (0, "0" * 64)))
        conn.execute(a.insert(), [r._asdict() for r in records])

    def audit(self, notes: Sequence[AuditNote]) -> None:
        """Write records that no other write carries (a dry-run finding, a policy change)."""
        if not notes or not self.audited:
            return
        with self._lock:
            try:
                if self._sqlite:
                    raw = self._raw_sqlite()
                    if not raw.in_transaction:
                        raw.execute("BEGIN IMMEDIATE")  # the head is read before any write
                    try:
                        self._chain_raw(raw, notes)
                        raw.commit()
                    except sqlite3.Error as exc:
                        raw.rollback()
                        raise StoreError(f"database write failed: {exc}") from None
                    return
                self._chain_sa(self._conn, notes)
                self._conn.commit()
            except StoreError:
                raise
            except Exception as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def _raw_sqlite(self) -> sqlite3.Connection:
        raw = self._conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    # reading --------------------------------------------------------------------------------
    def _audit_read(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self._lock:
            try:
                rows = list(self._conn.execute(stmt, params or {}))
                self._conn.commit()
                return rows
            except Exception as exc:
                self._conn.rollback()
                raise StoreError(f"database read failed: {exc}") from None

    def audit_head(self) -> tuple[int, str] | None:
        """The newest record's ``(seq, hash)``, or ``None`` for an empty log."""
        a = audit_table
        rows = self._audit_read(select(a.c.seq, a.c.hash).order_by(a.c.seq.desc()).limit(1))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def audit_records(
        self,
        *,
        after: int = 0,
        since: float | None = None,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditRecord]:
        """Records in ``seq`` order after ``after``, read a page at a time (the whole log
        never sits in memory): those at or after ``since`` and of ``tenant`` when given."""
        if self._sqlite and since is None and tenant is None and limit is None:
            yield from self._all_records_raw(after)
            return
        a = audit_table
        left = limit
        last = after
        while left is None or left > 0:
            page = _PAGE if left is None else min(_PAGE, left)
            stmt = select(a).where(a.c.seq > last)
            if since is not None:
                stmt = stmt.where(a.c.ts >= since)
            if tenant is not None:
                stmt = stmt.where(a.c.tenant == tenant)
            rows = self._audit_read(stmt.order_by(a.c.seq).limit(page))
            for row in rows:
                yield AuditRecord(*row)
            if len(rows) < page:
                return
            last = int(rows[-1][0])
            if left is not None:
                left -= len(rows)

    def _all_records_raw(self, after: int) -> Iterator[AuditRecord]:
        """Every record after ``after`` through the plain ``sqlite3`` cursor, a page at a
        time (what ``verify`` reads: a third of the cost of SQLAlchemy's rows)."""
        last = after
        while True:
            with self._lock:
                try:
                    rows = self._raw_sqlite().execute(_PAGE_SQL, (last, _PAGE)).fetchall()
                except sqlite3.Error as exc:
                    raise StoreError(f"database read failed: {exc}") from None
            for row in rows:
                yield AuditRecord._make(row)
            if len(rows) < _PAGE:
                return
            last = int(rows[-1][0])

    def usage(self, query: UsageQuery) -> list[UsageRow]:
        """Calls, failures and cost of model calls, grouped as ``query`` asks."""
        a = audit_table
        column = getattr(a.c, USAGE_GROUPS[query.by])
        cached = func.sum(case((a.c.data.like('%"cached":true%'), 1), else_=0))
        stmt = (
            select(column, a.c.kind, func.count(), func.coalesce(func.sum(a.c.cost), 0.0), cached)
            .where(a.c.kind.in_(("model.call", "model.failed")))
            .group_by(column, a.c.kind)
        )
        if query.since is not None:
            stmt = stmt.where(a.c.ts >= query.since)
        if query.tenant is not None:
            stmt = stmt.where(a.c.tenant == query.tenant)
        return UsageRow.merge(query.by, [tuple(r) for r in self._audit_read(stmt)])

    # budgets --------------------------------------------------------------------------------
    def reserve(self, holds: Sequence[BudgetHold], now: float | None = None) -> Reservation:
        """Reserve each hold's expected cost, all or none, in one transaction; refused
        (naming the budget) when any would go over its limit counting what is already spent
        and reserved. Concurrent reservations cannot overshoot: each is a conditional update
        of the budget's row, which the database serialises."""
        moment = time.time() if now is None else now
        b = budgets_table
        with self._lock:
            try:
                for hold in holds:
                    self._conn.execute(_insert_missing(), {"k": hold.key, "t": moment})
                    stmt = b.update().where(b.c.key == hold.key)
                    if math.isfinite(hold.max_cost):
                        stmt = stmt.where(
                            b.c.spent + b.c.reserved + hold.amount <= hold.max_cost + 1e-9
                        )
                    if hold.max_calls < NO_CALL_LIMIT:
                        stmt = stmt.where(b.c.calls + b.c.reserved_calls + 1 <= hold.max_calls)
                    stmt = stmt.values(
                        reserved=b.c.reserved + hold.amount,
                        reserved_calls=b.c.reserved_calls + 1,
                        updated_at=moment,
                    )
                    if self._conn.execute(stmt).rowcount != 1:
                        row = self._conn.execute(
                            select(b.c.spent, b.c.reserved, b.c.calls, b.c.reserved_calls).where(
                                b.c.key == hold.key
                            )
                        ).first()
                        self._conn.rollback()
                        return refused_by(hold, tuple(row) if row else (0.0, 0.0, 0, 0))
                self._conn.commit()
                return Reservation(True)
            except Exception as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def settle(
        self, holds: Sequence[BudgetHold], cost: float | None, now: float | None = None
    ) -> None:
        """Turn reservations into spending (``cost``; ``None``: no call was made, release)."""
        moment = time.time() if now is None else now
        b = budgets_table
        made = cost is not None
        with self._lock:
            try:
                for hold in holds:
                    self._conn.execute(
                        b.update()
                        .where(b.c.key == hold.key)
                        .values(
                            reserved=func.max(b.c.reserved - hold.amount, 0.0)
                            if self._sqlite
                            else func.greatest(b.c.reserved - hold.amount, 0.0),
                            reserved_calls=b.c.reserved_calls - 1,
                            spent=b.c.spent + (cost or 0.0),
                            calls=b.c.calls + (1 if made else 0),
                            updated_at=moment,
                        )
                    )
                self._conn.commit()
            except Exception as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def budget_spent(self, key: str) -> tuple[float, int]:
        """What a budget has spent so far: ``(cost, calls)``."""
        b = budgets_table
        rows = self._audit_read(select(b.c.spent, b.c.calls).where(b.c.key == key))
        return (float(rows[0][0]), int(rows[0][1])) if rows else (0.0, 0)


def _insert_missing() -> Any:
    sql = (
        "INSERT INTO podium_budgets (key, spent, reserved, calls, reserved_calls, updated_at) "
        "VALUES (:k, 0, 0, 0, 0, :t) ON CONFLICT (key) DO NOTHING"
    )
    return text(sql)
