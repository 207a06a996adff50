"""Shared live state: counters merged by atomic deltas, and token buckets.

Routing statistics and bandit posteriors were whole JSON documents that each process
overwrote (the last writer won). They move to ``podium_counters``, one number per row,
which processes change by adding deltas in one statement, so no update is lost; the
documents of a store made earlier are converted here. ``podium_buckets`` holds the rate
limits' token buckets, shared by every process.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATS = "routing.stats"
_ARMS = "routing.bandit"
_WATERMARK = "__watermark__"
_STAT_FIELDS = ("calls", "ok_calls", "errors", "cost", "feedback_n", "feedback_sum")


def upgrade() -> None:
    op.create_table(
        "podium_counters",
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("blend", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_podium_counters_kind_updated_at", "podium_counters", ["kind", "updated_at"])
    op.create_table(
        "podium_buckets",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("granted", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    _convert_documents()


def _convert_documents() -> None:
    """Routing statistics and bandit arms kept as documents become counter rows."""
    bind = op.get_bind()
    documents = sa.table(
        "podium_documents", sa.column("kind"), sa.column("key"), sa.column("value")
    )
    counters = sa.table(
        "podium_counters",
        sa.column("kind"),
        sa.column("key"),
        sa.column("name"),
        sa.column("value"),
        sa.column("updated_at"),
    )
    now = time.time()
    rows: list[dict[str, Any]] = []
    moved: list[tuple[str, str]] = []
    found = bind.execute(
        sa.select(documents.c.kind, documents.c.key, documents.c.value).where(
            documents.c.kind.in_([_STATS, _ARMS]), documents.c.key != _WATERMARK
        )
    )
    for kind, key, text in found:
        try:
            value = json.loads(text)
        except ValueError:
            continue  # not ours to interpret: left as it is
        if not isinstance(value, dict):
            continue
        numbers = _stat_numbers(value) if kind == _STATS else _arm_numbers(value)
        rows.extend(
            {"kind": kind, "key": key, "name": name, "value": number, "updated_at": now}
            for name, number in numbers.items()
        )
        moved.append((kind, key))
    if rows:
        bind.execute(counters.insert(), rows)
    for kind, key in moved:
        bind.execute(documents.delete().where(documents.c.kind == kind, documents.c.key == key))


def _stat_numbers(value: dict[str, Any]) -> dict[str, float]:
    numbers = {name: float(value.get(name) or 0.0) for name in _STAT_FIELDS}
    ok_calls = numbers["ok_calls"]
    ewma = float(value.get("ewma_ms") or 0.0)
    if ok_calls:
        numbers["ewma_ms"] = ewma
        numbers["lat_sum"] = ewma * ok_calls  # the best estimate the document allows
    numbers["availability"] = float(value.get("availability", 1.0))
    for bucket, count in (value.get("hist") or {}).items():
        numbers[f"h:{int(bucket)}"] = float(count)
    return numbers


def _arm_numbers(value: dict[str, Any]) -> dict[str, float]:
    return {"good": float(value.get("good") or 0.0), "bad": float(value.get("bad") or 0.0)}


def downgrade() -> None:
    op.drop_table("podium_buckets")
    op.drop_index("ix_podium_counters_kind_updated_at", "podium_counters")
    op.drop_table("podium_counters")
