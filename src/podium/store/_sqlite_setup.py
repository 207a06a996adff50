"""How each SQLite connection of a store is set up: a busy timeout, WAL and ``synchronous``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

#: How long a connection waits for another one's lock, in seconds (SQLite's busy timeout).
BUSY_TIMEOUT_S = 10.0


def connection_setup(synchronous: str) -> Callable[[Any, Any], None]:
    """A SQLAlchemy ``connect`` listener that sets up each new DB-API connection."""

    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            enter_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        finally:
            cursor.close()

    return setup


def enter_wal(cursor: Any, wait_s: float = BUSY_TIMEOUT_S) -> None:
    """Put the database in WAL mode, waiting up to ``wait_s`` for other connections.

    Switching a new file to WAL needs its exclusive lock and does not wait on the busy
    timeout: two processes opening a new store at the same instant got "database is
    locked" at once. The switch is retried with a growing pause instead.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
