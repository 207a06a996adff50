"""SQL for live state shared between processes: counters changed by deltas, token buckets.

Each statement is atomic on its own, so concurrent writers never lose each other's
updates: a counter is upserted as ``value * keep + delta * take`` (``keep=take=1`` adds;
``keep=1-b, take=b`` blends), and a bucket is refilled and drawn in one ``INSERT ... ON
CONFLICT DO UPDATE ... RETURNING``. Times are the database's clock, so processes on hosts
whose clocks disagree still share one bucket fairly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, TextClause, text

from podium.store._protocol import Delta, Tokens

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
        self.upsert: TextClause = text(
            "INSERT INTO podium_counters (kind, key, name, value, updated_at) "  # noqa: S608 - constants
            f"VALUES (:kind, :key, :name, :value, {clock}) "
            "ON CONFLICT (kind, key, name) DO UPDATE SET "
            "value = podium_counters.value * :keep + excluded.value * :take, "
            "updated_at = excluded.updated_at"
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
    def delta_rows(kind: str, deltas: Sequence[Delta]) -> list[dict[str, Any]]:
        """Parameters for :attr:`upsert` (to be run in key order, so that concurrent
        transactions take their row locks in one order and never deadlock)."""
        rows = []
        for d in deltas:
            keep, take = (1.0, 1.0) if d.blend is None else (1.0 - d.blend, d.blend)
            rows.append(
                {
                    "kind": kind,
                    "key": d.key,
                    "name": d.name,
                    "value": d.value,
                    "keep": keep,
                    "take": take,
                }
            )
        return rows

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
