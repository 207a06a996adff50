"""The audit log, budgets and usage of :class:`MemoryStore` (kept in lists and dicts)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from podium._context import current_actor
from podium.store._audit import GENESIS, AuditNote, AuditRecord, chain
from podium.store._audit_events import RunInfo, describe
from podium.store._budget import BudgetHold, Reservation, refused_by
from podium.store._protocol import Event
from podium.store._usage import USAGE_GROUPS, UsageQuery, UsageRow


class AuditedMemory:
    """Audit, budget and usage operations of :class:`MemoryStore` (which sets the fields)."""

    audited: bool
    _lock: threading.Lock
    _audit: list[AuditRecord]
    _budgets: dict[str, list[Any]]  # key -> [spent, reserved, calls, reserved_calls]

    def _chain_notes(self, notes: Sequence[AuditNote]) -> None:
        """Append ``notes`` (the caller holds the lock, inside the write they describe)."""
        if not notes or not self.audited:
            return
        head = self._audit[-1] if self._audit else None
        self._audit.extend(chain(notes, head.seq if head else 0, head.hash if head else GENESIS))

    def _describe(self, run_id: str, info: RunInfo, events: Sequence[Event]) -> list[AuditNote]:
        if not self.audited or not events:
            return []
        return describe(run_id, info, events, info.principal or current_actor().principal)

    def audit(self, notes: Sequence[AuditNote]) -> None:
        with self._lock:
            self._chain_notes(notes)

    def audit_head(self) -> tuple[int, str] | None:
        return (self._audit[-1].seq, self._audit[-1].hash) if self._audit else None

    def audit_records(
        self,
        *,
        after: int = 0,
        since: float | None = None,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditRecord]:
        given = 0
        for record in list(self._audit):
            if limit is not None and given >= limit:
                return
            if record.seq <= after or (since is not None and record.ts < since):
                continue
            if tenant is not None and record.tenant != tenant:
                continue
            given += 1
            yield record

    def usage(self, query: UsageQuery) -> list[UsageRow]:
        column = USAGE_GROUPS[query.by]
        rows: list[tuple[Any, ...]] = []
        for r in self.audit_records(since=query.since, tenant=query.tenant):
            if r.kind in ("model.call", "model.failed"):
                cached = 1 if '"cached":true' in r.data else 0
                rows.append((getattr(r, column), r.kind, 1, r.cost or 0.0, cached))
        return UsageRow.merge(query.by, rows)

    def reserve(self, holds: Sequence[BudgetHold], now: float | None = None) -> Reservation:
        with self._lock:
            for hold in holds:
                spent, reserved, calls, in_flight = self._budgets.get(hold.key, [0.0, 0.0, 0, 0])
                over_cost = spent + reserved + hold.amount > hold.max_cost + 1e-9
                if over_cost or calls + in_flight + 1 > hold.max_calls:
                    return refused_by(hold, (spent, reserved, calls, in_flight))
            for hold in holds:
                row = self._budgets.setdefault(hold.key, [0.0, 0.0, 0, 0])
                row[1] += hold.amount
                row[3] += 1
            return Reservation(True)

    def settle(
        self, holds: Sequence[BudgetHold], cost: float | None, now: float | None = None
    ) -> None:
        with self._lock:
            for hold in holds:
                row = self._budgets.setdefault(hold.key, [0.0, 0.0, 0, 0])
                row[1] = max(row[1] - hold.amount, 0.0)
                row[3] -= 1
                if cost is not None:
                    row[0] += cost
                    row[2] += 1

    def budget_spent(self, key: str) -> tuple[float, int]:
        row = self._budgets.get(key)
        return (float(row[0]), int(row[2])) if row else (0.0, 0)
