"""Fixtures of the end-to-end tests: the real ``podium`` command with its own home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import FIXTURES, Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(tmp_path)
    done = runner("models", "register", str(FIXTURES / "models.yaml"))
    assert done.returncode == 0, done.stderr
    return runner


@pytest.fixture
def pg_cli(tmp_path: Path) -> Iterator[Cli]:
    """Like ``cli``, with the store in a PostgreSQL schema of its own (PODIUM_DATABASE_URL)."""
    from pgtest import fresh_schema

    with fresh_schema("e2e") as url:
        runner = Cli(tmp_path)
        runner.env["PODIUM_DATABASE_URL"] = url
        done = runner("models", "register", str(FIXTURES / "models.yaml"))
        assert done.returncode == 0, done.stderr
        yield runner
