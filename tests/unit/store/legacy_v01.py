"""The schema of Podium 0.1, the release before migrations, kept as test data.

Copied from that release's ``podium/store/_sql.py`` (and frozen: never import the current
tables here), so the upgrade tests build a database exactly as 0.1 made it.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

models_table = Table(
    "podium_models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("registered_at", Float, nullable=False),
)
contracts_table = Table(
    "podium_contracts",
    metadata,
    Column("capability", String(200), primary_key=True),
    Column("contract", Text, nullable=False),
)
runs_table = Table(
    "podium_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text),
    Column("cost", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("definition", Text, nullable=False),
    Column("parent_run_id", String(64)),
    Column("owner", String(200)),
    Column("heartbeat", Float),
)
events_table = Table(
    "podium_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("step", String(400)),
    Column("data", Text, nullable=False),
)
cache_table = Table(
    "podium_cache",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

documents_table = Table(
    "podium_documents",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
