"""The hot path of every run on SQLite: plain DB-API calls, one transaction, no SQL compiling."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from podium.errors import LeaseLostError, StoreError
from podium.store._audit import AuditNote

#: Appends audit notes inside the open transaction (after its first write), after the
#: chain's head when the caller has read it already (``None``: read it).
Chain = Callable[[sqlite3.Connection, Sequence[AuditNote], "tuple[int, str] | None"], None]

_INSERT_EVENT = "INSERT INTO podium_events (run_id, ts, type, step, data) VALUES (?, ?, ?, ?, ?)"
# Fenced writes: whether the run's claim is still the writer's. The run's own row is not
# rewritten (it holds the definition and inputs, which can be large).
_HOLDS = "SELECT 1 FROM podium_runs WHERE run_id = ? AND COALESCE(claim, 0) = ?"
# The same, and the audit chain's head, in one statement (each subquery one index seek).
_HOLDS_AND_HEAD = (
    "SELECT (SELECT 1 FROM podium_runs WHERE run_id = ? AND COALESCE(claim, 0) = ?),"
    " (SELECT seq || ' ' || hash FROM podium_audit ORDER BY seq DESC LIMIT 1)"
)


class SqliteWriter:
    """Writes a run's rows and events through the raw ``sqlite3`` connection under ``lock``,
    with their audit records (``chain``) in the same transaction."""

    def __init__(self, conn: Connection, lock: threading.Lock, chain: Chain) -> None:
        self._conn = conn
        self._lock = lock
        self._chain = chain

    def _raw(self) -> sqlite3.Connection:
        raw = self._conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    def create_run(
        self,
        row: dict[str, Any],
        events: Sequence[tuple[Any, ...]],
        notes: Sequence[AuditNote] = (),
    ) -> None:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._lock:
            raw = self._raw()
            try:
                raw.execute(
                    f"INSERT INTO podium_runs ({columns}) VALUES ({marks})",  # noqa: S608 - fixed columns
                    list(row.values()),
                )
                if events:
                    raw.executemany(_INSERT_EVENT, events)
                if notes:
                    self._chain(raw, notes, None)
                raw.commit()
            except sqlite3.IntegrityError:
                raw.rollback()
                raise StoreError(f"a run with id '{row['run_id']}' already exists") from None
            except sqlite3.Error as exc:
                raw.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def append(
        self,
        run_id: str,
        events: Sequence[tuple[Any, ...]],
        update: dict[str, Any] | None,
        fence: int | None,
        notes: Sequence[AuditNote] = (),
    ) -> None:
        """Events and run-row changes in one transaction; with ``fence``, only while the run's
        claim is still ``fence`` (else nothing is written and :class:`LeaseLostError` raised)."""
        values = dict(update or {})
        with self._lock:
            raw = self._raw()
            try:
                if values:
                    assignments = ", ".join(f"{k} = ?" for k in values)
                    sql = f"UPDATE podium_runs SET {assignments} WHERE run_id = ?"  # noqa: S608 - column names are checked by the store
                    params = [*values.values(), run_id]
                    if fence is not None:
                        sql += " AND COALESCE(claim, 0) = ?"
                        params.append(fence)
                    if raw.execute(sql, params).rowcount == 0 and fence is not None:
                        self._lost(raw, run_id)
                if events:
                    raw.executemany(_INSERT_EVENT, events)
                # After the first write this transaction holds the database's write lock, so
                # the claim read here cannot change before the commit; a lost claim rolls the
                # rows back (one read, not one per row). The chain's head comes with it.
                head: tuple[int, str] | None = None
                if fence is not None and not values:
                    if notes:
                        holds, top = raw.execute(_HOLDS_AND_HEAD, (run_id, fence)).fetchone()
                        seq, _, digest = (top or "0 " + "0" * 64).partition(" ")
                        head = (int(seq), digest)
                    else:
                        holds = raw.execute(_HOLDS, (run_id, fence)).fetchone()
                    if holds is None:
                        self._lost(raw, run_id)
                if notes:
                    self._chain(raw, notes, head)
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    def execute_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``sql`` once per row, all in one transaction."""
        with self._lock:
            raw = self._raw()
            try:
                raw.executemany(sql, rows)
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise StoreError(f"database write failed: {exc}") from None

    @staticmethod
    def _lost(raw: sqlite3.Connection, run_id: str) -> None:
        raw.rollback()
        raise LeaseLostError(f"run {run_id} was claimed by another process")
