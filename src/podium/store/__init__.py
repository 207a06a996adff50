"""Persistence: the registry's tables, runs and their event logs, and the result cache.

:func:`open_store` picks the backend from a database URL; every backend fulfils
:class:`Store` and passes the same conformance tests.
"""

from podium.store._memory import MemoryStore
from podium.store._protocol import Event, ModelRecord, RunRecord, Store
from podium.store._sql import SqlStore


def open_store(url: str | None) -> Store:
    """A :class:`SqlStore` for a database URL, or a :class:`MemoryStore` for ``None``/``memory``."""
    if url in (None, "", "memory"):
        return MemoryStore()
    return SqlStore(url)


__all__ = ["Event", "MemoryStore", "ModelRecord", "RunRecord", "SqlStore", "Store", "open_store"]
