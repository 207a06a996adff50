"""Fixtures of the server tests: a real server over a fresh home, with keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import Served, add_test_models, start_server

from podium import Orchestrator
from podium.server import ServerConfig, create_app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A server over a fresh home with test models and keys ``admin``, ``operator``,
    ``viewer``, and ``a``/``b`` (operators of tenants ``a`` and ``b``)."""
    orch = Orchestrator(home=tmp_path / "home", discover=False)
    add_test_models(orch)
    config = ServerConfig(resume_every_s=0.5, shutdown_grace_s=2)
    url, serving = start_server(create_app(orch, config))
    found = Served(url, orch)
    for name, role, tenant in (
        ("admin", "admin", None),
        ("operator", "operator", None),
        ("viewer", "viewer", None),
        ("a", "operator", "a"),
        ("b", "operator", "b"),
    ):
        found.keys[name] = found.key(role, tenant)
    try:
        yield found
    finally:
        serving.stop()
        orch.close()
