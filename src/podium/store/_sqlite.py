"""The hot path of every run on SQLite: plain DB-API calls, one transaction, no SQL compiling."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from podium.errors import LeaseLostError, StoreError

_INSERT_EVENT = "INSERT INTO podium_events (run_id, ts, type, step, data) VALUES (?, ?, ?, ?, ?)"


class SqliteWriter:
    """Writes a run's rows and events through the raw ``sqlite3`` connection under ``lock``."""

    def __init__(self, conn: Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def _raw(self) -> sqlite3.Connection:
        raw = self._conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    def create_run(self, row: dict[str, Any], events: Sequence[tuple[Any, ...]]) -> None:
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
    ) -> None:
        """Events and run-row changes in one transaction; with ``fence``, only while the run's
        claim is still ``fence`` (the heartbeat is refreshed on the way)."""
        values = dict(update or {})
        if fence is not None and "heartbeat" not in values:
            values["heartbeat"] = time.time()
        with self._lock:
            raw = self._raw()
            try:
                if values or fence is not None:
                    assignments = ", ".join(f"{k} = ?" for k in values)
                    sql = f"UPDATE podium_runs SET {assignments} WHERE run_id = ?"  # noqa: S608 - column names are checked by the store
                    params = [*values.values(), run_id]
                    if fence is not None:
                        sql += " AND COALESCE(claim, 0) = ?"
                        params.append(fence)
                    changed = raw.execute(sql, params).rowcount
                    if fence is not None and changed == 0:
                        raw.rollback()
                        raise LeaseLostError(f"run {run_id} was claimed by another process")
                if events:
                    raw.executemany(_INSERT_EVENT, events)
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise StoreError(f"database write failed: {exc}") from None
