"""Durability: SIGKILL a real `podium run` mid-run, resume it, every step ran exactly once."""

from __future__ import annotations

import signal
import time

import pytest
from cli_support import Cli

CHAIN = """
name: durable
steps:
  s1: {uses: model/recorder, with: {text: s1, delay: 0.3}}
  s2: {uses: model/recorder, with: {text: "s2", delay: 0.3}, after: [s1]}
  s3: {uses: model/recorder, with: {text: "s3", delay: 0.3}, after: [s2]}
  fan:
    map: ["m0", "m1", "m2", "m3", "m4", "m5"]
    concurrency: 2
    after: [s3]
    step: {uses: model/recorder, with: {text: "${{ item }}", delay: 0.3}}
  s4: {uses: model/recorder, with: {text: "s4", delay: 0.3}, after: [fan]}
outputs: {last: "${{ steps.s4.output.text }}", fan: "${{ steps.fan.output }}"}
"""
EXPECTED = ["s1", "s2", "s3", "m0", "m1", "m2", "m3", "m4", "m5", "s4"]


def _wait_for(cli: Cli, count: int, timeout: float = 30) -> None:
    """Until at least ``count`` steps finished and each one's success is committed."""
    deadline = time.monotonic() + timeout
    while True:
        committed = cli.committed_successes()
        committed.pop("fan", None)  # the map step itself writes no line
        if sum(committed.values()) >= count and sum(committed.values()) == len(cli.lines()):
            return
        assert time.monotonic() < deadline, (cli.lines(), committed)
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [2, 5])
def test_sigkill_then_resume_runs_every_step_exactly_once(cli: Cli, kill_after: int) -> None:
    kill_and_resume(cli, kill_after)


@pytest.mark.slow
def test_sigkill_then_resume_on_postgresql(pg_cli: Cli) -> None:
    """The same with the store on a PostgreSQL server: the engine is proven there too."""
    kill_and_resume(pg_cli, 5)


def kill_and_resume(cli: Cli, kill_after: int) -> None:
    cli.write("durable.yaml", CHAIN)
    proc = cli.popen("run", "durable.yaml", "--json")
    _wait_for(cli, kill_after)  # the next steps are inside their 0.3 s sleep
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    done_before = len(cli.lines())
    assert 0 < done_before < len(EXPECTED)

    runs = cli.json("runs", "list")
    assert runs[0]["status"] == "running"  # the process died without finishing it
    resumed = cli.json("runs", "resume", runs[0]["run_id"])
    assert resumed["status"] == "succeeded", resumed
    assert resumed["outputs"]["last"] == "s4"
    assert resumed["outputs"]["fan"] == [{"text": f"m{i}"} for i in range(6)]
    assert sorted(cli.lines()) == sorted(EXPECTED)  # every step exactly once
    finished = [s for s in resumed["steps"] if s["status"] == "succeeded"]
    assert len(finished) == len(EXPECTED) + 1  # + the map step itself
