"""Bringing a database's schema to this Podium's: Alembic revisions shipped in the package.

Opening a store calls :func:`upgrade`. A store already at :data:`HEAD` costs one query
(Alembic is not even imported). Otherwise, under a lock that makes concurrent openers
wait (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``), it
reads the revision again and, all in one transaction:

* a new database (none of Podium's tables) is built from ``_tables.metadata`` and stamped
  at :data:`HEAD`, Alembic's recipe for a database made from scratch (a test proves that
  the revisions build exactly the same schema);
* a database made before migrations existed (no ``alembic_version``) has its revision told
  from its tables and columns and stamped, then is upgraded;
* any other is upgraded by the missing revisions.

A database at a revision this code does not know (made by a newer Podium) is refused
with one line.

Adding a revision: see ``docs/migrations.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from podium.errors import DatabaseFileError
from podium.store import _audit  # noqa: F401 - its tables join the metadata
from podium.store._tables import metadata

SCRIPTS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


def _newest() -> str:
    """The newest revision, from the files' names (``v0004_slug.py`` is revision ``0004``;
    a test checks that Alembic agrees), so that opening a store never imports Alembic."""
    names = (p.name for p in (SCRIPTS / "versions").glob("v[0-9][0-9][0-9][0-9]_*.py"))
    return max(name[1:5] for name in names)


#: The newest revision in ``migrations/versions``.
HEAD = _newest()

#: What the first release (0.1, before migrations) created, by table.
BASELINE = {
    "podium_models": {"name", "version", "spec", "registered_at"},
    "podium_contracts": {"capability", "contract"},
    "podium_runs": {
        "run_id",
        "workflow",
        "status",
        "started_at",
        "finished_at",
        "inputs",
        "outputs",
        "cost",
        "error",
        "definition",
        "parent_run_id",
        "owner",
        "heartbeat",
    },
    "podium_events": {"seq", "run_id", "ts", "type", "step", "data"},
    "podium_cache": {"key", "value"},
    "podium_documents": {"kind", "key", "value", "updated_at"},
}
#: What revision 0002 adds (claims, principals, decisions, quarantine).
SECOND = {
    "podium_runs": {"claim", "principal", "tenant", "caller"},
    "podium_decisions": {"run_id", "step", "decision", "decided_at"},
    "podium_quarantine": {"seq", "run_id", "reason", "quarantined_at"},
}


_version = Table(  # what Alembic makes, so that Alembic reads it later
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or ``None`` when it has no version table."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608 - a constant
    return str(rows[0][0]) if rows else None


def upgrade(engine: Engine, where: str) -> None:
    """Bring the database behind ``engine`` to :data:`HEAD` (``where`` names it in errors)."""
    with engine.connect() as conn:
        if _quick_revision(conn) == HEAD:
            return
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if sqlite else None
        before = getattr(raw, "isolation_level", None)
        try:
            _lock(conn, sqlite)
            if not _build_new(conn):
                _upgrade_locked(conn, where)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if raw is not None:
                raw.isolation_level = before


def _quick_revision(conn: Connection) -> str | None:
    """The stamped revision by one query, or ``None`` if there is none (or no table)."""
    try:
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608 - a constant
    except SQLAlchemyError:
        conn.rollback()
        return None
    conn.rollback()
    return str(rows[0][0]) if rows else None


def _lock(conn: Connection, sqlite: bool) -> None:
    """Begin the migration's transaction holding a lock that other openers wait for."""
    if sqlite:
        # The driver's own transaction handling would commit before each DDL statement:
        # turn it off and take the database's write lock for the whole upgrade.
        raw: Any = conn.connection.driver_connection
        raw.isolation_level = None
        conn.exec_driver_sql("PRAGMA busy_timeout=60000")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.podium_migrate'))")
        )


def _build_new(conn: Connection) -> bool:
    """Build a database that holds none of Podium's tables at :data:`HEAD`; whether it was
    new (or already at :data:`HEAD`, made by another process while this one waited)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if VERSION_TABLE in tables:
        return current_revision(conn) == HEAD
    if tables & set(metadata.tables):
        return False
    metadata.create_all(conn)
    _version.create(conn)
    conn.execute(_version.insert().values(version_num=HEAD))
    return True


def _upgrade_locked(conn: Connection, where: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    scripts = ScriptDirectory.from_config(config)
    current = current_revision(conn)
    if current is None:
        legacy = detect_legacy(conn, where)
        if legacy is not None:
            command.stamp(config, legacy)
    elif current not in {s.revision for s in scripts.walk_revisions()}:
        newest = scripts.get_current_head()
        raise DatabaseFileError(
            f"the database's schema is at revision {current!r}, which this Podium does not "
            f"know (its newest is {newest!r}): it was made by a newer Podium; upgrade Podium "
            "to use it",
            file=where,
        )
    command.upgrade(config, "head")


def detect_legacy(conn: Connection, where: str) -> str | None:
    """The revision of a database made before migrations: ``None`` when it holds none of
    Podium's tables (a new store), else ``0001`` or ``0002`` by what it has."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    ours = tables & (set(BASELINE) | set(SECOND))
    if not ours:
        return None
    columns = {table: {c["name"] for c in inspector.get_columns(table)} for table in ours}
    missing: list[str] = []
    for table, wanted in BASELINE.items():
        if table not in columns:
            missing.append(table)
        else:
            missing.extend(f"{table}.{column}" for column in sorted(wanted - columns[table]))
    if missing:
        raise DatabaseFileError(
            "holds some of Podium's tables but not a schema this Podium knows "
            f"(missing: {', '.join(missing)})",
            file=where,
        )
    complete = all(wanted <= columns.get(table, set()) for table, wanted in SECOND.items())
    return "0002" if complete else "0001"
