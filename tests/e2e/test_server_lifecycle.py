"""The server's life cycle with real processes: it resumes runs whose process died, and a
SIGTERM leaves the runs it could not finish resumable by the next server."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from cli_support import Cli
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


def _finished_steps(cli: Cli, run_id: str) -> set[str]:
    shown = cli.json("runs", "show", run_id)
    return {s["step"] for s in shown["steps"] if s["status"] == "succeeded"}


@pytest.mark.slow
def test_the_server_resumes_a_run_whose_process_died(cli: Cli) -> None:
    cli.write("slow.yaml", SLOW)
    proc = cli.popen("run", "slow.yaml", "--json")
    # The model's line is written before its step is logged; kill once the log holds it finished.
    _wait(lambda: set(cli.committed_successes()) == {"a"})
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


TAGGED = """
name: tagged
inputs: {tag: string}
steps:
  a: {uses: model/recorder, with: {text: "${{ inputs.tag }}-a", delay: 0.2}}
  b: {uses: model/recorder, with: {text: "${{ inputs.tag }}-b", delay: 1.5}, after: [a]}
  c: {uses: model/recorder, with: {text: "${{ inputs.tag }}-c"}, after: [b]}
outputs: {last: "${{ steps.c.output.text }}"}
"""


def _start_runs(server: ServerProcess, key: str, tags: list[str]) -> dict[str, str]:
    import yaml

    flow = yaml.safe_load(TAGGED)
    ids: dict[str, str] = {}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as client:
        for tag in tags:
            started = client.post("/api/v1/runs", json={"workflow": flow, "inputs": {"tag": tag}})
            assert started.status_code == 201, started.text
            ids[tag] = started.json()["run_id"]
    return ids


def _admin_key(cli: Cli) -> str:
    return str(cli.json("keys", "create", "--role", "admin")["key"])


@pytest.mark.slow
def test_sigterm_leaves_unfinished_runs_resumable_by_the_next_server(cli: Cli) -> None:
    key = _admin_key(cli)
    server = ServerProcess.start(cli, PODIUM_SERVER_SHUTDOWN_GRACE_S="0.5")
    ids = _start_runs(server, key, ["t0", "t1"])
    _wait(lambda: {"t0-a", "t1-a"} <= set(cli.lines()))
    code, err = server.terminate()
    assert code in (0, -signal.SIGTERM) and "Traceback" not in err, err
    for run_id in ids.values():
        shown = cli.json("runs", "show", run_id)
        assert shown["status"] == "running", shown  # not cancelled: left for the next server
    again = ServerProcess.start(cli, PODIUM_SERVER_RESUME_EVERY_S="0.2")
    try:
        for tag, run_id in ids.items():
            _wait(lambda run_id=run_id: cli.json("runs", "show", run_id)["status"] == "succeeded")
            assert cli.json("runs", "show", run_id)["outputs"] == {"last": f"{tag}-c"}
    finally:
        again.terminate()
    lines = Counter(cli.lines())
    assert all(lines[f"{tag}-{step}"] == 1 for tag in ids for step in "abc"), lines


@pytest.mark.slow
def test_a_killed_server_loses_no_run_and_repeats_no_finished_step(cli: Cli) -> None:
    key = _admin_key(cli)
    server = ServerProcess.start(cli)
    tags = [f"k{i}" for i in range(8)]
    ids = _start_runs(server, key, tags)
    _wait(lambda: sum(line.endswith("-a") for line in cli.lines()) >= 4)
    server.kill()
    finished_before = {tag: _finished_steps(cli, run_id) for tag, run_id in ids.items()}
    counts_before = Counter(cli.lines())
    again = ServerProcess.start(cli, PODIUM_SERVER_RESUME_EVERY_S="0.2")
    try:
        for tag, run_id in ids.items():
            _wait(lambda run_id=run_id: cli.json("runs", "show", run_id)["status"] == "succeeded")
            assert cli.json("runs", "show", run_id)["outputs"] == {"last": f"{tag}-c"}
    finally:
        again.terminate()
    lines = Counter(cli.lines())
    for tag, steps in finished_before.items():
        for step in steps:  # a step the log held as finished never ran again
            assert lines[f"{tag}-{step}"] == counts_before[f"{tag}-{step}"] == 1
    assert all(lines[f"{tag}-{step}"] >= 1 for tag in tags for step in "abc")
