"""The hot path of every run on PostgreSQL: one statement, one round trip per write.

A run's writes go through a connection of their own in autocommit mode, each as a single
statement, which PostgreSQL runs as one transaction: a fenced append is a data-modifying
``WITH`` that checks the claim (holding the run's row), updates the run and inserts the
batch of events, or does nothing. The events travel as five arrays (``unnest``), so the
statement's text does not depend on the batch's size and psycopg prepares it once.
Through a regular transaction the same append costs four round trips (``BEGIN``, check,
insert, ``COMMIT``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from podium.errors import LeaseLostError, StoreError
from podium.store._audit import AuditNote
from podium.store._audit_sql import pg_chain_finish, pg_chain_start
from podium.store._tables import SETTLED_STATUSES

_EVENTS = (
    "INSERT INTO podium_events (run_id, ts, type, step, data) "
    "SELECT %(run_id)s, e.ts, e.type, e.step, e.data "
    "FROM unnest(%(ts)s::float8[], %(type)s::text[], %(step)s::text[], %(data)s::text[]) "
    "WITH ORDINALITY AS e(ts, type, step, data, n) {where}ORDER BY e.n"
)
_HOLD = (
    "SELECT 1 FROM podium_runs WHERE run_id = %(run_id)s AND COALESCE(claim, 0) = %(fence)s "
    "FOR SHARE"
)
_CLAIM = (
    "UPDATE podium_runs SET owner = %(owner)s, heartbeat = %(now)s, claim = %(claimed)s "
    "WHERE run_id = %(run_id)s AND COALESCE(claim, 0) = %(expected)s "
    "AND NOT (status = ANY(%(settled)s))"
)
_HEARTBEAT = (
    "UPDATE podium_runs SET heartbeat = %(now)s "
    "WHERE run_id = %(run_id)s AND COALESCE(claim, 0) = %(fence)s"
)
_BRIEF = "SELECT status, owner, heartbeat, claim FROM podium_runs WHERE run_id = %(run_id)s"


class PgWriter:
    """A run's writes on their own autocommit psycopg connection, under ``lock``."""

    def __init__(self, engine: Engine, lock: threading.Lock) -> None:
        self._engine = engine
        self._lock = lock
        self._pooled: Any = None
        self._raw: Any = None
        self._connect()

    def _connect(self) -> None:
        if self._pooled is not None:
            self._pooled.invalidate()  # broken (the server restarted): never back to the pool
        self._pooled = self._engine.raw_connection()
        self._raw = self._pooled.driver_connection
        self._raw.autocommit = True

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        import psycopg

        with self._lock:
            try:
                if self._raw.closed or self._raw.broken:
                    self._connect()
                return self._raw.execute(sql, params)
            except psycopg.errors.UniqueViolation:
                raise
            except (psycopg.Error, SQLAlchemyError) as exc:
                raise StoreError(f"database write failed: {_reason(exc)}") from None

    def _audited(
        self, sql: str, params: dict[str, Any], notes: Sequence[AuditNote], counted: bool
    ) -> int | None:
        """``sql`` and the audit records of what it writes in one transaction, pipelined:
        the statement, the chain's lock and its head go in one round trip, the records and
        the commit in a second. Returns the statement's count when ``counted``."""
        import psycopg

        with self._lock:
            try:
                if self._raw.closed or self._raw.broken:
                    self._connect()
                raw = self._raw
                with raw.pipeline(), raw.transaction():
                    done = raw.execute(sql, params)
                    head = pg_chain_start(raw)
                    count = int(done.fetchone()[0]) if counted else None
                    if count == 0:
                        raise _Lost
                    pg_chain_finish(raw, head, notes)
                return count
            except _Lost:
                return 0
            except psycopg.errors.UniqueViolation:
                raise
            except (psycopg.Error, SQLAlchemyError) as exc:
                raise StoreError(f"database write failed: {_reason(exc)}") from None

    def create_run(
        self,
        row: dict[str, Any],
        events: Sequence[tuple[Any, ...]],
        notes: Sequence[AuditNote] = (),
    ) -> None:
        import psycopg

        columns = ", ".join(row)
        marks = ", ".join(f"%(c_{k})s" for k in row)
        params: dict[str, Any] = {f"c_{k}": v for k, v in row.items()}
        sql = f"INSERT INTO podium_runs ({columns}) VALUES ({marks})"  # noqa: S608 - fixed columns
        if events:
            sql = f"WITH made AS ({sql} RETURNING 1) " + _EVENTS.format(where="")
            params.update(_arrays(row["run_id"], events))
        try:
            if notes:
                self._audited(sql, params, notes, counted=False)
            else:
                self._run(sql, params)
        except psycopg.errors.UniqueViolation:
            raise StoreError(f"a run with id '{row['run_id']}' already exists") from None

    def append(
        self,
        run_id: str,
        events: Sequence[tuple[Any, ...]],
        update: dict[str, Any] | None,
        fence: int | None,
        notes: Sequence[AuditNote] = (),
    ) -> None:
        """Events and run-row changes in one statement (with their audit ``notes``, one
        pipelined transaction); with ``fence``, only while the run's claim is still
        ``fence`` (else nothing is written and :class:`LeaseLostError` raised)."""
        params: dict[str, Any] = {"run_id": run_id, "fence": fence}
        if events:
            params.update(_arrays(run_id, events))
        guard = ""
        if update:
            assignments = ", ".join(f"{k} = %(u_{k})s" for k in update)
            params.update({f"u_{k}": v for k, v in update.items()})
            held = f"UPDATE podium_runs SET {assignments} WHERE run_id = %(run_id)s"  # noqa: S608 - columns checked by the store
            if fence is not None:
                held += " AND COALESCE(claim, 0) = %(fence)s"
            held += " RETURNING 1"
        elif fence is not None:
            held = _HOLD
        elif notes:
            self._audited(_EVENTS.format(where=""), params, notes, counted=False)
            return
        else:
            self._run(_EVENTS.format(where=""), params)  # events alone, unfenced
            return
        if fence is not None:
            guard = "WHERE EXISTS (SELECT 1 FROM held) "
        sql = f"WITH held AS ({held})"
        if events:
            sql += f", added AS ({_EVENTS.format(where=guard)})"
        sql += " SELECT count(*) FROM held"
        if notes:
            count = self._audited(sql, params, notes, counted=fence is not None)
        else:
            [count] = self._run(sql, params).fetchone()
        if fence is not None and count == 0:
            raise LeaseLostError(f"run {run_id} was claimed by another process")

    def claim(self, run_id: str, owner: str, expected: int, now: float) -> int | None:
        params = {
            "run_id": run_id,
            "owner": owner,
            "now": now,
            "claimed": expected + 1,
            "expected": expected,
            "settled": list(SETTLED_STATUSES),
        }
        return expected + 1 if self._run(_CLAIM, params).rowcount == 1 else None

    def heartbeat(self, run_id: str, fence: int, now: float) -> bool:
        params = {"run_id": run_id, "fence": fence, "now": now}
        return bool(self._run(_HEARTBEAT, params).rowcount == 1)

    def brief(self, run_id: str) -> tuple[Any, ...] | None:
        row = self._run(_BRIEF, {"run_id": run_id}).fetchone()
        return tuple(row) if row is not None else None

    def add_counters(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Every counter's change in one statement (``sql`` takes them as arrays)."""
        params = {
            "kind": [row[0] for row in rows],
            "key": [row[1] for row in rows],
            "name": [row[2] for row in rows],
            "value": [float(row[3]) for row in rows],
            "blend": [None if row[4] is None else float(row[4]) for row in rows],
        }
        self._run(sql, params)

    def close(self) -> None:
        with self._lock:
            self._pooled.invalidate()  # autocommit on: it must not serve the pool again


class _Lost(Exception):
    """The fence did not hold: roll the transaction back."""


def _arrays(run_id: str, events: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The batch as one array per column (``events`` are ``(run_id, ts, type, step, data)``)."""
    return {
        "run_id": run_id,
        "ts": [e[1] for e in events],
        "type": [e[2] for e in events],
        "step": [e[3] for e in events],
        "data": [e[4] for e in events],
    }


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
