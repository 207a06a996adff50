"""`podium models show` reports a model's use across live workers; `podium queues` binds
and lists; bad queue names are one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podium import Orchestrator
from podium.cli._app import app
from podium.worker._presence import announce

MANIFEST = """
name: painter
version: 1.0.0
capabilities: [image.paint]
tags: [gpu]
runtime: {kind: python, target: "os:getcwd"}
resources: {gpus: 1, memory_mb: 2048, max_concurrency: 3}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PODIUM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PODIUM_DATABASE_URL", raising=False)
    (tmp_path / "m.yaml").write_text(MANIFEST)
    with Orchestrator(discover=False) as orch:
        orch.register(tmp_path / "m.yaml")
        for owner, flying in (("hostA:1", 2), ("hostB:2", 1)):
            usage = {"in_flight": flying, "limit": 3, "peak": 3, "waiting": 4}
            announce(orch.store, owner, {"queues": ["gpu"], "models": {"painter@1.0.0": usage}})
    return tmp_path


def test_models_show_adds_up_the_live_workers(home: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["models", "show", "painter", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    resources = {"gpus": 1.0, "memory_mb": 2048, "max_concurrency": 3}
    assert data["resources"] == resources
    assert data["use"] == {
        "in_flight": 3,
        "waiting": 8,
        "by_worker": {"hostA:1": 2, "hostB:2": 1},
        "limit": 3,
    }
    human = runner.invoke(app, ["models", "show", "painter"], env={"COLUMNS": "200"})
    assert "3 / 3 per process (8 waiting; 2 live worker(s) reporting)" in human.output


def test_queues_bind_and_list(home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["queues", "bind", "gpu", "--tag", "gpu"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["queues", "list", "--json"]).output)
    assert listed["bindings"] == {"tags": {"gpu": "gpu"}, "capabilities": {}}
    assert set(listed["workers"]) == {"hostA:1", "hostB:2"}
    bad = runner.invoke(app, ["queues", "bind", "GPU!", "--tag", "gpu"])
    assert bad.exit_code == 2
    assert runner.invoke(app, ["queues", "unbind", "--tag", "gpu"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["queues", "list", "--json"]).output)
    assert listed["bindings"]["tags"] == {}
