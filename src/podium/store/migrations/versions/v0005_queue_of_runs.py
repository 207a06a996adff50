"""The queue a submitted run waits in for a worker (``podium_runs.queue``, indexed).

Builds made before migrations existed added the column on the fly, so it is added only
where it is missing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "queue" not in {c["name"] for c in inspector.get_columns("podium_runs")}:
        op.add_column("podium_runs", sa.Column("queue", sa.String(64)))
    if "ix_podium_runs_queue" not in {i["name"] for i in inspector.get_indexes("podium_runs")}:
        op.create_index("ix_podium_runs_queue", "podium_runs", ["queue"])


def downgrade() -> None:
    op.drop_index("ix_podium_runs_queue", "podium_runs")
    with op.batch_alter_table("podium_runs") as batch:
        batch.drop_column("queue")
