"""SQL for live state shared between processes: counters changed by deltas, token buckets.

Each statement is atomic on its own, so concurrent writers never lose each other's
updates: a counter is upserted as ``value + delta`` (or, with a ``blend`` share ``b``,
``value + b * (delta - value)``), and a bucket is refilled and drawn in one ``INSERT ...
ON CONFLICT DO UPDATE ... RETURNING``. Times are the database's clock, so processes on hosts
whose clocks disagree still share one bucket fairly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.exc import SQLAlchemyError

from podium.errors import StoreError
from podium.store._protocol import Delta, Tokens
from podium.store._tables import counters_table

if TYPE_CHECKING:
    from podium.store._pg import PgWriter
    from podium.store._sqlite import SqliteWriter

_CLOCK = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS DOUBLE PRECISION)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_LEAST = {"postgresql": "LEAST", "sqlite": "min"}
_GREATEST = {"postgresql": "GREATEST", "sqlite": "max"}


class LiveSql:
    """The statements for one dialect (``postgresql`` or ``sqlite``)."""

    def __init__(self, dialect: str) -> None:
        if dialect not in _CLOCK:
            raise ValueError(f"no shared live state on {dialect}")
        clock = _CLOCK[dialect]
        least, greatest = _LEAST[dialect], _GREATEST[dialect]
        self.clock: TextClause = text(f"SELECT {clock}")
        merge = (
            "ON CONFLICT (kind, key, name) DO UPDATE SET value = CASE "
            "WHEN excluded.blend IS NULL THEN podium_counters.value + excluded.value "
            "ELSE podium_counters.value "
            "+ excluded.blend * (excluded.value - podium_counters.value) "
            "END, blend = excluded.blend, updated_at = excluded.updated_at"
        )
        columns = "INSERT INTO podium_counters (kind, key, name, value, blend, updated_at) "
        #: One row per execution (``executemany``), named parameters.
        self.upsert: TextClause = text(
            f"{columns}VALUES (:kind, :key, :name, :value, :blend, {clock}) {merge}"
        )
        #: The same for the raw ``sqlite3`` driver.
        self.upsert_qmark = f"{columns}VALUES (?, ?, ?, ?, ?, {clock}) {merge}"
        #: Every row in one statement, as arrays (psycopg).
        self.upsert_arrays = (
            f"{columns}SELECT d.kind, d.key, d.name, d.value, d.blend, {clock} "  # noqa: S608
            "FROM unnest(%(kind)s::text[], %(key)s::text[], %(name)s::text[], "
            "%(value)s::float8[], %(blend)s::float8[]) AS d(kind, key, name, value, blend) "
            f"ORDER BY d.kind, d.key, d.name {merge}"
        )
        self.select: TextClause = text(
            "SELECT key, name, value FROM podium_counters "
            "WHERE kind = :kind AND updated_at > :since"
        )
        floor = "FLOOR({})" if dialect == "postgresql" else "CAST({} AS INTEGER)"
        b = "podium_buckets"
        available = (
            f"{least}(:burst, {b}.tokens + {greatest}({clock} - {b}.updated_at, 0) * :per_s)"
        )
        grant = f"{least}(:want, {floor.format(available)})"
        first = f"{least}(:want, {floor.format(':burst')})"
        self.take: TextClause = text(
            f"INSERT INTO {b} (key, tokens, granted, updated_at) "  # noqa: S608 - constants
            f"VALUES (:key, :burst - {first}, {first}, {clock}) "
            f"ON CONFLICT (key) DO UPDATE SET tokens = {available} - {grant}, "
            f"granted = {grant}, updated_at = {clock} "
            "RETURNING granted, tokens"
        )

    @staticmethod
    def rows(
        changes: Mapping[str, Sequence[Delta]],
    ) -> list[tuple[str, str, str, float, float | None]]:
        """``(kind, key, name, value, blend)`` per counter, in key order (concurrent
        transactions take their row locks in one order, so they never deadlock), one row
        per counter (two deltas of one counter are combined into one)."""
        merged: dict[tuple[str, str, str], tuple[float, float | None]] = {}
        for kind, deltas in changes.items():
            for d in deltas:
                at = (kind, d.key, d.name)
                found = merged.get(at)
                merged[at] = (d.value, d.blend) if found is None else _then(found, d)
        return [(*at, value, blend) for at, (value, blend) in sorted(merged.items())]

    def read(
        self, conn: Connection, kind: str, since: float
    ) -> tuple[dict[str, dict[str, float]], float]:
        now = float(conn.execute(self.clock).scalar_one())
        found: dict[str, dict[str, float]] = {}
        for key, name, value in conn.execute(self.select, {"kind": kind, "since": since}):
            found.setdefault(key, {})[name] = float(value)
        return found, now

    def take_tokens(
        self, conn: Connection, key: str, want: int, per_s: float, burst: float
    ) -> Tokens:
        params = {"key": key, "want": int(want), "per_s": float(per_s), "burst": float(burst)}
        granted, tokens = conn.execute(self.take, params).one()
        granted = int(granted)
        wait = 0.0 if granted >= want or tokens >= 1.0 else (1.0 - float(tokens)) / per_s
        return Tokens(granted, wait)


def _then(first: tuple[float, float | None], then: Delta) -> tuple[float, float | None]:
    """One change that does what ``first`` and then ``then`` do."""
    value, blend = first
    if then.blend is None:
        if blend is None:
            return value + then.value, None
        return value + then.value / blend, blend  # (1-b)x + b(v + d/b) = (1-b)x + bv + d
    if blend is None:
        # x + v, then blended: (1-b2)(x + v) + b2 v2 = (1-b2)x + b2 (v2 + (1-b2) v / b2)
        return then.value + (1.0 - then.blend) * value / then.blend, then.blend
    both = 1.0 - (1.0 - blend) * (1.0 - then.blend)
    return (blend * (1.0 - then.blend) * value + then.blend * then.value) / both, both


class SharedState:
    """The shared counters and token buckets of :class:`SqlStore` (which sets the fields):
    through the raw ``sqlite3`` driver on SQLite, one statement of arrays on PostgreSQL,
    SQLAlchemy otherwise."""

    _lock: threading.Lock
    _conn: Connection
    _live: LiveSql | None
    _fast: SqliteWriter | None
    _pg: PgWriter | None
    _write: Callable[..., list[Any]]

    def _live_sql(self) -> LiveSql:
        if self._live is None:
            raise StoreError("no shared live state on this database")
        return self._live

    def add_counters(self, changes: Mapping[str, Sequence[Delta]]) -> None:
        live = self._live_sql()
        rows = live.rows(changes)
        if not rows:
            return
        if self._fast is not None:
            self._fast.execute_many(live.upsert_qmark, rows)
        elif self._pg is not None:
            self._pg.add_counters(live.upsert_arrays, rows)
        else:
            names = ("kind", "key", "name", "value", "blend")
            self._write((live.upsert, [dict(zip(names, row, strict=True)) for row in rows]))

    def counters(
        self, kind: str, *, since: float = 0.0
    ) -> tuple[dict[str, dict[str, float]], float]:
        live = self._live_sql()
        with self._lock:
            try:
                found = live.read(self._conn, kind, since)
                self._conn.commit()
                return found
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database read failed: {_reason(exc)}") from None

    def delete_counters(self, kind: str, keys: Sequence[str]) -> None:
        if keys:
            t = counters_table
            self._write((t.delete().where(t.c.kind == kind, t.c.key.in_(list(keys))), None))

    def take_tokens(self, key: str, want: int, per_s: float, burst: float) -> Tokens:
        live = self._live_sql()
        with self._lock:
            try:
                tokens = live.take_tokens(self._conn, key, want, per_s, burst)
                self._conn.commit()
                return tokens
            except SQLAlchemyError as exc:
                self._conn.rollback()
                raise StoreError(f"database write failed: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split()) or type(exc).__name__
