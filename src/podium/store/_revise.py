"""Draft the next schema revision from what ``_tables.py`` has and the revisions lack:

    python -m podium.store._revise "add the audit table"

A scratch SQLite database is brought to the newest revision and compared with the tables
in ``_tables.py`` (Alembic's autogenerate); the differences are written as the next
revision, ``migrations/versions/vNNNN_<slug>.py``. Read it before committing it: see
``docs/migrations.md``.
"""

from __future__ import annotations

import sys
import tempfile

from podium.store._migrate import HEAD, SCRIPTS


def draft(message: str) -> str:
    """Write the next revision for ``message``; returns its id."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    revision = f"{int(HEAD) + 1:04d}"
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/draft.db")
        try:
            with engine.begin() as conn:
                config = Config()
                config.set_main_option("script_location", str(SCRIPTS))
                config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                command.revision(config, message=message, autogenerate=True, rev_id=revision)
        finally:
            engine.dispose()
    return revision


def main() -> None:
    message = " ".join(sys.argv[1:]).strip()
    if not message:
        sys.stderr.write('usage: python -m podium.store._revise "what the revision changes"\n')
        raise SystemExit(2)
    print(f"revision {draft(message)}: read it, then run tests/unit/store/test_migrations.py")


if __name__ == "__main__":
    main()
