"""PostgreSQL for tests: the server named by $PODIUM_TEST_POSTGRES_URL, a new schema per use.

Every test gets a schema of its own (``search_path`` set through the URL), dropped when it
ends, so tests running at the same time on one server never see each other's tables.
Without the variable the tests skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def server_url() -> str:
    """The test server's URL, or skip (fail under CI) when there is none."""
    url = os.environ.get("PODIUM_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must set PODIUM_TEST_POSTGRES_URL (a PostgreSQL server)")
        pytest.skip("PODIUM_TEST_POSTGRES_URL is not set")
    return url


def in_schema(url: str, schema: str) -> str:
    """``url`` with every connection's ``search_path`` set to ``schema``."""
    from sqlalchemy.engine import make_url

    made = make_url(url).update_query_dict({"options": f"-c search_path={schema}"})
    return made.render_as_string(hide_password=False)


@contextmanager
def fresh_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose connections work in a new, empty schema; the schema is dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    base = server_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield in_schema(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def empty_database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """The URL of an empty database: ``sqlite`` (a file ``name``.db in ``folder``) or
    ``postgresql`` (a new schema, as :func:`fresh_schema` makes)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/{name}.db"
    else:
        with fresh_schema(name) as made:
            yield made
