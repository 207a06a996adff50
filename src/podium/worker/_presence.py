"""Workers announce themselves in the store: who they are, what they serve, what they run,
and how many calls of each limited model they have in flight.

Each worker refreshes its record every heartbeat; a record older than the lease belongs
to a worker that is gone. ``podium models show`` and the API add up the live records to
report a model's use across workers.
"""

from __future__ import annotations

import time
from typing import Any

from podium.store import Store

KIND = "workers"


def announce(store: Store, owner: str, record: dict[str, Any]) -> None:
    """Write (or refresh) this worker's record."""
    store.put_document(KIND, owner, record | {"heartbeat": time.time()})


def withdraw(store: Store, owner: str) -> None:
    """Remove this worker's record (it stopped)."""
    store.delete_document(KIND, owner)


def live_workers(store: Store, lease_s: float, now: float | None = None) -> dict[str, Any]:
    """The records of workers whose heartbeat is younger than ``lease_s``."""
    now = time.time() if now is None else now
    return {
        owner: record
        for owner, record in store.documents(KIND).items()
        if now - float(record.get("heartbeat") or 0.0) <= lease_s
    }


def model_use(
    store: Store,
    model: str,
    lease_s: float,
    *,
    local: dict[str, Any] | None = None,
    skip: str | None = None,
) -> dict[str, Any]:
    """A model's calls in flight across live workers (and ``local``, this process's own
    count, when given): ``{"in_flight", "limit", "waiting", "by_worker"}``."""
    by_worker: dict[str, int] = {}
    waiting = 0
    for owner, record in live_workers(store, lease_s).items():
        if owner == skip:
            continue
        use = (record.get("models") or {}).get(model)
        if use:
            by_worker[owner] = int(use.get("in_flight") or 0)
            waiting += int(use.get("waiting") or 0)
    if local:
        by_worker["this process"] = int(local.get("in_flight") or 0)
        waiting += int(local.get("waiting") or 0)
    return {
        "in_flight": sum(by_worker.values()),
        "waiting": waiting,
        "by_worker": by_worker,
    }


def use_of(store: Store, spec: Any, local: dict[str, Any] | None, lease_s: float) -> dict[str, Any]:
    """A model's resources and its use now (``podium models show``, the API's model view):
    calls in flight in this process (``local``, from its admission) and in live workers."""
    resources = spec.resources
    use = model_use(store, spec.key, lease_s, local=local)
    use["limit"] = resources.max_concurrency if resources is not None else None
    return use
