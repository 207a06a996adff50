"""`podium demo` as a new user runs it: the real command, a fresh home, JSON out."""

from __future__ import annotations

import json

import pytest
from cli_support import Cli


@pytest.mark.slow
def test_podium_demo_json_on_a_fresh_home(cli: Cli) -> None:
    done = cli("demo", "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    scenarios = {s["key"]: s for s in report["scenarios"]}
    assert set(scenarios) == {"diagnostics", "support", "risk"}
    for scenario in scenarios.values():
        kinds = [row["kind"] for row in scenario["rows"]]
        assert kinds.count("orchestrated") == 1 and kinds.count("specialist") >= 2
        for row in scenario["rows"]:
            assert 0.5 < row["accuracy"] <= 1.0
            assert row["cost_per_case"] > 0
        assert scenario["verdict"]
    runs = cli.json("runs", "list", "--limit", "1000")
    assert len(runs) == sum(s["cases"] for s in scenarios.values())
    assert {r["status"] for r in runs} == {"succeeded"}
