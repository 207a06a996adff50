"""The SQL schema: one table per kind of record (SQLAlchemy Core, any dialect)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

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
    # Raised by every claim; writes fenced with an older value are refused.
    Column("claim", Integer),
    Column("principal", String(200)),
    Column("tenant", String(64), index=True),
    Column("caller", Text),  # JSON: headers and trace ids of the request that started it
    # The queue a submitted run waits in for a worker (NULL: driven by the process that
    # started it, never taken by a worker).
    Column("queue", String(64), index=True),
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
decisions_table = Table(
    "podium_decisions",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("step", String(400), primary_key=True),
    Column("decision", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
)
quarantine_table = Table(
    "podium_quarantine",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run_id", String(64), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("step", String(400)),
    Column("data", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("quarantined_at", Float, nullable=False),
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
# Live state shared by every process on the database (routing statistics, bandit posteriors,
# breaker states): each row is one number, changed by atomic deltas (see Store.add_counters).
counters_table = Table(
    "podium_counters",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Float, nullable=False),
    Column("blend", Float),  # how the last change was merged (null: added)
    Column("updated_at", Float, nullable=False),
    Index("ix_podium_counters_kind_updated_at", "kind", "updated_at"),
)
# Token buckets shared by every process (rate limits): see Store.take_tokens.
buckets_table = Table(
    "podium_buckets",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("granted", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

JSON_COLUMNS = ("inputs", "outputs", "definition", "caller")
OPEN_STATUSES = ("pending", "running", "waiting")
#: Runs no claim may take: nothing is left to do (a failed run can be resumed).
SETTLED_STATUSES = ("succeeded", "cancelled")
