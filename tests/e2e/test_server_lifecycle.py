"""The server's life cycle with real processes: it resumes runs whose process died, and a
SIGTERM leaves the runs it could not finish resumable by the next server."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
from conftest import Cli
from server_process import ServerProcess

SLOW = """
name: slow
steps:
  a: {uses: model/recorder, with: {text: a}}
  b: {uses: model/recorder, with: {text: b, delay: 1.0}, after: [a]}
  c: {uses: model/recorder, with: {text: c}, after: [b]}
outputs: {last: "${{ steps.c.output.text }}"}
"""


def _wait(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_the_server_resumes_a_run_whose_process_died(cli: Cli) -> None:
    cli.write("slow.yaml", SLOW)
    proc = cli.popen("run", "slow.yaml", "--json")
    _wait(lambda: "a" in cli.lines())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=20)
    run_id = cli.json("runs", "list")[0]["run_id"]
    assert cli.json("runs", "show", run_id)["status"] == "running"

    server = ServerProcess.start(cli, PODIUM_SERVER_RESUME_EVERY_S="0.2")
    try:
        _wait(lambda: cli.json("runs", "show", run_id)["status"] == "succeeded")
    finally:
        code, err = server.terminate()
    assert code in (0, -signal.SIGTERM) and "Traceback" not in err, err  # uvicorn re-raises
    shown = cli.json("runs", "show", run_id)
    assert shown["outputs"] == {"last": "c"}
    assert Counter(cli.lines()) == {"a": 1, "b": 1, "c": 1}  # the finished step ran once
