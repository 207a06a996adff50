"""Alembic's entry point for Podium's schema, run programmatically (no ``alembic.ini``).

:mod:`podium.store._migrate` passes an open connection, already inside the transaction
that holds the migration lock, as ``config.attributes["connection"]``; everything here
runs in that transaction, so an upgrade is all or nothing.
"""

from __future__ import annotations

from alembic import context

from podium.store import _migrate  # noqa: F401 - imports every module that declares tables
from podium.store._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Podium's migrations run through podium.store, with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; autogenerate writes that form
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
