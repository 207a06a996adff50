"""The audit log (a hash chain of records) and budgets' running totals.

Builds made before migrations existed created these tables on the fly, so each is
created only where it is missing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "podium_audit" not in tables:
        op.create_table(
            "podium_audit",
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("kind", sa.String(40), nullable=False),
            sa.Column("principal", sa.String(200)),
            sa.Column("tenant", sa.String(64)),
            sa.Column("workflow", sa.String(200)),
            sa.Column("run_id", sa.String(64)),
            sa.Column("subject", sa.String(400)),
            sa.Column("cost", sa.Float),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("prev", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
        )
    if "podium_budgets" not in tables:
        op.create_table(
            "podium_budgets",
            sa.Column("key", sa.String(400), primary_key=True),
            sa.Column("spent", sa.Float, nullable=False),
            sa.Column("reserved", sa.Float, nullable=False),
            sa.Column("calls", sa.Integer, nullable=False),
            sa.Column("reserved_calls", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("podium_budgets")
    op.drop_table("podium_audit")
