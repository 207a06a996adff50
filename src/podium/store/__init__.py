"""Persistence: the registry's tables, runs and their event logs, and the result cache.

:func:`open_store` picks the backend from a database URL; every backend fulfils
:class:`Store` and passes the same conformance tests.
"""

from podium.store._json import dumps as encode_json
from podium.store._memory import MemoryStore
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
    Store,
)
from podium.store._sql import SqlStore


def open_store(url: str | None, *, synchronous: str = "NORMAL") -> Store:
    """A :class:`SqlStore` for a database URL, or a :class:`MemoryStore` for ``None``/``memory``.

    ``synchronous`` is SQLite's commit guarantee (see :class:`SqlStore`).
    """
    if url in (None, "", "memory"):
        return MemoryStore()
    return SqlStore(url, synchronous=synchronous)


__all__ = [
    "Claim",
    "Decision",
    "Event",
    "MemoryStore",
    "ModelRecord",
    "Quarantined",
    "QueueSpec",
    "RunBrief",
    "RunFilter",
    "RunRecord",
    "SqlStore",
    "Store",
    "encode_json",
    "open_store",
]
