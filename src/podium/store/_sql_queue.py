"""The SQL of the run queue: which runs a worker may claim, and how a claim is taken."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update

from podium.store._protocol import QueueSpec
from podium.store._tables import OPEN_STATUSES, runs_table


def claim_statements(
    spec: QueueSpec, owner: str, *, now: float, limit: int, sqlite: bool
) -> tuple[Any, Any]:
    """(a probe that reads whether anything is claimable, the claiming ``UPDATE ...
    RETURNING run_id, claim``) for up to ``limit`` runs, oldest first."""
    t = runs_table
    lapsed = or_(t.c.heartbeat.is_(None), t.c.heartbeat < now - spec.lease_s)
    if spec.dead_owners:
        lapsed = or_(lapsed, t.c.owner.in_(spec.dead_owners))
    eligible = and_(
        t.c.queue.in_(spec.queues),
        or_(t.c.status == "pending", and_(t.c.status == "running", lapsed)),
    )
    probe = select(t.c.run_id).where(eligible).limit(1)
    picked = select(t.c.run_id).where(eligible).order_by(t.c.started_at).limit(limit)
    values = {
        "status": "running",
        "owner": owner,
        "heartbeat": now,
        "claim": func.coalesce(t.c.claim, 0) + 1,
    }
    if sqlite:  # one statement holds the write lock: nobody claims in between
        stmt = update(t).where(t.c.run_id.in_(picked), eligible).values(**values)
    else:
        # Concurrent workers skip each other's rows instead of waiting. The rows are picked
        # once, in a CTE (a subquery in IN may be run again per row).
        chosen = picked.with_for_update(skip_locked=True).cte("picked")
        stmt = update(t).where(t.c.run_id == chosen.c.run_id).values(**values)
    return probe, stmt.returning(t.c.run_id, t.c.claim)


def queue_counts_statement() -> Any:
    """Submitted runs per (queue, open status)."""
    t = runs_table
    return (
        select(t.c.queue, t.c.status, func.count())
        .where(t.c.queue.is_not(None), t.c.status.in_(OPEN_STATUSES))
        .group_by(t.c.queue, t.c.status)
    )


def counts_of(rows: Any) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for queue, status, count in rows:
        counts.setdefault(queue, dict.fromkeys(OPEN_STATUSES, 0))[status] = int(count)
    return counts
