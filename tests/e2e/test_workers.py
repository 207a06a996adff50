"""Workers as real processes: ``podium run --detach``, ``podium worker``, ``podium runs
watch``, SIGTERM, and SIGKILL chaos across workers (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest
from cli_support import Cli

CHAIN = """
name: chain
inputs: {x: string}
steps:
  a: {uses: model/recorder, with: {text: "${{ inputs.x }}-a", delay: 0.2}}
  b: {uses: model/recorder, with: {text: "${{ steps.a.output.text }}-b", delay: 0.2}}
  c: {uses: model/recorder, with: {text: "${{ steps.b.output.text }}-c", delay: 0.2}}
outputs: {text: "${{ steps.c.output.text }}"}
"""
BROKEN = """
name: broken
steps:
  a: {uses: model/upper, with: {text: "${{ 'x' * 3 }}"}}
"""


def _chaos() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "worker_chaos.py"
    spec = importlib.util.spec_from_file_location("worker_chaos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_detach_worker_and_watch(cli: Cli) -> None:
    cli.write("chain.yaml", CHAIN)
    cli.write("broken.yaml", BROKEN)
    queued = cli("run", "chain.yaml", "-i", "x=q", "--detach")
    assert queued.returncode == 0, queued.stderr
    run_id = queued.stdout.strip()
    assert f"podium runs watch {run_id}" in queued.stderr
    failing = cli.json("run", "broken.yaml", "--detach")
    assert failing["status"] == "pending" and failing["queue"] == "default"
    assert cli.lines() == []  # nothing ran: queued only

    watcher = cli.popen("runs", "watch", run_id, "--json")
    worker = cli.popen("worker", "--concurrency", "2", "--burst")
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "run_queued" and events[-1]["type"] == "run_succeeded"
    assert events[-1]["data"]["outputs"] == {"text": "q-a-b-c"}
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert sorted(cli.lines()) == ["q-a", "q-a-b", "q-a-b-c"]

    failed = cli("runs", "watch", failing["run_id"])
    assert failed.returncode == 1  # the run's own exit code
    bad = cli("worker", "--queues", "GPU!")
    assert bad.returncode == 2 and "--queues" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_sigterm_releases_runs_and_another_worker_finishes_them(cli: Cli) -> None:
    cli.write("chain.yaml", CHAIN)
    ids = [cli("run", "chain.yaml", "-i", f"x=r{i}", "--detach").stdout.strip() for i in range(2)]
    first = cli.popen("worker", "--grace", "0")
    _wait(lambda: len(cli.lines()) >= 2)  # both runs are inside their steps
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert '"released": 2' in err.replace("\n", "")
    runs = {r["run_id"]: r for r in cli.json("runs", "list")}
    assert {runs[i]["status"] for i in ids} == {"running"}  # resumable, not failed

    second = cli("worker", "--burst", timeout=60)
    assert second.returncode == 0, second.stderr
    assert {r["status"] for r in cli.json("runs", "list")} == {"succeeded"}
    lines = cli.lines()
    for i in range(2):  # every step once; only a step in flight at the stop may run twice
        mine = [line for line in lines if line.startswith(f"r{i}-")]
        assert {f"r{i}-a", f"r{i}-a-b", f"r{i}-a-b-c"} == set(mine)
        assert len(mine) <= 4


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_chaos_sigkill_workers_loses_no_run_and_repeats_no_finished_step(
    tmp_path: Path, database: str
) -> None:
    if database == "postgresql" and not os.environ.get("PODIUM_TEST_POSTGRES_URL"):
        if os.environ.get("CI") == "true":
            raise AssertionError("CI must set PODIUM_TEST_POSTGRES_URL (a PostgreSQL server)")
        pytest.skip("PODIUM_TEST_POSTGRES_URL is not set")
    chaos = _chaos()
    report = chaos.run_chaos(
        tmp_path,
        runs=16,
        workers=3,
        concurrency=4,
        kill_every=2.0,
        delay=0.03,
        database=database,
        first_kill_at_lines=40,  # mid-way through the 160 steps, however fast the machine
    )
    # run_chaos raises on any run lost or failed, or any finished step run again
    assert report["statuses"] == {"succeeded": 16}
    assert report["kills"] >= 1
    assert report["executions"] >= 160 and report["steps_run_again_in_flight"] >= 0


def test_worker_help_names_the_design_options() -> None:
    done = subprocess.run(
        ["podium", "worker", "--help"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("the podium command is not on PATH")
    for option in ("--concurrency", "--queues", "--gpus", "--burst"):
        assert option in done.stdout
