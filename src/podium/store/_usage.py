"""Usage: model calls, failures and cost, grouped by tenant, key, model or workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``--by`` -> the audit column grouped on.
USAGE_GROUPS = {"tenant": "tenant", "key": "principal", "model": "subject", "workflow": "workflow"}


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Group by ``by`` (a key of :data:`USAGE_GROUPS`), calls at or after ``since``, of
    ``tenant`` only when given."""

    by: str = "tenant"
    since: float | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One group's calls (``cached`` of them answered from the cache), failed calls and cost."""

    key: str | None
    calls: int
    cached: int
    failed: int
    cost: float

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "calls": self.calls,
            "cached": self.cached,
            "failed": self.failed,
            "cost": round(self.cost, 10),
        }

    @staticmethod
    def merge(by: str, rows: list[tuple[Any, ...]]) -> list[UsageRow]:
        """Rows of ``(group, kind, count, cost, cached)`` as one row per group, costliest
        first."""
        groups: dict[Any, list[Any]] = {}
        for key, kind, count, cost, cached in rows:
            acc = groups.setdefault(key, [0, 0, 0, 0.0])
            if kind == "model.call":
                acc[0] += int(count)
                acc[1] += int(cached or 0)
                acc[3] += float(cost or 0.0)
            else:
                acc[2] += int(count)
        found = [UsageRow(k, a[0], a[1], a[2], a[3]) for k, a in groups.items()]
        return sorted(found, key=lambda r: (-r.cost, -r.calls, str(r.key)))
