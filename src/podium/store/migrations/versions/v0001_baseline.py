"""Baseline: the schema of Podium 0.1 (models, contracts, runs, events, cache, documents).

A database made by that release has no ``alembic_version`` table; opening it stamps it
at this revision (see :func:`podium.store._migrate.detect_legacy`) and upgrades it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "podium_models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
    )
    op.create_table(
        "podium_contracts",
        sa.Column("capability", sa.String(200), primary_key=True),
        sa.Column("contract", sa.Text, nullable=False),
    )
    op.create_table(
        "podium_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("parent_run_id", sa.String(64)),
        sa.Column("owner", sa.String(200)),
        sa.Column("heartbeat", sa.Float),
    )
    op.create_index("ix_podium_runs_status", "podium_runs", ["status"])
    op.create_index("ix_podium_runs_started_at", "podium_runs", ["started_at"])
    op.create_table(
        "podium_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("step", sa.String(400)),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_podium_events_run_id", "podium_events", ["run_id"])
    op.create_table(
        "podium_cache",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "podium_documents",
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "podium_documents",
        "podium_cache",
        "podium_events",
        "podium_runs",
        "podium_contracts",
        "podium_models",
    ):
        op.drop_table(table)
