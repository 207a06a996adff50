"""Persistence: the registry's tables, runs and their event logs, and the result cache.

:func:`open_store` picks the backend from a database URL; every backend fulfils
:class:`Store` and passes the same conformance tests.
"""

from podium.store._audit import AuditNote, AuditRecord, Verdict, digest, verify_chain
from podium.store._budget import BudgetHold, Reservation
from podium.store._json import dumps as encode_json
from podium.store._memory import MemoryStore
from podium.store._protocol import (
    Claim,
    Decision,
    Delta,
    Event,
    ModelRecord,
    Quarantined,
    QueueSpec,
    RunBrief,
    RunFilter,
    RunRecord,
    Store,
    Tokens,
)
from podium.store._sql import SqlStore
from podium.store._usage import USAGE_GROUPS, UsageQuery, UsageRow


def open_store(url: str | None, *, synchronous: str = "NORMAL", audit: bool = True) -> Store:
    """A :class:`SqlStore` for a database URL, or a :class:`MemoryStore` for ``None``/``memory``.

    ``synchronous`` is SQLite's commit guarantee (see :class:`SqlStore`); ``audit`` keeps
    the hash-chained audit log (on by default).
    """
    if url in (None, "", "memory"):
        return MemoryStore(audit=audit)
    return SqlStore(url, synchronous=synchronous, audit=audit)


__all__ = [
    "USAGE_GROUPS",
    "AuditNote",
    "AuditRecord",
    "BudgetHold",
    "Claim",
    "Decision",
    "Delta",
    "Event",
    "MemoryStore",
    "ModelRecord",
    "Quarantined",
    "QueueSpec",
    "Reservation",
    "RunBrief",
    "RunFilter",
    "RunRecord",
    "SqlStore",
    "Store",
    "Tokens",
    "UsageQuery",
    "UsageRow",
    "Verdict",
    "digest",
    "encode_json",
    "open_store",
    "verify_chain",
]
