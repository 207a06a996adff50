"""Fenced claims, principals and tenants on runs; decisions and quarantine tables.

Builds from 0.1 to what the "hardening" round added: ``claim``, ``principal``, ``tenant``
(indexed) and ``caller`` on runs; ``podium_decisions`` (one decision per waiting step);
``podium_quarantine`` (events moved out of a run's log by a repair). Development builds of
that round added some of these on the fly, so each is created only where it is missing.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _run_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("claim", sa.Integer),
        sa.Column("principal", sa.String(200)),
        sa.Column("tenant", sa.String(64)),
        sa.Column("caller", sa.Text),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    present = {c["name"] for c in inspector.get_columns("podium_runs")}
    for column in _run_columns():
        if column.name not in present:
            op.add_column("podium_runs", column)
    indexes = {i["name"] for i in inspector.get_indexes("podium_runs")}
    if "ix_podium_runs_tenant" not in indexes:
        op.create_index("ix_podium_runs_tenant", "podium_runs", ["tenant"])
    if "podium_decisions" not in tables:
        op.create_table(
            "podium_decisions",
            sa.Column("run_id", sa.String(64), primary_key=True),
            sa.Column("step", sa.String(400), primary_key=True),
            sa.Column("decision", sa.Text, nullable=False),
            sa.Column("decided_at", sa.Float, nullable=False),
        )
    if "podium_quarantine" not in tables:
        op.create_table(
            "podium_quarantine",
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("type", sa.String(32), nullable=False),
            sa.Column("step", sa.String(400)),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("quarantined_at", sa.Float, nullable=False),
        )
    made = sa.inspect(op.get_bind()).get_indexes("podium_quarantine")
    if "ix_podium_quarantine_run_id" not in {i["name"] for i in made}:
        op.create_index("ix_podium_quarantine_run_id", "podium_quarantine", ["run_id"])


def downgrade() -> None:
    op.drop_table("podium_quarantine")
    op.drop_table("podium_decisions")
    op.drop_index("ix_podium_runs_tenant", "podium_runs")
    with op.batch_alter_table("podium_runs") as batch:
        for column in reversed(_run_columns()):
            batch.drop_column(column.name)
